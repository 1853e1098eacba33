"""Frame sources: a video is a folder of image frames or a single video file.

Reading goes through an injected ``open_file`` callable (Beam's FileSystems in
the pipeline, the built-in ``open`` in tests), so that a local folder and a gs:// bucket
take the same code path and this module stays free of Beam. Frames are decoded one at a
time and handed out as RGB, so memory does not grow with the length of a video. Video
files are decoded by keypoints.video_file.

Every way a file can be unusable becomes a message that names the file and says what is
wrong with it: an unreadable frame is skipped and reported, a video that cannot be used as
a whole raises VideoUnreadable. Nothing here hangs on, reads or decodes a file it should
not: named pipes and devices are refused before they are opened, a frame file's size
before it is read (MAX_FRAME_BYTES), and an image's dimensions are read from its header
before it is decoded (frame_size_problem), because MediaPipe's native code aborts the
whole process on frames it cannot take.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from natsort import natsorted

from keypoints import images

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
# The largest frame decoded, in pixels. 8K UHD (7680x4320, 33 Mpx) fits; one RGB frame at the
# limit is 120 MB, and the decoder, the colour conversion and MediaPipe each hold a copy.
# Anything larger in a sign-language corpus is a mistake, and a 30000x30000 PNG of a few
# hundred kilobytes would otherwise take gigabytes to decode.
MAX_FRAME_PIXELS = 40_000_000
# The longest side MediaPipe's image path takes: its OpenCV remap aborts the process (not
# an exception) on a side of SHRT_MAX (32,767 px) or more, with both backends, whatever
# the other side. tests/test_frames.py checks that this works and one more pixel aborts.
MAX_FRAME_SIDE = 32_766
# The largest frame file read. No frame within MAX_FRAME_PIXELS needs more than 8 bytes a
# pixel, even stored uncompressed as 16-bit RGBA; a larger file is not a frame (a sparse or
# runaway file), and reading it whole would take its size in memory.
MAX_FRAME_BYTES = MAX_FRAME_PIXELS * 8

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
    video file. ``ignored`` holds the files of a frame folder that are not frames.
    ``problem``, when set, says why the video cannot be used at all, known from the
    listing alone (two videos with one name, a frame folder that cannot be listed).
    """

    name: str
    location: str
    is_folder: bool
    frame_paths: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    problem: str | None = None


@dataclass
class Frame:
    """One decoded frame, or why it could not be decoded; ``label`` names it for people.

    ``time_ms`` is the frame's time from the start of the video, from the decoder; None
    for frame folders, whose frames are evenly spaced at the run's ``--fps``. ``full_size``
    is the (width, height) of a frame decoded reduced (``--decode_scale``): the size its
    points are measured against, as if it had been decoded whole.
    """

    index: int
    rgb: npt.NDArray[np.uint8] | None
    problem: str | None = None
    label: str = ""
    time_ms: int | None = None
    full_size: tuple[int, int] | None = None


@dataclass
class FrameStream:
    """Frames of one video, with what the source says about them.

    ``fps`` is the nominal rate (a frame folder's ``--fps``, a file's stated rate). The
    fields after ``frames`` are filled in as the frames are read: a video file's stored
    size and the turn applied to make it upright, and problems with the file as a whole.
    """

    fps: float
    frames: Iterator[Frame]
    expected_frames: int = 0  # how many frames the source says it has (0: it does not say)
    stored_size: tuple[int, int] | None = None
    rotation: int = 0  # degrees clockwise
    mirrored: bool = False  # flipped left-right before the rotation
    mean_fps: float | None = None  # from the frames' own timestamps
    problems: list[str] = field(default_factory=list)
    ffmpeg_log: list[str] = field(default_factory=list)  # what FFmpeg said while decoding


class VideoUnreadable(Exception):
    """The video as a whole cannot be read (not a video, truncated header, ...)."""


def special_file_problem(path: str) -> str | None:
    """Why a local path is not a regular file one can read; None for one (or for a URL).

    Opening a named pipe blocks until something writes to it, so these are refused
    before anything opens them.
    """
    if not os.path.lexists(path):
        return None  # a URL, or gone since the listing: opening it will say which
    if not os.path.exists(path):
        try:
            os.stat(path)
        except OSError as e:
            if e.errno == errno.ELOOP:
                return f"symbolic link loop ({e.strerror})"
        return "broken symbolic link"
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a named pipe, socket or device)"
    return None


def frame_size_problem(width: int, height: int) -> str | None:
    """Why frames of this size must not be decoded or given to MediaPipe; None when fine."""
    if max(width, height) > MAX_FRAME_SIDE:
        return (
            f"{width}x{height}: a side over {MAX_FRAME_SIDE:,} px, the most MediaPipe's "
            "image path takes"
        )
    if width * height > MAX_FRAME_PIXELS:
        return (
            f"{width}x{height} is {width * height:,} pixels, over the limit of "
            f"{MAX_FRAME_PIXELS:,} pixels per frame"
        )
    return None


def oversize_problem(header: images.Header | None) -> str | None:
    """Why an encoded image is too large to decode (frame_size_problem); None when not."""
    if header is None:
        return None  # unknown sizes are left to OpenCV, which caps decoding at 2**30 pixels
    problem = frame_size_problem(header.width, header.height)
    return f"{problem}; not decoded" if problem else None


def _file_size_problem(path: str) -> str | None:
    """Why a local frame file is too large to read (MAX_FRAME_BYTES); None for a URL."""
    if not os.path.isfile(path):
        return None  # a URL: its read is bounded instead
    size = os.path.getsize(path)
    if size <= MAX_FRAME_BYTES:
        return None
    return _too_many_bytes(size)


def _too_many_bytes(size: int | None) -> str:
    said = f"{size:,} bytes" if size is not None else "more bytes"
    return f"{said}, over the limit of {MAX_FRAME_BYTES:,} bytes per frame file; not read"


def read_frame(index: int, path: str, open_file: OpenFile, scale: int = 1) -> Frame:
    """One frame file, decoded (reduced up to ``scale`` times), or why it cannot be used."""
    name = basename(path)

    def unusable(problem: str) -> Frame:
        return Frame(index, None, f"{name}: {problem}", name)

    special = special_file_problem(path) or _file_size_problem(path)
    if special:
        return unusable(special)
    try:
        with open_file(path) as f:
            data = f.read(MAX_FRAME_BYTES + 1)
    except OSError as e:
        return unusable(f"cannot be read ({e.strerror or e})")
    except MemoryError:
        return unusable("too large to read into memory")
    if len(data) > MAX_FRAME_BYTES:
        return unusable(_too_many_bytes(None))
    if not data:
        return unusable("empty file (0 bytes)")
    header = images.read_header(data)
    too_large = oversize_problem(header)
    if too_large:
        return unusable(too_large)
    reduce = 1 if header is None else images.reduction(header.width, header.height, scale)
    rgb = images.decode(data, header, reduce)
    if rgb is None:
        return unusable("not a decodable image (damaged, truncated, or not an image)")
    if reduce == 1:
        return Frame(index, rgb, None, name)
    assert header is not None  # a reduction needs the size
    return Frame(index, rgb, None, name, full_size=(header.width, header.height))


def _read_frames_folder(source: VideoSource, open_file: OpenFile, scale: int) -> Iterator[Frame]:
    for index, path in enumerate(source.frame_paths):
        yield read_frame(index, path, open_file, scale)


@contextlib.contextmanager
def _local_copy(path: str, open_file: OpenFile) -> Iterator[str]:
    """A local path for a video file: itself when local, else a temporary copy."""
    if os.path.isfile(path):
        with open(path, "rb"):
            pass  # OpenCV would only say "cannot open"; this says why (permissions, ...)
        yield path
        return
    suffix = extension(path)
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp, open_file(path) as src:
        shutil.copyfileobj(src, tmp, length=1 << 20)
        tmp.flush()
        yield tmp.name


@contextlib.contextmanager
def open_video(
    source: VideoSource, open_file: OpenFile, default_fps: float, scale: int = 1
) -> Iterator[FrameStream]:
    """Frames of a video, decoded lazily; raises VideoUnreadable for a broken video file.

    Frame folders have no rate of their own and get ``default_fps``; video files report
    theirs (``default_fps`` when they do not). A video file's VideoUnreadable can also
    come while its frames are iterated (truncation shows only at the end). ``scale`` > 1
    decodes frames reduced up to that many times (keypoints.images.reduction).
    """
    if source.is_folder:
        frames = _read_frames_folder(source, open_file, scale)
        yield FrameStream(default_fps, frames, len(source.frame_paths))
        return
    path = source.frame_paths[0]
    name = basename(path)
    special = special_file_problem(path)
    if special:
        raise VideoUnreadable(f"{name}: {special}")
    # Imported here: only a corpus of video files pays for loading FFmpeg.
    from keypoints.video_file import open_video_file

    with contextlib.ExitStack() as stack:
        try:
            local_path = stack.enter_context(_local_copy(path, open_file))
        except OSError as e:
            raise VideoUnreadable(f"{name}: cannot be read ({e.strerror or e})") from e
        if os.path.getsize(local_path) == 0:
            raise VideoUnreadable(f"{name}: empty file (0 bytes)")
        yield stack.enter_context(open_video_file(local_path, name, default_fps, scale))
