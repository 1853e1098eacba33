"""The project's cache on this machine: one root, and entries that appear whole or not at all.

Model files, the Flink distribution and the job server's jars are fetched once and kept
here. Every entry is built under a temporary name beside its final one and renamed into
place when complete, so a crash never leaves a half-built entry where it would be used,
and two processes filling the same entry at once do not trip over each other.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import platformdirs

CACHE_ENV = "SIGNKPS_CACHE"
PARTIAL_SUFFIX = ".part"


def cache_root() -> Path:
    """``$SIGNKPS_CACHE``, else the user's cache folder (``~/.cache/signkps`` on Linux)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("signkps"))


@contextlib.contextmanager
def new_file(target: Path) -> Iterator[BinaryIO]:
    """A file to write ``target``'s bytes to; it becomes ``target`` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def new_folder(final: Path, fill: Callable[[Path], None]) -> None:
    """Run ``fill(folder)`` on a fresh folder and rename it to ``final`` when it succeeds.

    When another process renamed its own complete folder into place first, that one is kept.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        fill(staging)
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():  # not a concurrent run that finished first: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
