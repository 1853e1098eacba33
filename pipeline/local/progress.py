"""Live progress of a local run: signs and videos done of the total, frames/s, time left.

Workers send one datagram per listed sign and per extracted video
(``transforms.progress``); this listens on a Unix socket in a private temporary
folder and draws a tqdm bar on a terminal. Nothing here affects the run's output.
:func:`watch_local_run` is what a local run is wrapped in (``pipeline.job.run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from tqdm import tqdm

from pipeline.job.output_root import mentions_full_disk
from pipeline.local.quiet import filtered_stderr
from transforms.progress import PROGRESS_ENV

_STOP = b"stop"  # not JSON, so no worker event can look like it


class ProgressState:
    """Counts built from worker events; the bar shows them, tests read them."""

    def __init__(self, total_signs: int) -> None:
        self.total_signs = total_signs
        self.signs_skipped = 0
        self.signs_done = 0
        self.videos_total = 0
        self.videos_done = 0
        self.videos_failed = 0
        self.videos_reused = 0  # recorded by an interrupted run, not extracted again
        self.signs_written = 0  # files on disk, as each sign's last video is recorded
        self.frames = 0
        self.work_started_at: float | None = None  # when the first sign was listed
        self._remaining: dict[str, int] = {}

    def apply(self, event: dict[str, Any]) -> None:
        sign = event.get("sign", "")
        if self.work_started_at is None:
            self.work_started_at = time.monotonic()
        if event.get("event") == "sign":
            if event.get("skipped"):
                self.signs_skipped += 1
                self.signs_done += 1
            elif event.get("videos", 0) == 0:
                self.signs_done += 1  # nothing to do for it
            else:
                self.videos_total += event["videos"]
                self._remaining[sign] = self._remaining.get(sign, 0) + event["videos"]
        elif event.get("event") == "video":
            self.videos_done += 1
            self.videos_failed += 0 if event.get("ok") else 1
            self.videos_reused += 1 if event.get("reused") else 0
            self.frames += int(event.get("frames", 0))
            left = self._remaining.get(sign, 1) - 1
            self._remaining[sign] = left
            if left == 0:
                self.signs_done += 1
        elif event.get("event") == "written":
            self.signs_written += 1

    def frames_per_second(self) -> float:
        if self.work_started_at is None:
            return 0.0
        return self.frames / max(time.monotonic() - self.work_started_at, 1e-3)

    def describe(self) -> str:
        skipped = f", {self.signs_skipped} already done" if self.signs_skipped else ""
        failed = f", {self.videos_failed} failed" if self.videos_failed else ""
        reused = f", {self.videos_reused} videos reused" if self.videos_reused else ""
        return (
            f"signs {self.signs_done}/{self.total_signs}{skipped}{failed}, "
            f"{self.signs_written} written{reused}, "
            f"{self.frames_per_second():.1f} frames/s"
        )


class ProgressMonitor:
    """Context manager: while open, ``socket_path`` receives worker events."""

    def __init__(self, total_signs: int, stream: TextIO | None = None) -> None:
        self.state = ProgressState(total_signs)
        self._stream = stream or sys.stderr
        self._folder = tempfile.mkdtemp(prefix="signkps-progress-")
        self.socket_path = os.path.join(self._folder, "events.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.socket_path)
        self._thread = threading.Thread(target=self._listen, name="signkps-progress", daemon=True)
        self._bar: tqdm[Any] | None = None

    def __enter__(self) -> ProgressMonitor:
        self._bar = tqdm(
            total=0,
            unit="video",
            desc="videos",
            file=self._stream,
            disable=not self._stream.isatty(),
            dynamic_ncols=True,
        )
        self._thread.start()
        return self

    def _listen(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if data == _STOP:
                return
            try:
                self.state.apply(json.loads(data))
            except (ValueError, KeyError, TypeError):
                continue
            self._refresh()

    def _refresh(self) -> None:
        bar, state = self._bar, self.state
        if bar is None:
            return
        bar.total = state.videos_total
        bar.n = state.videos_done
        bar.set_postfix_str(state.describe(), refresh=False)
        bar.refresh()

    def __exit__(self, *exc_info: object) -> None:  # the same on success and on an error
        # Every worker has exited, so its datagrams are already queued on the socket, in
        # order: a stop datagram sent now is read after all of them, and at once.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stopper:
            stopper.sendto(_STOP, self.socket_path)
        self._thread.join(timeout=5)
        self._sock.close()
        if self._bar is not None:
            self._bar.close()
        os.unlink(self.socket_path)
        os.rmdir(self._folder)


def _full_disk_traceback(block: bytes) -> bool:
    """A failing worker's traceback of a full disk: the run says it in one line instead."""
    return mentions_full_disk(block.decode(errors="replace"))


@contextlib.contextmanager
def watch_local_run(total_signs: int) -> Iterator[ProgressMonitor]:
    """A local run's terminal: known noise filtered, a progress bar fed by the workers.

    Known noise includes the tracebacks of a full disk that failing workers print: the run
    ends with one line about it (pipeline.job.output_root).

    The workers, started by the runner inside this block, inherit the monitor's socket
    through the environment (transforms.progress).
    """
    previous = os.environ.get(PROGRESS_ENV)
    with (
        filtered_stderr(_full_disk_traceback) as terminal,
        ProgressMonitor(total_signs, terminal) as monitor,
    ):
        os.environ[PROGRESS_ENV] = monitor.socket_path
        try:
            yield monitor
        finally:
            if previous is None:
                os.environ.pop(PROGRESS_ENV, None)
            else:
                os.environ[PROGRESS_ENV] = previous
