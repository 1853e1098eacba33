"""The real pipeline on real-world video files (tests/video_corpus.py), as a user runs it.

Every intact file must be kept whole (the frames FFmpeg decodes, upright, at the size a
player shows), every truncated one failed, and the odd entries beside them (a link loop, a
frame too wide for MediaPipe, a 64 GiB sparse frame, macOS junk) must cost no good video.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keypoints.backends import create_backend
from keypoints.corpus import KARSL_LAYOUT, SignKey, sign_folder
from keypoints.extract import ExtractionSettings, extract_video
from keypoints.frames import MAX_FRAME_BYTES, MAX_FRAME_SIDE, VideoSource
from keypoints.layout import POSE_SLICE
from tests.conftest import REPO, SIGNKPS
from tests.video_corpus import VideoCase, ffmpeg_exe, place_case

INTACT_FILES = (
    "plain.mp4",
    "edit_list.mp4",
    "trim_copy.mp4",
    "mkv_audio.mkv",
    "webm_audio_longer.webm",
    "vfr.mkv",
    "av1.mp4",
    "rotated_phone.mp4",
    "rotated_180.mp4",
    "rotated_270.mp4",
    "hflip.mp4",
    "live.webm",
)
TRUNCATED = ("cut50_faststart.mp4", "cut90_faststart.mp4", "cut60_live.webm")
# sign 1: intact files; sign 2: truncated files, a link loop and one good file beside them;
# sign 3: frame folders
INTACT, CUT, FOLDERS = (
    SignKey("01", "train", 1),
    SignKey("01", "train", 2),
    SignKey("01", "train", 3),
)

SELECTION = ("--signers=01", "--splits=train", "--selected_signs_to=3")
WORKERS = (*SELECTION, "--direct_num_workers=2")


def read_binary(path: str):
    return open(path, "rb")


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


@pytest.fixture(scope="module")
def run(video_corpus: dict[str, VideoCase], tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("real_world")
    corpus, output = root / "corpus", root / "output"
    signs = {INTACT: INTACT_FILES, CUT: (*TRUNCATED, "plain.mp4", "self.mp4")}
    signs[FOLDERS] = ("wide_frame", "huge_sparse", "appledouble")
    for key, names in signs.items():
        for name in names:
            place_case(video_corpus[name], Path(sign_folder(str(corpus), KARSL_LAYOUT, key)))
    done = subprocess.run(
        [SIGNKPS, "local", f"--input_root={corpus}", f"--output_root={output}", *WORKERS],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    records = [json.loads(line) for line in (output / "_reports" / "videos.jsonl").open()]
    return done, {(r["sign"], r["video"]): r for r in records}, corpus, output


def record(run: Any, key: SignKey, name: str) -> dict[str, Any]:
    return run[1][key.sign, _stem(name)]


def points(run: Any, key: SignKey, name: str) -> np.ndarray:
    with np.load(run[3] / f"{key.label}.npz") as npz:
        return npz[_stem(name)]


def test_the_run_finishes_and_ffmpeg_stays_off_the_terminal(run):
    done = run[0]
    assert done.returncode == 0, done.stderr[-3000:]
    for said in ("File ended prematurely", "Invalid NAL unit size", "partial file"):
        assert said not in done.stderr  # the summary on stdout quotes reasons, not FFmpeg
    assert "Invalid NAL unit size" not in done.stdout


@pytest.mark.parametrize("name", INTACT_FILES)
def test_intact_files_are_kept_whole_and_upright(run, video_corpus, name):
    case, got = video_corpus[name], record(run, INTACT, name)
    assert got["status"] == "ok", got["reason"]
    assert got["frames"] == case.decoded_frames  # what FFmpeg decodes, not what is declared
    assert points(run, INTACT, name).shape == (case.decoded_frames, 184, 4)
    assert (got["width"], got["height"]) == case.upright_size
    assert (got["stored_width"], got["stored_height"]) == case.stored_size
    assert (got["rotation"], got["mirrored"]) == (case.rotation, case.hflip)
    assert got["unreadable_frames"] == 0
    times = case.frame_times
    assert times is not None
    assert got["fps"] == pytest.approx((len(times) - 1) / (times[-1] - times[0]), rel=1e-3)
    assert got["coverage"]["pose"] == 1.0  # an upright signer, found in every frame
    expected = [] if case.decoding and case.decoding.container_duration else ["may be truncated"]
    assert [p.split(":")[0] for p in got["problems"]] == expected


def test_variable_frame_rate_is_measured_from_the_timestamps(run, video_corpus):
    got = record(run, INTACT, "vfr.mkv")
    assert got["fps"] < 24  # the stream says 25; 4 frames of every 16 are missing
    assert got["frames"] == 36


def _pose_pixels(run: Any, name: str) -> np.ndarray:
    """The 6 upper-body pose points in pixels of the upright frame."""
    got = record(run, INTACT, name)
    pose = points(run, INTACT, name)[:, POSE_SLICE, :2]
    return pose * np.array([got["width"], got["height"]])


@pytest.mark.parametrize(
    ("name", "same_picture_as"),
    [
        ("rotated_180.mp4", "plain.mp4"),
        ("hflip.mp4", "plain.mp4"),
        ("rotated_270.mp4", "rotated_phone.mp4"),
    ],
)
def test_turned_files_give_the_keypoints_of_the_upright_picture(run, name, same_picture_as):
    """Files storing one picture turned in different ways give its keypoints, to re-encoding.

    Without the turn, a file stored upside down or mirrored puts the shoulders hundreds
    of pixels away, or swaps left and right.
    """
    gap = np.abs(_pose_pixels(run, name) - _pose_pixels(run, same_picture_as))
    assert np.median(gap) < 4.0  # pixels; the frames differ only by lossy re-encoding


@pytest.mark.parametrize("name", TRUNCATED)
def test_truncated_files_are_failed_with_the_evidence(run, video_corpus, name):
    got = record(run, CUT, name)
    assert got["status"] == "failed"
    assert got["reason"].startswith(f"{name}: truncated or damaged: ")
    assert got["frames"] == 0
    assert got["ffmpeg_log"], "what FFmpeg said is kept with the video"


def test_the_good_file_beside_truncated_ones_and_a_link_loop_is_written(run, video_corpus):
    got = record(run, CUT, "plain.mp4")
    assert got["status"] == "ok" and got["frames"] == video_corpus["plain.mp4"].decoded_frames
    assert np.array_equal(points(run, CUT, "plain.mp4"), points(run, INTACT, "plain.mp4"))
    loop = record(run, CUT, "self.mp4")
    assert loop["status"] == "failed"
    assert loop["reason"] == "self.mp4: symbolic link loop (Too many levels of symbolic links)"


@pytest.mark.parametrize(
    ("folder", "problem"),
    [
        (
            "wide_frame",
            f"00004.png: 33000x10: a side over {MAX_FRAME_SIDE:,} px, the most MediaPipe's "
            "image path takes; not decoded",
        ),
        (
            "huge_sparse",
            f"00005.png: {64 << 30:,} bytes, over the limit of {MAX_FRAME_BYTES:,} bytes per "
            "frame file; not read",
        ),
    ],
)
def test_a_frame_native_code_cannot_take_is_left_out_unread(run, folder, problem):
    """A frame too wide for MediaPipe, a 64 GiB sparse frame: that frame, not the video."""
    got = record(run, FOLDERS, folder)
    assert got["status"] == "ok"
    assert (got["frames"], got["unreadable_frames"]) == (8, 1)
    assert got["problems"] == [problem]


def test_macos_junk_in_a_frame_folder_is_ignored_silently(run):
    got = record(run, FOLDERS, "appledouble")
    assert got["status"] == "ok"
    assert (got["frames"], got["unreadable_frames"], got["ignored_files"]) == (9, 0, 0)
    assert got["problems"] == []


def test_verify_accounts_for_every_entry(run):
    _, _, corpus, output = run
    done = subprocess.run(
        [SIGNKPS, "verify", f"--output_root={output}", f"--input_root={corpus}", *SELECTION],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("stated", "kept"), [("00:00:02.000", True), ("00:00:02.080", False)])
def test_frames_ending_before_the_stated_duration_mean_truncation(
    video_corpus, tmp_path, stated, kept
):
    """The duration rule on its own: a Matroska track whose DURATION tag outlasts its frames.

    plain.mp4's 48 frames at 25 fps end at 1.92 s; the tag is rewritten in place (same
    length) to 2 frame intervals more (within the tolerance of 3) and to 4 (past it).
    """
    remuxed, plain = tmp_path / "plain.mkv", video_corpus["plain.mp4"].path
    remux = [ffmpeg_exe(), "-loglevel", "error", "-i", str(plain), "-c", "copy", str(remuxed)]
    subprocess.run(remux, check=True)
    data = remuxed.read_bytes()
    assert data.count(b"00:00:01.920000000") == 1
    remuxed.write_bytes(data.replace(b"00:00:01.920000000", stated.encode() + b"000000"))
    source = VideoSource("plain", str(remuxed), False, (str(remuxed),))
    backend = create_backend("holistic")
    report = extract_video(source, backend, ExtractionSettings(), read_binary).report
    if kept:
        assert (report.status, report.frames) == ("ok", 48)
    else:
        assert report.reason == (
            f"plain.mkv: truncated or damaged: its frames end at 1.92 s of the "
            f"{float(stated[-6:]):.2f} s it states (48 frames decoded)"
        )
