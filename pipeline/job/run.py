"""Run the pipeline: parse options, build the graph, run it, write the run's records.

A Dataflow run of a whole corpus, for example (see README.md for the container image):

    signkps run --runner=DataflowRunner --project=P --region=R \\
        --temp_location=gs://B/tmp --setup_file=./setup.py \\
        --input_root=gs://B/karsl --output_root=gs://B/keypoints
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from keypoints.backends import backend_settings, fetch_models
from keypoints.corpus import SignKey
from keypoints.environment import environment
from keypoints.layout import PART_NAMES
from keypoints.models import ModelError
from keypoints.outputs import reports_folder
from pipeline.job import lock
from pipeline.job.graph import backend_config, build
from pipeline.job.options import (
    OptionsError,
    SignKpsOptions,
    check_arguments,
    selected_signs,
    validate,
)
from pipeline.job.output_root import check_writable, stops_on_full_disk
from pipeline.job.runner import create_runner, is_local
from pipeline.records import reports
from pipeline.records.accounting import signs_without_output
from transforms.files import open_for_reading

logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """What a caller (the CLI, a test, the demo) learns from a finished run."""

    output_root: str
    counters: dict[str, int]
    videos: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    signs_without_videos: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [v for v in self.videos if v["status"] != "ok"]

    @property
    def partial(self) -> list[dict[str, Any]]:
        """Written videos with frames left out (unreadable ones)."""
        return [v for v in self.videos if v["status"] == "ok" and v["unreadable_frames"]]


# What a local run is watched with (pipeline.local.progress): entered around the run, given
# the number of selected signs. The portable graph knows nothing of it.
LocalWatch = Callable[[int], contextlib.AbstractContextManager[Any]]


def run(argv: list[str] | None = None, watch_local: LocalWatch | None = None) -> RunOutcome:
    """Run the pipeline described by command-line style ``argv``.

    Raises OptionsError before any work for options that cannot work, an output root that
    cannot be written or one another run holds (pipeline.job.lock); RunStopped when the
    disk fills up on the way. The lock is held until the run ends, however it ends: on
    Dataflow, while this driver waits for the job (without ``--no_wait_until_finish``).
    """
    check_arguments(sys.argv[1:] if argv is None else argv)
    options = PipelineOptions(argv)
    opts = options.view_as(SignKpsOptions)
    validate(opts)
    if is_local(options):
        # Fetch and verify the models once, here, rather than in every worker process; a
        # missing model stops the run before anything is written, the output root included.
        try:
            fetch_models(opts.backend, backend_config(opts), open_for_reading)
        except ModelError as e:
            raise OptionsError(str(e)) from e
    check_writable(opts.output_root)
    with (
        stops_on_full_disk(opts.output_root, opts.output_format),
        lock.held(opts.output_root),
    ):
        return _run(options, opts, watch_local)


def _run(
    options: PipelineOptions, opts: SignKpsOptions, watch_local: LocalWatch | None
) -> RunOutcome:
    signs = selected_signs(opts)
    started_at, started = reports.utc_now(), time.monotonic()
    run_id = uuid.uuid4().hex  # as this run's records name it

    with contextlib.ExitStack() as local_run:
        if watch_local is not None and is_local(options):
            local_run.enter_context(watch_local(len(signs)))
        # A run that fails or is stopped keeps its staging area: the next run reuses the
        # videos recorded there. Only a finished run removes it, and any temporary file.
        with beam.Pipeline(runner=create_runner(options), options=options) as p:
            build(p, opts, run_id)
        missing = signs_without_output(
            opts.input_root, opts.corpus_layout, opts.output_root, signs, opts.output_format
        )
        workers = reports.worker_environments(opts.output_root, run_id)
        reports.remove_temp_files(opts.output_root)
        result = p.result

    counts = reports.counters(result.metrics())
    seconds = time.monotonic() - started
    record = {
        "project": "signkps",
        "versions": environment(),  # this driver's
        "workers": workers,  # what made the keypoints: one entry per distinct environment
        "backend": {
            "name": opts.backend,
            "settings": backend_settings(opts.backend, backend_config(opts)),
        },
        "options": {k: v for k, v in options.get_all_options(drop_default=True).items()},
        "signs_selected": len(signs),
        "signs_without_videos": missing,
        "counters": counts,
        "started": started_at,
        "finished": reports.utc_now(),
        "seconds": round(seconds, 1),
    }
    videos = reports.write_reports(opts.output_root, record)
    return RunOutcome(opts.output_root, counts, videos, seconds, missing)


def run_and_report(argv: list[str], watch_local: LocalWatch | None = None) -> int:
    """Run, then print the summary; the exit status of a run that finished is 0.

    Failed videos are listed in the summary and the reports: the run itself finished.
    """
    print(summary(run(argv, watch_local)))
    return 0


def summary(outcome: RunOutcome, max_failures: int = 10) -> str:
    """One screen a person reads after a run."""
    c = outcome.counters
    fps = c["frames"] / outcome.seconds if outcome.seconds else 0.0
    lines = [
        f"signkps: done in {outcome.seconds:.1f} s",
        f"  signs   written {c['signs_written']}, skipped (already done) {c['signs_skipped']}, "
        f"without videos {len(outcome.signs_without_videos)}",
        f"  videos  ok {c['videos_ok']}, failed {c['videos_failed']} "
        f"(extracted {c['videos_extracted']}, reused from an interrupted run {c['videos_reused']})",
        f"  frames  {c['frames']} ({fps:.1f} frames/s overall), "
        f"unreadable {c['unreadable_frames']}",
    ]
    if c.get("stray_files") or c.get("video_attempts_failed"):
        lines.append(
            f"  other   {c.get('stray_files', 0)} files in sign folders that are not videos "
            f"(named in the log), {c.get('video_attempts_failed', 0)} failed extraction "
            "attempts redone"
        )
    ok = [v for v in outcome.videos if v["status"] == "ok"]
    if ok:
        mean = {p: sum(v["coverage"][p] for v in ok) / len(ok) for p in PART_NAMES}
        found = ", ".join(f"{p} {mean[p]:.0%}" for p in PART_NAMES)
        lines.append(f"  found   {found} of frames (all videos in the output)")
    for sign in outcome.signs_without_videos[:max_failures]:
        lines.append(f"  NO VIDEOS {sign['sign']}: {sign['reason']} ({sign['folder']})")
    _more(lines, outcome.signs_without_videos, max_failures, "signs without videos")
    for v in outcome.failed[:max_failures]:
        lines.append(f"  FAILED  {SignKey.from_record(v).label} {v['video']}: {v['reason']}")
    _more(lines, outcome.failed, max_failures, "failed videos")
    for v in outcome.partial[:max_failures]:
        lines.append(
            f"  PARTIAL {SignKey.from_record(v).label} {v['video']}: "
            f"{v['unreadable_frames']} frames left out, {v['frames']} written; "
            f"first: {v['problems'][0] if v['problems'] else '?'}"
        )
    _more(lines, outcome.partial, max_failures, "videos with frames left out")
    lines.append(f"  output  {outcome.output_root}")
    lines.append(f"  check   signkps verify --output_root {outcome.output_root}")
    lines.append(f"  reports {reports_folder(outcome.output_root)}/ (videos.jsonl, run.json)")
    return "\n".join(lines)


def _more(lines: list[str], items: list[Any], shown: int, what: str) -> None:
    if len(items) > shown:
        lines.append(f"  ... and {len(items) - shown} more {what} (see _reports/)")
