"""What a run leaves besides the keypoints: the combined video report and run.json."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from apache_beam.metrics.metric import MetricResults, MetricsFilter

from keypoints.outputs import (
    combined_report_path,
    run_record_path,
    sign_report_pattern,
    staging_folder,
    temp_pattern,
    worker_records_pattern,
)
from transforms import files, metrics

logger = logging.getLogger(__name__)


def utc_now() -> str:
    """This moment in UTC, to the second, as every record of the project writes it."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def worker_environments(output_root: str, run_id: str) -> list[dict[str, Any]]:
    """The distinct environments this run's workers recorded (transforms.staging).

    Read before a finished run removes the staging area, where they are kept.
    """
    found = [
        files.read_json(path)
        for path in files.matching(worker_records_pattern(output_root, run_id))
    ]
    return sorted(found, key=lambda e: json.dumps(e, sort_keys=True))


def counters(results: MetricResults) -> dict[str, int]:
    """This run's signkps counters, summed over steps (zero when a runner reports none)."""
    totals = dict.fromkeys(metrics.COUNTER_NAMES, 0)
    try:
        queried = results.query(MetricsFilter().with_namespace(metrics.NAMESPACE))
    except NotImplementedError:
        return totals
    for counter in queried["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def video_records(output_root: str) -> list[dict[str, Any]]:
    """Every per-video record under the output root, whichever run wrote it."""
    records = [
        record
        for path in files.matching(sign_report_pattern(output_root))
        for record in files.read_json_lines(path)
    ]
    return sorted(records, key=lambda r: (r["signer"], r["split"], r["sign"], r["video"]))


def run_record(output_root: str) -> dict[str, Any] | None:
    """The output root's run.json, or None when no run finished there; ValueError if torn."""
    path = run_record_path(output_root)
    if not files.exists(path):
        return None
    record: dict[str, Any] = files.read_json(path)
    return record


def remove_temp_files(output_root: str) -> int:
    """Delete temporaries left by workers that died mid-write, and the staging area.

    Only for a finished run: then every staged array is in its sign's npz.
    """
    files.delete_if_present([staging_folder(output_root)])
    leftovers = files.matching(temp_pattern(output_root))
    files.delete(leftovers)
    if leftovers:
        logger.info("removed %d temporary files left by interrupted writes", len(leftovers))
    return len(leftovers)


def write_reports(output_root: str, run: dict[str, Any]) -> list[dict[str, Any]]:
    """Write _reports/videos.jsonl (all videos) and _reports/run.json; return the videos."""
    records = video_records(output_root)
    lines = "".join(json.dumps(r) + "\n" for r in records).encode()
    files.write_atomically(combined_report_path(output_root), lines)
    ok = sum(r["status"] == "ok" for r in records)
    run["output"] = {"videos_ok": ok, "videos_failed": len(records) - ok}
    data = json.dumps(run, indent=2, sort_keys=True).encode() + b"\n"
    files.write_atomically(run_record_path(output_root), data)
    return records
