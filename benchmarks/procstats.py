"""Peak memory of a process tree, read from /proc while it runs (Linux only).

``VmHWM`` is a process's own high-water mark of resident memory, so sampling it every
few hundred milliseconds still catches peaks between samples, as long as the process is
sampled once before it exits (worker processes live for the whole run).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field


def _children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (a child belongs to the thread that forked it)."""
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


def _tree(root: int) -> list[int]:
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue.extend(_children(pid))
    return pids


def _peak_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class TreeSample:
    root: int = 0
    peaks_kb: dict[int, int] = field(default_factory=dict)
    commands: dict[int, str] = field(default_factory=dict)

    def worker_peak_mb(self) -> float:
        """The largest peak among the processes the root started (its workers)."""
        values = [kb for pid, kb in self.peaks_kb.items() if pid != self.root]
        return round(max(values, default=0) / 1024, 1)

    def root_peak_mb(self) -> float:
        return round(self.peaks_kb.get(self.root, 0) / 1024, 1)


def run_measured(
    cmd: list[str],
    env: dict[str, str] | None = None,
    interval: float = 0.2,
    log_path: str | None = None,
) -> tuple[float, TreeSample, int]:
    """Run ``cmd`` to completion; return wall seconds, per-process peak RSS, exit code."""
    sample = TreeSample()
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env or os.environ.copy(), stdout=log, stderr=log)
    sample.root = proc.pid
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for pid in _tree(proc.pid):
                kb = _peak_rss_kb(pid)
                if kb is not None:
                    sample.peaks_kb[pid] = max(kb, sample.peaks_kb.get(pid, 0))
                    sample.commands.setdefault(pid, _command(pid))
            time.sleep(interval)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    code = proc.wait()
    wall = time.perf_counter() - started
    done.set()
    thread.join()
    if log_path:
        log.close()  # type: ignore[union-attr]
    return wall, sample, code
