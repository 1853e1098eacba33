"""Run the pipeline: parse options, build the graph, run it, write the run's records.

A Dataflow run of a whole corpus, for example (see README.md for the container image):

    python -m pipeline --runner=DataflowRunner --project=P --region=R \\
        --temp_location=gs://B/tmp --setup_file=./setup.py \\
        --input_root=gs://B/karsl --output_root=gs://B/keypoints
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from keypoints.backends import backend_settings, fetch_models
from keypoints.corpus import REPORTS_DIR, join
from keypoints.layout import PART_NAMES
from keypoints.models import ModelError
from pipeline import reports
from pipeline.graph import backend_config, build
from pipeline.options import OptionsError, SignKpsOptions, selected_signs, validate
from pipeline.progress import ProgressMonitor
from pipeline.quiet import filtered_stderr
from pipeline.runner import create_runner, is_local
from transforms.extract import open_for_reading

logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """What a caller (the CLI, a test, the demo) learns from a finished run."""

    output_root: str
    counters: dict[str, int]
    videos: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [v for v in self.videos if v["status"] != "ok"]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def run(argv: list[str] | None = None) -> RunOutcome:
    """Run the pipeline described by command-line style ``argv``; raises OptionsError."""
    options = PipelineOptions(argv)
    opts = options.view_as(SignKpsOptions)
    validate(opts)
    signs = selected_signs(opts)
    if is_local(options):
        # Fetch and verify the models once, here, rather than in every worker process.
        try:
            fetch_models(opts.backend, backend_config(opts), open_for_reading)
        except ModelError as e:
            raise OptionsError(str(e)) from e
    started_at, started = _now(), time.monotonic()

    with contextlib.ExitStack() as local_run:
        if is_local(options):
            terminal = local_run.enter_context(filtered_stderr())
            monitor = local_run.enter_context(ProgressMonitor(len(signs), terminal))
            opts.progress_socket = monitor.socket_path
        with beam.Pipeline(runner=create_runner(options), options=options) as p:
            build(p, opts)
        result = p.result
    opts.progress_socket = None

    counts = reports.counters(result.metrics())
    seconds = time.monotonic() - started
    reports.remove_temp_files(opts.output_root)
    record = {
        "project": "signkps",
        "versions": reports.versions(),
        "backend": {
            "name": opts.backend,
            "settings": backend_settings(opts.backend, backend_config(opts)),
        },
        "options": {k: v for k, v in options.get_all_options(drop_default=True).items()},
        "signs_selected": len(signs),
        "counters": counts,
        "started": started_at,
        "finished": _now(),
        "seconds": round(seconds, 1),
    }
    videos = reports.write_reports(opts.output_root, record)
    return RunOutcome(opts.output_root, counts, videos, seconds)


def summary(outcome: RunOutcome, max_failures: int = 10) -> str:
    """One screen a person reads after a run."""
    c = outcome.counters
    fps = c["frames"] / outcome.seconds if outcome.seconds else 0.0
    lines = [
        f"signkps: done in {outcome.seconds:.1f} s",
        f"  signs   written {c['signs_written']}, skipped (already done) {c['signs_skipped']}, "
        f"without videos {c['signs_missing']}",
        f"  videos  ok {c['videos_ok']}, failed {c['videos_failed']}",
        f"  frames  {c['frames']} ({fps:.1f} frames/s overall), "
        f"unreadable {c['unreadable_frames']}",
    ]
    ok = [v for v in outcome.videos if v["status"] == "ok"]
    if ok:
        mean = {p: sum(v["coverage"][p] for v in ok) / len(ok) for p in PART_NAMES}
        lines.append("  found   " + ", ".join(f"{p} {mean[p]:.0%}" for p in PART_NAMES)
                     + " of frames (all videos in the output)")  # fmt: skip
    for v in outcome.failed[:max_failures]:
        lines.append(
            f"  FAILED  {v['signer']}-{v['split']}/{v['sign']:04d} {v['video']}: {v['reason']}"
        )
    if len(outcome.failed) > max_failures:
        lines.append(f"  ... and {len(outcome.failed) - max_failures} more failed videos")
    lines.append(f"  output  {outcome.output_root}")
    lines.append(f"  reports {join(outcome.output_root, REPORTS_DIR)}/ (videos.jsonl, run.json)")
    return "\n".join(lines)
