"""How every ``signkps`` sub-command says what it takes and what it cannot use.

A command raises UsageError for options or inputs it cannot work with; the command line
(``pipeline.cli``) shows it as one line, ``signkps: <message>``, and exits with status 2,
whichever command raised it. CommandParser makes argparse's own refusals the same. A
command that starts and then cannot go on for a reason outside its options (a full disk)
raises RunStopped: one line too, with exit status 1.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(ValueError):
    """Options or inputs a command cannot work with; the message says what and how to fix it."""


class RunStopped(RuntimeError):
    """Work stopped by its surroundings; the message says what was kept and what to do."""


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose refusals are UsageErrors, not a usage dump and an exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def with_defaults(argv: list[str], defaults: dict[str, str]) -> list[str]:
    """``argv`` with ``defaults`` (``{"--option": value}``) for every option it does not set."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    return [f"{k}={v}" for k, v in defaults.items() if k not in given] + list(argv)
