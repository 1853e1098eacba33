"""What a run needs of its output root besides the lock: that it can be written, and room.

A root that cannot be written (a read-only mount, no permission) is refused before any
work, by a real write and delete there: checking permission bits would miss a read-only
mount, and would say nothing of a bucket. A disk that fills up during the run stops it:
a worker's write fails, Beam fails the job with that worker's traceback as text, and the
run ends with one line that names the file and says what was kept (every sign written
and every video recorded so far stays; the same command reuses them once there is room).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from keypoints.outputs import done_pattern, probe_path, video_records_pattern
from pipeline.job.options import OptionsError
from pipeline.usage import RunStopped
from transforms import files

# Out of room, as the operating system says it: the disk, or the user's quota on it.
_FULL = (errno.ENOSPC, errno.EDQUOT)
# How a worker's OSError reads in the text of the job's failure: "[Errno 28] No space left
# on device: '/out/_staging/...'" (files.write_atomically names the file).
_CODES = "|".join(str(code) for code in _FULL)
_FULL_TEXT = re.compile(
    rf"\[Errno (?P<errno>{_CODES})\] [^:'\"\n]+(?::\s*(?P<q>['\"])(?P<path>.+?)(?P=q))?"
)


def describe(error: OSError) -> str:
    """An OSError as one line: ``[Errno 30] Read-only file system``, without the path."""
    if error.errno is not None and error.strerror:
        return f"[Errno {error.errno}] {error.strerror}"
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_writable(output_root: str) -> None:
    """Refuse an output root no file can be written to; create it if missing, as a run would.

    The probe goes through the run's own write (temporary file, then rename) and delete.
    """
    local = files.is_local(output_root)
    if local and os.path.exists(output_root) and not os.path.isdir(output_root):
        raise OptionsError(f"output root {output_root} is a file, not a folder")
    probe = probe_path(output_root)
    try:
        files.write_atomically(probe, b"signkps checks that it can write here\n")
        files.delete([probe])
    except OSError as e:
        raise OptionsError(f"output root {output_root} cannot be written: {describe(e)}") from e


@dataclass(frozen=True)
class DiskFull:
    """What a run stopped by a full disk learnt of it: the error, and the file if named."""

    strerror: str
    path: str | None


def disk_full(error: BaseException) -> DiskFull | None:
    """The full disk behind ``error``, if one is: in its chain, or in the text of it.

    In this process a write fails with an OSError; a worker's reaches the driver as text:
    the local runner raises a RuntimeError holding the worker's traceback, OSError line
    and all (other runners report a failed job with the worker's text too; not tested).
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL:
            filename = current.filename if isinstance(current.filename, str) else None
            return DiskFull(os.strerror(current.errno), filename)
        found = list(_FULL_TEXT.finditer(str(current)))
        if found:  # a traceback's text shows the cause, without the path, before the rest
            named = [m for m in found if m["path"]] or found
            return DiskFull(os.strerror(int(named[0]["errno"])), named[0]["path"])
        current = current.__cause__ or current.__context__
    return None


def mentions_full_disk(text: str) -> bool:
    """Whether ``text`` (a log record, a traceback) tells of a full disk."""
    return bool(_FULL_TEXT.search(text))


def kept(output_root: str, output_format: str) -> tuple[int, int]:
    """Signs on disk under the root, and videos recorded in its staging area."""
    signs = len(files.matching(done_pattern(output_root, output_format)))
    return signs, len(files.matching(video_records_pattern(output_root)))


def stopped_message(full: DiskFull, output_root: str, output_format: str) -> str:
    where = full.path or f"under {output_root}"
    signs, videos = kept(output_root, output_format)
    return (
        f"{full.strerror.lower()} writing {where}; free some space and run the same command "
        f"again: the {_count(signs, 'sign')} written and {_count(videos, 'video')} recorded "
        "so far are kept"
    )


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


class _FullDiskRecords(logging.Filter):
    """Drops log records of the full disk: the run's own line says it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        about_beam = record.name.startswith("apache_beam")
        return not (about_beam and mentions_full_disk(record.getMessage()))


@contextlib.contextmanager
def stops_on_full_disk(output_root: str, output_format: str) -> Iterator[None]:
    """Turn a full disk anywhere in the block into RunStopped, shown as one line.

    Beam logs each failed worker's traceback (pages of it) before the job fails: those log
    records are dropped when they are about the full disk; any other failure is logged and
    raised as before. After a failure, records keep being dropped until the process exits:
    a local run's workers are threads of this process that can fail on the same disk a
    moment after the job did (pipeline.local.quiet).
    """
    handlers = logging.getLogger().handlers
    quiet = _FullDiskRecords()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    except Exception as e:
        full = disk_full(e)
        if full is None:
            raise
        raise RunStopped(stopped_message(full, output_root, output_format)) from e
    for handler in handlers:
        handler.removeFilter(quiet)
