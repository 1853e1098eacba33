"""The whole pipeline on the DirectRunner with worker processes, on real footage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keypoints import layout as L
from keypoints.backends import create_backend
from keypoints.corpus import SignKey
from keypoints.environment import environment
from keypoints.extract import extract_frames
from keypoints.normalise import adjust
from pipeline.job.run import run
from pipeline.local.launcher import local_args
from tests.conftest import build_corpus, read_rgb

pytestmark = pytest.mark.slow

KEYS = (SignKey("01", "train", 1), SignKey("01", "train", 2), SignKey("02", "test", 1))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, signer_frames, signer_video) -> Path:
    return build_corpus(
        tmp_path_factory.mktemp("corpus"),
        {
            KEYS[0]: {"frames": signer_frames, "clip": signer_video},
            KEYS[1]: {"reversed": signer_frames[::-1]},
            KEYS[2]: {"frames": signer_frames},
        },
    )


def run_pipeline(corpus: Path, output: Path, *extra: str, workers: int = 2):
    args = [
        f"--input_root={corpus}",
        f"--output_root={output}",
        "--signers", "01", "02",
        "--splits", "train", "test",
        "--selected_signs_from=1",
        "--selected_signs_to=2",
        *extra,
    ]  # fmt: skip
    return run(local_args(args, workers=workers))


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("out")
    return output, run_pipeline(corpus, output)


@pytest.fixture(scope="module")
def direct_keypoints(signer_frames):
    """What calling the backend directly gives for the sample signer's frames."""
    backend = create_backend("holistic")
    try:
        rgb = read_rgb(signer_frames)
        return extract_frames(rgb, backend)
    finally:
        backend.close()


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def npz_files(output: Path) -> dict[str, bytes]:
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.glob("*/*.npz"))}


def test_one_npz_per_sign_with_the_npz_contract(first_run):
    output, outcome = first_run
    assert sorted(npz_files(output)) == [
        "01-train/0001.npz",
        "01-train/0002.npz",
        "02-test/0001.npz",
    ]
    first = load(output / "01-train" / "0001.npz")
    assert list(first) == ["clip", "frames"]
    for name, array in first.items():
        assert array.shape == (9, 184, 4) and array.dtype == np.float32, name
    assert list(load(output / "01-train" / "0002.npz")) == ["reversed"]
    assert outcome.counters["videos_ok"] == 4 and outcome.counters["videos_failed"] == 0
    assert outcome.counters["signs_written"] == 3 and outcome.counters["frames"] == 36
    # signs 01-test/*, 02-train/* and 02-test/0002 have no folder
    assert outcome.counters["signs_missing"] == 5


def test_keypoints_equal_the_backend_called_directly(first_run, direct_keypoints):
    output, _ = first_run
    expected = L.select_184(direct_keypoints)
    np.testing.assert_array_equal(load(output / "01-train" / "0001.npz")["frames"], expected)
    np.testing.assert_array_equal(load(output / "02-test" / "0001.npz")["frames"], expected)


def test_reports_and_provenance(first_run, corpus):
    output, _ = first_run
    records = [json.loads(line) for line in (output / "_reports" / "videos.jsonl").open()]
    assert [(r["signer"], r["split"], r["sign"], r["video"]) for r in records] == [
        ("01", "train", 1, "clip"),
        ("01", "train", 1, "frames"),
        ("01", "train", 2, "reversed"),
        ("02", "test", 1, "frames"),
    ]
    clip, frames = records[0], records[1]
    assert clip["status"] == "ok" and clip["reason"] is None
    assert (clip["width"], clip["height"], clip["fps"], clip["frames"]) == (1280, 720, 24.0, 9)
    assert (frames["width"], frames["height"], frames["fps"]) == (640, 360, 30.0)
    assert frames["unreadable_frames"] == 0 and frames["source"].endswith("0001/frames")
    for record in records:
        assert record["coverage"]["pose"] > 0.95 and record["coverage"]["face"] > 0.95
        assert record["hand_label_disagreements"] is None  # Holistic places hands itself
    run_record = json.loads((output / "_reports" / "run.json").read_text())
    assert run_record["versions"]["mediapipe"] == "0.10.21"
    assert run_record["versions"]["apache-beam"] == "2.77.0"
    # The workers' software, recorded by the workers: here, this very environment, once
    # for the run's two worker processes.
    assert run_record["workers"] == [environment()]
    assert run_record["backend"]["settings"]["model_complexity"] == 1
    assert run_record["counters"]["videos_ok"] == 4
    assert run_record["options"]["input_root"] == str(corpus)
    assert run_record["started"] <= run_record["finished"]
    assert not list(output.rglob("*.tmp")) and not (output / "_staging").exists()


def test_existing_signs_are_skipped_and_overwrite_redoes_them(first_run, corpus):
    output, _ = first_run
    before = npz_files(output)
    stamps = {p: p.stat().st_mtime_ns for p in output.glob("*/*.npz")}
    again = run_pipeline(corpus, output)
    assert again.counters["signs_skipped"] == 3 and again.counters["videos_ok"] == 0
    assert {p: p.stat().st_mtime_ns for p in output.glob("*/*.npz")} == stamps
    redo = run_pipeline(corpus, output, "--overwrite")
    assert redo.counters["signs_written"] == 3 and redo.counters["videos_ok"] == 4
    assert npz_files(output) == before  # byte-identical output, run after run


def test_one_worker_gives_the_same_bytes_as_two(first_run, corpus, tmp_path):
    output, _ = first_run
    single = tmp_path / "single"
    run_pipeline(corpus, single, workers=1)
    assert npz_files(single) == npz_files(output)


def test_adjusted_output(corpus, tmp_path, direct_keypoints):
    output = tmp_path / "adjusted"
    run_pipeline(corpus, output, "--adjusted")
    got = load(output / "01-train" / "0001.npz")["frames"]
    np.testing.assert_array_equal(got, L.select_184(adjust(direct_keypoints, 640, 360)))
    shoulders = got[:, L.POSE_SLICE][:, :2, :2]  # left and right shoulder, x and y
    np.testing.assert_allclose(
        np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=-1), 1, rtol=1e-5
    )
    for hand in (L.RIGHT_HAND_SLICE, L.LEFT_HAND_SLICE):
        points = got[:, hand]
        np.testing.assert_allclose(points[:, L.HAND_WRIST, :3], 0, atol=1e-6)
        reach = np.linalg.norm(points[:, L.HAND_MIDDLE_FINGER_MCP, :2], axis=-1)
        np.testing.assert_allclose(reach, 1, rtol=1e-5)
