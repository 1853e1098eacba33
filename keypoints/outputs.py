"""The output layout: every path under an output root, and how to read one back.

One place knows where a run puts things, so that the sinks that write them, the run that
cleans up after them and the tools that read them (verify, convert, preview, report) all
agree::

    {root}/{signer}-{split}/{sign:04d}.npz                    one sign's keypoints (npz)
    {root}/{signer}-{split}/{sign:04d}/{video}.pose           one video's keypoints (pose)
    {root}/{signer}-{split}/{sign:04d}/_SUCCESS               a pose sign is complete
    {root}/_reports/videos/{signer}-{split}/{sign:04d}.jsonl  one sign's video records
    {root}/_reports/videos.jsonl                              every video's record
    {root}/_reports/run.json                                  the last run's provenance
    {root}/_staging/{signer}-{split}/{sign:04d}/_videos.json  the sign's videos, as listed
    {root}/_staging/{signer}-{split}/{sign:04d}/_writing.json the same, while being written
    {root}/_staging/{signer}-{split}/{sign:04d}/{digest}.npy  a video's keypoints, recorded
    {root}/_staging/{signer}-{split}/{sign:04d}/{digest}.json its record (report, signature)
    {root}/_staging/{signer}-{split}/{sign:04d}/_no_videos.json why a sign has no videos
    {root}/_staging/_workers/{run}-{digest}.json              a worker's software, per run
    {root}/_signkps.lock                                      the run writing here (JSON)
    {root}/_signkps.lock.break                                held while a stale lock goes
    {root}/._signkps.probe.{unique}.tmp                       a run's first write, deleted
    {folder}/.{name}.{unique}.tmp                             a write not yet renamed

The lock is a file of its own at the top, not under ``_staging/`` (which a finished run
deletes while it still holds the lock) nor named like any output, so no listing of signs,
reports or records meets it.

A sign's label (``01-train/0001``, :attr:`SignKey.label`) is also its path below the root.
Only path arithmetic here: listing and reading are ``transforms.files``'s job.
"""

from __future__ import annotations

import hashlib
import uuid

from keypoints.corpus import SignKey, join
from keypoints.frames import basename

OUTPUT_FORMATS = ("npz", "pose")
REPORTS_DIR = "_reports"
STAGING_DIR = "_staging"  # per-video arrays waiting for their sign's npz
POSE_SIGN_DONE = "_SUCCESS"  # in a pose sign's folder: all of its .pose files are in place
TEMP_SUFFIX = ".tmp"
NPZ_SUFFIX = ".npz"
POSE_SUFFIX = ".pose"
REPORT_SUFFIX = ".jsonl"
_NO_VIDEOS = "_no_videos.json"
_WORKERS = "_workers"  # beside the sign folders, named so that no sign pattern meets it
LOCK_FILE = "_signkps.lock"  # held by the one run writing under the root (pipeline.job.lock)
_PROBE = "_signkps.probe"


def npz_path(output_root: str, key: SignKey) -> str:
    return join(output_root, key.label + NPZ_SUFFIX)


def pose_folder(output_root: str, key: SignKey) -> str:
    """Where a sign's .pose files go: one per video, named for it."""
    return join(output_root, key.label)


def pose_path(output_root: str, key: SignKey, video: str) -> str:
    return join(pose_folder(output_root, key), video + POSE_SUFFIX)


def pose_pattern(output_root: str, key: SignKey) -> str:
    """Every .pose file of a sign's folder."""
    return join(pose_folder(output_root, key), "*" + POSE_SUFFIX)


def done_path(output_root: str, key: SignKey, output_format: str) -> str:
    """The file whose presence marks a sign as done: its npz, or its pose folder's marker."""
    if output_format == "pose":
        return join(pose_folder(output_root, key), POSE_SIGN_DONE)
    return npz_path(output_root, key)


def done_pattern(output_root: str, output_format: str) -> str:
    """Every file that :func:`done_path` can name for ``output_format``."""
    if output_format == "pose":
        return join(output_root, "*", "*", POSE_SIGN_DONE)
    return join(output_root, "*", "*" + NPZ_SUFFIX)


def sign_of_done_path(output_root: str, path: str, output_format: str) -> SignKey | None:
    """The sign that ``path`` (matched by :func:`done_pattern`) marks as done."""
    suffix = "/" + POSE_SIGN_DONE if output_format == "pose" else NPZ_SUFFIX
    return _sign_below(output_root, path, suffix)


def reports_folder(output_root: str) -> str:
    return join(output_root, REPORTS_DIR)


def sign_report_path(output_root: str, key: SignKey) -> str:
    return join(output_root, REPORTS_DIR, "videos", key.label + REPORT_SUFFIX)


def sign_report_pattern(output_root: str) -> str:
    return join(output_root, REPORTS_DIR, "videos", "*", "*" + REPORT_SUFFIX)


def sign_of_report_path(output_root: str, path: str) -> SignKey | None:
    return _sign_below(join(output_root, REPORTS_DIR, "videos"), path, REPORT_SUFFIX)


def combined_report_path(output_root: str) -> str:
    """``_reports/videos.jsonl``: every video's record, whichever run wrote it."""
    return join(output_root, REPORTS_DIR, "videos" + REPORT_SUFFIX)


def run_record_path(output_root: str) -> str:
    """``_reports/run.json``: what the last run to finish there was, and how it went."""
    return join(output_root, REPORTS_DIR, "run.json")


def staging_folder(output_root: str) -> str:
    return join(output_root, STAGING_DIR)


def staged_sign_folder(output_root: str, key: SignKey) -> str:
    """Everything recorded of one sign until its files are written."""
    return join(output_root, STAGING_DIR, key.label)


def sign_manifest_path(output_root: str, key: SignKey) -> str:
    """The sign's videos as the listing found them; gone once the sign is written."""
    return join(staged_sign_folder(output_root, key), "_videos.json")


def sign_claim_path(output_root: str, key: SignKey) -> str:
    """The manifest, renamed by the one worker that writes the sign (transforms.staging)."""
    return join(staged_sign_folder(output_root, key), "_writing.json")


def _video_digest(video_location: str) -> str:
    return hashlib.sha256(video_location.encode()).hexdigest()[:20]


def staging_path(output_root: str, key: SignKey, video_location: str) -> str:
    """Where one video's array waits for its sign's npz; unique per source video."""
    return join(staged_sign_folder(output_root, key), f"{_video_digest(video_location)}.npy")


def video_record_path(output_root: str, key: SignKey, video_location: str) -> str:
    """One video's durable record: written after its array, so it commits both."""
    return join(staged_sign_folder(output_root, key), f"{_video_digest(video_location)}.json")


def video_records_pattern(output_root: str) -> str:
    """Every video record of the staging area."""
    return join(output_root, STAGING_DIR, "*", "*", "[0-9a-f]*.json")  # not the _ files


def worker_record_path(output_root: str, run_id: str, digest: str) -> str:
    """The software of a run's workers that share the environment ``digest`` names."""
    return join(output_root, STAGING_DIR, _WORKERS, f"{run_id}-{digest}.json")


def worker_records_pattern(output_root: str, run_id: str) -> str:
    return join(output_root, STAGING_DIR, _WORKERS, f"{run_id}-*.json")


def no_videos_path(output_root: str, key: SignKey) -> str:
    """Where the listing records why a sign has no videos, for the run's summary."""
    return join(staged_sign_folder(output_root, key), _NO_VIDEOS)


def no_videos_pattern(output_root: str) -> str:
    return join(output_root, STAGING_DIR, "*", "*", _NO_VIDEOS)


def lock_path(output_root: str) -> str:
    """The file that names the run writing under ``output_root``, while it runs."""
    return join(output_root, LOCK_FILE)


def lock_breaker_path(output_root: str) -> str:
    """Held for an instant by the one run that removes a stale lock (pipeline.job.lock)."""
    return join(output_root, LOCK_FILE + ".break")


def probe_path(output_root: str) -> str:
    """A new name for the file that shows a root can be written, before any work.

    A temporary's name (:func:`temp_path`): one left behind by a killed run is removed at
    the end of the next finished run, with the other temporaries.
    """
    return temp_path(join(output_root, _PROBE))


def temp_path(final: str) -> str:
    """A unique hidden name beside ``final`` (same folder, so the rename is cheap)."""
    folder = final[: -len(basename(final))]
    return f"{folder}.{basename(final)}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def temp_pattern(output_root: str) -> str:
    """Every temporary file that :func:`temp_path` names below ``output_root``."""
    return join(output_root, "**", ".*" + TEMP_SUFFIX)


def locate_npz(path: str) -> tuple[str, SignKey] | None:
    """Output root and sign of ``{root}/{signer}-{split}/{sign:04d}.npz``, if it is one."""
    parts = path.rstrip("/").split("/")
    if len(parts) < 2 or not parts[-1].endswith(NPZ_SUFFIX):
        return None
    key = SignKey.from_label(f"{parts[-2]}/{parts[-1][: -len(NPZ_SUFFIX)]}")
    if key is None:
        return None
    root = "/".join(parts[:-2]) or "."
    return root, key


def _sign_below(root: str, path: str, suffix: str) -> SignKey | None:
    prefix = root.rstrip("/") + "/"
    if not path.startswith(prefix) or not path.endswith(suffix):
        return None
    return SignKey.from_label(path[len(prefix) : -len(suffix)])
