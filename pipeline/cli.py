"""``signkps``: the one command, with a sub-command for everything a user does.

Each sub-command lives in the sub-package that does its job (README.md, "Where things
are"); this module only dispatches, and gives them one error style: a command that cannot
use its options or inputs says so in one line, ``signkps: <message>``, and exits with 2;
one stopped midway by its surroundings (a full disk) says so in one line and exits with 1.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from pipeline import PYTHON_VERSION_WARNING
from pipeline.local.quiet import quiet_logging
from pipeline.usage import CommandParser, RunStopped, UsageError


@dataclass(frozen=True)
class Command:
    help: str
    main: Callable[[list[str]], int]


def _pipeline_help(prog: str, argv: list[str], description: str) -> None:
    """``--help`` of the commands that run the pipeline: its options, then Beam's are passed on."""
    from pipeline.job.options import SignKpsOptions

    if {"-h", "--help"} & set(argv):
        parser = CommandParser(prog=prog, description=description)
        SignKpsOptions._add_argparse_args(parser)
        parser.parse_known_args(argv)


def _run(argv: list[str]) -> int:
    from pipeline.job.run import run_and_report
    from pipeline.local.progress import watch_local_run

    _pipeline_help(
        "signkps run",
        argv,
        "Run the pipeline on the runner Beam's options name (--runner; the DirectRunner by "
        "default). Beam's own options (--runner, --project, --region, --temp_location, "
        "--setup_file, ...) are passed on to it.",
    )
    return run_and_report(argv, watch_local_run)


def _local(argv: list[str]) -> int:
    from pipeline.local.launcher import local_args, start_extraction_zygote

    if "--demo" in argv:
        return _demo([a for a in argv if a != "--demo"])
    if not {"-h", "--help"} & set(argv):
        start_extraction_zygote(argv)  # first: it loads MediaPipe while Beam is imported
    args = local_args(argv)
    from pipeline.job.run import run_and_report
    from pipeline.local.progress import watch_local_run

    _pipeline_help(
        "signkps local",
        argv,
        "Run the pipeline on this machine: the DirectRunner, one worker process per core "
        "(--direct_num_workers), --demo for a tiny corpus. Beam's options are passed on.",
    )
    return run_and_report(args, watch_local_run)


def _demo(argv: list[str]) -> int:
    from pipeline.local import demo
    from pipeline.local.progress import watch_local_run

    return demo.main(argv, watch_local_run)


def _flink(argv: list[str]) -> int:
    from pipeline.flink import session

    return session.main(argv)


def _verify(argv: list[str]) -> int:
    from pipeline.tools import verify

    return verify.main(argv)


def _convert(argv: list[str]) -> int:
    from pipeline.tools import convert

    return convert.main(argv)


def _preview(argv: list[str]) -> int:
    from pipeline.tools import inspect_output

    return inspect_output.preview_main(argv)


def _report(argv: list[str]) -> int:
    from pipeline.tools import inspect_output

    return inspect_output.report_main(argv)


def _pack(argv: list[str]) -> int:
    from pipeline.tools import pack

    return pack.main(argv)


# Imported when chosen, so that `signkps verify` does not wait for MediaPipe to load.
COMMANDS = {
    "run": Command("run the pipeline on any Beam runner (--runner; Dataflow, Flink, ...)", _run),
    "local": Command("run on this machine, one worker process per core (run_local.sh)", _local),
    "flink": Command("run on a Flink cluster, or on a throwaway one here (run_flink.sh)", _flink),
    "demo": Command("build a tiny corpus from a sample image and run the real pipeline", _demo),
    "verify": Command("check that every video of an output is accounted for", _verify),
    "convert": Command("turn a run's npz files into .pose files", _convert),
    "preview": Command("draw one video's keypoints (PNG grid, GIF or MP4)", _preview),
    "report": Command("write one self-contained HTML page on a run's output", _report),
    "pack": Command("pack a run's npz files into one memory-mapped dataset per split", _pack),
}


def parser() -> CommandParser:
    top = CommandParser(
        prog="signkps",
        description="Sign-language video corpora -> MediaPipe keypoints, on Apache Beam.",
        epilog="'signkps COMMAND --help' shows a command's options.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.help, add_help=False)
    return top


def _quiet_worker_warnings() -> None:
    """Give worker processes this process's filter of google-api-core's FutureWarning.

    A local runner's workers import Beam before any of this project's code, so only the
    environment they inherit (PYTHONWARNINGS) reaches them in time.
    """
    spec = f"ignore:{PYTHON_VERSION_WARNING}:FutureWarning"
    inherited = os.environ.get("PYTHONWARNINGS")
    if spec not in (inherited or "").split(","):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [inherited, spec]))


def main(argv: list[str] | None = None) -> int:
    """The exit status of ``signkps`` with the arguments ``argv`` (default: the process's)."""
    args = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_logging()
    _quiet_worker_warnings()
    try:
        chosen, rest = parser().parse_known_args(args[:1])
        return COMMANDS[chosen.command].main(args[1:] + rest)
    except UsageError as e:
        print(f"signkps: {e}", file=sys.stderr)
        return 2
    except RunStopped as e:
        print(f"signkps: {e}", file=sys.stderr)
        return 1


def exit_with(code: int) -> NoReturn:
    """``sys.exit``, without the final garbage collection of a heap holding Beam.

    That collection frees memory the operating system takes back anyway when the process
    ends, right after it, and costs a noticeable part of every command's start-up budget
    (benchmarks/RESULTS.md).
    """
    gc.freeze()
    sys.exit(code)


def console_script() -> NoReturn:
    """The ``signkps`` console script that setup.py declares."""
    exit_with(main())


if __name__ == "__main__":
    console_script()
