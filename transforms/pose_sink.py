"""The pose sink: one .pose file per video, in one folder per sign, plus the sign's report.

Files go through ``write_atomically`` (temporary name, then rename), as in the npz sink.
A sign's folder holds several files, so no single one of them can say "this sign is done";
the sign's marker does, written last:

1. remove the marker, so that a rewrite (``--overwrite``) cut short is redone next time;
2. the sign's per-video report (as in npz output: every output file has its report);
3. one ``<video>.pose`` per video that gave keypoints;
4. remove ``.pose`` files an earlier run left for videos the sign no longer has;
5. the marker ``_SUCCESS``: its presence is what makes a later run skip the sign.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from natsort import natsorted

from keypoints.corpus import SignKey, done_path, join, pose_folder, pose_path, sign_report_path
from keypoints.extract import VideoKeypoints
from keypoints.pose_file import pose_bytes
from transforms import metrics
from transforms.extract import VideoResult
from transforms.sink import report_lines, write_atomically

logger = logging.getLogger(__name__)


def _delete_if_present(paths: list[str]) -> None:
    present = [p for p in paths if FileSystems.exists(p)]
    if present:
        FileSystems.delete(present)


def write_sign_poses(
    output_root: str, key: SignKey, report: bytes, poses: Mapping[str, bytes]
) -> None:
    """Write one sign's report and .pose files (video name -> bytes), then its marker."""
    marker = done_path(output_root, key, "pose")
    _delete_if_present([marker])
    write_atomically(sign_report_path(output_root, key), report)
    written = {pose_path(output_root, key, video) for video in poses}
    for video, data in poses.items():
        write_atomically(pose_path(output_root, key, video), data)
    pattern = join(pose_folder(output_root, key), "*.pose")
    stale = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    _delete_if_present([p for p in stale if p not in written])
    write_atomically(marker, b"")


def video_pose(result: VideoKeypoints) -> bytes | None:
    """A video's .pose file, or None; a video whose file cannot be made is marked failed."""
    report = result.report
    if result.points is None:
        return None
    try:
        assert report.width and report.height and report.fps, "an ok video has a size and rate"
        return pose_bytes(result.points, report.width, report.height, report.fps)
    except ValueError as e:
        report.status, report.reason = "failed", f"cannot write a .pose file: {e}"
        logger.error("%s: %s", report.source, report.reason)
        metrics.VIDEOS_OK.dec()
        metrics.VIDEOS_FAILED.inc()
        return None


class _WriteSignPosesDoFn(beam.DoFn):
    def __init__(self, output_root: str) -> None:
        self._output_root = output_root

    def process(
        self, element: tuple[tuple[str, str, int], Iterable[VideoKeypoints]]
    ) -> Iterator[SignKey]:
        key, results = SignKey(*element[0]), element[1]
        ordered = natsorted(results, key=lambda r: (r.report.video, r.report.source))
        poses = {r.report.video: video_pose(r) for r in ordered}
        written = {video: data for video, data in poses.items() if data is not None}
        write_sign_poses(self._output_root, key, report_lines(key, ordered), written)
        metrics.SIGNS_WRITTEN.inc()
        yield key


class WriteSignPoses(beam.PTransform):
    """(SignKey, VideoKeypoints) per video in; a folder of .pose files per sign out."""

    def __init__(self, output_root: str) -> None:
        super().__init__()
        self._output_root = output_root

    def expand(self, results: beam.PCollection[VideoResult]) -> beam.PCollection[SignKey]:
        return (
            results
            | "KeyBySign" >> beam.MapTuple(lambda key, result: (tuple(key), result))
            | "GroupBySign" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(_WriteSignPosesDoFn(self._output_root))
        )
