"""Keep a local run's terminal readable: drop MediaPipe's and Beam's known chatter.

MediaPipe's C++ code writes several lines straight to file descriptor 2 every time a
graph starts, that is for every video (``GLOG_minloglevel`` does not reach them), and
each Beam worker process logs a few warnings as it starts, before any log level
applies: together they would bury the progress bar and the summary. For a local run,
the driver's fd 2 is routed through a filter while the pipeline runs; worker processes
inherit it. Only the exact harmless lines below are dropped, and the tracebacks that the
caller does not want (a local run: each failing worker's of a full disk, which the run ends
with in one line); everything else is passed on unchanged (a traceback once it has ended).
After a run that ends well, the filter is drained and fd 2 restored before its outcome is
shown; after one that fails, it stays until the process exits (see filtered_stderr).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

NOISE = re.compile(
    rb"inference_feedback_manager\.cc:\d+\] Feedback manager requires a model"
    rb"|landmark_projection_calculator\.cc:\d+\] Using NORM_RECT without IMAGE_DIMENSIONS"
    # TFLite writes its "INFO: " prefix and its message separately: two workers starting at
    # once interleave them ("INFO: INFO: Created ..." and a bare "Created ..."), so this
    # matches anywhere in a line.
    rb"|Created TensorFlow Lite XNNPACK delegate for CPU\."
    rb"|^WARNING: All log messages before absl::InitializeLog\(\) is called"
    # Beam worker start-up: the workers cannot parse this project's options, which is
    # expected (they get the values through the DoFns), and warn about optional extras.
    rb"|Discarding unparseable args: "
    rb"|apitools not found, and bigquery client libraries are not available"
    rb"|No semi_persistent_directory found"
    rb"|^INFO:__main__:Logging handler created\."
)


class KnownNoise(logging.Filter):
    """Drops the log records of NOISE, for a process's own logging (not only a run's fd 2).

    Beam logs "apitools not found ..." through the root logger when it is first imported,
    in every command, where no other filter applies yet.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not NOISE.search(record.getMessage().encode(errors="replace"))


def quiet_logging() -> None:
    """Add KnownNoise to every handler of the root logger (configure logging first)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(KnownNoise())


Unwanted = Callable[[bytes], bool]  # a whole traceback, lines joined -> whether to drop it
_TRACEBACK = b"Traceback (most recent call last):"
_CHAINED = (b"During handling of the above exception", b"The above exception was the direct")


class HeldTracebacks:
    """Holds each traceback back until it has ended, then passes it on unless ``unwanted``.

    A Beam worker prints the traceback of a failing bundle to its fd 2, in several writes:
    only the whole block tells what it is about. It ends at the first line after a blank
    one that does not chain another traceback to it ("During handling of the above
    exception ...", then that traceback).
    """

    def __init__(self, unwanted: Unwanted) -> None:
        self._unwanted = unwanted
        self._held: list[bytes] = []

    def feed(self, line: bytes) -> list[bytes]:
        """The lines to pass on now that ``line`` came."""
        if not self._held:
            if line == _TRACEBACK:
                self._held.append(line)
                return []
            return [line]
        if not self._goes_on(line):
            return self.flush() + self.feed(line)
        self._held.append(line)
        return []

    def _goes_on(self, line: bytes) -> bool:
        if self._held[-1] != b"" or not line:
            return True
        chaining = next(held for held in reversed(self._held) if held).startswith(_CHAINED)
        return line.startswith(_CHAINED) or (line == _TRACEBACK and chaining)

    def flush(self) -> list[bytes]:
        """The traceback held so far, if it is to be passed on; nothing is held after."""
        block, self._held = self._held, []
        return [] if self._unwanted(b"\n".join(block)) else block


# Written to fd 2 at exit after a failed run: the filter passes on all it holds when it
# reads this, and drops it. No program's output has a NUL byte in a line of text.
_DRAIN = b"\0signkps: drain\0"
_DRAIN_WAIT_S = 5.0


class _Forwarder:
    """The thread that reads fd 2's pipe and writes what is kept to the real stderr."""

    def __init__(self, read_fd: int, write_fd: int, unwanted: Unwanted | None) -> None:
        self._read_fd, self._write_fd = read_fd, write_fd
        self._tracebacks = HeldTracebacks(unwanted) if unwanted else None
        self.drained = threading.Event()
        self.thread = threading.Thread(target=self._forward, daemon=True)
        self.thread.start()

    def _write(self, lines: list[bytes]) -> None:
        kept = b"".join(line + b"\n" for line in lines if not NOISE.search(line))
        # A real stderr that is gone (a closed terminal) drops it: the pipe must still be
        # read, or every writer to fd 2 would block once it is full.
        with contextlib.suppress(OSError):
            if kept:
                os.write(self._write_fd, kept)

    def _pass_on(self, lines: list[bytes]) -> None:
        if self._tracebacks:
            lines = [out for line in lines for out in self._tracebacks.feed(line)]
        self._write(lines)

    def _flush(self) -> None:
        if self._tracebacks:
            self._write(self._tracebacks.flush())

    def _forward(self) -> None:
        pending = b""
        while chunk := os.read(self._read_fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            drain = any(_DRAIN in line for line in lines)
            self._pass_on([line.replace(_DRAIN, b"") for line in lines if line != _DRAIN])
            if drain:
                self._flush()
                self.drained.set()
        self._pass_on([pending] if pending else [])  # a last line without its newline
        self._flush()
        os.close(self._read_fd)

    def drain(self) -> None:
        """Pass on what was written to fd 2 so far; fd 2 stays filtered."""
        sys.stderr.flush()
        with contextlib.suppress(OSError):
            os.write(2, _DRAIN + b"\n")
            self.drained.wait(_DRAIN_WAIT_S)


@contextlib.contextmanager
def filtered_stderr(unwanted_tracebacks: Unwanted | None = None) -> Iterator[TextIO]:
    """Filter fd 2 while open; yields a stream to the real stderr (for a progress bar).

    With ``unwanted_tracebacks``, each traceback is held until it has ended, then dropped
    when that says so.

    Left by an exception, the filter stays on fd 2 until this process exits. The run has
    failed, but Beam's in-process workers (``--direct_running_mode=multi_threading``) are
    daemon threads that go on with their bundles until the process ends, and print the
    traceback of each bundle that fails to fd 2 then: a worker that meets the same full
    disk a moment later must not print its pages after the run's one line. At exit, what
    was written until then is passed on (the run's last line, an uncaught traceback).
    """
    sys.stderr.flush()
    real_fd = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    forwarder = _Forwarder(read_fd, real_fd, unwanted_tracebacks)
    real = os.fdopen(os.dup(real_fd), "w", buffering=1)
    try:
        yield real
    except BaseException:
        real.close()
        atexit.register(forwarder.drain)
        raise
    sys.stderr.flush()
    os.dup2(real_fd, 2)  # closes the pipe's last write end that this process holds
    forwarder.thread.join(timeout=10)  # workers have exited: the pipe reaches end of file
    real.close()
    if not forwarder.thread.is_alive():
        os.close(real_fd)
