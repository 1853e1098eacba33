"""Crash isolation: a crash in native code costs the video in hand, never the run.

MediaPipe's own OpenCV aborts the process on a frame 32,767 pixels wide or more (``remap``:
SHRT_MAX), and any native library can segfault or be killed for memory. Extraction runs in
a child process of each worker (keypoints.isolation); these tests kill that child with
real signals, from outside and from inside MediaPipe, and check that the video in hand
fails with the signal named, the next video is extracted as if nothing had happened, the
child never outlives its parent, and a real run (``signkps local``) with one video that
crashes MediaPipe finishes, exit status 0, with every other video written.

How the crashes are made, without a test hook in the product: the unit tests hand
IsolatedExtractor a test backend factory (tests/support.py, PoisonedHolistic) that, on a
"poison" frame of one colour, gives the real MediaPipe a 32,800-pixel-wide image (a real
abort inside MediaPipe, with OpenCV's message), or announces itself and waits for the test
to kill it (SIGKILL: what the kernel's out-of-memory killer sends; SIGABRT: what abort()
raises), or raises. The end-to-end test runs the real console script, which takes no test
backend, so tests/crash_hook/sitecustomize.py patches Holistic the same way in every
Python process the run starts (PYTHONPATH). The poison frame is an ordinary small image:
no check of frame sizes before native code keeps it from the model.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from keypoints import layout as L
from keypoints import zygote
from keypoints.backends import create_backend
from keypoints.corpus import SignKey
from keypoints.extract import ExtractionSettings, VideoKeypoints, extract_frames, extract_video
from keypoints.frames import VideoSource
from keypoints.isolation import (
    BackendRaised,
    BackendUnavailable,
    IsolatedExtractor,
    ProcessDied,
)
from keypoints.outputs import video_record_path
from keypoints.zygote import Zygote
from pipeline.tools import verify
from tests.conftest import REPO, SIGNKPS, read_rgb
from tests.support import (
    ABORT_RGB,
    HANG_RGB,
    RAISE_RGB,
    PoisonedHolistic,
    group_alive,
    parent_of,
    unbuildable_backend,
    write_poison_frame,
)
from transforms.extract import MAX_PROCESS_DEATHS, ExtractKeypointsDoFn
from transforms.npz_sink import write_sign_npz
from transforms.staging import source_signature

SETTINGS = ExtractionSettings()
READ = functools.partial(open, mode="rb")  # picklable, as the child needs its open_file
NATIVE_CRASH = "a crash in native code (MediaPipe, OpenCV or FFmpeg)"
KILLED = "killed outright, most often by the kernel when memory ran out"


def frame_folder(folder: Path, name: str, frames: list[Path]) -> VideoSource:
    """A frame-folder video of copies of ``frames``: 00000.jpg, 00001.png, ..."""
    target = folder / name
    target.mkdir(parents=True)
    paths = []
    for i, frame in enumerate(frames):
        paths.append(str(shutil.copy(frame, target / f"{i:05d}{frame.suffix}")))
    return VideoSource(name, str(target), True, tuple(paths))


def poisoned(folder: Path, signer_frames: list[Path], colour: tuple[int, int, int]) -> VideoSource:
    """Three frames, the second a poison frame (its file: 00001.png)."""
    folder.mkdir(parents=True, exist_ok=True)
    poison = write_poison_frame(folder / "poison-{:02x}{:02x}{:02x}.png".format(*colour), colour)
    return frame_folder(folder, "doomed", [signer_frames[0], poison, signer_frames[1]])


@pytest.fixture(scope="module")
def good(tmp_path_factory, signer_frames) -> VideoSource:
    return frame_folder(tmp_path_factory.mktemp("good"), "good", signer_frames)


@pytest.fixture(scope="module")
def unisolated(good) -> VideoKeypoints:
    """The good video extracted in this process, the way a worker without isolation does."""
    backend = create_backend("holistic")
    try:
        return extract_video(good, backend, SETTINGS, READ)
    finally:
        backend.close()


def assert_same(result: VideoKeypoints, expected: VideoKeypoints) -> None:
    assert result.ok and expected.points is not None
    np.testing.assert_array_equal(result.points, expected.points)  # bit for bit
    got, want = result.report.to_dict(), expected.report.to_dict()
    assert {**got, "seconds": 0} == {**want, "seconds": 0}


def wait_for(marker: Path, timeout: float = 120.0) -> int:
    """The process id a HANG_RGB frame wrote into ``marker``, once it is there."""
    deadline = time.monotonic() + timeout
    while not (marker.exists() and marker.read_text()):
        assert time.monotonic() < deadline, "the poison frame never reached the model"
        time.sleep(0.005)
    return int(marker.read_text())


def shared_zygote() -> Zygote:
    """This process's zygote, which forks the extractors' children."""
    found = zygote.shared()
    assert found is not None
    return found


def gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` ends (or is a zombie, dead but not reaped) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize(
    ("signum", "cause"),
    [(signal.SIGKILL, KILLED), (signal.SIGABRT, NATIVE_CRASH)],
    ids=["sigkill", "sigabrt"],
)
def test_a_child_killed_mid_video_fails_that_video_and_the_next_is_untouched(
    tmp_path, signer_frames, good, unisolated, signum, cause
):
    marker = tmp_path / "in-the-model"
    doomed = poisoned(tmp_path, signer_frames, HANG_RGB)
    with IsolatedExtractor(PoisonedHolistic(str(marker)), READ) as extractor:
        assert_same(extractor.extract(good, SETTINGS), unisolated)
        first = extractor.pid
        assert first is not None and parent_of(first) == shared_zygote().pid
        killer = threading.Thread(target=lambda: os.kill(wait_for(marker), signum))
        killer.start()
        with pytest.raises(ProcessDied) as died:
            extractor.extract(doomed, SETTINGS)
        killer.join()
        assert died.value.signal == signum
        assert str(died.value).startswith(
            f"the extraction process died with signal {signal.Signals(signum).name} ({signum}) "
            f"while processing video 'doomed' ({doomed.location}), in the model, on the 2nd "
            f"frame to reach it (640x360 pixels, read from 00001.png): {cause}"
        )
        # The next video, on the same extractor, in a new child: as if nothing had happened.
        assert_same(extractor.extract(good, SETTINGS), unisolated)
        assert extractor.pid not in (None, first)
    assert first is not None and gone(first)


def test_a_real_crash_in_mediapipe_is_named_with_its_last_words_and_the_child_replaced(
    tmp_path, signer_frames, good, unisolated
):
    with IsolatedExtractor(PoisonedHolistic(str(tmp_path / "unused")), READ) as extractor:
        with pytest.raises(ProcessDied) as died:
            extractor.extract(poisoned(tmp_path / "abort", signer_frames, ABORT_RGB), SETTINGS)
        assert died.value.signal == signal.SIGABRT
        message = str(died.value)
        where = (
            f"on the 2nd frame to reach it (640x360 pixels, read from 00001.png): {NATIVE_CRASH}"
        )
        assert where in message
        assert "; its last output: what():  OpenCV(" in message
        assert "SHRT_MAX" in message and message.endswith("in function 'remap'")
        assert "terminate called after throwing an instance of 'cv::Exception'" in died.value.output

        # A backend that raises (in Python) is reported as such; the child replaces it.
        with pytest.raises(BackendRaised) as raised:
            extractor.extract(poisoned(tmp_path / "raise", signer_frames, RAISE_RGB), SETTINGS)
        assert (raised.value.type_name, str(raised.value)) == ("RuntimeError", "poison frame")
        assert "Traceback" in raised.value.details
        child = extractor.pid
        assert_same(extractor.extract(good, SETTINGS), unisolated)
        assert extractor.pid == child


def test_a_zygote_that_dies_costs_no_video(tmp_path, good, unisolated):
    """Killed with its child mid-life: the child works on, its successor comes from a new
    zygote, and both give the keypoints of an extraction in this process."""
    with IsolatedExtractor(PoisonedHolistic(str(tmp_path / "unused")), READ) as extractor:
        assert_same(extractor.extract(good, SETTINGS), unisolated)
        first, doomed = extractor.pid, shared_zygote()
        os.kill(doomed.pid, signal.SIGKILL)
        assert gone(doomed.pid)
        assert_same(extractor.extract(good, SETTINGS), unisolated)
        assert extractor.pid == first
    with IsolatedExtractor(PoisonedHolistic(str(tmp_path / "unused")), READ) as extractor:
        assert_same(extractor.extract(good, SETTINGS), unisolated)
        assert extractor.pid is not None
        assert parent_of(extractor.pid) == shared_zygote().pid != doomed.pid


def test_without_a_zygote_the_child_is_a_new_interpreter(tmp_path, good, unisolated, monkeypatch):
    """Where the zygote refuses (a thread ran in it after its imports), the same keypoints."""
    refusing = Zygote(("tests.zygote.starts_a_thread",))
    monkeypatch.setattr(zygote, "_shared", refusing)
    try:
        with IsolatedExtractor(PoisonedHolistic(str(tmp_path / "unused")), READ) as extractor:
            assert_same(extractor.extract(good, SETTINGS), unisolated)
            assert extractor.pid is not None and parent_of(extractor.pid) == os.getpid()
        assert refusing.refused() and zygote.shared() is None
    finally:
        refusing.close()


def test_a_backend_that_cannot_be_built_is_not_a_video_failure(good):
    with (
        IsolatedExtractor(unbuildable_backend, READ) as extractor,
        pytest.raises(BackendUnavailable) as unavailable,
    ):
        extractor.extract(good, SETTINGS)
    assert str(unavailable.value) == (
        "the backend could not be built: "
        "FileNotFoundError: pose_landmarker_full.task: no such model file"
    )


PARENT = """
import functools, signal, sys
from keypoints.extract import ExtractionSettings
from keypoints.frames import VideoSource
from keypoints.isolation import IsolatedExtractor
from tests.support import PoisonedHolistic

signal.signal(signal.SIGINT, lambda *_: None)  # a worker whose runner handles Ctrl-C
marker, folder, *frames = sys.argv[1:]
extractor = IsolatedExtractor(PoisonedHolistic(marker), functools.partial(open, mode="rb"))
extractor.extract(VideoSource("doomed", folder, True, tuple(frames)), ExtractionSettings())
"""


@pytest.mark.parametrize("stop", ["sigkill", "sigterm", "ctrl-c"])
def test_the_child_never_outlives_its_parent(tmp_path, signer_frames, stop):
    """Its parent killed mid-video; Ctrl-C on a terminal (SIGINT to the whole group) is
    the parent's to handle: the child lives on, with its video, until the parent goes."""
    marker = tmp_path / "in-the-model"
    doomed = poisoned(tmp_path, signer_frames, HANG_RGB)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(marker), doomed.location, *doomed.frame_paths],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        child = wait_for(marker)  # in the middle of the video, in the model
        forked_from = parent_of(child)  # the parent's zygote
        assert forked_from != parent.pid
        if stop == "sigkill":
            parent.send_signal(signal.SIGKILL)
        elif stop == "sigterm":
            parent.send_signal(signal.SIGTERM)
        else:
            os.killpg(parent.pid, signal.SIGINT)  # the child gets it too, and ignores it
            assert not gone(child, timeout=0.5) and parent.poll() is None
            parent.send_signal(signal.SIGTERM)
        _, errors = parent.communicate(timeout=60)
        assert "ProcessDied" not in errors, errors
        assert gone(child), f"the child outlived its parent ({stop})"
        assert gone(forked_from), f"the zygote outlived its requester ({stop})"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


class PoisonedExtractDoFn(ExtractKeypointsDoFn):
    """The pipeline's DoFn, its extraction process running PoisonedHolistic."""

    marker = ""

    def backend_factory(self):
        return PoisonedHolistic(self.marker)


def test_a_video_in_hand_when_the_worker_stops_is_not_recorded(tmp_path, signer_frames):
    """teardown() mid-video kills the child; the video is neither recorded nor failed."""
    key, output = SignKey("01", "train", 1), tmp_path / "out"
    doomed = poisoned(tmp_path, signer_frames, HANG_RGB)
    dofn = PoisonedExtractDoFn(str(output), "holistic", SETTINGS, write_sign_npz, "run-1")
    dofn.marker = str(tmp_path / "in-the-model")
    dofn.setup()
    raised: list[BaseException] = []

    def work() -> None:
        try:
            list(dofn.process((key, doomed, source_signature(doomed))))
        except BaseException as e:
            raised.append(e)

    worker = threading.Thread(target=work)
    worker.start()
    child = wait_for(Path(dofn.marker))
    dofn.teardown()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert [str(e) for e in raised] == ["01-train/0001 doomed: worker stopped mid-video"]
    assert not Path(video_record_path(str(output), key, doomed.location)).exists()
    assert gone(child)


@pytest.mark.slow
def test_a_run_with_a_video_that_crashes_mediapipe_writes_everything_else(
    tmp_path, make_corpus, signer_frames
):
    """The user's report, end to end: ``signkps local``, 2 workers, a real abort in MediaPipe."""
    f = signer_frames
    poison = write_poison_frame(tmp_path / "poison.png", ABORT_RGB)
    corpus = make_corpus(
        {
            SignKey("01", "train", 1): {"a": f[0:2], "doomed": [f[2], poison, f[3]], "c": f[4:6]},
            SignKey("01", "train", 2): {"a": f[1:3], "b": f[5:7]},
        }
    )
    output = tmp_path / "out"
    hook = str(REPO / "tests" / "crash_hook")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [hook, os.environ.get("PYTHONPATH")]))
    )
    selection = [f"--input_root={corpus}", f"--output_root={output}", "--signers=01",
                 "--splits=train", "--selected_signs_to=2", "--direct_num_workers=2"]  # fmt: skip
    run = subprocess.Popen(
        [SIGNKPS, "local", *selection],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, errors = run.communicate(timeout=300)
        deadline = time.monotonic() + 10  # for the workers' extraction processes to go
        while group_alive(run.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left_behind = group_alive(run.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, errors[-4000:]
    assert not left_behind  # no worker, no extraction process

    with np.load(output / "01-train" / "0001.npz", allow_pickle=False) as npz:
        assert npz.files == ["a", "c"]
        backend = create_backend("holistic")
        try:
            expected = L.select_184(extract_frames(read_rgb(f[0:2]), backend))
        finally:
            backend.close()
        np.testing.assert_array_equal(npz["a"], expected)  # bit for bit, as without isolation
    with np.load(output / "01-train" / "0002.npz", allow_pickle=False) as npz:
        assert npz.files == ["a", "b"]

    records = {
        (r["sign"], r["video"]): r
        for r in map(json.loads, (output / "_reports" / "videos.jsonl").read_text().splitlines())
    }
    assert [v for v, r in sorted(records.items()) if r["status"] != "ok"] == [(1, "doomed")]
    doomed = records[1, "doomed"]
    died = (
        "the extraction process died with signal SIGABRT (6) while processing video 'doomed' "
        f"({corpus}/01/01/train/0001/doomed), in the model, on the 2nd frame to reach it "
        f"(640x360 pixels, read from 00001.png): {NATIVE_CRASH}; its last output: what():  "
        "OpenCV("
    )
    assert doomed["reason"].startswith(
        f"extraction failed {MAX_PROCESS_DEATHS} times; last: attempt 2 failed: {died}"
    )
    assert doomed["reason"].endswith("in function 'remap'")
    assert [p[: len("attempt 1 failed: ") + len(died)] for p in doomed["problems"]] == [
        f"attempt {n} failed: {died}" for n in (1, 2)
    ]
    assert "FAILED  01-train/0001 doomed: extraction failed 2 times" in out
    assert "signal SIGABRT (6)" in out
    assert "in function 'remap'" in errors  # the abort's own message, passed on as it came
    assert verify.main([f"--output_root={output}"]) == 0
