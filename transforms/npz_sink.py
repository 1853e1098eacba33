"""The npz sink: one .npz per sign, plus that sign's per-video report, written atomically.

The report is renamed into place before the npz: an npz on disk always has its report,
and an npz is what marks a sign as done. A retried bundle writes the same bytes again.
Videos of one sign have distinct names: the listing refuses clashes (keypoints.corpus).
"""

from __future__ import annotations

from keypoints.corpus import SignKey
from keypoints.npz import write_npz
from keypoints.outputs import npz_path, sign_report_path
from transforms.files import write_atomically
from transforms.staging import StagedVideo, WriteSigns, report_lines


def write_sign_npz(output_root: str, key: SignKey, videos: list[StagedVideo]) -> None:
    """Write one sign's report, then its npz (videos in the order given)."""
    written = [v for v in videos if v.array_path]
    arrays = ((v.report.video, v.load()) for v in written)  # one in memory at a time
    reports = report_lines(key, (v.report for v in videos))
    write_atomically(sign_report_path(output_root, key), reports)
    write_atomically(npz_path(output_root, key), lambda f: write_npz(f, arrays))


class WriteSignNpz(WriteSigns):
    """A staged record per video in; one npz and one report per sign out."""

    output_format = "npz"
    write_sign = staticmethod(write_sign_npz)
