"""Full layout and .pose output on real footage: derived layouts equal direct output bit for bit,
.pose files read back with pose-format equal the npz output, and the converter gives the
pipeline's own bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from pose_format.pose_visualizer import PoseVisualizer
from pose_format.utils.generic import pose_hide_legs

from keypoints import layout as L
from keypoints.corpus import SignKey
from keypoints.derive import derive_points
from keypoints.outputs import done_path, npz_path, pose_folder, pose_path
from pipeline.tools import convert
from tests.test_pipeline import load
from tests.test_pipeline import run_pipeline as run_two_signers


def run_pipeline(corpus, output, *extra):
    """This corpus has signer 01's train split only (the option check refuses the rest)."""
    return run_two_signers(corpus, output, "--signers", "01", "--splits", "train", *extra)


pytestmark = pytest.mark.slow

SIGNER, ASTRONAUT = SignKey("01", "train", 1), SignKey("01", "train", 2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, signer_frames, signer_video, assets) -> Path:
    from tests.conftest import build_corpus

    root = build_corpus(
        tmp_path_factory.mktemp("corpus"),
        {
            SIGNER: {"frames": signer_frames, "clip": signer_video},
            ASTRONAUT: {"astronaut": [assets / "media" / "astronaut.jpg"] * 2},
        },
    )
    broken = root / "01" / "01" / "train" / "0002" / "broken.mp4"
    broken.write_bytes(b"not a video")  # must end in a failure record, not in a file
    return root


def pipeline_output(corpus, tmp_path_factory, name: str, *extra: str) -> Path:
    output = tmp_path_factory.mktemp(name)
    outcome = run_pipeline(corpus, output, *extra)
    assert outcome.counters["signs_written"] == 2 and outcome.counters["videos_ok"] == 3
    assert outcome.counters["videos_failed"] == 1
    return output


@pytest.fixture(scope="module")
def full_npz(corpus, tmp_path_factory) -> Path:
    return pipeline_output(corpus, tmp_path_factory, "full", "--layout_points=full")


@pytest.fixture(scope="module")
def npz_184(corpus, tmp_path_factory) -> Path:
    return pipeline_output(corpus, tmp_path_factory, "p184")


@pytest.fixture(scope="module")
def adjusted_184(corpus, tmp_path_factory) -> Path:
    return pipeline_output(corpus, tmp_path_factory, "adjusted", "--adjusted")


@pytest.fixture(scope="module")
def full_pose(corpus, tmp_path_factory) -> Path:
    return pipeline_output(
        corpus, tmp_path_factory, "pose", "--layout_points=full", "--output_format=pose"
    )


def records(output: Path) -> dict[str, dict]:
    lines = (output / "_reports" / "videos.jsonl").read_text().splitlines()
    return {r["video"]: r for r in map(json.loads, lines)}


def videos(output: Path) -> dict[str, np.ndarray]:
    """Every video's array of an npz output, by video name (names are unique here)."""
    return {
        name: array
        for key in (SIGNER, ASTRONAUT)
        for name, array in load(npz_path(str(output), key)).items()
    }


def pose_files(output: Path) -> dict[str, bytes]:
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.glob("*/*/*.pose"))}


def our_row(component: str, point: str) -> int:
    """The full-layout row of a .pose point, from the names alone."""
    if component == "POSE_LANDMARKS":
        name = f"pose_{point.lower()}"
    elif component == "FACE_LANDMARKS":
        name = f"face_{int(point):03d}"
    else:
        name = f"{component.split('_')[0].lower()}_hand_{point.lower()}"
    return L.FULL_POINT_NAMES.index(name)


def test_full_layout_keeps_every_landmark(full_npz):
    arrays = videos(full_npz)
    assert sorted(arrays) == ["astronaut", "clip", "frames"]
    for name, array in arrays.items():
        assert array.dtype == np.float32 and array.shape[1:] == (553, 4), name
    assert arrays["clip"].shape[0] == arrays["frames"].shape[0] == 9
    assert records(full_npz)["broken"]["status"] == "failed"
    face = arrays["frames"][:, L.FULL_PARTS["face"].slice]
    assert face.shape[1] == 478 and np.all(face[:, L.FACE_RIGHT_IRIS_CENTER, 3] == 1)


def test_derived_184_and_adjusted_equal_the_pipelines_own_output_bit_for_bit(
    full_npz, npz_184, adjusted_184
):
    full, subset, adjusted = videos(full_npz), videos(npz_184), videos(adjusted_184)
    sizes = {video: (r["width"], r["height"]) for video, r in records(full_npz).items()}
    assert sizes["clip"] == (1280, 720) and sizes["frames"] == (640, 360)
    for video, points in full.items():
        np.testing.assert_array_equal(derive_points(points), subset[video])
        derived = derive_points(points, adjusted=True, frame_size=sizes[video])
        np.testing.assert_array_equal(derived, adjusted[video])
        assert derived.tobytes() == adjusted[video].tobytes()  # bit for bit, -0.0 included


def test_pose_output_files_and_markers(full_pose):
    assert sorted(pose_files(full_pose)) == [
        "01-train/0001/clip.pose",
        "01-train/0001/frames.pose",
        "01-train/0002/astronaut.pose",
    ]
    for key in (SIGNER, ASTRONAUT):
        assert Path(done_path(str(full_pose), key, "pose")).is_file()
    assert not list(full_pose.glob("*/*.npz")) and not list(full_pose.rglob("*.tmp"))
    broken = records(full_pose)["broken"]
    assert broken["status"] == "failed" and broken["reason"]
    from pipeline.tools import verify

    assert verify.main([f"--output_root={full_pose}"]) == 0  # every video accounted for
    (full_pose / "01-train" / "0001" / "clip.pose").rename(full_pose / "clip.pose.bak")
    try:
        assert verify.main([f"--output_root={full_pose}"]) == 1  # a missing file is seen
    finally:
        (full_pose / "clip.pose.bak").rename(full_pose / "01-train" / "0001" / "clip.pose")


def test_pose_files_read_back_equal_the_npz_output(full_pose, full_npz):
    expected, reports = videos(full_npz), records(full_pose)
    for video, points in expected.items():
        key = ASTRONAUT if video == "astronaut" else SIGNER
        pose = Pose.read(Path(pose_path(str(full_pose), key, video)).read_bytes())
        report = reports[video]
        header = pose.header
        assert (header.dimensions.width, header.dimensions.height) == (
            report["width"],
            report["height"],
        )
        assert pose.body.fps == pytest.approx(report["fps"]) and header.num_dims() == 3
        assert [c.name for c in header.components] == [
            "POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"
        ]  # fmt: skip
        rows = [our_row(c.name, p) for c in header.components for p in c.points]
        assert sorted(rows) == list(range(553))
        ours = points[:, rows]
        scale = np.array([report["width"], report["height"], 1], np.float32)
        assert pose.body.data.shape == (len(points), 1, 553, 3)
        np.testing.assert_allclose(pose.body.data.data[:, 0], ours[..., :3] * scale, rtol=1e-6)
        np.testing.assert_array_equal(pose.body.confidence[:, 0], ours[..., 3])
        missing = ~np.any(ours != 0, axis=-1)  # our rule: a missing part is all zeros
        np.testing.assert_array_equal(np.ma.getmaskarray(pose.body.data)[:, 0, :, 0], missing)


def test_missing_hands_are_masked_and_pose_formats_tools_work(full_pose):
    astronaut = Pose.read(Path(pose_path(str(full_pose), ASTRONAUT, "astronaut")).read_bytes())
    for hand in ("LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"):
        hand_pose = astronaut.get_components([hand])
        assert np.ma.getmaskarray(hand_pose.body.data).all(), hand
    assert not np.ma.getmaskarray(astronaut.get_components(["FACE_LANDMARKS"]).body.data).any()

    signer = Pose.read(Path(pose_path(str(full_pose), SIGNER, "frames")).read_bytes())
    nose = signer.header.get_point_index("POSE_LANDMARKS", "NOSE")
    x, y = np.round(signer.body.data.data[0, 0, nose, :2]).astype(int)
    image = next(PoseVisualizer(signer).draw())
    assert image.shape == (360, 640, 3)
    assert (image[y - 2 : y + 3, x - 2 : x + 3] != 255).any()  # drawn where the nose is
    assert (image[:5, :5] == 255).all()  # and not everywhere

    normalised = signer.copy().normalize()  # pose-format's own normalisation: by the shoulders
    shoulders = [
        normalised.header.get_point_index("POSE_LANDMARKS", p)
        for p in ("LEFT_SHOULDER", "RIGHT_SHOULDER")
    ]
    distance = np.linalg.norm(np.diff(normalised.body.data[:, 0, shoulders], axis=1), axis=-1)
    assert distance.mean() == pytest.approx(1, rel=1e-4)
    hidden = pose_hide_legs(signer.copy())
    knee = hidden.header.get_point_index("POSE_LANDMARKS", "LEFT_KNEE")
    assert (hidden.body.confidence[:, 0, knee] == 0).all()


def test_converter_gives_the_pipelines_own_pose_bytes(full_npz, full_pose, npz_184, tmp_path):
    converted = tmp_path / "converted"
    assert convert.main(["--input", str(full_npz), "--output", str(converted)]) == 0
    assert pose_files(converted) == pose_files(full_pose)
    assert sorted(records(converted)) == sorted(records(full_pose))
    for key in (SIGNER, ASTRONAUT):
        assert Path(done_path(str(converted), key, "pose")).is_file()

    # 184-layout npz: the same values, fewer points, exactly pose-format's selection
    small = tmp_path / "small"
    assert convert.main(["--input", str(npz_184), "--output", str(small)]) == 0
    full = Pose.read(Path(pose_path(str(full_pose), SIGNER, "clip")).read_bytes())
    subset = Pose.read(Path(pose_path(str(small), SIGNER, "clip")).read_bytes())
    assert subset.header.total_points() == 184
    names = [c.name for c in full.header.components]
    selected = full.get_components(names, {c.name: c.points for c in subset.header.components})
    for mine, ref in zip(subset.header.components, selected.header.components, strict=True):
        assert (mine.points, mine.limbs) == (ref.points, ref.limbs)
    np.testing.assert_array_equal(subset.body.data.data, selected.body.data.data)
    np.testing.assert_array_equal(subset.body.confidence, selected.body.confidence)


def test_pose_output_resumes_by_sign_marker(full_pose, corpus):
    args = ("--layout_points=full", "--output_format=pose")
    stamps = {p: p.stat().st_mtime_ns for p in full_pose.glob("*/*/*")}
    again = run_pipeline(corpus, full_pose, *args)
    assert again.counters["signs_skipped"] == 2 and again.counters["videos_ok"] == 0
    assert {p: p.stat().st_mtime_ns for p in full_pose.glob("*/*/*")} == stamps
    before = pose_files(full_pose)
    Path(done_path(str(full_pose), SIGNER, "pose")).unlink()  # as if cut short mid-sign
    redo = run_pipeline(corpus, full_pose, *args)
    assert redo.counters["signs_written"] == 1 and redo.counters["signs_skipped"] == 1
    assert pose_files(full_pose) == before
    assert sorted(p.name for p in Path(pose_folder(str(full_pose), SIGNER)).iterdir()) == [
        "_SUCCESS", "clip.pose", "frames.pose"
    ]  # fmt: skip
