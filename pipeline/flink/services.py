"""Background processes a run needs (a Flink cluster, a job server, a worker pool).

Each service runs in its own process group, so that stopping it also stops whatever it
started (Flink's scripts exec a JVM, a worker pool forks SDK workers), with its output in a
log file whose end is quoted when it fails to come up. Services are context managers:
leaving the ``with`` block, normally or by an exception, stops them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 20.0
POLL_SECONDS = 0.5


class ServiceError(RuntimeError):
    """A service did not come up; the message quotes the end of its log."""


def wait_until(
    services: Sequence[Service], ready: Callable[[], bool], timeout: float, what: str
) -> None:
    """Poll ``ready`` until it holds; fail as soon as one of ``services`` dies."""
    deadline = time.monotonic() + timeout
    while not ready():
        for service in services:
            if not service.running():
                raise service.fail(f"exited before {what}")
        if time.monotonic() > deadline:
            raise services[0].fail(f"did not get {what} within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Service:
    """One background process and its process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("starting %s: %s", self.name, " ".join(self.argv))
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def fail(self, problem: str) -> ServiceError:
        return ServiceError(
            f"{self.name} {problem}; the end of its log {self.log_path}:\n{self.log_tail()}"
        )

    def wait_for_port(self, port: int, timeout: float = 60.0) -> None:
        wait_until([self], lambda: port_open(port), timeout, f"listening on port {port}")

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left after a grace period."""
        if self._process is None:
            return
        group = self._process.pid  # start_new_session: the group id is the leader's pid
        self._signal_group(group, signal.SIGTERM)
        try:
            self._process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %.0f s: killing it", self.name, STOP_GRACE_SECONDS)
        # The leader may be gone while processes it started still run in its group.
        self._signal_group(group, signal.SIGKILL)
        self._process.wait()
        logger.info("stopped %s", self.name)

    @staticmethod
    def _signal_group(group: int, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signum)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:  # the same on success and on an error
        self.stop()
