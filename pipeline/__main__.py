"""``python -m pipeline [options]``: run on any runner the Beam options name."""

from __future__ import annotations

import gc
import logging
import sys
from typing import NoReturn

from pipeline.options import OptionsError
from pipeline.run import run, summary


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        outcome = run(sys.argv[1:] if argv is None else argv)
    except OptionsError as e:
        print(f"signkps: {e}", file=sys.stderr)
        return 2
    print(summary(outcome))
    return 0  # failed videos are listed above and in the reports; the run itself finished


def exit_with(code: int) -> NoReturn:
    """``sys.exit``, without the final garbage collection of a heap holding Beam.

    That collection takes ~0.4 s of every command's start-up budget, to free memory that
    the operating system takes back anyway when the process ends, right after it.
    """
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    exit_with(main())
