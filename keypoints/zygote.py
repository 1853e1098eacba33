"""A warm process that forks extraction processes: their imports paid once, not per process.

An extraction process (keypoints.isolation) begins by importing numpy, OpenCV, PyAV and
MediaPipe, which on a busy core takes as long as a short clip's first dozen frames, and a
worker pays it again for every process it starts: one per DoFn instance, one more after
each crash. Forked from a process that has imported them already, a new process is ready
as soon as its backend is built, and the pages of those libraries stay shared between
all of them.

The zygote is a new interpreter, started like the extraction processes it replaces (not a
fork of the worker, whose gRPC threads a fork would copy mid-lock), and it stays
single-threaded: it imports ``preload`` with OpenBLAS's thread pool turned off (one thread;
extraction does no large matrix products), checks that no thread runs, freezes its heap
for the garbage collector (a child's collections then leave the shared pages alone), and
waits for requests on a Unix socket. A request carries the file descriptors the new
process keeps, a picklable entry point to call with them, and the requester's working
directory, environment and import path at that moment (the zygote's own are those of its
start). Its replies go into a pipe of the request's own: the new process's pid, then its
exit status once the zygote has reaped it.

The new process is the zygote's child, not the requester's: ``ForkedProcess`` is what the
requester holds instead of a ``subprocess.Popen``. The zygote exits when its socket closes,
that is when its requester closes it or dies in any way. Its children outlive it, bound
to their requester by their own pipes; what is lost then is only their exit status.

Why not multiprocessing's "forkserver": each of its children first imports the
requester's ``__main__``, and in a Beam worker that is Beam's SDK harness: the very import
cost this is here to save.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import pickle
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Sequence

# What an extraction process imports (keypoints.isolation and what it reaches for), so
# that a forked one imports nothing more for a local video or frame folder.
EXTRACTION_MODULES = (
    "keypoints.isolation",
    "keypoints.video_file",
    "keypoints.backends.holistic",
    "keypoints.backends.tasks",
    "mediapipe",
)
# What a terminal or a supervisor sends a whole process group. The zygote leaves them to
# its requester, which decides for its children too (keypoints.isolation).
GROUP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
REPLY_TIMEOUT_S = 60.0  # for the pid of a new process, the zygote's imports included
EXIT_WAIT_S = 10.0  # for a zygote whose socket closed to be gone, before it is killed
NOT_FORKABLE = 3  # the zygote's exit status when a thread runs in it after its imports
_MAX_REQUEST = 1 << 20  # bytes of a pickled request
_SUPPORTED = hasattr(os, "pidfd_open") and os.path.isdir("/proc/self/task")  # Linux
_PID = struct.Struct("<q")  # the new process's pid (0: none was made)
_STATUS = struct.Struct("<i")  # its exit status as subprocess gives it (-N: signal N)

# Called in the new process with the file descriptors it was given; picklable by reference.
Entry = Callable[..., None]


class ForkedProcess:
    """A process the zygote forked: the part of ``subprocess.Popen`` its requester uses."""

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._status_fd = status_fd
        self._done = False  # the exit status was read, or will never come
        self._lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status (-N: killed by signal N); None if the zygote died before telling.

        Raises ``subprocess.TimeoutExpired`` when the process still runs after ``timeout``.
        """
        with self._lock:
            if not self._done:
                ready, _, _ = select.select([self._status_fd], [], [], timeout)
                if not ready:
                    raise subprocess.TimeoutExpired(f"process {self.pid}", timeout or 0.0)
                data = _read(self._status_fd, _STATUS.size)
                self.returncode = _STATUS.unpack(data)[0] if len(data) == _STATUS.size else None
                os.close(self._status_fd)
                self._done = True
        return self.returncode

    def kill(self) -> None:
        """SIGKILL, unless it is known to have ended.

        The zygote reaps its children, so a pid could in principle be reused between that
        and the status's arrival here; Linux hands pids out in order, so that needs the
        whole pid space to wrap around meanwhile.
        """
        if not self._done:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class Zygote:
    """The requester's side of one zygote process, started on construction."""

    def __init__(self, preload: Sequence[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        serve = f"from keypoints.zygote import _serve; _serve({theirs.fileno()}, {list(preload)!r})"
        try:
            self._process = new_interpreter(
                serve,
                (theirs.fileno(),),
                output=sys.__stderr__.fileno() if sys.__stderr__ else subprocess.DEVNULL,
                env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.pid = self._process.pid
        self._socket = ours
        self._lock = threading.Lock()

    def running(self) -> bool:
        return self._process.poll() is None

    def refused(self) -> bool:
        """Whether it ended because a thread ran in it: a new one would do the same."""
        return self._process.poll() == NOT_FORKABLE

    def fork(self, entry: Entry, fds: Sequence[int], output: int) -> ForkedProcess | None:
        """A new process running ``entry(*fds)``, its stdout and stderr on ``output``.

        None when the zygote could not make one (it has ended, or did not answer in time);
        the caller starts its process another way. The descriptors stay the caller's to close.
        """
        status_r, status_w = os.pipe()
        try:
            request = pickle.dumps((entry, os.getcwd(), dict(os.environ), list(sys.path)))
            with self._lock:
                socket.send_fds(self._socket, [request], [*fds, output, status_w])
        except OSError:
            os.close(status_r)
            return None
        finally:
            os.close(status_w)
        ready, _, _ = select.select([status_r], [], [], REPLY_TIMEOUT_S)
        data = _read(status_r, _PID.size) if ready else b""
        pid = _PID.unpack(data)[0] if len(data) == _PID.size else 0
        if pid <= 0:
            os.close(status_r)
            if not ready:
                self.close()  # stuck: it will not be asked again
            elif not data:  # the pipe closed unanswered: it is ending; let running() say so
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=EXIT_WAIT_S)
            return None
        return ForkedProcess(pid, status_r)

    def close(self) -> None:
        """Close its socket, so that it exits; its children live on. Idempotent."""
        self._socket.close()
        try:
            self._process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_shared: Zygote | None = None
_shared_lock = threading.Lock()


def shared(preload: Sequence[str] = EXTRACTION_MODULES) -> Zygote | None:
    """This process's zygote, started now if none runs; None where there can be none.

    Returns at once: the zygote imports ``preload`` in the background, and the first
    ``fork`` waits for it. A zygote that has ended is replaced, unless it ended because a
    thread ran in it after its imports, which a new one would meet as well. There is none
    off Linux (it reaps through pidfds) nor after such a refusal: extraction processes
    then start as new interpreters, as they would without it.
    """
    global _shared
    if not _SUPPORTED:
        return None
    with _shared_lock:
        if _shared is not None and not _shared.running():
            if _shared.refused():
                return None
            _shared.close()
            _shared = None
        if _shared is None:
            _shared = Zygote(preload)
            atexit.register(stop_shared)  # reaped at exit, its CPU time counted as ours
        return _shared


def stop_shared() -> None:
    """Stop this process's zygote, if one runs (its children live on)."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
            _shared = None
            atexit.unregister(stop_shared)


def _read(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the pipe."""
    data = b""
    with contextlib.suppress(OSError):
        while len(data) < size and (chunk := os.read(fd, size - len(data))):
            data += chunk
    return data


def new_interpreter(
    code: str, pass_fds: Sequence[int], output: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``python -c code`` with this process's import path, stdout and stderr on ``output``.

    How a zygote starts, and an extraction process where there is no zygote.
    """
    boot = f"import sys; sys.path[:] = {list(sys.path)!r}; {code}"
    return subprocess.Popen(
        [sys.executable, "-c", boot],
        pass_fds=pass_fds,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        env=env,
    )


# --- the zygote ------------------------------------------------------------------------


def _serve(fd: int, preload: list[str]) -> None:
    """The zygote: import ``preload``, then fork a child per request until the socket closes."""
    for signum in GROUP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    control = socket.socket(fileno=fd)
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as e:  # a child meets it again, and reports it as its own
            _say(f"cannot preload {name}: {type(e).__name__}: {e}")
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        _say(f"{threads} threads run after its imports, so it cannot fork safely; exiting")
        os._exit(NOT_FORKABLE)
    gc.collect()
    gc.freeze()
    waiting = selectors.DefaultSelector()
    waiting.register(control, selectors.EVENT_READ)
    children: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, status pipe)
    while True:
        for key, _ in waiting.select():
            if key.fileobj is control:
                try:
                    request, fds, _, _ = socket.recv_fds(control, _MAX_REQUEST, 64)
                except OSError:
                    request, fds = b"", []
                if not request:
                    os._exit(0)  # the requester closed the socket or is gone
                *passed, output, status_w = fds
                held = [control.fileno(), waiting.fileno(), status_w]
                held += [fd for pidfd, (_, w) in children.items() for fd in (pidfd, w)]
                pid = _fork(request, passed, output, held)
                for passed_fd in (*passed, output):
                    os.close(passed_fd)
                with contextlib.suppress(OSError):  # the requester gave up waiting
                    os.write(status_w, _PID.pack(pid))
                if pid:
                    pidfd = os.pidfd_open(pid)  # the zygote reaps: valid until then
                    children[pidfd] = (pid, status_w)
                    waiting.register(pidfd, selectors.EVENT_READ)
                else:
                    os.close(status_w)
            else:
                pid, status_w = children.pop(key.fd)
                waiting.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):
                    os.write(status_w, _STATUS.pack(os.waitstatus_to_exitcode(status)))
                os.close(status_w)


def _say(message: str) -> None:
    print(f"signkps zygote: {message}", file=sys.stderr, flush=True)


def _fork(request: bytes, fds: list[int], output: int, held: list[int]) -> int:
    """Fork the child of one request; its pid (0 if the fork failed).

    ``held`` are the zygote's own descriptors, which the child closes first.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as e:
        _say(f"cannot fork: {e}")
        return 0
    if pid:
        return pid
    code = 1
    try:
        for fd in held:
            os.close(fd)
        os.dup2(output, 1)
        os.dup2(output, 2)
        if output > 2:
            os.close(output)
        entry, cwd, environment, path = pickle.loads(request)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environment)
        sys.path[:] = path
        entry(*fds)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
