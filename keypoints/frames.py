"""Frame sources: a video is a folder of image frames or a single video file.

Reading goes through an injected ``open_file`` callable (Beam's ``FileSystems.open`` in
the pipeline, the built-in ``open`` in tests), so that a local folder and a gs:// bucket
take the same code path and this module stays free of Beam. Frames are decoded one at a
time and handed out as RGB, so memory does not grow with the length of a video.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np
import numpy.typing as npt
from natsort import natsorted

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})

OpenFile = Callable[[str], BinaryIO]


def extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def basename(path: str) -> str:
    """The last component of a local path or URL (gs://b/x/y.jpg -> y.jpg)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def natural_order(paths: Sequence[str]) -> list[str]:
    """Frame files in the order a person numbers them: frame_2 before frame_10."""
    return natsorted(paths, key=basename)


@dataclass(frozen=True)
class VideoSource:
    """Where one video's frames come from.

    ``frame_paths`` holds the frame files of a frame folder in natural order, or the one
    video file. ``ignored`` counts the files of a frame folder that are not frames.
    """

    name: str
    location: str
    is_folder: bool
    frame_paths: tuple[str, ...]
    ignored: int = 0


@dataclass
class Frame:
    """One decoded frame, or why it could not be decoded."""

    index: int
    rgb: npt.NDArray[np.uint8] | None
    problem: str | None = None


@dataclass
class FrameStream:
    """Frames of one video, with the rate they were recorded at."""

    fps: float
    frames: Iterator[Frame]


class VideoUnreadable(Exception):
    """The video as a whole cannot be read (not a video, truncated header, ...)."""


def _decode_image(data: bytes) -> npt.NDArray[np.uint8] | None:
    if not data:
        return None
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # type: ignore[return-value]


def _read_frames_folder(source: VideoSource, open_file: OpenFile) -> Iterator[Frame]:
    for index, path in enumerate(source.frame_paths):
        name = basename(path)
        try:
            with open_file(path) as f:
                data = f.read()
        except OSError as e:
            yield Frame(index, None, f"{name}: cannot be read ({e.strerror or e})")
            continue
        rgb = _decode_image(data)
        if rgb is None:
            problem = "empty file" if not data else "not a decodable image"
            yield Frame(index, None, f"{name}: {problem}")
        else:
            yield Frame(index, rgb)


@contextlib.contextmanager
def _local_copy(path: str, open_file: OpenFile) -> Iterator[str]:
    """A local path for a video file: itself when local, else a temporary copy."""
    if os.path.isfile(path):
        yield path
        return
    suffix = extension(path)
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp, open_file(path) as src:
        shutil.copyfileobj(src, tmp, length=1 << 20)
        tmp.flush()
        yield tmp.name


def _read_video_file(capture: cv2.VideoCapture) -> Iterator[Frame]:
    index = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            return
        yield Frame(index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # type: ignore[arg-type]
        index += 1


@contextlib.contextmanager
def open_video(
    source: VideoSource, open_file: OpenFile, default_fps: float
) -> Iterator[FrameStream]:
    """Frames of a video, decoded lazily; raises VideoUnreadable for a broken video file.

    Frame folders have no rate of their own and get ``default_fps``; video files report
    theirs (``default_fps`` when they do not).
    """
    if source.is_folder:
        yield FrameStream(default_fps, _read_frames_folder(source, open_file))
        return
    path = source.frame_paths[0]
    with contextlib.ExitStack() as stack:
        try:
            local_path = stack.enter_context(_local_copy(path, open_file))
        except OSError as e:
            raise VideoUnreadable(f"{basename(path)}: cannot be read ({e.strerror or e})") from e
        capture = cv2.VideoCapture(local_path)
        stack.callback(capture.release)
        if not capture.isOpened():
            raise VideoUnreadable(f"{basename(path)}: not a readable video file")
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or default_fps
        yield FrameStream(fps, _read_video_file(capture))
