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
from collections.abc import Mapping

from keypoints.corpus import SignKey
from keypoints.outputs import done_path, pose_path, pose_pattern, sign_report_path
from keypoints.pose_file import pose_bytes
from transforms import metrics
from transforms.files import delete_if_present, matching, write_atomically
from transforms.staging import StagedVideo, WriteSigns, report_lines

logger = logging.getLogger(__name__)


def write_sign_poses(
    output_root: str, key: SignKey, report: bytes, poses: Mapping[str, bytes]
) -> None:
    """Write one sign's report and .pose files (video name -> bytes), then its marker."""
    marker = done_path(output_root, key, "pose")
    delete_if_present([marker])
    write_atomically(sign_report_path(output_root, key), report)
    written = {pose_path(output_root, key, video) for video in poses}
    for video, data in poses.items():
        write_atomically(pose_path(output_root, key, video), data)
    stale = matching(pose_pattern(output_root, key))
    delete_if_present([p for p in stale if p not in written])
    write_atomically(marker, b"")


def video_pose(video: StagedVideo) -> bytes | None:
    """A video's .pose file, or None; a video whose file cannot be made is marked failed."""
    report = video.report
    if video.array_path is None:
        return None
    try:
        assert report.width and report.height and report.fps, "an ok video has a size and rate"
        return pose_bytes(video.load(), report.width, report.height, report.fps)
    except ValueError as e:
        report.status, report.reason = "failed", f"cannot write a .pose file: {e}"
        logger.error("%s: %s", report.source, report.reason)
        metrics.VIDEOS_OK.dec()
        metrics.VIDEOS_FAILED.inc()
        return None


def write_staged_poses(output_root: str, key: SignKey, videos: list[StagedVideo]) -> None:
    """Write one sign's report and a .pose file per video that gave keypoints."""
    poses = {v.report.video: video_pose(v) for v in videos}
    written = {video: data for video, data in poses.items() if data is not None}
    reports = report_lines(key, (v.report for v in videos))
    write_sign_poses(output_root, key, reports, written)


class WriteSignPoses(WriteSigns):
    """A staged record per video in; a folder of .pose files per sign out."""

    output_format = "pose"
    write_sign = staticmethod(write_staged_poses)
