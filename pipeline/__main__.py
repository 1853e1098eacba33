"""``python -m pipeline [options]``: run on any runner the Beam options name."""

from __future__ import annotations

import logging
import sys

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


if __name__ == "__main__":
    sys.exit(main())
