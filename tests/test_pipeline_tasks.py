"""`--backend tasks` through the whole pipeline, against the Tasks API called directly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from keypoints import layout as L
from keypoints.backends import BackendConfig
from keypoints.corpus import SignKey
from keypoints.normalise import adjust
from pipeline.job.graph import backend_config
from pipeline.job.options import OptionsError, SignKpsOptions
from pipeline.job.run import run
from pipeline.local.launcher import local_args
from tests.conftest import build_corpus, read_rgb

SIGN_1, SIGN_2 = SignKey("01", "train", 1), SignKey("01", "train", 2)
FOLDER_FPS, CLIP_FPS = 30.0, 24.0


def tasks_args(corpus: Path, output: Path, models: Path, *extra: str) -> list[str]:
    args = [
        f"--input_root={corpus}",
        f"--output_root={output}",
        "--signers=01",
        "--splits=train",
        "--selected_signs_from=1",
        "--selected_signs_to=2",
        "--backend=tasks",
        f"--model_dir={models}",
        *extra,
    ]
    return local_args(args, workers=2)


def rgb_of_folder(frames: list[Path]) -> list[np.ndarray]:
    return read_rgb(frames)


def rgb_of_clip(path: Path) -> list[np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), []
    ok, bgr = capture.read()
    while ok:
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        ok, bgr = capture.read()
    capture.release()
    return frames


def direct_tasks(frames: list[np.ndarray], fps: float, models: Path) -> np.ndarray:
    """The three landmarkers, new for this video, VIDEO mode, hands by nearest pose wrist."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    def options(cls, name, **kwargs):
        return cls(
            base_options=BaseOptions(model_asset_path=str(models / name)),
            running_mode=vision.RunningMode.VIDEO,
            **kwargs,
        )

    pose = vision.PoseLandmarker.create_from_options(
        options(vision.PoseLandmarkerOptions, "pose_landmarker_full.task")
    )
    face = vision.FaceLandmarker.create_from_options(
        options(vision.FaceLandmarkerOptions, "face_landmarker.task")
    )
    hands = vision.HandLandmarker.create_from_options(
        options(vision.HandLandmarkerOptions, "hand_landmarker.task", num_hands=2)
    )
    out = np.zeros((len(frames), L.FULL_POINTS, 4), np.float32)
    for i, rgb in enumerate(frames):
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        timestamp = round(i * 1000 / fps)
        p = pose.detect_for_video(image, timestamp).pose_landmarks
        f = face.detect_for_video(image, timestamp).face_landmarks
        h = hands.detect_for_video(image, timestamp).hand_landmarks
        assert p, "this footage has a pose in every frame"
        out[i, L.FULL_PARTS["pose"].slice] = [(q.x, q.y, q.z, q.visibility) for q in p[0]]
        if f:
            out[i, L.FULL_PARTS["face"].slice] = [(q.x, q.y, q.z, 1.0) for q in f[0]]
        size = np.array(rgb.shape[1::-1], np.float64)  # width, height: distances in pixels
        pose_wrists = np.array([[p[0][w].x, p[0][w].y] for w in (16, 15)]) * size  # right, left
        hand_wrists = np.array([[hand[0].x, hand[0].y] for hand in h]).reshape(-1, 2) * size
        cost = np.linalg.norm(hand_wrists[:, None] - pose_wrists[None], axis=-1)  # hand x slot
        if len(h) == 2:
            slots = [0, 1] if cost[0, 0] + cost[1, 1] <= cost[0, 1] + cost[1, 0] else [1, 0]
        else:
            slots = [int(np.argmin(row)) for row in cost]
        for hand, slot in zip(h, slots, strict=True):
            part = L.FULL_PARTS[("right_hand", "left_hand")[slot]]
            out[i, part.slice] = [(q.x, q.y, q.z, 1.0) for q in hand]
    for landmarker in (pose, face, hands):
        landmarker.close()
    return out


@pytest.fixture(scope="module")
def models(assets) -> Path:
    return assets / "models"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, signer_frames, signer_video) -> Path:
    return build_corpus(
        tmp_path_factory.mktemp("corpus"),
        {
            SIGN_1: {"frames": signer_frames, "clip": signer_video},
            SIGN_2: {"reversed": signer_frames[::-1]},
        },
    )


@pytest.fixture(scope="module")
def expected(signer_frames, signer_video, models) -> dict[str, np.ndarray]:
    return {
        "frames": direct_tasks(rgb_of_folder(signer_frames), FOLDER_FPS, models),
        "clip": direct_tasks(rgb_of_clip(signer_video), CLIP_FPS, models),
        "reversed": direct_tasks(rgb_of_folder(signer_frames[::-1]), FOLDER_FPS, models),
    }


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.slow
def test_tasks_pipeline_equals_the_landmarkers_called_directly(corpus, models, expected, tmp_path):
    output = tmp_path / "full"
    outcome = run(tasks_args(corpus, output, models, "--layout_points=full"))
    assert outcome.counters["videos_ok"] == 3 and outcome.counters["videos_failed"] == 0
    got = {**load(output / "01-train" / "0001.npz"), **load(output / "01-train" / "0002.npz")}
    assert sorted(got) == ["clip", "frames", "reversed"]
    for name, array in expected.items():
        np.testing.assert_array_equal(got[name], array, err_msg=name)

    records = [json.loads(line) for line in (output / "_reports" / "videos.jsonl").open()]
    assert [r["video"] for r in records] == ["clip", "frames", "reversed"]
    for record in records:
        assert record["hand_label_disagreements"] == 0
        assert record["coverage"]["pose"] == 1.0 and record["coverage"]["left_hand"] == 1.0
    run_record = json.loads((output / "_reports" / "run.json").read_text())
    assert run_record["backend"]["name"] == "tasks"
    pinned = run_record["backend"]["settings"]["models"]
    for model in pinned.values():
        digest = hashlib.sha256((models / model["file"]).read_bytes()).hexdigest()
        assert model["sha256"] == digest


@pytest.mark.slow
def test_tasks_pipeline_adjusted(corpus, models, expected, tmp_path):
    output = tmp_path / "adjusted"
    run(tasks_args(corpus, output, models, "--adjusted"))
    got = load(output / "01-train" / "0001.npz")
    np.testing.assert_array_equal(got["frames"], L.select_184(adjust(expected["frames"], 640, 360)))
    np.testing.assert_array_equal(got["clip"], L.select_184(adjust(expected["clip"], 1280, 720)))


def test_a_model_folder_without_the_files_stops_the_run_before_it_starts(corpus, tmp_path):
    (tmp_path / "models").mkdir()
    with pytest.raises(OptionsError, match=r"pose_landmarker_full\.task: not found"):
        run(tasks_args(corpus, tmp_path / "out", tmp_path / "models"))
    assert not (tmp_path / "out").exists()


def test_backend_options_reach_the_backend_config():
    opts = SignKpsOptions(["--backend=tasks", "--pose_model=lite", "--model_dir=gs://b/models",
                           "--mediapipe_threads=3"])  # fmt: skip
    assert backend_config(opts) == BackendConfig(
        model_dir="gs://b/models", pose_model="lite", graph_threads=3
    )
    defaults = SignKpsOptions([])
    assert backend_config(defaults) == BackendConfig(
        model_dir=None, pose_model="full", graph_threads=1
    )
    with pytest.raises(SystemExit):
        SignKpsOptions(["--pose_model=huge"]).view_as(SignKpsOptions)
