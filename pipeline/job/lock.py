"""One run at a time per output root: a lock file that names the run holding it.

Two runs on one output root undo each other's work: the first to finish deletes the
staging area the other is still recording into, and the other then skips signs and exits
0. A run therefore creates ``{root}/_signkps.lock`` (``keypoints.outputs.lock_path``)
before any work, holding its host, process id, start time and command, and deletes it when
it ends, however it ends (an exception, Ctrl-C). A second run finds it and refuses in one
line that names the holder.

A lock whose holder is certainly gone is stale, and taken over with a warning: its host
is this one and its process no longer runs, or runs another program (the process's start
time differs, so the id was reused), or this machine has restarted since. A SIGKILLed run
leaves such a lock, and the next run takes it over. A holder on another host (or in
another process namespace) cannot be looked at: the message says how to remove its lock.

Local roots: the lock is created atomically (``O_CREAT | O_EXCL``), so of two runs that
start together exactly one gets it; a stale lock is removed under a second, short-lived
lock, so that two runs taking it over together cannot delete each other's new lock.
Remote roots (``gs://``) have no such primitive through Beam's FileSystems: there the lock
is written when absent and read back, which keeps a second run off a root that a first
run already holds, but two runs starting within the same second may both go ahead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

from keypoints.outputs import lock_breaker_path, lock_path
from pipeline.job.options import OptionsError
from pipeline.records.reports import utc_now
from transforms import files

logger = logging.getLogger(__name__)

# A lock found empty or torn is one being written (create_new's brief window), or one whose
# writer died mid-write: read again for this long before it is taken for the latter.
TORN_GRACE_S = 2.0
_RETRY_S = 0.1
BREAKER_STALE_S = 10.0
_SHOWN_COMMAND = 120  # characters of the holder's command in the refusal


class OutputRootInUse(OptionsError):
    """Another run holds the output root; the message names it and says what to do."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: what a person needs to find the run, and what tells it is gone.

    ``pid_start``, ``boot_id`` and ``pid_namespace`` are what Linux tells of a process
    beyond its id (None elsewhere, and in locks written by hand): a lock is judged on
    what it holds.
    """

    host: str
    pid: int
    started: str
    command: str
    token: str = ""  # this holding, so that a run only ever deletes its own lock
    pid_start: int | None = None  # clock ticks after boot (/proc/<pid>/stat, field 22)
    boot_id: str | None = None
    pid_namespace: str | None = None

    @classmethod
    def this_process(cls) -> Holder:
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            started=utc_now(),
            command=shlex.join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
            token=uuid.uuid4().hex,
            pid_start=process_start(os.getpid()),
            boot_id=_read_text("/proc/sys/kernel/random/boot_id"),
            pid_namespace=_pid_namespace(),
        )

    def encode(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode() + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> Holder | None:
        """The holder a lock file names, or None when it is torn (or not a lock at all).

        Fields this version does not know (a later one's) are left out, not taken for a
        torn lock: that would let this version take over a newer run's live lock.
        """
        try:
            found = json.loads(data)
            known = {f.name for f in fields(cls)}
            holder = cls(**{k: v for k, v in found.items() if k in known})
        except (ValueError, TypeError, AttributeError):
            return None
        valid = isinstance(holder.pid, int) and holder.pid > 0 and isinstance(holder.host, str)
        return holder if valid else None

    def describe(self) -> str:
        command = self.command
        if len(command) > _SHOWN_COMMAND:
            command = command[: _SHOWN_COMMAND - 3] + "..."
        return f"pid {self.pid} on host {self.host}, started {self.started}, `{command}`"


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot; None when not known."""
    stat = _read_text(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: there all the same
    return True


def why_gone(holder: Holder) -> str | None:
    """Why the holder's run is certainly over, or None when it may still be going."""
    here = Holder.this_process()
    if holder.host != here.host or _differ(holder.pid_namespace, here.pid_namespace):
        return None  # another machine, or another container here: its processes are not ours
    if _differ(holder.boot_id, here.boot_id):
        return "this machine has restarted since"
    if not _alive(holder.pid):
        return f"no process {holder.pid} runs on this host"
    if _differ(holder.pid_start, process_start(holder.pid)):
        return f"process {holder.pid} is another program now"
    return None


def _differ(recorded: object, now: object) -> bool:
    """Whether two facts are both known and not the same."""
    return recorded is not None and now is not None and recorded != now


def _read(path: str) -> bytes | None:
    """The lock's bytes, or None when there is no lock."""
    try:
        return files.read_bytes(path)
    except FileNotFoundError:
        return None
    except OSError:  # a bucket's "not found" is a BeamIOError
        if files.exists(path):
            raise
        return None


@contextlib.contextmanager
def _breaking(output_root: str) -> Iterator[bool]:
    """Whether this process may remove the root's stale lock now: one at a time may.

    Whoever removes a stale lock reads it again first, under the breaker (another lock,
    held for an instant), and removes it only if it is still the one judged stale: a run
    that took it over meanwhile keeps its new lock. A breaker left by a process killed in
    that instant is removed once it is BREAKER_STALE_S old.
    """
    breaker = lock_breaker_path(output_root)
    if not files.create_new(breaker, b""):
        found = files.signature(breaker)
        if found is not None and time.time() - found[1] > BREAKER_STALE_S:
            files.delete_if_present([breaker])
        yield False
        return
    try:
        yield True
    finally:
        files.delete_if_present([breaker])


def _refusal(output_root: str, holder: Holder | None) -> OutputRootInUse:
    who = holder.describe() if holder else "its lock kept changing while it was read"
    return OutputRootInUse(
        f"output root {output_root} is in use by another run ({who}); "
        f"wait for it, or delete {lock_path(output_root)} if that run is gone"
    )


def acquire(output_root: str, attempts: int = 50) -> Holder:
    """Take the output root's lock for this process; OutputRootInUse when a live run has it.

    Each attempt creates the lock, or looks at the one there: a live holder is refused, a
    gone one removed, a torn one read again until TORN_GRACE_S has passed.
    """
    me = Holder.this_process()
    path, mine = lock_path(output_root), me.encode()
    torn_since: float | None = None
    found: Holder | None = None
    for _ in range(attempts):
        files.create_new(path, mine)
        raw = _read(path)  # read back: on a bucket, another run's write may have replaced ours
        if raw == mine:
            return me
        if raw is None:
            continue  # released meanwhile
        found = Holder.decode(raw)
        if found is None:
            torn_since = torn_since or time.monotonic()
            if time.monotonic() - torn_since < TORN_GRACE_S:
                time.sleep(_RETRY_S)
                continue
            reason = "its lock file is torn or empty"
        else:
            gone = why_gone(found)
            if gone is None:
                raise _refusal(output_root, found)
            reason = f"{found.describe()}: {gone}"
        with _breaking(output_root) as breaking:
            if breaking and _read(path) == raw:
                logger.warning(
                    "output root %s: taking over the lock of a run that is gone (%s)",
                    output_root,
                    reason,
                )
                files.delete([path])
        if not breaking:
            time.sleep(_RETRY_S)
    raise _refusal(output_root, found)


def release(output_root: str, me: Holder) -> None:
    """Delete the lock if it is still this holding's (never another run's)."""
    path = lock_path(output_root)
    if _read(path) == me.encode():
        files.delete([path])
    else:
        logger.warning(
            "output root %s: the lock is no longer this run's; left as it is", output_root
        )


@contextlib.contextmanager
def held(output_root: str) -> Iterator[Holder]:
    """The output root's lock, from entering to leaving, whatever ends the block."""
    me = acquire(output_root)
    try:
        yield me
    finally:
        release(output_root, me)
