"""Gather each sign's videos without moving their keypoints through the pipeline.

The extraction step stages each video's array as a .npy file as soon as it has it, and
only small records (the report and that path) become elements: a corpus of keypoints
(gigabytes for KArSL) never has to fit in a runner's memory (the FnApiRunner groups in
the driver process) or cross the network twice, and no worker holds a second, pickled
copy of a long video's array (Beam encodes elements to estimate their size). The sign's
writer reads the staged arrays back and deletes them once its own files are in place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import numpy.typing as npt
from apache_beam.io.filesystems import FileSystems
from natsort import natsorted

from keypoints.corpus import SignKey, staging_path
from keypoints.extract import VideoKeypoints, VideoReport
from keypoints.npz import read_npy, write_npy
from transforms import metrics
from transforms.files import write_atomically

SignGroup = tuple[tuple[str, str, int], Iterable["StagedVideo"]]


@dataclass(frozen=True)
class StagedVideo:
    """A video's report, and where its array waits (None when the video failed)."""

    report: VideoReport
    array_path: str | None

    def load(self) -> npt.NDArray[np.float32]:
        assert self.array_path is not None
        with FileSystems.open(self.array_path, compression_type="uncompressed") as f:
            return read_npy(f)


StagedResult = tuple[tuple[str, str, int], StagedVideo]  # a sign (as a plain tuple), a video


def stage_video(output_root: str, key: SignKey, result: VideoKeypoints) -> StagedResult:
    """Write a video's array to the staging area; the record that stands for it."""
    path = None
    if result.points is not None:
        points = result.points
        path = staging_path(output_root, key, result.report.source)
        write_atomically(path, lambda f: write_npy(f, points))
    return tuple(key), StagedVideo(result.report, path)  # a plain tuple groups deterministically


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
        key = SignKey(*element[0])
        videos = natsorted(element[1], key=lambda v: (v.report.video, v.report.source))
        staged = [v.array_path for v in videos if v.array_path]
        if all(FileSystems.exists(path) for path in staged):
            self.write(key, videos)
            if staged:
                FileSystems.delete(staged)
            metrics.SIGNS_WRITTEN.inc()
        yield key


def report_lines(key: SignKey, reports: Iterable[VideoReport]) -> bytes:
    """The sign's per-video report: JSON Lines, one record per video."""
    lines = []
    for report in reports:
        record = {"signer": key.signer, "split": key.split, "sign": key.sign}
        record.update(report.to_dict())
        lines.append(json.dumps(record) + "\n")
    return "".join(lines).encode()


class WriteSigns(beam.PTransform):
    """A staged record per video in; each sign's files, written by ``writer``, out."""

    writer: type[WriteSignDoFn]

    def __init__(self, output_root: str) -> None:
        super().__init__()
        self._output_root = output_root

    def expand(self, staged: beam.PCollection[StagedResult]) -> beam.PCollection[SignKey]:
        return (
            staged
            | "GroupBySign" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(self.writer(self._output_root))
        )
