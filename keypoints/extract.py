"""One video in, one keypoint array and its report out. The pipeline's unit of work."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from keypoints import layout as L
from keypoints.backends import Backend, CountsHandLabelDisagreements
from keypoints.derive import derive_points
from keypoints.frames import (
    IMAGE_EXTENSIONS,
    Frame,
    FrameStream,
    OpenFile,
    VideoSource,
    VideoUnreadable,
    basename,
    frame_size_problem,
    open_video,
)

MAX_LISTED_PROBLEMS = 20  # a report lists this many unreadable frames by name, then counts


@dataclass(frozen=True)
class ExtractionSettings:
    """What, besides the backend, decides the numbers written."""

    adjusted: bool = False
    layout: str = "184"
    fps: float = 30.0
    # frames decoded up to this many times smaller (keypoints.images.reduction): faster,
    # and not bit-identical to decoding them whole
    decode_scale: int = 1


@dataclass
class VideoReport:
    """What a person needs to know about one video after a run (one JSON Lines record)."""

    video: str
    source: str
    status: str = "ok"
    reason: str | None = None
    frames: int = 0
    unreadable_frames: int = 0
    ignored_files: int = 0
    width: int | None = None  # of the frames as shown: upright, after any rotation
    height: int | None = None
    # a video file's frames as stored, and the turn a player makes (its display matrix)
    stored_width: int | None = None
    stored_height: int | None = None
    rotation: int = 0  # degrees clockwise
    mirrored: bool = False  # flipped left-right before the rotation
    fps: float | None = None  # a video file's: the mean of its frames' timestamps
    decode_scale: int = 1  # how many times smaller its frames were decoded (--decode_scale)
    coverage: dict[str, float] = field(default_factory=dict)
    # frames where a hand's label named the other slot than its pose wrist (tasks backend)
    hand_label_disagreements: int | None = None
    problems: list[str] = field(default_factory=list)
    # what FFmpeg said while decoding a video file, by component, repeats counted
    ffmpeg_log: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reused: bool = False  # taken from an earlier run's record, not extracted again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VideoKeypoints:
    report: VideoReport
    points: npt.NDArray[np.float32] | None  # (frames, points, 4); None when it failed

    @property
    def ok(self) -> bool:
        return self.points is not None


def frame_points(
    full: npt.NDArray[np.float32], width: int, height: int, settings: ExtractionSettings
) -> npt.NDArray[np.float32]:
    """The points written for a frame (or frames) of full-layout landmarks.

    The same function derives them later from full-layout output (keypoints.derive).
    """
    return derive_points(full, settings.layout, settings.adjusted, (width, height))


class _Rows:
    """A video's points, frame after frame, in one array sized for the frames announced.

    Filling a preallocated array, rather than stacking a list of per-frame arrays at the
    end, keeps a worker's peak memory at one copy of the video's points: it must not
    grow with video length by more than the output itself. Unannounced frames double it.
    """

    def __init__(self, points: int, expected: int) -> None:
        self._array = np.empty((max(expected, 1), points, L.NUM_CHANNELS), dtype=np.float32)
        self.count = 0

    def append(self, row: npt.NDArray[np.float32]) -> None:
        if self.count == len(self._array):
            self._array = np.concatenate([self._array, np.empty_like(self._array)])
        self._array[self.count] = row
        self.count += 1

    def array(self) -> npt.NDArray[np.float32]:
        """The rows so far; a copy only when fewer frames came than were announced."""
        if self.count == len(self._array):
            return self._array
        return self._array[: self.count].copy()


class _Accumulator:
    """Collects per-frame points and the counts the report needs, one frame at a time."""

    def __init__(self, report: VideoReport, settings: ExtractionSettings) -> None:
        self.report, self.settings = report, settings
        self.points = L.LAYOUTS[settings.layout].num_points
        self.rows = _Rows(self.points, 0)
        self.detected = dict.fromkeys(L.PART_NAMES, 0)
        self.first_label = ""

    def expect(self, frames: int) -> None:
        """Size the output for the frames the source announces, before the first one."""
        self.rows = _Rows(self.points, frames)

    def note(self, problem: str) -> None:
        if len(self.report.problems) < MAX_LISTED_PROBLEMS:
            self.report.problems.append(problem)

    def add(self, frame: Frame, backend: Backend, fps: float) -> None:
        if frame.rgb is not None:
            # the last guard before native code, whatever decoded the frame
            too_large = frame_size_problem(frame.rgb.shape[1], frame.rgb.shape[0])
            if too_large:
                frame = Frame(frame.index, None, f"{frame.label}: {too_large}", frame.label)
        if frame.rgb is None:
            self.report.unreadable_frames += 1
            self.note(frame.problem or f"frame {frame.index}: unreadable")
            return
        height, width = frame.rgb.shape[:2]
        decoded = width
        if frame.full_size is not None:  # decoded reduced: points are measured on the whole
            width, height = frame.full_size
        if self.report.width is None:
            self.report.width, self.report.height = width, height
            self.report.decode_scale = round(width / decoded)
            self.first_label = frame.label
        elif (width, height) != (self.report.width, self.report.height):
            # Points are fractions of each frame's own size and the npz keeps no size per
            # frame, so a size change would silently change what the numbers mean.
            raise VideoUnreadable(
                f"frames differ in size: {self.first_label} is "
                f"{self.report.width}x{self.report.height}, {frame.label} is {width}x{height}; "
                "all frames of a video must have one size"
            )
        ms = round(frame.index * 1000 / fps) if frame.time_ms is None else frame.time_ms
        full = backend.process(frame.rgb, ms)
        for name, part in L.FULL_PARTS.items():
            self.detected[name] += bool(L.part_present(full, part))
        self.rows.append(frame_points(full, width, height, self.settings))

    def describe(self, stream: FrameStream) -> None:
        """What the source said about the video as a whole, once its frames are read."""
        report = self.report
        if stream.stored_size is not None:
            report.stored_width, report.stored_height = stream.stored_size
            report.rotation, report.mirrored = stream.rotation, stream.mirrored
            report.fps = stream.mean_fps or report.fps
        report.ffmpeg_log = stream.ffmpeg_log
        for problem in stream.problems:
            self.note(problem)

    def finish(self) -> VideoKeypoints:
        report = self.report
        report.frames = self.rows.count
        if report.reason is None and not self.rows.count:
            first = f": {report.problems[0]}" if report.problems else ""
            report.reason = f"no readable frame (all {report.unreadable_frames} unusable{first})"
        if report.reason is not None:
            report.status = "failed"
            report.frames = 0  # frames of the npz: none, whatever was decoded before it failed
            return VideoKeypoints(report, None)
        report.coverage = {name: n / report.frames for name, n in self.detected.items()}
        return VideoKeypoints(report, self.rows.array())


def _listing_problem(source: VideoSource) -> str | None:
    """Why a video cannot be read at all, known before opening anything."""
    if source.problem:
        return source.problem
    if source.is_folder and not source.frame_paths:
        kinds = " ".join(sorted(IMAGE_EXTENSIONS))
        if not source.ignored:
            return f"empty folder: no frame files ({kinds})"
        others = ", ".join(basename(p) for p in source.ignored[:3])
        more = ", ..." if len(source.ignored) > 3 else ""
        return f"no frame files ({kinds}) in the folder, only {others}{more}"
    return None


def failed_video(source: VideoSource, reason: str, problems: Iterable[str] = ()) -> VideoKeypoints:
    """The record of a video that yields nothing, with the reason a person reads."""
    report = VideoReport(
        video=source.name,
        source=source.location,
        status="failed",
        reason=reason,
        ignored_files=len(source.ignored),
        problems=list(problems)[:MAX_LISTED_PROBLEMS],
    )
    return VideoKeypoints(report, None)


def extract_video(
    source: VideoSource,
    backend: Backend,
    settings: ExtractionSettings,
    open_file: OpenFile,
) -> VideoKeypoints:
    """Run the backend over every frame of a video, starting from fresh tracking state.

    Input problems (a broken file, unreadable frames) end up in the report, never as an
    exception: one bad video must not take down the others. Errors of the backend itself
    propagate, so that the caller can retry the video with a fresh backend.
    """
    started = time.perf_counter()
    problem = _listing_problem(source)
    if problem is not None:
        return failed_video(source, problem, _ignored_notes(source))
    report = VideoReport(
        video=source.name, source=source.location, ignored_files=len(source.ignored)
    )
    acc = _Accumulator(report, settings)
    backend.start_video()
    try:
        with open_video(source, open_file, settings.fps, settings.decode_scale) as stream:
            report.fps = stream.fps
            acc.expect(stream.expected_frames)
            try:
                for frame in stream.frames:
                    acc.add(frame, backend, stream.fps)
            finally:
                acc.describe(stream)
    except VideoUnreadable as e:
        report.reason = str(e)
    if isinstance(backend, CountsHandLabelDisagreements):
        report.hand_label_disagreements = backend.hand_label_disagreements
    for note in _ignored_notes(source):
        acc.note(note)
    result = acc.finish()
    report.seconds = round(time.perf_counter() - started, 3)
    return result


def _ignored_notes(source: VideoSource) -> list[str]:
    return [f"{basename(p)}: not a frame file, ignored" for p in source.ignored]


def extract_frames(
    frames: Iterable[npt.NDArray[np.uint8]],
    backend: Backend,
    fps: float = 30.0,
) -> npt.NDArray[np.float32]:
    """Full-layout landmarks of in-memory RGB frames: the raw backend, no file handling."""
    backend.start_video()
    rows = [backend.process(rgb, round(i * 1000 / fps)) for i, rgb in enumerate(frames)]
    return np.stack(rows) if rows else np.zeros((0, L.FULL_POINTS, L.NUM_CHANNELS), np.float32)
