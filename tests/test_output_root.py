"""The output root: refused before any work when it cannot be written, held by one run at a
time, and a disk that fills up mid-run stops the run in one line, keeping what it wrote.

Real ``signkps local`` runs (2 worker processes, real MediaPipe) on a small corpus of real
frames. The read-only and the full file systems are real mounts (a read-only tmpfs; a small
tmpfs filled up while the run is paused with SIGSTOP), which needs root: elsewhere those
tests are skipped with the reason, and in CI they fail. The lock's rules are checked
in-process too, on locks written by hand and by racing processes.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from keypoints.outputs import lock_path
from pipeline.job import lock
from pipeline.job.lock import Holder, OutputRootInUse
from pipeline.job.output_root import disk_full
from pipeline.job.run import run
from pipeline.local.launcher import local_args
from pipeline.local.progress import watch_local_run
from pipeline.tools import verify
from tests.conftest import REPO, SIGNKPS
from tests.support import kill_group_if_running, small_corpus, unwritten_records, written_signs

pytestmark = pytest.mark.slow

SIGNS, VIDEOS_PER_SIGN = 4, 3
TOTAL = SIGNS * VIDEOS_PER_SIGN


def selection(corpus: Path, output: Path, signs: int = SIGNS) -> list[str]:
    return [f"--input_root={corpus}", f"--output_root={output}", "--signers", "01",
            "--splits", "train", f"--selected_signs_to={signs}"]  # fmt: skip


def signkps(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SIGNKPS, *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def launch(corpus: Path, output: Path) -> subprocess.Popen[str]:
    """``signkps local`` in a process group of its own, so that it can be paused whole."""
    return subprocess.Popen(
        [SIGNKPS, "local", *selection(corpus, output), "--direct_num_workers=2"],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, f"the run ended first: {process.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def dead_pid() -> int:
    """The id of a process of this host that has exited."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, signer_frames) -> Path:
    root = tmp_path_factory.mktemp("output_root") / "corpus"
    return small_corpus(root, signer_frames, SIGNS, VIDEOS_PER_SIGN)


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Callable[[str, str], Path]]:
    """Mounts a tmpfs with the given options (``ro``, ``size=8m``) under tmp_path."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)]
        done = (
            subprocess.run(command, capture_output=True, text=True)
            if shutil.which("mount")
            else None
        )
        if done is None or done.returncode != 0:
            why = done.stderr.strip() if done else "no mount command"
            reason = f"cannot mount a tmpfs here (needs root): {why}"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_output_root_is_refused_in_one_line_before_any_work(corpus, tmpfs):
    readonly = tmpfs("readonly", "ro")
    for root in (readonly, readonly / "new" / "out"):  # there, and to be created
        done = signkps("local", *selection(corpus, root))
        assert done.returncode == 2, done.stderr[-3000:]
        assert done.stderr.splitlines() == [
            f"signkps: output root {root} cannot be written: [Errno 30] Read-only file system"
        ]
        assert done.stdout == ""  # no summary: nothing ran
    assert list(readonly.iterdir()) == []


def test_a_second_run_on_a_held_root_is_refused_and_the_first_finishes(corpus, tmp_path):
    """The first run is paused (SIGSTOP, whole group) while the second one starts: holding
    its lock, whatever the timing; then it goes on and finishes as if nothing happened."""
    output = tmp_path / "out"
    first = launch(corpus, output)
    try:
        wait_for(Path(lock_path(str(output))).exists, first)
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            second = signkps("local", *selection(corpus, output))
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=300)
    finally:
        kill_group_if_running(first)
    assert second.returncode == 2, second.stderr[-3000:]
    (line,) = second.stderr.splitlines()
    assert line.startswith(
        f"signkps: output root {output} is in use by another run "
        f"(pid {first.pid} on host {socket.gethostname()}, started "
    ), line
    assert "`signkps local --input_root=" in line
    assert line.endswith(f"; wait for it, or delete {output}/_signkps.lock if that run is gone")
    assert second.stdout == ""

    assert first.returncode == 0, stderr[-3000:]
    assert stderr == "" and f"signs   written {SIGNS}," in stdout
    assert len(written_signs(output)) == SIGNS
    assert not (output / "_signkps.lock").exists() and not (output / "_staging").exists()
    assert verify.main([f"--output_root={output}"]) == 0


def test_a_stale_lock_is_taken_over_with_a_warning(corpus, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    pid = dead_pid()
    gone = {"host": socket.gethostname(), "pid": pid, "started": "2026-01-01T00:00:00+00:00",
            "command": "signkps local --output_root=out"}  # fmt: skip
    (output / "_signkps.lock").write_text(json.dumps(gone))
    done = signkps("local", *selection(corpus, output, signs=1), "--direct_num_workers=1")
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stderr.splitlines()
    assert line == (
        f"WARNING pipeline.job.lock: output root {output}: taking over the lock of a run that "
        f"is gone (pid {pid} on host {gone['host']}, started {gone['started']}, "
        f"`{gone['command']}`: no process {pid} runs on this host)"
    )
    assert written_signs(output) == {"01-train/0001"}
    assert not (output / "_signkps.lock").exists()


def fill(folder: Path) -> Path:
    """Write a file until the file system under ``folder`` has no free block left."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    return filler


FULL_LINE = re.compile(
    r"signkps: no space left on device writing (?P<path>\S+); free some space and run the "
    r"same command again: the (?P<signs>\d+) signs? written and (?P<videos>\d+) videos? "
    r"recorded so far are kept"
)


def test_a_full_disk_stops_the_run_in_one_line_and_a_rerun_reuses_what_it_kept(corpus, tmpfs):
    output = tmpfs("small", "size=8m")
    launched = launch(corpus, output)
    try:
        # Paused once a sign is written and a video of another is recorded, to fill the disk.
        wait_for(lambda: bool(written_signs(output) and unwritten_records(output)), launched)
        os.killpg(launched.pid, signal.SIGSTOP)
        filler = fill(output)
        os.killpg(launched.pid, signal.SIGCONT)
        stdout, stderr = launched.communicate(timeout=300)
    finally:
        kill_group_if_running(launched)
    assert launched.returncode == 1, stderr[-3000:]
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-3000:]
    (line,) = lines
    stopped = FULL_LINE.fullmatch(line)
    assert stopped, line
    assert stopped["path"].startswith(f"{output}/") and stdout == ""

    written, records = written_signs(output), unwritten_records(output)
    assert 1 <= len(written) < SIGNS and records
    assert int(stopped["signs"]) == len(written)
    assert int(stopped["videos"]) == len(list(output.glob("_staging/*/*/[0-9a-f]*.json")))
    for npz in output.glob("*/*.npz"):  # each sign written before the disk filled is whole
        with np.load(npz, allow_pickle=False) as arrays:
            assert len(arrays.files) == VIDEOS_PER_SIGN
            assert all(arrays[name].shape == (2, 184, 4) for name in arrays.files)
    for record in records:  # and so is each video recorded for the rest
        if json.loads(record.read_text())["array"]:
            assert np.load(record.with_suffix(".npy")).shape == (2, 184, 4)
    assert not (output / "_signkps.lock").exists()

    filler.unlink()
    c = run(local_args(selection(corpus, output), workers=2)).counters
    assert c["signs_skipped"] == len(written)
    assert c["videos_reused"] == len(records), c
    assert c["videos_reused"] + c["videos_extracted"] == TOTAL - len(written) * VIDEOS_PER_SIGN
    assert verify.main([f"--output_root={output}"]) == 0


# The lock's rules, in-process, on locks written by hand.


def write_lock(root: Path, **fields: object) -> None:
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": "then",
              "command": "signkps local"}  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "_signkps.lock").write_text(json.dumps({**holder, **fields}))


def test_a_live_holder_is_refused_and_a_gone_one_taken_over(tmp_path):
    root = tmp_path / "out"
    for fields in ({}, {"written_by": "a later version"}):  # this very process: alive
        write_lock(root, **fields)
        with pytest.raises(OutputRootInUse, match=f"pid {os.getpid()} on host"):
            lock.acquire(str(root))
    write_lock(root, host="another-host", pid=dead_pid())  # cannot be looked at from here
    with pytest.raises(OutputRootInUse, match="on host another-host"):
        lock.acquire(str(root))
    here = Holder.this_process()
    for gone in (
        {"pid": dead_pid()},
        {"pid_start": (here.pid_start or 0) + 1},  # the id is another process's now
        {"boot_id": "another-boot"},
    ):
        write_lock(root, **gone)
        with lock.held(str(root)) as me:
            assert Holder.decode((root / "_signkps.lock").read_bytes()) == me
        assert not (root / "_signkps.lock").exists()


def test_the_lock_goes_however_the_run_ends_and_only_ever_its_own(tmp_path):
    root = str(tmp_path / "out")
    for raised in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(raised)), lock.held(root):
            raise raised
        assert not os.path.exists(lock_path(root))
    with lock.held(root):
        write_lock(Path(root), command="someone else's")  # replaced by hand meanwhile
    assert json.loads(Path(lock_path(root)).read_text())["command"] == "someone else's"


def test_a_torn_lock_is_read_again_then_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "TORN_GRACE_S", 0.3)
    root = tmp_path / "out"
    root.mkdir()
    (root / "_signkps.lock").write_bytes(b'{"host": "vm", "pi')  # a writer killed mid-write
    started = time.monotonic()
    with lock.held(str(root)):
        assert time.monotonic() - started >= 0.3


def test_of_runs_racing_for_a_stale_lock_exactly_one_gets_it(tmp_path):
    """Threads of this process race as processes would: each holding is its own."""
    root = str(tmp_path / "out")
    write_lock(Path(root), pid=dead_pid())
    ready, results = threading.Barrier(6), []

    def race() -> None:
        ready.wait()
        try:
            with lock.held(root):
                results.append("won")
                time.sleep(1.0)  # held while the others try
        except OutputRootInUse:
            results.append("refused")

    racers = [threading.Thread(target=race) for _ in range(6)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    assert sorted(results) == ["refused"] * 5 + ["won"], results
    assert os.listdir(root) == []  # the stale lock set aside is gone too, and the new one


def test_a_full_disk_is_found_in_the_exception_or_in_a_workers_traceback_text():
    here = OSError(errno.ENOSPC, "No space left on device", "/out/01-train/0001.npz")
    assert disk_full(RuntimeError("wrapped")) is None
    try:
        raise RuntimeError("the job failed") from here
    except RuntimeError as e:
        found = disk_full(e)
    assert found is not None and found.path == "/out/01-train/0001.npz"
    text = (  # what the local runner raises: the worker's traceback, cause first
        "Traceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left on "
        "device\n\nThe above exception was the direct cause of the following exception:\n"
        "...\nRuntimeError: OSError: [Errno 28] No space left on device: "
        "'/out/_staging/01-train/0002/ab12.npy' [while running 'ExtractKeypoints/Extract']"
    )
    found = disk_full(RuntimeError(text))
    assert found is not None and found.path == "/out/_staging/01-train/0002/ab12.npy"
    assert found.strerror == "No space left on device"
    assert disk_full(RuntimeError("OSError: [Errno 30] Read-only file system: '/x'")) is None


# What a Beam worker prints to fd 2 when its bundle fails on a full disk: a chained
# traceback, then a blank line.
FULL_DISK_TRACEBACK = (
    'Traceback (most recent call last):\n  File "files.py", line 72, in write\n'
    "OSError: [Errno 28] No space left on device\n\nThe above exception was the direct "
    'cause of the following exception:\n\nTraceback (most recent call last):\n  File "'
    'extract.py", line 96, in process\nOSError: [Errno 28] No space left on device: '
    "'/out/_staging/01-train/0001/ab.npy'\n"
)


def test_a_workers_traceback_of_a_full_disk_is_dropped_and_any_other_passed_on(capfd):
    """Under a local run's terminal filter, from a worker process."""
    full = FULL_DISK_TRACEBACK
    other = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad\n'
    with watch_local_run(total_signs=1):
        child = (
            f"import sys; print({full!r}, file=sys.stderr); print({other!r}, file=sys.stderr); "
            f"sys.stderr.write('worker: after\\n'); print({full!r}, file=sys.stderr)"
        )
        subprocess.run([sys.executable, "-c", child], check=True)
    assert capfd.readouterr().err == other + "\n" + "worker: after\n"


# A driver whose run fails while a worker thread (as Beam's multi_threading workers are:
# daemon threads) is still in its bundle: that worker fails on the same full disk after the
# run has said its one line, as the process exits, and prints and logs it as Beam's
# sdk_worker does. The contexts are the ones a local run is in (pipeline.job.run).
STRAGGLER = f"""
import logging, sys, threading
from pipeline.job.output_root import stops_on_full_disk
from pipeline.local.progress import watch_local_run
from pipeline.usage import RunStopped

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
went_on = threading.Event()
full = {FULL_DISK_TRACEBACK!r}

def straggler():
    went_on.wait()
    print(full, file=sys.stderr)
    logging.getLogger("apache_beam.runners.worker.sdk_worker").error(
        "Error processing instruction %s. Original traceback is\\n%s\\n", "bundle-2", full
    )
    print("worker: a line of its own", file=sys.stderr)

worker = threading.Thread(target=straggler, daemon=True)
worker.start()
try:
    with stops_on_full_disk(sys.argv[1], "npz"), watch_local_run(total_signs=1):
        raise RuntimeError(full)
except RunStopped as e:
    print(f"signkps: {{e}}", file=sys.stderr)
went_on.set()
worker.join()
sys.stderr.write("driver: the end, no newline")
"""


def test_a_worker_that_fails_after_the_run_has_failed_adds_nothing_but_its_own_lines(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", STRAGGLER, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    stopped, *rest = done.stderr.splitlines()
    assert FULL_LINE.fullmatch(stopped), done.stderr
    assert rest == ["worker: a line of its own", "driver: the end, no newline"], done.stderr
