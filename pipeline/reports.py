"""What a run leaves besides the npz files: the combined video report and run.json."""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricResults, MetricsFilter

from keypoints.corpus import REPORTS_DIR, STAGING_DIR, join
from transforms import metrics
from transforms.files import TEMP_SUFFIX, write_atomically

logger = logging.getLogger(__name__)

PACKAGES = ("signkps", "mediapipe", "apache-beam", "numpy", "opencv-contrib-python")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def counters(results: MetricResults) -> dict[str, int]:
    """This run's signkps counters, summed over steps (zero when a runner reports none)."""
    totals = dict.fromkeys(
        ("videos_ok", "videos_failed", "frames", "unreadable_frames", "signs_written",
         "signs_skipped", "signs_missing", "stray_files", "video_attempts_failed"), 0)  # fmt: skip
    try:
        queried = results.query(MetricsFilter().with_namespace(metrics.NAMESPACE))
    except NotImplementedError:
        return totals
    for counter in queried["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def _read_lines(path: str) -> Iterable[dict[str, Any]]:
    with FileSystems.open(path, compression_type="uncompressed") as f:
        for line in f.read().decode().splitlines():
            if line.strip():
                yield json.loads(line)


def video_records(output_root: str) -> list[dict[str, Any]]:
    """Every per-video record under the output root, whichever run wrote it."""
    pattern = join(output_root, REPORTS_DIR, "videos", "*", "*.jsonl")
    records = [
        record
        for match in FileSystems.match([pattern])
        for meta in match.metadata_list
        for record in _read_lines(meta.path)
    ]
    return sorted(records, key=lambda r: (r["signer"], r["split"], r["sign"], r["video"]))


def remove_temp_files(output_root: str) -> int:
    """Delete temporaries left by workers that died mid-write, and the staging area.

    Only for a finished run: then every staged array is in its sign's npz.
    """
    staging = join(output_root, STAGING_DIR)
    if FileSystems.exists(staging):
        FileSystems.delete([staging])
    pattern = join(output_root, "**", ".*" + TEMP_SUFFIX)
    leftovers = [m.path for match in FileSystems.match([pattern]) for m in match.metadata_list]
    if leftovers:
        FileSystems.delete(leftovers)
        logger.info("removed %d temporary files left by interrupted writes", len(leftovers))
    return len(leftovers)


def write_reports(output_root: str, run_record: dict[str, Any]) -> list[dict[str, Any]]:
    """Write _reports/videos.jsonl (all videos) and _reports/run.json; return the videos."""
    records = video_records(output_root)
    lines = "".join(json.dumps(r) + "\n" for r in records).encode()
    write_atomically(join(output_root, REPORTS_DIR, "videos.jsonl"), lines)
    ok = sum(r["status"] == "ok" for r in records)
    run_record["output"] = {"videos_ok": ok, "videos_failed": len(records) - ok}
    data = json.dumps(run_record, indent=2, sort_keys=True).encode() + b"\n"
    write_atomically(join(output_root, REPORTS_DIR, "run.json"), data)
    return records
