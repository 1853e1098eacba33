"""``python -m pipeline.local``: what run_local.sh runs.

The DirectRunner with one worker process per core, unless the arguments say otherwise;
``--demo`` runs the pipeline on a small corpus it builds from a sample image.
"""

from __future__ import annotations

import argparse
import os
import sys

from keypoints.backends import graph_threads_per_worker
from pipeline.__main__ import exit_with
from pipeline.__main__ import main as run_main


def with_defaults(argv: list[str], defaults: dict[str, str]) -> list[str]:
    """``argv`` with ``defaults`` (``{"--option": value}``) for every option it does not set."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    return [f"{k}={v}" for k, v in defaults.items() if k not in given] + list(argv)


# Reads the worker count the user gave, as Beam will (``--opt=v`` or ``--opt v``); a value
# that is not a count is left for Beam's own message.
_WORKERS = argparse.ArgumentParser(add_help=False)
_WORKERS.add_argument("--direct_num_workers", default="")


def local_args(argv: list[str], workers: int | None = None) -> list[str]:
    """``argv`` with local-runner defaults for every option it does not set itself."""
    given, _ = _WORKERS.parse_known_args(argv)
    if given.direct_num_workers.isdigit():
        workers = int(given.direct_num_workers)
    workers = workers or os.cpu_count() or 1
    defaults = {
        "--runner": "DirectRunner",
        "--direct_running_mode": "multi_processing",
        "--direct_num_workers": str(workers),
        "--default_sdk_harness_log_level": "WARNING",
        "--mediapipe_threads": str(graph_threads_per_worker(workers)),
    }
    return with_defaults(argv, defaults)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--demo" in argv:
        from pipeline.demo import main as demo_main

        argv.remove("--demo")
        return demo_main(argv)
    return run_main(local_args(argv))


if __name__ == "__main__":
    exit_with(main())
