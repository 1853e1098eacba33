"""What ``signkps local`` (and run_local.sh) adds to a run: this machine's runner settings.

The DirectRunner with one worker per core, unless the arguments say otherwise. Workers are
threads of this process: each one's decoding and MediaPipe run in an extraction process
of its own (keypoints.isolation), so a thread only hands videos over and records them,
and a crash still costs one video. That spares every run the start of a Beam worker
process per core, and lets the extraction processes fork from one zygote
(keypoints.zygote) that this process starts before it imports Beam. With
``--no_isolate_backend`` MediaPipe runs in the worker itself, so workers are processes
again, one per core.

Nothing here imports Beam: the launcher runs before it.
"""

from __future__ import annotations

import argparse
import os

from keypoints import zygote
from pipeline.usage import with_defaults

# Reads the options the launcher decides on, as Beam will (``--opt=v`` or ``--opt v``); a
# value that is not a count is left for Beam's own message.
_DECIDED = argparse.ArgumentParser(add_help=False)
_DECIDED.add_argument("--direct_num_workers", default="")
_DECIDED.add_argument("--direct_running_mode", default="")
_DECIDED.add_argument("--no_isolate_backend", action="store_true")


def _running_mode(given: argparse.Namespace) -> str:
    """The user's, else threads, unless MediaPipe runs in the workers (no isolation)."""
    if given.direct_running_mode:
        return str(given.direct_running_mode)
    return "multi_processing" if given.no_isolate_backend else "multi_threading"


def local_args(argv: list[str], workers: int | None = None) -> list[str]:
    """``argv`` with local-runner defaults for every option it does not set itself."""
    # Here, not above: it imports numpy and OpenCV, which the zygote must not wait for.
    from keypoints.backends import graph_threads_per_worker

    given, _ = _DECIDED.parse_known_args(argv)
    if given.direct_num_workers.isdigit():
        workers = int(given.direct_num_workers)
    workers = workers or os.cpu_count() or 1
    defaults = {
        "--runner": "DirectRunner",
        "--direct_running_mode": _running_mode(given),
        "--direct_num_workers": str(workers),
        "--default_sdk_harness_log_level": "WARNING",
        "--mediapipe_threads": str(graph_threads_per_worker(workers)),
    }
    return with_defaults(argv, defaults)


def start_extraction_zygote(argv: list[str]) -> None:
    """Start the zygote now if a run with ``argv`` runs extraction processes here.

    It does when the workers are threads of this process (the default, with the backend
    isolated). Started before anything else is imported, the zygote imports MediaPipe on
    another core while this process imports Beam, and the workers' extraction processes,
    forked from it, are ready as soon as the workers ask. Worker processes
    (``multi_processing``) start zygotes of their own.
    """
    given, _ = _DECIDED.parse_known_args(argv)
    if not given.no_isolate_backend and _running_mode(given) != "multi_processing":
        zygote.shared()
