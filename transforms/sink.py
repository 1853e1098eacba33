"""The npz sink: one .npz per sign, plus that sign's per-video report, written atomically.

The report is renamed into place before the npz: an npz on disk always has its report,
and an npz is what marks a sign as done. A retried bundle writes the same bytes again.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from keypoints.corpus import SignKey, npz_path, sign_report_path
from keypoints.npz import npz_bytes
from transforms import metrics
from transforms.extract import VideoResult
from transforms.files import write_atomically
from transforms.staging import (
    GroupVideosBySign,
    SignGroup,
    already_written,
    delete_staged,
    report_lines,
    sign_videos,
)


class _WriteSignNpzDoFn(beam.DoFn):
    def __init__(self, output_root: str) -> None:
        self._output_root = output_root

    def process(self, element: SignGroup) -> Iterator[SignKey]:
        key, videos = sign_videos(element)
        if not already_written(videos):
            arrays = {v.report.video: v.load() for v in videos if v.array_path}
            reports = report_lines(key, (v.report for v in videos))
            write_atomically(sign_report_path(self._output_root, key), reports)
            write_atomically(npz_path(self._output_root, key), npz_bytes(arrays))
            delete_staged(videos)
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
            | "GroupVideosBySign" >> GroupVideosBySign(self._output_root)
            | "WriteFiles" >> beam.ParDo(_WriteSignNpzDoFn(self._output_root))
        )
