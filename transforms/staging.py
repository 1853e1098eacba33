"""Gather each sign's videos without moving their keypoints through the shuffle.

Workers stage each video's array as a .npy file as soon as it is extracted, and only
small records (the report and that path) travel through the group-by-sign shuffle: a
corpus of keypoints (gigabytes for KArSL) never has to fit in a runner's memory (the
FnApiRunner groups in the driver process) or cross the network twice. The sign's writer
then reads the staged arrays back and deletes them once its own files are in place.
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
from keypoints.extract import VideoReport
from keypoints.npz import load_npy, write_npy
from transforms.extract import VideoResult
from transforms.files import read_bytes, write_atomically

SignGroup = tuple[tuple[str, str, int], Iterable["StagedVideo"]]


@dataclass(frozen=True)
class StagedVideo:
    """A video's report, and where its array waits (None when the video failed)."""

    report: VideoReport
    array_path: str | None

    def load(self) -> npt.NDArray[np.float32]:
        assert self.array_path is not None
        return load_npy(read_bytes(self.array_path))


class _StageArraysDoFn(beam.DoFn):
    def __init__(self, output_root: str) -> None:
        self._output_root = output_root

    def process(self, element: VideoResult) -> Iterator[tuple[tuple[str, str, int], StagedVideo]]:
        key, result = element
        path = None
        if result.points is not None:
            points = result.points
            path = staging_path(self._output_root, key, result.report.source)
            write_atomically(path, lambda f: write_npy(f, points))
        yield tuple(key), StagedVideo(result.report, path)


class GroupVideosBySign(beam.PTransform):
    """(SignKey, VideoKeypoints) per video in; (sign, its StagedVideos) per sign out."""

    def __init__(self, output_root: str) -> None:
        super().__init__()
        self._output_root = output_root

    def expand(self, results: beam.PCollection[VideoResult]) -> beam.PCollection[SignGroup]:
        return (
            results
            | "StageArrays" >> beam.ParDo(_StageArraysDoFn(self._output_root))
            | "GroupBySign" >> beam.GroupByKey()
        )


def sign_videos(element: SignGroup) -> tuple[SignKey, list[StagedVideo]]:
    """The sign and its videos in natural order of their names (the order files list them)."""
    videos = natsorted(element[1], key=lambda v: (v.report.video, v.report.source))
    return SignKey(*element[0]), videos


def already_written(videos: list[StagedVideo]) -> bool:
    """True when a retried bundle already wrote the sign and deleted its staged arrays."""
    return not all(FileSystems.exists(v.array_path) for v in videos if v.array_path)


def delete_staged(videos: list[StagedVideo]) -> None:
    staged = [v.array_path for v in videos if v.array_path]
    if staged:
        FileSystems.delete(staged)


def report_lines(key: SignKey, reports: Iterable[VideoReport]) -> bytes:
    """The sign's per-video report: JSON Lines, one record per video."""
    lines = []
    for report in reports:
        record = {"signer": key.signer, "split": key.split, "sign": key.sign}
        record.update(report.to_dict())
        lines.append(json.dumps(record) + "\n")
    return "".join(lines).encode()
