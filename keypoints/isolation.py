"""Extraction in a child process: a crash in native code costs one video, not the worker.

MediaPipe, OpenCV and FFmpeg are C++ libraries. When one of them aborts (OpenCV's
``remap`` asserts on a frame 32,767 pixels wide or more), dereferences a bad pointer, or
the kernel kills the process for memory, the process they run in ends there, whatever
Python would have done. In a Beam worker that is the worker: Beam's local runner then
fails the whole job ("Channel closed prematurely"), and so does Flink without
checkpointing; a rerun meets the same video and dies the same way.

``IsolatedExtractor`` runs the backend, and the decoding of every frame, in a long-lived
child process instead. The parent sends each video's source and settings and gets back
its ``VideoKeypoints``; the child builds the backend once and keeps it from video to
video, as a worker does. When the child dies mid-video, ``extract`` raises
``ProcessDied``, which says how it died (the signal), where in the video (the frame the
model was working on, its size, and for a frame folder its file) and the child's last
line of output (an abort's message); the next call starts a new child.

The child is never a fork of the worker: a Beam worker runs gRPC threads, whose locks a
fork would copy in whatever state they were in, and multiprocessing's "spawn" and
"forkserver" would import the worker's ``__main__`` (Beam's SDK harness) into the child
first. It is forked from the worker's zygote (keypoints.zygote), a single-threaded
process that has imported MediaPipe and the rest once for all the worker's children, or
else, where there is no zygote, a new interpreter (``python -c``, with the parent's
``sys.path``). Its life is bound to its parent's:
it exits as soon as the pipe of its requests closes, which happens when the parent closes
the extractor or dies in any way, SIGKILL included (the kernel closes a dead process's
files). Linux's PR_SET_PDEATHSIG would not do: it fires when the *thread* that started the
child ends, and Beam calls ``setup()`` on pooled threads that end while the DoFn lives on.
It ignores the signals a terminal or a supervisor sends a whole process group
(SIGINT, SIGTERM, SIGHUP, SIGQUIT): the parent gets them too and decides, so that a
Ctrl-C is never mistaken for a crash of the video in hand. Its standard output and error
(MediaPipe's C++ log lines, an abort's message) go on to the parent's file descriptor 2,
whole lines at a time, and the lines of the video in hand are kept for ``ProcessDied``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import queue
import re
import signal
import struct
import subprocess
import tempfile
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, BinaryIO, TypeVar, cast

import numpy as np
import numpy.typing as npt

from keypoints.backends import Backend, CountsHandLabelDisagreements
from keypoints.extract import ExtractionSettings, VideoKeypoints, extract_video
from keypoints.frames import OpenFile, VideoSource, basename
from keypoints.zygote import GROUP_SIGNALS, ForkedProcess, new_interpreter, shared

_T = TypeVar("_T")

# Builds the backend in the child from the child's ``open_file``: picklable, such as
# ``functools.partial(create_backend, name, config)``.
BackendFactory = Callable[[OpenFile], Backend]

# Signals of a crash in the process itself, rather than of a kill from outside.
CRASH_SIGNALS = frozenset(
    {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGSYS}
)
OUTPUT_LINES_KEPT = 20  # of the video in hand, for the failure and the log
LAST_WORDS_CHARS = 300  # of the last line, in the failure's reason
EXIT_WAIT_S = 10.0  # for a child whose pipe closed to be gone, before it is killed


class ExtractorClosed(RuntimeError):
    """The extractor was closed (its worker is stopping), possibly under a video."""


class BackendUnavailable(RuntimeError):
    """The child could not build the backend, or died before it was ready.

    Not the fault of any video: the caller should fail as it would have failed to build
    the backend itself.
    """


class BackendRaised(Exception):
    """The backend raised in the child; the child has dropped it and builds a new one.

    ``type_name`` is the exception's class, ``str()`` its message, ``details`` the
    child's traceback.
    """

    def __init__(self, type_name: str, message: str, details: str) -> None:
        super().__init__(message)
        self.type_name, self.details = type_name, details


@dataclass(frozen=True)
class Position:
    """How far into a video the child got: frames given to the model and back from it."""

    given: int = 0
    returned: int = 0
    width: int = 0
    height: int = 0
    last_file: str = ""  # the last file read through ``open_file`` (a frame folder's frame)

    def describe(self, source: VideoSource) -> str:
        read = f", read from {self.last_file}" if source.is_folder and self.last_file else ""
        if self.given == 0:
            return "before any of its frames reached the model" + (
                f" (last file read: {self.last_file})" if self.last_file else ""
            )
        if self.given > self.returned:
            return (
                f"in the model, on the {_ordinal(self.given)} frame to reach it "
                f"({self.width}x{self.height} pixels{read})"
            )
        return (
            f"after the model's {_ordinal(self.returned)} frame, outside the model "
            "(reading or decoding the next frame, or finishing the video)"
        )


class ProcessDied(Exception):
    """The child died while extracting a video; the message says how, where and why."""

    def __init__(
        self, source: VideoSource, returncode: int | None, position: Position, output: list[str]
    ) -> None:
        self.returncode, self.position, self.output = returncode, position, output
        self.signal = signal.Signals(-returncode) if returncode and returncode < 0 else None
        if returncode is None:
            how = "ended"
            cause = "how is unknown: the zygote it was forked from, which reaps it, died first"
        elif self.signal is not None:
            how = f"died with signal {self.signal.name} ({-returncode})"
            if self.signal in CRASH_SIGNALS:
                cause = "a crash in native code (MediaPipe, OpenCV or FFmpeg)"
            elif self.signal == signal.SIGKILL:
                cause = "killed outright, most often by the kernel when memory ran out"
            else:
                cause = "killed by a signal from outside"
        else:
            how, cause = f"exited with status {returncode}", "it ended unexpectedly"
        where = position.describe(source)
        message = (
            f"the extraction process {how} while processing video {source.name!r} "
            f"({source.location}), {where}: {cause}"
        )
        if output:
            last = output[-1]
            if len(last) > LAST_WORDS_CHARS:
                last = last[: LAST_WORDS_CHARS - 3] + "..."
            message += f"; its last output: {last}"
        super().__init__(message)


class IsolatedExtractor:
    """``extract_video`` with ``make_backend(open_file)``'s backend, in a child process.

    The child starts when the extractor is made (``start=False``: on first use), in the
    background: its imports and the backend's models load while the caller goes on, and
    the first ``extract`` (or ``ready``) waits for them. ``extract`` raises
    ``ProcessDied`` when the child dies under the video (the next call starts a new one),
    ``BackendRaised`` when the backend raised (the child replaces it),
    ``BackendUnavailable`` when the backend cannot be built, and ``ExtractorClosed`` once
    ``close`` was called.

    ``open_file`` must be picklable. The child opens local paths with Python's own
    ``open`` (Beam's FileSystems does the same for them) and unpickles ``open_file`` only
    for the first URL: the child of a run on local files never imports what ``open_file``
    needs (Beam, for the pipeline's).

    ``extract`` is meant for one thread at a time; ``close`` may come from any thread, in
    the middle of an ``extract``.
    """

    def __init__(
        self, make_backend: BackendFactory, open_file: OpenFile, start: bool = True
    ) -> None:
        self._setup = pickle.dumps((make_backend, pickle.dumps(open_file)))
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._closed = False
        if start:
            self.start()

    @property
    def pid(self) -> int | None:
        """The child's process id, while one runs."""
        child = self._child
        return child.pid if child is not None else None

    def start(self) -> None:
        """Start a child if none runs; returns at once (the child gets ready meanwhile)."""
        with self._lock:
            if self._closed:
                raise ExtractorClosed("the extractor is closed")
            if self._child is None:
                self._child = _Child(self._setup)

    def ready(self) -> None:
        """Wait until a child has built its backend, starting one if none runs."""
        with self._lock:
            self._use(lambda child: child.wait_ready(), "while it started")

    def extract(self, source: VideoSource, settings: ExtractionSettings) -> VideoKeypoints:
        with self._lock:
            return self._use(lambda child: child.extract(source, settings), f"under {source.name}")

    def _use(self, call: Callable[[_Child], _T], doing: str) -> _T:
        """``call(child)``, with a child started if none runs; one that died is dropped."""
        if self._closed:
            raise ExtractorClosed("the extractor is closed")
        if self._child is None:
            self._child = _Child(self._setup)
        child = self._child
        try:
            return call(child)
        except (ProcessDied, BackendUnavailable) as e:
            self._child = None
            child.discard()
            if self._closed:
                raise ExtractorClosed(f"the extractor was closed {doing}") from e
            raise

    def close(self) -> None:
        """Kill the child (a video in hand is abandoned) and release everything; idempotent."""
        self._closed = True
        child = self._child
        if child is not None:
            child.kill()  # an extract waiting on it returns at once
        if self._lock.acquire(timeout=EXIT_WAIT_S):
            try:
                if self._child is not None:
                    self._child.discard()
                    self._child = None
            finally:
                self._lock.release()

    def __enter__(self) -> IsolatedExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _start(fds: tuple[int, ...], output: int) -> subprocess.Popen[bytes] | ForkedProcess:
    """The child serving on ``fds``: forked from the zygote, else a new interpreter."""
    zygote = shared()
    forked = zygote.fork(_serve, fds, output) if zygote is not None else None
    if forked is not None:
        return forked
    serve = f"from keypoints.isolation import _serve; _serve({', '.join(map(str, fds))})"
    return new_interpreter(serve, fds, output)


class _Child:
    """One child process and the parent's ends of its pipes."""

    def __init__(self, setup: bytes) -> None:
        requests_r, requests_w = os.pipe()
        results_r, results_w = os.pipe()
        output_r, output_w = os.pipe()
        try:
            with tempfile.TemporaryFile() as state:
                state.truncate(_STATE.size)
                fds = (requests_r, results_w, state.fileno())
                self._process = _start(fds, output_w)
                self._state = mmap.mmap(state.fileno(), _STATE.size)
        except BaseException:
            for fd in (requests_w, results_r, output_r):
                os.close(fd)
            raise
        finally:
            for fd in (requests_r, results_w, output_w):
                os.close(fd)  # the child's ends: the child holds them now
        self.pid = self._process.pid
        self._requests: Connection[bytes, bytes] = Connection(requests_w, readable=False)
        self._results: Connection[bytes, bytes] = Connection(results_r, writable=False)
        self._output = _Output(output_r)
        self._ready = False
        with contextlib.suppress(OSError):  # a child that could not start: wait_ready says
            self._requests.send_bytes(setup)  # small: fits the pipe before the child reads

    def wait_ready(self) -> None:
        if not self._ready:
            reply = self._receive(None)
            if reply[0] == "unavailable":
                raise BackendUnavailable(reply[1])
            self._ready = True

    def extract(self, source: VideoSource, settings: ExtractionSettings) -> VideoKeypoints:
        self.wait_ready()
        self._output.mark()
        try:
            self._requests.send_bytes(pickle.dumps((source, settings), pickle.HIGHEST_PROTOCOL))
        except OSError:
            raise self._died(source) from None
        reply = self._receive(source)
        if reply[0] == "done":
            return cast(VideoKeypoints, reply[1])
        if reply[0] == "raised":
            raise BackendRaised(*reply[1:])
        raise BackendUnavailable(reply[1])

    def _receive(self, source: VideoSource | None) -> tuple[Any, ...]:
        try:
            return cast(tuple[Any, ...], pickle.loads(self._results.recv_bytes()))
        except (EOFError, OSError):
            pass
        if source is not None:
            raise self._died(source)
        status = _exit_status(self._wait())
        output = self._output.lines()
        last = f"; its last output: {output[-1]}" if output else ""
        raise BackendUnavailable(f"the extraction process ended while starting ({status}){last}")

    def _died(self, source: VideoSource) -> ProcessDied:
        returncode = self._wait()
        return ProcessDied(source, returncode, _read_position(self._state), self._output.lines())

    def _wait(self) -> int | None:
        """The child's exit status, once its output is all read (its pipe closed first).

        None if it is unknown (a forked child whose zygote died first).
        """
        try:
            returncode = self._process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            returncode = self._process.wait()
        self._output.join(EXIT_WAIT_S)
        return returncode

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._process.kill()

    def discard(self) -> None:
        """Kill the child if it still runs, reap it and close every pipe; idempotent."""
        self.kill()
        self._process.wait()
        self._output.join(EXIT_WAIT_S)
        self._requests.close()
        self._results.close()
        self._state.close()


def _exit_status(returncode: int | None) -> str:
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name} ({-returncode})"
    return f"exit status {returncode}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _Output:
    """A child's output: passed on to fd 2 whole lines at a time, the last ones kept.

    ``mark`` starts a new video: ``lines`` holds what the child wrote since.
    """

    def __init__(self, fd: int) -> None:
        self._kept: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._pump, args=(fd,), name="extraction-output", daemon=True
        )
        self._thread.start()

    def _pump(self, fd: int) -> None:
        pending = b""
        try:
            while chunk := os.read(fd, 65536):
                *lines, pending = (pending + chunk).split(b"\n")
                if lines:
                    self._pass_on(lines)
        finally:
            if pending:
                self._pass_on([pending])
            os.close(fd)

    def _pass_on(self, lines: list[bytes]) -> None:
        _write_all(2, b"".join(line + b"\n" for line in lines))
        with self._lock:
            self._kept.extend(
                text for line in lines if (text := line.decode(errors="replace").strip())
            )

    def mark(self) -> None:
        with self._lock:
            self._kept.clear()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._kept)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # nowhere to write to: the lines are still kept
        while data:
            data = data[os.write(fd, data) :]


# Where the child is in the video in hand, in a small file both processes map: the child
# writes it at every frame without a system call, the parent reads it once the child died.
# frames given to the model, frames back, width, height, length of the last file's name.
_STATE = struct.Struct("<qqiii236s")


def _read_position(state: mmap.mmap) -> Position:
    given, returned, width, height, length, name = _STATE.unpack_from(state)
    last_file = name[: max(0, min(length, len(name)))].decode(errors="replace")
    return Position(given, returned, width, height, last_file)


# --- the child -------------------------------------------------------------------------


class _Tracker:
    """The child's side of the shared position."""

    def __init__(self, state: mmap.mmap) -> None:
        self._state = state
        self._given = self._returned = 0

    def reset(self) -> None:
        self._given = self._returned = 0
        _STATE.pack_into(self._state, 0, 0, 0, 0, 0, 0, b"")

    def entering(self, width: int, height: int) -> None:
        self._given += 1
        struct.pack_into("<qqii", self._state, 0, self._given, self._returned, width, height)

    def left(self) -> None:
        self._returned += 1
        struct.pack_into("<q", self._state, 8, self._returned)

    def opened(self, path: str) -> None:
        name = basename(path).encode()[:236]
        struct.pack_into("<i236s", self._state, 24, len(name), name)


class _Watched:
    """The backend, telling the tracker when a frame goes into the model and comes out."""

    def __init__(self, backend: Backend, tracker: _Tracker) -> None:
        self._backend, self._tracker = backend, tracker
        self.name = backend.name

    def settings(self) -> dict[str, Any]:
        return self._backend.settings()

    def start_video(self) -> None:
        self._backend.start_video()

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> npt.NDArray[np.float32]:
        self._tracker.entering(rgb.shape[1], rgb.shape[0])
        points = self._backend.process(rgb, timestamp_ms)
        self._tracker.left()
        return points

    def close(self) -> None:
        self._backend.close()


class _WatchedCounting(_Watched):
    """A watched backend that counts hand-label disagreements, as the one it wraps."""

    @property
    def hand_label_disagreements(self) -> int:
        return cast(CountsHandLabelDisagreements, self._backend).hand_label_disagreements


def _watched(backend: Backend, tracker: _Tracker) -> Backend:
    if isinstance(backend, CountsHandLabelDisagreements):
        return _WatchedCounting(backend, tracker)
    return _Watched(backend, tracker)


# What Beam's file systems take for a URL (its URI_SCHEMA_PATTERN); every other
# path is a local file, which it opens with io.open.
_URL = re.compile(r"[a-zA-Z][-a-zA-Z0-9+.]*://")


class _Opener:
    """The child's ``open_file``: Python's ``open`` for local paths, the parent's for URLs."""

    def __init__(self, pickled: bytes, tracker: _Tracker) -> None:
        self._pickled, self._tracker = pickled, tracker
        self._open: OpenFile | None = None

    def __call__(self, path: str) -> BinaryIO:
        self._tracker.opened(path)
        if not _URL.match(path.strip()):
            return open(path, "rb")
        if self._open is None:
            self._open = cast(OpenFile, pickle.loads(self._pickled))
        return self._open(path)


def _serve(requests_fd: int, results_fd: int, state_fd: int) -> None:
    """The child: build the backend, then extract each video the parent sends."""
    for signum in GROUP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    requests: Connection[bytes, bytes] = Connection(requests_fd, writable=False)
    results: Connection[bytes, bytes] = Connection(results_fd, readable=False)
    tracker = _Tracker(mmap.mmap(state_fd, _STATE.size))
    os.close(state_fd)

    def reply(*message: object) -> None:
        results.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def listen() -> None:
        """Requests into the inbox; when the parent is gone, exit, even mid-video."""
        try:
            while True:
                inbox.put(requests.recv_bytes())
        except (EOFError, OSError):
            os._exit(0)

    threading.Thread(target=listen, name="requests", daemon=True).start()
    make_backend, pickled_open = pickle.loads(inbox.get())
    open_file = _Opener(pickled_open, tracker)

    def build() -> Backend | None:
        try:
            return _watched(make_backend(open_file), tracker)
        except Exception as e:
            reply("unavailable", f"the backend could not be built: {type(e).__name__}: {e}")
            return None

    backend = build()
    if backend is None:
        return
    reply("ready")
    while True:
        source, settings = pickle.loads(inbox.get())
        tracker.reset()
        if backend is None and (backend := build()) is None:
            continue
        try:
            result = extract_video(source, backend, settings, open_file)
        except Exception as e:  # the backend's state is unknown: a new one for the next
            reply("raised", type(e).__name__, str(e), traceback.format_exc())
            with contextlib.suppress(Exception):
                backend.close()
            backend = None
            continue
        reply("done", result)
        del result  # not held while the next request is awaited
