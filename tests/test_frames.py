import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from keypoints.corpus import group_videos
from keypoints.frames import VideoSource, VideoUnreadable, natural_order, open_video


def test_natural_order_of_frame_names():
    names = ["frame_10.jpg", "frame_2.jpg", "frame_1.jpg", "frame_100.jpg"]
    paths = [f"gs://b/v/{n}" for n in names]
    assert [p.rsplit("/", 1)[1] for p in natural_order(paths)] == [
        "frame_1.jpg",
        "frame_2.jpg",
        "frame_10.jpg",
        "frame_100.jpg",
    ]


def test_grouping_a_sign_folder():
    folder = "gs://b/01/01/train/0001"
    entries = [f"{folder}/b.mp4", f"{folder}/notes.txt"]
    nested = [
        f"{folder}/a/frame_10.jpg",
        f"{folder}/a/frame_9.png",
        f"{folder}/a/Thumbs.db",
        f"{folder}/c/x.txt",
    ]
    listing = group_videos(folder, entries, nested, folders=[])
    by_name = {v.name: v for v in listing.videos}
    assert sorted(by_name) == ["a", "b", "c"]
    assert by_name["a"].is_folder and by_name["a"].ignored == (f"{folder}/a/Thumbs.db",)
    assert [p.rsplit("/", 1)[1] for p in by_name["a"].frame_paths] == [
        "frame_9.png",
        "frame_10.jpg",
    ]
    assert not by_name["b"].is_folder and by_name["b"].frame_paths == (f"{folder}/b.mp4",)
    assert by_name["c"].frame_paths == () and by_name["c"].ignored == (f"{folder}/c/x.txt",)
    assert listing.stray_files == [f"{folder}/notes.txt"]


def read_binary(path: str):
    return open(path, "rb")


def _frames(source: VideoSource, fps: float = 30.0, opener=read_binary):
    with open_video(source, opener, fps) as stream:
        return stream.fps, [f.rgb for f in stream.frames if f.rgb is not None]


def test_frame_folder_reads_rgb_in_order(signer_frames, tmp_path):
    import cv2

    paths = tuple(str(p) for p in signer_frames)
    fps, frames = _frames(VideoSource("v", str(tmp_path), True, paths), fps=25.0)
    assert fps == 25.0 and len(frames) == 9
    assert frames[0].shape == (360, 640, 3)
    bgr = cv2.imread(paths[3])
    np.testing.assert_array_equal(frames[3], bgr[:, :, ::-1])


def test_video_file_reads_all_frames_with_its_rate(signer_video):
    fps, frames = _frames(VideoSource("v", str(signer_video), False, (str(signer_video),)))
    assert fps == pytest.approx(24.0) and len(frames) == 9
    assert frames[0].shape == (720, 1280, 3)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("scale", [1, 2])
def test_video_frames_are_ffmpegs_pixels_and_leave_no_threads_behind(signer_video, scale):
    """The pixels of PyAV's own conversion, full size or reduced, with no thread per frame.

    PyAV's per-frame conversion (``to_ndarray(format="rgb24")``) starts a scaler with a
    thread per core for every frame and leaves the threads behind; this process would then
    hold a thread for every frame it ever decoded."""
    with av.open(str(signer_video)) as container:
        decoded = list(container.decode(video=0))
    if scale == 1:
        expected = [f.to_ndarray(format="rgb24") for f in decoded]
    else:
        w, h = -(-decoded[0].width // 2), -(-decoded[0].height // 2)
        small = [f.reformat(width=w, height=h, interpolation="AREA") for f in decoded]
        expected = [f.to_ndarray(format="rgb24") for f in small]
    source = VideoSource("v", str(signer_video), False, (str(signer_video),))
    before = _threads()
    for _ in range(3):
        with open_video(source, read_binary, 30.0, scale) as stream:
            frames = [f.rgb for f in stream.frames]
    assert _threads() == before, "decoding left threads behind"
    assert len(frames) == len(expected) == 9
    for got, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_remote_video_file_is_copied_through_the_opener(signer_video, tmp_path):
    opened = []

    def opener(path: str):
        opened.append(path)
        return open(signer_video, "rb")

    url = "mem://bucket/clip.mp4"  # not a local path: must go through the opener
    _, frames = _frames(VideoSource("clip", url, False, (url,)), opener=opener)
    assert opened == [url] and len(frames) == 9


def test_not_a_video_is_refused_with_its_name(tmp_path: Path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    with (
        pytest.raises(VideoUnreadable, match=r"broken\.mp4"),
        open_video(VideoSource("broken", str(bad), False, (str(bad),)), read_binary, 30.0),
    ):
        pass


def test_undecodable_frame_is_reported_not_raised(signer_frames, tmp_path: Path):
    shutil.copy(signer_frames[0], tmp_path / "1.jpg")
    (tmp_path / "2.jpg").write_bytes(b"\xff\xd8garbage")
    source = VideoSource(
        "v", str(tmp_path), True, (str(tmp_path / "1.jpg"), str(tmp_path / "2.jpg"))
    )
    with open_video(source, read_binary, 30.0) as stream:
        frames = list(stream.frames)
    assert frames[0].rgb is not None
    assert frames[1].rgb is None
    assert frames[1].problem == "2.jpg: not a decodable image (damaged, truncated, or not an image)"


def test_video_with_frames_over_the_pixel_limit_is_refused_unread(signer_video, monkeypatch):
    from keypoints import frames

    monkeypatch.setattr(frames, "MAX_FRAME_PIXELS", 1280 * 720 - 1)  # the clip is 1280x720
    source = VideoSource("clip", str(signer_video), False, (str(signer_video),))
    with (
        pytest.raises(
            VideoUnreadable,
            match=r"^signer_sample_1280x720_9f\.mp4: frames too large \(1280x720 is "
            r"921,600 pixels, over the limit of 921,599 pixels per frame\); not decoded$",
        ),
        open_video(source, read_binary, 30.0),
    ):
        pass  # fmt: skip


def test_rows_grow_past_the_announced_count_and_trim_to_what_came():
    from keypoints.extract import _Rows

    rows = _Rows(points=3, expected=2)
    for i in range(5):  # more frames than announced
        rows.append(np.full((3, 4), i, dtype=np.float32))
    assert rows.array().shape == (5, 3, 4) and rows.array()[4, 0, 0] == 4
    exact = _Rows(points=3, expected=2)
    for i in range(2):
        exact.append(np.full((3, 4), i, dtype=np.float32))
    assert exact.array().shape == (2, 3, 4) and exact.array()[1, 2, 3] == 1


_ONE_WIDE_FRAME = """
import sys
import numpy as np
from keypoints.backends import create_backend
backend = create_backend("holistic")
backend.start_video()
backend.process(np.full((10, int(sys.argv[1]), 3), 128, np.uint8), 0)
"""


def test_frame_side_limit_is_the_largest_mediapipe_takes():
    """MAX_FRAME_SIDE is measured, not guessed: one pixel wider aborts MediaPipe's process.

    Each frame runs in its own process, since the failure is an abort, not an exception.
    """
    from keypoints.frames import MAX_FRAME_SIDE

    def run(width: int) -> int:
        return subprocess.run(
            [sys.executable, "-c", _ONE_WIDE_FRAME, str(width)], capture_output=True, timeout=120
        ).returncode

    assert run(MAX_FRAME_SIDE) == 0
    assert run(MAX_FRAME_SIDE + 1) == -signal.SIGABRT
