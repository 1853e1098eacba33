"""Gather each sign's videos without moving their keypoints through the pipeline.

The extraction step stages each video's array as a .npy file as soon as it has it, and
only small records (the report and that path) become elements: a corpus of keypoints
(gigabytes for KArSL) never has to fit in a runner's memory (the FnApiRunner groups in
the driver process) or cross the network twice, and no worker holds a second, pickled
copy of a long video's array (Beam encodes elements to estimate their size). The sign's
writer reads the staged arrays back and deletes them once its own files are in place.

Every sink is a WriteSigns with its own ``writer``; it also says which signs are done
already (SkipWrittenSigns), since what "done" means is the sink's business.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import apache_beam as beam
import numpy as np
import numpy.typing as npt
from apache_beam.pvalue import PCollection
from natsort import natsorted

from keypoints.corpus import SignKey, SignSelection
from keypoints.extract import VideoKeypoints, VideoReport
from keypoints.npz import write_npy
from keypoints.outputs import done_path, staging_path
from transforms import files, metrics
from transforms.progress import ProgressSender


@dataclass(frozen=True)
class StagedVideo:
    """A video's report, and where its array waits (None when the video failed)."""

    report: VideoReport
    array_path: str | None

    def load(self) -> npt.NDArray[np.float32]:
        assert self.array_path is not None
        return files.read_npy_file(self.array_path)


StagedResult = tuple[SignKey, StagedVideo]
SignGroup = tuple[SignKey, Iterable[StagedVideo]]


def stage_video(output_root: str, key: SignKey, result: VideoKeypoints) -> StagedResult:
    """Write a video's array to the staging area; the record that stands for it."""
    path = None
    if result.points is not None:
        points = result.points
        path = staging_path(output_root, key, result.report.source)
        files.write_atomically(path, lambda f: write_npy(f, points))
    return key, StagedVideo(result.report, path)


def report_lines(key: SignKey, reports: Iterable[VideoReport]) -> bytes:
    """The sign's per-video report: JSON Lines, one record per video."""
    lines = []
    for report in reports:
        record = {"signer": key.signer, "split": key.split, "sign": key.sign}
        record.update(report.to_dict())
        lines.append(json.dumps(record) + "\n")
    return "".join(lines).encode()


class WriteSignDoFn(beam.DoFn):
    """One sign's staged videos in, its files written once, the sign out.

    Subclasses say how a sign's files are written (``write``); this handles the rest the
    same way for every output format: videos in natural order of their names, a retried
    bundle that already wrote the sign (and deleted the staged arrays) doing nothing,
    and the staged arrays deleted once the sign's files are in place.
    """

    def __init__(self, output_root: str) -> None:
        self._output_root = output_root

    def write(self, key: SignKey, videos: list[StagedVideo]) -> None:
        raise NotImplementedError

    def process(self, element: SignGroup) -> Iterator[SignKey]:
        key, grouped = element
        videos = natsorted(grouped, key=lambda v: (v.report.video, v.report.source))
        staged = [v.array_path for v in videos if v.array_path]
        if all(files.exists(path) for path in staged):
            self.write(key, videos)
            files.delete(staged)
            metrics.SIGNS_WRITTEN.inc()
        yield key


class _SkipWrittenSignsDoFn(beam.DoFn):
    def __init__(self, output_root: str, output_format: str) -> None:
        self._output_root = output_root
        self._output_format = output_format
        self._progress = ProgressSender()

    def process(self, element: SignSelection) -> Iterator[SignSelection]:
        key = SignKey.from_selection(element)
        if files.exists(done_path(self._output_root, key, self._output_format)):
            metrics.SIGNS_SKIPPED.inc()
            self._progress.send(event="sign", sign=key.label, videos=0, skipped=True)
            return
        yield element

    def teardown(self) -> None:
        self._progress.close()


class WriteSigns(beam.PTransform[PCollection[StagedResult], PCollection[SignKey]]):
    """A staged record per video in; each sign's files, written by ``writer``, out."""

    writer: ClassVar[type[WriteSignDoFn]]
    output_format: ClassVar[str]

    def __init__(self, output_root: str) -> None:
        super().__init__()
        self._output_root = output_root

    @classmethod
    def skip_written(cls, output_root: str) -> beam.ParDo:
        """Selected signs in, those this sink has not written yet out."""
        return beam.ParDo(_SkipWrittenSignsDoFn(output_root, cls.output_format))

    def expand(self, staged: PCollection[StagedResult]) -> PCollection[SignKey]:
        written: PCollection[SignKey] = (
            staged
            | "GroupBySign" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(self.writer(self._output_root))
        )
        return written
