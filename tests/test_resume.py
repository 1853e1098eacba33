"""Long runs keep their work: killed or stopped, a run resumes at video granularity.

Each test interrupts a real local run (``signkps local``, 2 worker processes, real
MediaPipe) once at least half of its videos are recorded, then runs the same command
again and counts, from Beam's counters, what was reused and what was extracted again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from keypoints.corpus import SignKey
from keypoints.extract import ExtractionSettings, VideoKeypoints, VideoReport
from keypoints.outputs import staging_path, video_record_path
from pipeline.job.run import run
from pipeline.local.launcher import local_args
from pipeline.tools import verify
from tests.conftest import REPO, SIGNKPS
from tests.support import (
    group_alive,
    kill_group_if_running,
    small_corpus,
    unwritten_records,
    written_signs,
)
from tests.test_faults import outputs
from transforms.staging import record_video, reuse_video, run_signature

pytestmark = pytest.mark.slow

SIGNS, VIDEOS_PER_SIGN = 8, 3
TOTAL = SIGNS * VIDEOS_PER_SIGN


def selection(corpus: Path, output: Path) -> list[str]:
    return [f"--input_root={corpus}", f"--output_root={output}", "--signers", "01",
            "--splits", "train", f"--selected_signs_to={SIGNS}"]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, signer_frames) -> Path:
    root = tmp_path_factory.mktemp("resume") / "corpus"
    return small_corpus(root, signer_frames, SIGNS, VIDEOS_PER_SIGN)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:
    """An uninterrupted run's output."""
    output = tmp_path_factory.mktemp("reference") / "out"
    run(local_args(selection(corpus, output), workers=2))
    return output


def videos_kept(output: Path) -> int:
    """Videos whose work a rerun keeps: those of written signs, and the others' records."""
    return VIDEOS_PER_SIGN * len(written_signs(output)) + len(unwritten_records(output))


def without_reuse_marks(files: dict) -> dict:
    """A run's files with each record's ``reused`` mark dropped (timings are already)."""
    return {
        name: [{k: v for k, v in r.items() if k != "reused"} for r in content]
        if isinstance(content, list)
        else content
        for name, content in files.items()
    }


def interrupted(
    corpus: Path, output: Path, signum: int, records_to_reuse: int = 0
) -> tuple[int, int]:
    """Run until half the videos are kept and a sign is written, then send ``signum``.

    SIGKILL goes to the whole process group (the launcher and its workers), SIGINT to the
    launcher alone, as Ctrl-C on a terminal would reach it first. Returns the videos kept
    (written or recorded) and the npz files on disk when the signal was sent.
    """
    launched = subprocess.Popen(
        [SIGNKPS, "local", *selection(corpus, output), "--direct_num_workers=2"],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while launched.poll() is None and not (
            videos_kept(output) >= TOTAL // 2
            and written_signs(output)
            and len(unwritten_records(output)) >= records_to_reuse
        ):
            time.sleep(0.005)
        recorded, written = videos_kept(output), len(written_signs(output))
        assert launched.poll() is None, "the run finished before the interruption"
        if signum == signal.SIGKILL:
            os.killpg(launched.pid, signal.SIGKILL)
        else:
            launched.send_signal(signum)
        launched.wait(timeout=120)
    finally:
        kill_group_if_running(launched)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launched.pid, signal.SIGKILL)  # any worker the launcher left behind
        deadline = time.monotonic() + 30
        while group_alive(launched.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # until no worker of it can write another record
    return recorded, written


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_an_interrupted_run_resumes_from_its_recorded_videos(corpus, reference, tmp_path, signum):
    output = tmp_path / "out"
    recorded, written = interrupted(corpus, output, signum)
    # Output appears while the run goes: a sign was on disk before the last video was done.
    assert written >= 1 and recorded < TOTAL
    assert videos_kept(output) >= recorded  # the interruption kept every record

    resumed = run(local_args(selection(corpus, output), workers=2))
    c = resumed.counters
    done_before = c["signs_skipped"]
    todo = TOTAL - done_before * VIDEOS_PER_SIGN
    assert c["videos_reused"] + c["videos_extracted"] == todo
    assert c["videos_extracted"] <= TOTAL - recorded + 2, c  # only what was not recorded
    assert c["videos_reused"] >= recorded - done_before * VIDEOS_PER_SIGN, c
    assert c["signs_written"] == SIGNS - done_before >= 1

    got, expected = without_reuse_marks(outputs(output)), without_reuse_marks(outputs(reference))
    assert sorted(got) == sorted(expected)
    assert [name for name in sorted(got) if got[name] != expected[name]] == []
    assert not (output / "_staging").exists() and not list(output.rglob("*.tmp"))
    assert verify.main([f"--output_root={output}"]) == 0
    reused = [
        json.loads(line)["reused"]
        for report in (output / "_reports" / "videos").glob("*/*.jsonl")
        for line in report.read_text().splitlines()
    ]
    assert sum(reused) == c["videos_reused"]


def test_a_touched_video_is_extracted_again_and_only_it(corpus, tmp_path):
    for attempt in range(3):  # the kill must leave a record of a sign not yet written
        output = tmp_path / f"out{attempt}"
        interrupted(corpus, output, signal.SIGKILL, records_to_reuse=2)
        unwritten = unwritten_records(output)
        if unwritten:
            break
    assert unwritten, "every sign with records was written before the kill, 3 times"
    touched = Path(json.loads(unwritten[0].read_text())["report"]["source"])
    for frame in touched.iterdir():
        os.utime(frame, (time.time() + 10, time.time() + 10))

    c = run(local_args(selection(corpus, output), workers=2)).counters
    assert c["videos_reused"] == len(unwritten) - 1, c
    assert (
        c["videos_reused"] + c["videos_extracted"] == TOTAL - c["signs_skipped"] * VIDEOS_PER_SIGN
    )


def test_a_record_is_reused_only_under_the_same_settings():
    base = run_signature("holistic", {"model_complexity": 1}, ExtractionSettings())
    assert base == run_signature("holistic", {"model_complexity": 1}, ExtractionSettings())
    for other in (
        run_signature("holistic", {"model_complexity": 1}, ExtractionSettings(adjusted=True)),
        run_signature("holistic", {"model_complexity": 1}, ExtractionSettings(layout="full")),
        run_signature("holistic", {"model_complexity": 1}, ExtractionSettings(fps=25.0)),
        run_signature("tasks", {"model_complexity": 1}, ExtractionSettings()),
        run_signature("holistic", {"model_complexity": 2}, ExtractionSettings()),
    ):
        assert other != base


def test_a_torn_or_foreign_record_is_ignored(tmp_path, signer_frames):
    """Only a whole record of the same signature, with its array, stands for a video."""
    output, key = str(tmp_path / "out"), SignKey("01", "train", 1)
    report = VideoReport(video="v", source="/corpus/v", frames=2)
    points = np.zeros((2, 184, 4), dtype=np.float32)
    record_video(output, key, VideoKeypoints(report, points), "sig", "run-1")
    again = reuse_video(output, key, "/corpus/v", "sig", "run-2")
    assert again is not None and again.report.reused and again.load().shape == (2, 184, 4)
    assert reuse_video(output, key, "/corpus/v", "other-sig", "run-2") is None
    record = Path(video_record_path(output, key, "/corpus/v"))
    record.write_text(record.read_text()[:40])  # torn: a crash mid-write on a file system
    assert reuse_video(output, key, "/corpus/v", "sig", "run-2") is None
    record_video(output, key, VideoKeypoints(report, points), "sig", "run-1")
    Path(staging_path(output, key, "/corpus/v")).unlink()  # the array is gone
    assert reuse_video(output, key, "/corpus/v", "sig", "run-2") is None
