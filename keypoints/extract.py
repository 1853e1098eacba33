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
from keypoints.frames import Frame, OpenFile, VideoSource, VideoUnreadable, open_video

MAX_LISTED_PROBLEMS = 20  # a report lists this many unreadable frames by name, then counts


@dataclass(frozen=True)
class ExtractionSettings:
    """What, besides the backend, decides the numbers written."""

    adjusted: bool = False
    layout: str = "184"
    fps: float = 30.0


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
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    coverage: dict[str, float] = field(default_factory=dict)
    # frames where a hand's label named the other slot than its pose wrist (tasks backend)
    hand_label_disagreements: int | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

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


class _Accumulator:
    """Collects per-frame points and the counts the report needs, one frame at a time."""

    def __init__(self, report: VideoReport, settings: ExtractionSettings) -> None:
        self.report, self.settings = report, settings
        self.rows: list[npt.NDArray[np.float32]] = []
        self.detected = dict.fromkeys(L.PART_NAMES, 0)

    def add(self, frame: Frame, backend: Backend, fps: float) -> None:
        if frame.rgb is None:
            self.report.unreadable_frames += 1
            if len(self.report.problems) < MAX_LISTED_PROBLEMS:
                self.report.problems.append(frame.problem or f"frame {frame.index}: unreadable")
            return
        height, width = frame.rgb.shape[:2]
        if self.report.width is None:
            self.report.width, self.report.height = width, height
        full = backend.process(frame.rgb, round(frame.index * 1000 / fps))
        for name, part in L.FULL_PARTS.items():
            self.detected[name] += bool(L.part_present(full, part))
        self.rows.append(frame_points(full, width, height, self.settings))

    def finish(self) -> VideoKeypoints:
        report = self.report
        report.frames = len(self.rows)
        if not self.rows:
            report.status = "failed"
            report.reason = report.reason or "no readable frame"
            return VideoKeypoints(report, None)
        report.coverage = {name: n / report.frames for name, n in self.detected.items()}
        return VideoKeypoints(report, np.stack(self.rows))


def extract_video(
    source: VideoSource,
    backend: Backend,
    settings: ExtractionSettings,
    open_file: OpenFile,
) -> VideoKeypoints:
    """Run the backend over every frame of a video, starting from fresh tracking state.

    Input problems (a broken file, unreadable frames) end up in the report, never as an
    exception: one bad video must not take down the others. Errors of the backend itself
    propagate, so that the runner retries the work.
    """
    started = time.perf_counter()
    report = VideoReport(video=source.name, source=source.location, ignored_files=source.ignored)
    acc = _Accumulator(report, settings)
    backend.start_video()
    try:
        with open_video(source, open_file, settings.fps) as stream:
            report.fps = stream.fps
            for frame in stream.frames:
                acc.add(frame, backend, stream.fps)
    except VideoUnreadable as e:
        report.reason = str(e)
    if isinstance(backend, CountsHandLabelDisagreements):
        report.hand_label_disagreements = backend.hand_label_disagreements
    result = acc.finish()
    report.seconds = round(time.perf_counter() - started, 3)
    return result


def extract_frames(
    frames: Iterable[npt.NDArray[np.uint8]],
    backend: Backend,
    fps: float = 30.0,
) -> npt.NDArray[np.float32]:
    """Full-layout landmarks of in-memory RGB frames: the raw backend, no file handling."""
    backend.start_video()
    rows = [backend.process(rgb, round(i * 1000 / fps)) for i, rgb in enumerate(frames)]
    return np.stack(rows) if rows else np.zeros((0, L.FULL_POINTS, L.NUM_CHANNELS), np.float32)
