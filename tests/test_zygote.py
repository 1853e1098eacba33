"""The zygote (keypoints.zygote): forked children that behave like new interpreters.

Each test starts a zygote of its own with a light preload (tests/zygote), so the
children's behaviour is tested, not MediaPipe's import; the extraction processes a real
zygote forks are tested in tests/test_isolation.py, keypoints compared bit for bit.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
from collections.abc import Iterator

import pytest

from keypoints import zygote
from keypoints.zygote import ForkedProcess, Zygote
from tests.support import parent_of
from tests.zygote import entries

LIGHT = ("tests.zygote.entries",)


@pytest.fixture
def light() -> Iterator[Zygote]:
    started = Zygote(LIGHT)
    try:
        yield started
    finally:
        started.close()


def fork(start: Zygote, entry, *fds: int) -> tuple[ForkedProcess, int]:
    """A child of ``start`` running ``entry(*fds)``, and the read end of its output."""
    output_r, output_w = os.pipe()
    try:
        child = start.fork(entry, fds, output_w)
    finally:
        os.close(output_w)
    assert child is not None, "the zygote made no child"
    return child, output_r


def read_all(fd: int, timeout: float = 30.0) -> bytes:
    data = b""
    while select.select([fd], [], [], timeout)[0] and (chunk := os.read(fd, 65536)):
        data += chunk
    os.close(fd)
    return data


def test_a_child_sees_the_requesters_directory_and_environment_of_the_moment(
    light, tmp_path, monkeypatch
):
    # Both changed after the zygote started: a forked child must not see the zygote's.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(entries.ENV_PROBE, "set after the zygote started")
    monkeypatch.syspath_prepend(str(tmp_path / "on-the-path"))
    state_r, state_w = os.pipe()
    child, output = fork(light, entries.report_state, state_w)
    os.close(state_w)
    state = json.loads(read_all(state_r))
    assert state == {
        "ppid": light.pid,
        "cwd": str(tmp_path),
        "probe": "set after the zygote started",
        "path_head": str(tmp_path / "on-the-path"),
    }
    assert read_all(output) == b"a line on the child's output\n"
    assert child.wait(timeout=30) == 0


def test_exit_statuses_are_those_subprocess_gives(light):
    aborted, output = fork(light, entries.abort, 0)
    read_all(output)
    assert aborted.wait(timeout=30) == -signal.SIGABRT

    code_r, code_w = os.pipe()
    os.write(code_w, b"7")
    exited, output = fork(light, entries.exit_with, code_r)
    os.close(code_r)
    read_all(output)
    assert exited.wait(timeout=30) == 7
    os.close(code_w)

    raised, output = fork(light, entries.raise_error, 0)
    assert "RuntimeError: raised in the child" in read_all(output).decode()
    assert raised.wait(timeout=30) == 1


def sleeping(start: Zygote) -> tuple[ForkedProcess, int]:
    """A child of ``start`` that sleeps, once it runs, and the read end of its output."""
    ready_r, ready_w = os.pipe()
    sleeper, output = fork(start, entries.sleep, ready_w)
    os.close(ready_w)
    assert os.read(ready_r, 8) == b"sleeping"
    os.close(ready_r)
    return sleeper, output


def test_kill_and_wait_with_a_timeout(light):
    sleeper, output = sleeping(light)
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=0.1)
    sleeper.kill()
    assert sleeper.wait(timeout=30) == -signal.SIGKILL
    read_all(output)
    sleeper.kill()  # ended and known to be: nothing to kill, no error


def test_a_child_outlives_its_zygote_only_its_status_is_lost(light):
    sleeper, output = sleeping(light)
    os.kill(light.pid, signal.SIGKILL)
    assert sleeper.wait(timeout=30) is None  # the zygote died before it could tell
    light._process.wait()
    assert parent_of(sleeper.pid) != light.pid  # re-parented, alive
    os.kill(sleeper.pid, signal.SIGKILL)
    read_all(output)
    assert light.fork(entries.abort, (0,), 2) is None  # a dead zygote makes no child


def test_a_zygote_with_a_thread_running_refuses_to_fork(monkeypatch):
    """A fork copies only the forking thread: a library's thread and its locks would be lost."""
    monkeypatch.setattr(zygote, "_shared", None)
    threaded = zygote.shared(("tests.zygote.starts_a_thread",))
    try:
        assert threaded is not None
        assert threaded.fork(entries.abort, (0,), 2) is None
        assert threaded.refused()
        # Nor is a new one started in its place: extraction processes start as interpreters.
        assert zygote.shared() is None
    finally:
        threaded.close()


def test_a_zygote_that_died_is_replaced(monkeypatch):
    monkeypatch.setattr(zygote, "_shared", None)
    first = zygote.shared(LIGHT)
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    first._process.wait()
    second = zygote.shared(LIGHT)
    try:
        assert second is not None and second.pid != first.pid
        child, output = fork(second, entries.abort, 0)
        read_all(output)
        assert child.wait(timeout=30) == -signal.SIGABRT
    finally:
        zygote.stop_shared()
