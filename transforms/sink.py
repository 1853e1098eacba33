"""The sink: one .npz per sign, plus that sign's per-video report, written atomically.

Each file is written under a hidden temporary name in its final folder and then renamed,
through Beam's FileSystems, so a reader never sees a partial file and a retried bundle
simply writes the same bytes again. The report is renamed into place before the npz:
an npz on disk always has its report, and an npz is what marks a sign as done.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from natsort import natsorted

from keypoints.corpus import SignKey, npz_path, sign_report_path
from keypoints.extract import VideoKeypoints
from keypoints.frames import basename
from keypoints.npz import npz_bytes
from transforms import metrics
from transforms.extract import VideoResult

TEMP_SUFFIX = ".tmp"


def temp_name(final: str) -> str:
    """A unique hidden name beside ``final`` (same folder, so the rename is cheap)."""
    folder = final[: -len(basename(final))]
    return f"{folder}.{basename(final)}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def write_atomically(final: str, data: bytes) -> None:
    """``final`` holds ``data`` or is untouched: never a partial file, whatever fails.

    A write that raises (a full disk) removes its temporary file; one killed outright
    leaves it behind, hidden, for the end of the next run to remove.
    """
    temp = temp_name(final)
    try:
        with FileSystems.create(temp, compression_type="uncompressed") as f:
            f.write(data)
        FileSystems.rename([temp], [final])  # replaces an older file (--overwrite) in one step
    except Exception:
        if FileSystems.exists(temp):
            FileSystems.delete([temp])
        raise


def report_lines(key: SignKey, results: Iterable[VideoKeypoints]) -> bytes:
    lines = []
    for result in results:
        record = {"signer": key.signer, "split": key.split, "sign": key.sign}
        record.update(result.report.to_dict())
        lines.append(json.dumps(record, sort_keys=False))
    return "".join(line + "\n" for line in lines).encode()


class _WriteSignDoFn(beam.DoFn):
    def __init__(self, output_root: str) -> None:
        self._output_root = output_root

    def process(
        self, element: tuple[tuple[str, str, int], Iterable[VideoKeypoints]]
    ) -> Iterator[SignKey]:
        key, results = SignKey(*element[0]), element[1]
        ordered = natsorted(results, key=lambda r: (r.report.video, r.report.source))
        written = [r for r in ordered if r.points is not None]
        arrays = {r.report.video: r.points for r in written}
        if len(arrays) != len(written):  # listing refuses name clashes: this is a bug
            raise RuntimeError(f"{key.label}: two written videos share one name")
        write_atomically(sign_report_path(self._output_root, key), report_lines(key, ordered))
        write_atomically(npz_path(self._output_root, key), npz_bytes(arrays))
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
            | "KeyBySign" >> beam.MapTuple(lambda key, result: (tuple(key), result))
            | "GroupBySign" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(_WriteSignDoFn(self._output_root))
        )
