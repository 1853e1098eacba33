"""``python -m pipeline.local``: what run_local.sh runs.

The DirectRunner with one worker process per core, unless the arguments say otherwise;
``--demo`` runs the pipeline on a small corpus it builds from a sample image.
"""

from __future__ import annotations

import os
import sys

from keypoints.backends import graph_threads_per_worker
from pipeline.__main__ import exit_with
from pipeline.__main__ import main as run_main


def with_defaults(argv: list[str], defaults: dict[str, str]) -> list[str]:
    """``argv`` with ``defaults`` (``{"--option": value}``) for every option it does not set."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    return [f"{k}={v}" for k, v in defaults.items() if k not in given] + list(argv)


def given_value(argv: list[str], option: str) -> str | None:
    """The value ``argv`` gives ``option`` (``--option=v`` or ``--option v``), if any."""
    for i, arg in enumerate(argv):
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
    return None


def local_args(argv: list[str], workers: int | None = None) -> list[str]:
    """``argv`` with local-runner defaults for every option it does not set itself."""
    given = given_value(argv, "--direct_num_workers")
    workers = int(given) if given and given.isdigit() else workers or os.cpu_count() or 1
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
