"""The .pose header and body, the layout derivation's contract, and the converter's errors.

Fast: no pipeline run; the real-footage checks are in test_interop.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from pose_format.utils.holistic import holistic_components

from keypoints import layout as L
from keypoints.corpus import SignKey
from keypoints.derive import derive_points
from keypoints.outputs import done_path, npz_path, pose_path, sign_report_path
from keypoints.pose_file import layout_of, pose_bytes, pose_header
from pipeline import cli
from pipeline.job.options import OptionsError, SignKpsOptions, validate
from pipeline.tools import convert
from tests.support import npz_bytes

WIDTH, HEIGHT, FPS = 640, 360, 25.0


def fake_video(frames: int = 3, seed: int = 0) -> np.ndarray:
    """Full-layout points in [0, 1) with MediaPipe's structure: frame 1 lost the left hand."""
    rng = np.random.default_rng(seed)
    points = rng.random((frames, L.FULL_POINTS, 4), dtype=np.float32)
    points[:, L.FULL_PARTS["face"].slice, 3] = 1.0
    points[:, L.FULL_PARTS["right_hand"].slice, 3] = 1.0
    points[:, L.FULL_PARTS["left_hand"].slice, 3] = 1.0
    points[1, L.FULL_PARTS["left_hand"].slice] = 0.0
    return points


def read(data: bytes) -> Pose:
    return Pose.read(data)


def test_full_header_is_pose_format_holistic_without_world_landmarks():
    ours = pose_header(L.LAYOUT_FULL, WIDTH, HEIGHT)
    theirs = holistic_components("XYZC", additional_face_points=10)
    assert [c.name for c in theirs][-1] == "POSE_WORLD_LANDMARKS"
    assert len(ours.components) == 4
    for mine, ref in zip(ours.components, theirs[:4], strict=True):
        assert mine.name == ref.name and mine.format == ref.format == "XYZC"
        assert mine.points == ref.points
        assert sorted(mine.limbs) == sorted(ref.limbs)
        assert [tuple(c) for c in mine.colors] == [tuple(c) for c in ref.colors]
    assert (ours.dimensions.width, ours.dimensions.height) == (WIDTH, HEIGHT)
    assert ours.total_points() == L.FULL_POINTS


def test_values_are_pixels_confidence_is_channel_4_and_missing_parts_are_masked():
    points = fake_video()
    pose = read(pose_bytes(points, WIDTH, HEIGHT, FPS))
    assert pose.body.fps == FPS and pose.body.data.shape == (3, 1, L.FULL_POINTS, 3)
    header = pose.header
    right_index = header.get_point_index("POSE_LANDMARKS", "RIGHT_INDEX")
    np.testing.assert_allclose(
        pose.body.data[:, 0, right_index],
        points[:, L.FULL_POINT_NAMES.index("pose_right_index"), :3] * [WIDTH, HEIGHT, 1],
        rtol=1e-6,
    )
    iris = header.get_point_index("FACE_LANDMARKS", "473")
    np.testing.assert_array_equal(
        pose.body.confidence[:, 0, iris], points[:, L.FULL_POINT_NAMES.index("face_473"), 3]
    )
    left = [header.get_point_index("LEFT_HAND_LANDMARKS", p) for p in ("WRIST", "PINKY_TIP")]
    right = [header.get_point_index("RIGHT_HAND_LANDMARKS", p) for p in ("WRIST", "PINKY_TIP")]
    mask = np.ma.getmaskarray(pose.body.data)
    assert mask[1, 0, left].all() and not mask[[0, 2], 0][:, left].any()
    assert not mask[:, 0, right].any()
    np.testing.assert_allclose(
        pose.body.data[0, 0, right[0]],
        points[0, L.FULL_PARTS["right_hand"].start, :3] * [WIDTH, HEIGHT, 1],
        rtol=1e-6,
    )


def test_the_184_file_is_pose_formats_own_selection_from_the_full_file():
    points = fake_video()
    full = read(pose_bytes(points, WIDTH, HEIGHT, FPS))
    subset = read(pose_bytes(L.select_184(points), WIDTH, HEIGHT, FPS))
    names = [c.name for c in full.header.components]
    selected = full.get_components(names, {c.name: c.points for c in subset.header.components})
    assert [len(c.points) for c in subset.header.components] == [6, 136, 21, 21]
    assert subset.header.components[0].points[:2] == ["LEFT_SHOULDER", "RIGHT_SHOULDER"]
    for mine, ref in zip(subset.header.components, selected.header.components, strict=True):
        assert (mine.name, mine.points, mine.limbs) == (ref.name, ref.points, ref.limbs)
    np.testing.assert_array_equal(subset.body.data, selected.body.data)
    np.testing.assert_array_equal(subset.body.confidence, selected.body.confidence)


def test_same_points_give_the_same_bytes():
    points = fake_video()
    assert pose_bytes(points, WIDTH, HEIGHT, FPS) == pose_bytes(points.copy(), WIDTH, HEIGHT, FPS)


def test_shapes_and_sizes_a_pose_file_cannot_hold_are_refused():
    with pytest.raises(ValueError, match=r"\(frames, 184 or 553, 4\)"):
        layout_of(np.zeros((2, 100, 4), np.float32))
    assert layout_of(np.zeros((2, 553, 4), np.float32)) is L.LAYOUT_FULL
    with pytest.raises(ValueError, match="width 70000"):
        pose_bytes(fake_video(), 70000, HEIGHT, FPS)


def test_derive_needs_full_points_and_for_adjusted_the_frame_size():
    points = fake_video()
    np.testing.assert_array_equal(derive_points(points), L.select_184(points))
    assert derive_points(points, "full") is points
    with pytest.raises(ValueError, match="--layout_points full"):
        derive_points(L.select_184(points))
    with pytest.raises(ValueError, match="frame size"):
        derive_points(points, adjusted=True)
    with pytest.raises(ValueError, match="unknown layout"):
        derive_points(points, "100")


def test_output_format_option(tmp_path: Path):
    corpus = tmp_path / "corpus"
    (corpus / "01" / "01" / "train" / "0001" / "v").mkdir(parents=True)
    (corpus / "01" / "01" / "train" / "0001" / "v" / "00000.jpg").write_bytes(b"x")

    def options(*args: str) -> SignKpsOptions:
        where = [f"--input_root={corpus}", f"--output_root={tmp_path / 'out'}"]
        return SignKpsOptions([*where, "--signers", "01", "--splits", "train", *args])

    assert options().output_format == "npz"
    validate(options("--output_format=pose", "--layout_points=full"))
    with pytest.raises(OptionsError, match="drop --adjusted"):
        validate(options("--output_format=pose", "--adjusted"))
    with pytest.raises(SystemExit):
        options("--output_format=csv")


# The converter on a hand-made output root: what a run with npz output leaves.

KEYS = (SignKey("01", "train", 1), SignKey("01", "train", 2))


def write_sign(root: Path, key: SignKey, arrays: dict[str, np.ndarray]) -> None:
    """A sign's npz and its per-video report, as the npz sink writes them."""
    lines = [
        {"signer": key.signer, "split": key.split, "sign": key.sign, "video": video,
         "status": "ok", "width": WIDTH, "height": HEIGHT, "fps": FPS}
        for video in arrays
    ]  # fmt: skip
    report = "".join(json.dumps(r) + "\n" for r in lines).encode()
    for path, data in ((npz_path(str(root), key), npz_bytes(arrays)),
                       (sign_report_path(str(root), key), report)):  # fmt: skip
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)


def make_npz_output(root: Path, adjusted: bool = False) -> Path:
    for n, key in enumerate(KEYS):
        write_sign(root, key, {"a": fake_video(seed=n), "b": fake_video(frames=2, seed=n + 10)})
    run_options = {"layout_points": "full", **({"adjusted": True} if adjusted else {})}
    (root / "_reports" / "run.json").write_text(json.dumps({"options": run_options}))
    return root


def test_converter_goes_on_past_a_broken_npz_and_names_it(tmp_path, capsys):
    source, out = make_npz_output(tmp_path / "npz"), tmp_path / "pose"
    broken = Path(npz_path(str(source), KEYS[1]))
    broken.write_bytes(b"not a zip")
    assert convert.main(["--input", str(source), "--output", str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"FAILED  {broken}: not a readable npz file" in printed
    assert "1 signs converted" in printed
    assert Path(done_path(str(out), KEYS[0], "pose")).exists()
    assert not Path(done_path(str(out), KEYS[1], "pose")).exists()
    pose = Pose.read(Path(pose_path(str(out), KEYS[0], "b")).read_bytes())
    np.testing.assert_allclose(
        pose.body.data[:, 0, 0], fake_video(2, seed=10)[:, 0, :3] * [WIDTH, HEIGHT, 1], rtol=1e-6
    )
    run = json.loads((out / "_reports" / "run.json").read_text())
    assert run["conversion"]["signs_converted"] == 1 and run["conversion"]["signs_failed"] == 1
    assert run["output"] == {"videos_ok": 2, "videos_failed": 0}


def test_converter_skips_converted_signs_and_overwrite_drops_stale_videos(tmp_path, capsys):
    source = make_npz_output(tmp_path / "npz")
    args = ["--input", str(source), "--output", str(source)]  # pose folders beside the npz
    assert convert.main(args) == 0
    marker = Path(done_path(str(source), KEYS[0], "pose"))
    stamp = marker.stat().st_mtime_ns
    assert convert.main(args) == 0
    assert "0 signs converted, 2 skipped" in capsys.readouterr().out
    assert marker.stat().st_mtime_ns == stamp
    # the sign loses video "b": a rewrite must not leave its old .pose behind
    write_sign(source, KEYS[0], {"a": fake_video(seed=0)})
    assert convert.main([*args, "--overwrite"]) == 0
    folder = marker.parent
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", "a.pose"]
    assert Path(npz_path(str(source), KEYS[0])).exists()  # the npz output is untouched


def test_converter_refuses_adjusted_or_unfinished_runs(tmp_path, capsys):
    adjusted = make_npz_output(tmp_path / "adjusted", adjusted=True)
    assert cli.main(["convert", "--input", str(adjusted), "--output", str(tmp_path / "o1")]) == 2
    assert "adjusted (normalised) coordinates" in capsys.readouterr().err
    unfinished = make_npz_output(tmp_path / "unfinished")
    (unfinished / "_reports" / "run.json").unlink()
    assert cli.main(["convert", "--input", str(unfinished), "--output", str(tmp_path / "o2")]) == 2
    assert "run.json not found" in capsys.readouterr().err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
