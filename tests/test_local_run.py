"""The local run's terminal: progress counting and the stderr filter."""

import contextlib
import io
import logging
import os
import subprocess
import sys

import pytest

from keypoints import zygote
from keypoints.corpus import SignKey
from pipeline.job.run import run
from pipeline.local.launcher import local_args, start_extraction_zygote
from pipeline.local.progress import ProgressMonitor, ProgressState, watch_local_run
from pipeline.local.quiet import KnownNoise, filtered_stderr
from tests.conftest import REPO
from transforms.progress import PROGRESS_ENV, ProgressSender

NOISE = (
    "W0000 00:00:1795678667.862574   15491 inference_feedback_manager.cc:114] Feedback manager "
    "requires a model with a single signature inference. Disabling support for feedback tensors."
)


def test_progress_counts_signs_videos_and_frames():
    state = ProgressState(total_signs=3)
    state.apply({"event": "sign", "sign": "01-train/0001", "videos": 2, "skipped": False})
    state.apply({"event": "sign", "sign": "01-train/0002", "videos": 0, "skipped": True})
    state.apply({"event": "video", "sign": "01-train/0001", "frames": 9, "ok": True})
    assert (state.signs_done, state.videos_done, state.videos_total) == (1, 1, 2)
    state.apply({"event": "video", "sign": "01-train/0001", "frames": 5, "ok": False})
    assert (state.signs_done, state.videos_failed, state.frames) == (2, 1, 14)
    assert "signs 2/3, 1 already done, 1 failed" in state.describe()


def test_monitor_counts_every_event_sent_before_it_closes():
    """Closing must not drop the last workers' events, nor wait for a timeout to see them."""
    events = [{"event": "sign", "sign": "01-train/0001", "videos": 500, "skipped": False}]
    events += [{"event": "video", "sign": "01-train/0001", "frames": 3, "ok": True}] * 500
    with ProgressMonitor(total_signs=1) as monitor:
        sender = ProgressSender(monitor.socket_path)
        for event in events:
            sender.send(**event)
        sender.close()
    assert (monitor.state.videos_done, monitor.state.frames) == (500, 1500)
    assert monitor.state.signs_done == 1
    assert not os.path.exists(monitor.socket_path)


def test_filter_drops_only_known_noise_also_from_child_processes(capfd):
    with filtered_stderr() as terminal:
        child = f"import sys; sys.stderr.write({NOISE!r} + '\\n' + 'worker: real problem\\n')"
        subprocess.run([sys.executable, "-c", child], check=True)
        os.write(2, b"driver: kept\n" + NOISE.encode() + b"\n")
        terminal.write("progress bar line\n")
    err = capfd.readouterr().err
    assert "worker: real problem" in err and "driver: kept" in err
    assert "progress bar line" in err and "Feedback manager" not in err


@pytest.mark.slow
def test_worker_processes_report_progress_through_the_environment_hook(make_corpus, tmp_path,
                                                                       signer_frames):  # fmt: skip
    """Events reach the driver from real worker processes, which only inherit the socket's name."""
    corpus = make_corpus({
        SignKey("01", "train", 1): {"a": signer_frames[:3], "b": signer_frames[3:5]},
        SignKey("01", "train", 2): {"c": signer_frames[5:9]},
    })  # fmt: skip
    seen: dict[str, ProgressState] = {}

    @contextlib.contextmanager
    def watch(total_signs):
        with watch_local_run(total_signs) as monitor:
            yield monitor
        seen["state"] = monitor.state

    args = [f"--input_root={corpus}", f"--output_root={tmp_path / 'out'}", "--signers", "01",
            "--splits", "train", "--selected_signs_to=3"]  # fmt: skip
    outcome = run(local_args(args, workers=2), watch_local=watch)
    state = seen["state"]
    assert (state.total_signs, state.signs_done) == (3, 3)  # sign 3 has no folder: done at once
    assert (state.videos_total, state.videos_done, state.videos_failed) == (3, 3, 0)
    assert state.frames == outcome.counters["frames"] == 9
    assert state.signs_written == outcome.counters["signs_written"] == 2  # as they happened
    assert PROGRESS_ENV not in os.environ  # restored after the run


# More than a pipe holds (64 KiB) written to fd 2 under the filter, with no one left to read
# the real stderr.
_TERMINAL_GONE = """
import os, sys
from pipeline.local.quiet import filtered_stderr
with filtered_stderr():
    for _ in range(4096):
        os.write(2, b"worker: a line of 64 bytes, written while no one reads stderr .\\n")
print("all written")
"""


def test_a_closed_terminal_never_blocks_the_writers_to_fd_2():
    child = subprocess.Popen(
        [sys.executable, "-c", _TERMINAL_GONE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert child.stderr is not None
    child.stderr.close()  # before the child has imported anything: its stderr is gone
    try:
        stdout, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, stdout) == (0, b"all written\n")


def test_interleaved_tflite_lines_of_two_workers_are_noise_too(capfd):
    with filtered_stderr():
        os.write(2, b"INFO: INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"Created TensorFlow Lite XNNPACK delegate for CPU.\nworker: kept\n")
    err = capfd.readouterr().err
    assert err == "worker: kept\n"


def test_beams_import_time_log_line_is_dropped_and_others_kept():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(KnownNoise())
    log = logging.getLogger("signkps-test-noise")
    log.addHandler(handler)
    try:
        log.warning(
            "apitools not found, and bigquery client libraries are not available despite "
            "the import not raising an ImportError."
        )
        log.warning("a real problem")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "a real problem\n"


@pytest.mark.parametrize(
    ("argv", "mode", "zygote_started"),
    [
        ([], "multi_threading", True),
        (["--direct_running_mode=in_memory"], "in_memory", True),
        (["--no_isolate_backend"], "multi_processing", False),
        (["--direct_running_mode", "multi_processing"], None, False),
    ],
)
def test_the_launcher_starts_a_zygote_exactly_when_its_workers_are_threads_with_isolation(
    monkeypatch, argv, mode, zygote_started
):
    """Worker processes fork from zygotes of their own; without isolation none is used."""
    monkeypatch.setattr(zygote, "_shared", None)
    try:
        start_extraction_zygote(argv)
        assert (zygote._shared is not None) == zygote_started
    finally:
        zygote.stop_shared()
    if mode is not None:  # the default the run gets, or the user's own
        assert f"--direct_running_mode={mode}" in local_args(argv, workers=2)
