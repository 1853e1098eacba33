"""Frames of a video file, decoded with FFmpeg (PyAV) the way a player shows them.

A container's declared frame count is an estimate (edit lists, stream-copy trims, audio
tracks and variable frame rate all make it differ from what decodes), so nothing here
compares against it. What a player shows is what is kept: every decoded frame, turned
upright by the container's display matrix, with its own timestamp.

Truncation is decided from evidence in the file itself (TRUNCATION_RULE, stated in the
README): the demuxer reporting an error such as a premature end or marking a packet
corrupt, reading stopping on an error, or the decoded frames ending more than
``END_TOLERANCE_FRAMES`` frame intervals before the video stream's stated duration.
A truncated file is failed, not kept: the keypoints of a sign missing its end would be
wrong training data. Where a file states no duration for its video (a live recording), a
cut-off end cannot be seen, and the video is kept with a problem saying so.

FFmpeg's own messages never reach the terminal: they are captured per video and kept in
its record, named by the component that wrote them.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import av.logging
import numpy as np
import numpy.typing as npt
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import VideoReformatter

from keypoints.frames import Frame, FrameStream, VideoUnreadable, frame_size_problem
from keypoints.images import reduction

logger = logging.getLogger(__name__)

# How far short of the stated duration the last decoded frame may end, in frame intervals,
# before a file counts as truncated. Edit lists and stream-copy trims end a frame or two
# early; a cut file ends seconds early.
END_TOLERANCE_FRAMES = 3
TRUNCATION_RULE = (
    "a video file is failed as truncated or damaged when its demuxer reports an error "
    "(such as 'File ended prematurely') or marks a packet corrupt, when reading it stops "
    "on an error, or when its "
    f"decoded frames end more than {END_TOLERANCE_FRAMES} frame intervals before the "
    "duration the file states for its video stream"
)
_SCALER_THREADS = 1  # FFmpeg's default, 0: a thread per core, for each new scaler
MAX_DECODER_MESSAGES = 10  # distinct FFmpeg messages kept per video, each with its count
_MATROSKA_DURATION = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


@dataclass(frozen=True)
class Orientation:
    """How a player turns a stored frame upright, from the container's display matrix.

    ``rotation`` is the clockwise turn in degrees and ``mirrored`` a left-right flip made
    before it, which is what the record says; ``transpose`` and the two flips are how it is
    done to the pixel array.
    """

    rotation: int = 0
    mirrored: bool = False
    transpose: bool = False
    flip_rows: bool = False
    flip_columns: bool = False

    def apply(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        turned = rgb.transpose(1, 0, 2) if self.transpose else rgb
        turned = turned[::-1] if self.flip_rows else turned
        turned = turned[:, ::-1] if self.flip_columns else turned
        # MediaPipe takes contiguous images only
        return turned if turned is rgb else np.ascontiguousarray(turned)

    def upright_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.transpose else (width, height)


UPRIGHT = Orientation()
# Clockwise turns of the picture, by the matrix's (a, b, c, d) signs, for the unmirrored
# matrices; a mirrored matrix is a left-right flip (a, c negated) then one of these.
_TURNS = {(1, 0, 0, 1): 0, (0, 1, -1, 0): 90, (-1, 0, 0, -1): 180, (0, -1, 1, 0): 270}


def orientation(matrix: Sequence[int]) -> Orientation | None:
    """The turn a 3x3 display matrix asks for; None for one that is not a quarter turn.

    With FFmpeg's convention, a stored pixel at (x, y) is shown at (a*x + c*y, b*x + d*y)
    plus a shift, for the matrix's first two rows (a, b, _, c, d, _). Quarter turns and
    flips are the matrices whose entries are 0 and +-1 (times any scale).
    """
    a, b, c, d = (int(np.sign(matrix[i])) for i in (0, 1, 3, 4))
    transpose = a == 0 and d == 0
    if not (transpose or (b == 0 and c == 0)) or 0 in ((b, c) if transpose else (a, d)):
        return None
    mirrored = a * d - b * c < 0
    turn = _TURNS[(-a, b, -c, d) if mirrored else (a, b, c, d)]
    if transpose:  # shown x follows stored y (sign c), shown y follows stored x (sign b)
        return Orientation(turn, mirrored, True, flip_rows=b < 0, flip_columns=c < 0)
    return Orientation(turn, mirrored, False, flip_rows=d < 0, flip_columns=a < 0)


def _display_matrix(frame: av.VideoFrame) -> list[int] | None:
    # PyAV's stubs type a frame's side data as one entry; it is a mapping by type
    side_data: Any = frame.side_data
    matrix = side_data.get(SideDataType.DISPLAYMATRIX)
    if matrix is None:
        return None
    return [int(v) for v in np.frombuffer(bytes(memoryview(matrix)), dtype=np.int32)]


def _stated_duration(container: Any, stream: Any) -> float | None:
    """Seconds of video the file says it holds; None when it does not say for the video.

    The container's own duration covers every stream (an audio track may outlast the
    video), so it is used only for a file whose one stream is the video.
    """
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tagged = _MATROSKA_DURATION.match(str(stream.metadata.get("DURATION", "")))
    if tagged:  # Matroska and WebM give each track its duration as a tag
        hours, minutes, seconds = tagged.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if container.duration is not None and len(container.streams) == 1:
        return float(container.duration) / av.time_base
    return None


# FFmpeg's scaler warns about the conversion PyAV asks of it (full-range "yuvj" formats are
# converted correctly, and identically to ffmpeg's own), not about the file.
_NOT_ABOUT_THE_FILE = ("swscaler",)


class _Messages:
    """FFmpeg's log lines for one video, counted, with the component that wrote each."""

    def __init__(self, demuxer: str) -> None:
        self._demuxer = demuxer
        self.counts: Counter[str] = Counter()
        self.demuxer_errors: list[str] = []

    def take(self, captured: list[tuple[int, str, str]]) -> None:
        for level, component, message in captured:
            if component in _NOT_ABOUT_THE_FILE:
                continue
            text = f"{component}: {message.strip()}"
            self.counts[text] += 1
            if component == self._demuxer and level <= av.logging.ERROR:
                self.demuxer_errors.append(message.strip())
        captured.clear()

    def summary(self) -> list[str]:
        return [
            text + (f" ({n} times)" if n > 1 else "")
            for text, n in self.counts.most_common(MAX_DECODER_MESSAGES)
        ]


@dataclass
class _Decoded:
    index: int = 0
    first_time: float | None = None
    last_time: float | None = None
    last_duration: float | None = None
    last_ms: int = -1
    corrupt_packets: int = 0


def _timestamp_ms(state: _Decoded, seconds: float | None, nominal_fps: float) -> int:
    """The frame's time for MediaPipe: from the video's first frame, strictly increasing.

    Timestamps come from the decoder (variable frame rate is tracked as recorded); a
    frame without one gets the nominal rate's.
    """
    if seconds is None or state.first_time is None:
        ms = round(state.index * 1000 / nominal_fps)
    else:
        ms = round((seconds - state.first_time) * 1000)
    ms = max(ms, state.last_ms + 1)
    state.last_ms = ms
    return ms


def _frames(
    container: Any,
    stream: Any,
    name: str,
    nominal_fps: float,
    stream_info: FrameStream,
    scale: int,
) -> Iterator[Frame]:
    """Decoded, upright RGB frames; raises VideoUnreadable on evidence of truncation."""
    messages = _Messages(container.format.name)
    state = _Decoded()
    pixels: _Pixels | None = None
    with av.logging.Capture() as captured:
        try:
            for packet in container.demux(stream):
                if packet.is_corrupt:  # the demuxer found it cut short or damaged
                    state.corrupt_packets += 1
                try:
                    decoded = packet.decode()
                except av.FFmpegError as e:  # one damaged packet: its frame is lost
                    messages.take(captured)
                    yield Frame(
                        state.index, None, f"{name}: a packet could not be decoded ({e})", name
                    )
                    state.index += 1
                    continue
                for frame in decoded:
                    if pixels is None:  # the turn and the reduction hold for the whole video
                        turn = _first_frame_orientation(frame, name, stream_info)
                        pixels = _Pixels(turn, reduction(frame.width, frame.height, scale))
                    if state.first_time is None:
                        state.first_time = frame.time
                    state.last_time, state.last_duration = frame.time, _seconds(frame)
                    rgb, full_size = pixels(frame)
                    ms = _timestamp_ms(state, frame.time, nominal_fps)
                    label = f"{name} frame {state.index}"
                    yield Frame(state.index, rgb, None, label, ms, full_size)
                    state.index += 1
                messages.take(captured)
        except av.FFmpegError as e:
            messages.take(captured)
            stream_info.ffmpeg_log = messages.summary()
            raise VideoUnreadable(
                f"{name}: truncated or damaged: reading stopped after {state.index} frames "
                f"on an error ({e})"
            ) from e
        messages.take(captured)
    stream_info.ffmpeg_log = messages.summary()
    for line in stream_info.ffmpeg_log:
        logger.info("%s: FFmpeg: %s", name, line)
    stream_info.mean_fps = _mean_fps(state)
    stream_info.problems.extend(_check_complete(container, stream, name, state, messages))


class _Pixels:
    """One video's frames as upright RGB arrays, through FFmpeg's scaler (libswscale).

    PyAV's ``frame.to_ndarray(format=...)`` and ``frame.reformat`` set up a new scaler
    for every frame, and FFmpeg gives each one a pool of threads, one per core, unless
    told otherwise: threads started for every frame, some left behind for good, and
    spread over cores that other workers use (benchmarks/RESULTS.md). So each step keeps
    one scaler for the whole video, single-threaded, as the decoder is. The pixels are
    those of ``to_ndarray(format="rgb24")``.
    """

    def __init__(self, turn: Orientation, reduce: int) -> None:
        self._turn, self._reduce = turn, reduce
        self._shrink = VideoReformatter()  # to the reduced size, same pixel format
        self._to_rgb = VideoReformatter()

    def __call__(
        self, frame: av.VideoFrame
    ) -> tuple[npt.NDArray[np.uint8], tuple[int, int] | None]:
        """Upright RGB, and the full upright size when reduced."""
        full_size = None
        if self._reduce != 1:
            full_size = self._turn.upright_size(frame.width, frame.height)
            width, height = -(-frame.width // self._reduce), -(-frame.height // self._reduce)
            frame = self._shrink.reformat(
                frame, width=width, height=height, interpolation="AREA", threads=_SCALER_THREADS
            )
        rgb = self._to_rgb.reformat(frame, format="rgb24", threads=_SCALER_THREADS)
        # PyAV's stubs give to_ndarray every pixel format's dtype; rgb24 is 8-bit
        return self._turn.apply(np.asarray(rgb.to_ndarray(), dtype=np.uint8)), full_size


def _seconds(frame: av.VideoFrame) -> float | None:
    duration = getattr(frame, "duration", None)
    if not duration or frame.time_base is None:
        return None
    return float(duration * frame.time_base)


def _first_frame_orientation(frame: av.VideoFrame, name: str, info: FrameStream) -> Orientation:
    """The turn for the whole video, from its first frame's display matrix (recorded)."""
    matrix = _display_matrix(frame)
    turn = UPRIGHT if matrix is None else orientation(matrix)
    info.stored_size = (frame.width, frame.height)
    if turn is None:
        info.problems.append(
            f"{name}: the display matrix asks for a turn that is not a multiple of 90 "
            "degrees; the frames are used as stored"
        )
        turn = UPRIGHT
    info.rotation, info.mirrored = turn.rotation, turn.mirrored
    return turn


def _mean_fps(state: _Decoded) -> float | None:
    """The rate the frames were recorded at, from their timestamps (variable or not)."""
    if state.index < 2 or state.first_time is None or state.last_time is None:
        return None
    span = state.last_time - state.first_time
    return round((state.index - 1) / span, 3) if span > 0 else None


def _interval(stream: Any, state: _Decoded) -> float:
    """One frame's duration in seconds: the decoded frames' own mean, else the stated rate."""
    if state.index > 1 and state.first_time is not None and state.last_time is not None:
        mean = (state.last_time - state.first_time) / (state.index - 1)
        if mean > 0:
            return mean
    rate = stream.average_rate or stream.guessed_rate
    return float(1 / Fraction(rate)) if rate else 1 / 30


def _check_complete(
    container: Any, stream: Any, name: str, state: _Decoded, messages: _Messages
) -> list[str]:
    """Raises VideoUnreadable on evidence of truncation (TRUNCATION_RULE); else the problems
    a kept video has: none, or that the file cannot show a cut-off end."""
    if messages.demuxer_errors:
        raise VideoUnreadable(
            f"{name}: truncated or damaged: the demuxer reports "
            f"'{messages.demuxer_errors[0]}' after {state.index} frames"
        )
    if state.corrupt_packets:
        raise VideoUnreadable(
            f"{name}: truncated or damaged: the demuxer marks {state.corrupt_packets} "
            f"packet(s) corrupt ({state.index} frames decoded)"
        )
    stated = _stated_duration(container, stream)
    if state.last_time is None:
        return []
    if stated is None:
        return [
            "may be truncated: the file states no duration for its video (a live "
            "recording?), so a cut-off end cannot be detected"
        ]
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    interval = _interval(stream, state)
    end = state.last_time + (state.last_duration or interval) - start
    if stated - end > END_TOLERANCE_FRAMES * interval:
        raise VideoUnreadable(
            f"{name}: truncated or damaged: its frames end at {end:.2f} s of the "
            f"{stated:.2f} s it states ({state.index} frames decoded)"
        )
    return []


@contextlib.contextmanager
def open_video_file(
    local_path: str, name: str, default_fps: float, scale: int = 1
) -> Iterator[FrameStream]:
    """A video file's frames, lazily decoded; raises VideoUnreadable for an unusable file.

    Frame size is checked against the limits of MediaPipe's image path before the first
    frame is decoded (keypoints.frames.frame_size_problem).
    """
    av.logging.set_level(av.logging.WARNING)  # PyAV forwards nothing unless a level is set
    av.logging.set_skip_repeated(False)  # repeats are counted per video instead
    with contextlib.ExitStack() as stack:
        with av.logging.Capture() as captured:
            try:
                container = stack.enter_context(av.open(local_path, metadata_errors="replace"))
            except av.FFmpegError as e:
                said = "; ".join(m.strip() for lv, _, m in captured if lv <= av.logging.ERROR)
                raise VideoUnreadable(
                    f"{name}: not a readable video file (not a video, or truncated or "
                    f"damaged: {said or e})"
                ) from e
        if not container.streams.video:
            raise VideoUnreadable(f"{name}: the file holds no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # one decoding thread: workers use the cores
        width, height = stream.codec_context.width, stream.codec_context.height
        too_large = frame_size_problem(width, height)
        if too_large:
            raise VideoUnreadable(f"{name}: frames too large ({too_large}); not decoded")
        rate = stream.average_rate or stream.guessed_rate
        nominal_fps = float(rate) if rate else default_fps
        info = FrameStream(nominal_fps, iter(()), max(stream.frames, 0))
        info.frames = _frames(container, stream, name, nominal_fps, info, scale)
        yield info
