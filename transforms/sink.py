"""The sink: one .npz per sign, plus that sign's per-video report, written atomically.

Workers stage each video's array as a .npy file as soon as it is extracted, and only
small records travel through the group-by-sign shuffle: a whole corpus of keypoints
(gigabytes) never has to fit in a runner's memory or cross the network twice. Once
all videos of a sign are in, its npz is assembled from the staged arrays.

Every file is written under a hidden temporary name in its final folder and renamed,
through Beam's FileSystems, so a reader never sees a partial file and a retried bundle
simply writes the same bytes again. The report is renamed into place before the npz:
an npz on disk always has its report, and an npz is what marks a sign as done.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from natsort import natsorted

from keypoints.corpus import SignKey, npz_path, sign_report_path, staging_path
from keypoints.extract import VideoReport
from keypoints.frames import basename
from keypoints.npz import load_npy, npy_bytes, npz_bytes
from transforms import metrics
from transforms.extract import VideoResult

TEMP_SUFFIX = ".tmp"


def temp_name(final: str) -> str:
    """A unique hidden name beside ``final`` (same folder, so the rename is cheap)."""
    folder = final[: -len(basename(final))]
    return f"{folder}.{basename(final)}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def write_atomically(final: str, data: bytes) -> None:
    temp = temp_name(final)
    with FileSystems.create(temp, compression_type="uncompressed") as f:
        f.write(data)
    try:
        FileSystems.rename([temp], [final])  # replaces an older file (--overwrite) in one step
    except Exception:
        FileSystems.delete([temp])
        raise


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class StagedVideo:
    """A video's report, and where its array waits (None when it failed)."""

    report: VideoReport
    array_path: str | None


class _StageArraysDoFn(beam.DoFn):
    def __init__(self, output_root: str) -> None:
        self._output_root = output_root

    def process(self, element: VideoResult) -> Iterator[tuple[tuple[str, str, int], StagedVideo]]:
        key, result = element
        path = None
        if result.points is not None:
            path = staging_path(self._output_root, key, result.report.source)
            write_atomically(path, npy_bytes(result.points))
        yield tuple(key), StagedVideo(result.report, path)


def report_lines(key: SignKey, reports: Iterable[VideoReport]) -> bytes:
    lines = []
    for report in reports:
        record = {"signer": key.signer, "split": key.split, "sign": key.sign}
        record.update(report.to_dict())
        lines.append(json.dumps(record))
    return "".join(line + "\n" for line in lines).encode()


class _WriteSignDoFn(beam.DoFn):
    def __init__(self, output_root: str) -> None:
        self._output_root = output_root

    def process(
        self, element: tuple[tuple[str, str, int], Iterable[StagedVideo]]
    ) -> Iterator[SignKey]:
        key = SignKey(*element[0])
        videos = natsorted(element[1], key=lambda v: (v.report.video, v.report.source))
        staged = [v.array_path for v in videos if v.array_path is not None]
        if not all(FileSystems.exists(p) for p in staged):
            # A retry of a bundle that got as far as deleting the staged arrays: the npz and
            # report it wrote are complete, so there is nothing left to do.
            yield key
            return
        arrays = {
            v.report.video: load_npy(read_bytes(v.array_path)) for v in videos if v.array_path
        }
        write_atomically(
            sign_report_path(self._output_root, key), report_lines(key, (v.report for v in videos))
        )
        write_atomically(npz_path(self._output_root, key), npz_bytes(arrays))
        FileSystems.delete(staged)
        metrics.SIGNS_WRITTEN.inc()
        yield key


class WriteSignNpz(beam.PTransform):
    """(SignKey, VideoKeypoints) per video in; one npz and one report per sign out."""

    def __init__(self, output_root: str) -> None:
        super().__init__()
        self._output_root = output_root

    def expand(self, results: beam.PCollection[VideoResult]) -> beam.PCollection[SignKey]:
        return (
            results
            | "StageArrays" >> beam.ParDo(_StageArraysDoFn(self._output_root))
            | "GroupBySign" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(_WriteSignDoFn(self._output_root))
        )
