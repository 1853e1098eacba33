"""Faults: a backend that raises mid-video, a run killed with SIGKILL, a write killed midway.

Beam's local FnApiRunner does not retry a bundle that raises: it fails the job
(fn_runner.py raises RuntimeError on a bundle's error). So the extraction DoFn redoes a
video itself, with a new backend, and records the video as failed after MAX_ATTEMPTS.
Runners that do retry bundles (Dataflow, Flink) run a bundle's side effects again: the
SIGKILL test's reference run replays every bundle (``--direct_runner_bundle_repeat=1``),
and its files must equal those of a run killed and resumed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from keypoints import layout as L
from keypoints.backends import create_backend
from keypoints.corpus import SignKey
from keypoints.extract import extract_frames
from pipeline.job.run import run
from pipeline.local.launcher import local_args
from pipeline.tools import verify
from tests.conftest import REPO, SIGNKPS, build_corpus, read_rgb
from tests.support import kill_group_if_running
from transforms import extract as extract_module
from transforms.extract import MAX_ATTEMPTS

pytestmark = pytest.mark.slow

SIGN = SignKey("01", "train", 1)


class FailingBackend:
    """The real backend, raising from its ``fail_at``-th frame on: a worker fault mid-video."""

    def __init__(self, backend, fail_at: int) -> None:
        self._backend, self._fail_at, self._frames = backend, fail_at, 0
        self.name = backend.name

    def start_video(self) -> None:
        self._backend.start_video()

    def process(self, rgb, timestamp_ms):
        self._frames += 1
        if self._frames >= self._fail_at:
            raise RuntimeError("injected fault: the model crashed mid-video")
        return self._backend.process(rgb, timestamp_ms)

    def close(self) -> None:
        self._backend.close()


def rgb_frames(paths) -> list[np.ndarray]:
    return read_rgb(paths)


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_a_backend_that_raises_mid_video_is_replaced_and_the_video_redone(
    tmp_path, signer_frames, monkeypatch
):
    frames = signer_frames[:3]
    corpus = build_corpus(
        tmp_path / "corpus",
        {SIGN: {"flaky": frames, "doomed": frames, "steady": frames[::-1]}},
    )
    marker = tmp_path / "flaky-failed-once"
    real_extract = extract_module.extract_video

    def extract_with_faults(source, backend, settings, open_file):
        if source.name == "flaky" and not marker.exists():
            marker.touch()  # fail only the first attempt, wherever it runs
            backend = FailingBackend(backend, fail_at=2)
        elif source.name == "doomed":
            backend = FailingBackend(backend, fail_at=1)
        return real_extract(source, backend, settings, open_file)

    # In-process workers (in_memory) and the backend in the worker itself, not in an
    # extraction process (tests/test_isolation.py), so the patched function is the one
    # that runs.
    monkeypatch.setattr(extract_module, "extract_video", extract_with_faults)
    output = tmp_path / "out"
    args = [
        f"--input_root={corpus}",
        f"--output_root={output}",
        "--signers=01", "--splits=train", "--selected_signs_to=1",
        "--direct_running_mode=in_memory", "--no_isolate_backend",
    ]  # fmt: skip
    outcome = run(local_args(args, workers=1))

    backend = create_backend("holistic")
    try:
        expected = L.select_184(extract_frames(rgb_frames(frames), backend))
        reversed_ = L.select_184(extract_frames(rgb_frames(frames[::-1]), backend))
    finally:
        backend.close()
    arrays = load(output / "01-train" / "0001.npz")
    assert list(arrays) == ["flaky", "steady"]  # the failing video took nothing down
    np.testing.assert_array_equal(arrays["flaky"], expected)  # redone from frame 0, once
    np.testing.assert_array_equal(arrays["steady"], reversed_)

    records = {r["video"]: r for r in outcome.videos}
    assert [r["video"] for r in outcome.videos] == ["doomed", "flaky", "steady"]  # one each
    flaky, doomed = records["flaky"], records["doomed"]
    assert flaky["status"] == "ok" and flaky["frames"] == 3
    assert flaky["problems"] == [
        "attempt 1 failed: RuntimeError: injected fault: the model crashed mid-video; "
        "redone with a new backend"
    ]
    assert doomed["status"] == "failed" and doomed["frames"] == 0
    assert doomed["reason"] == (
        f"extraction failed {MAX_ATTEMPTS} times; last: attempt {MAX_ATTEMPTS} failed: "
        "RuntimeError: injected fault: the model crashed mid-video"
    )
    assert len(doomed["problems"]) == MAX_ATTEMPTS
    assert not list(output.rglob("*.tmp"))
    selection = ["--signers=01", "--splits=train", "--selected_signs_to=1"]
    assert verify.main([f"--output_root={output}", f"--input_root={corpus}", *selection]) == 0


def selection(corpus: Path, output: Path, signs: int) -> list[str]:
    return [
        f"--input_root={corpus}", f"--output_root={output}",
        "--signers=01", "--splits=train", f"--selected_signs_to={signs}",
    ]  # fmt: skip


def outputs(output: Path) -> dict[str, object]:
    """Every file of an output folder; reports without their timings (seconds differ)."""
    files: dict[str, object] = {}
    for path in sorted(output.rglob("*")):
        name = str(path.relative_to(output))
        if path.is_dir() or name == "_reports/run.json":
            continue
        if path.suffix == ".jsonl":
            records = [json.loads(line) for line in path.read_text().splitlines()]
            files[name] = [{k: v for k, v in r.items() if k != "seconds"} for r in records]
        else:
            files[name] = path.read_bytes()
    return files


def test_a_run_killed_with_sigkill_resumes_to_the_same_files(tmp_path, signer_frames):
    signs = 12
    corpus = build_corpus(
        tmp_path / "corpus",
        {
            SignKey("01", "train", s): {"v": signer_frames[s % 3 : s % 3 + 1]}
            for s in range(1, 1 + signs)
        },
    )
    # The reference runs in one in-process worker and replays every bundle once.
    reference = tmp_path / "reference"
    replayed = ["--direct_running_mode=in_memory", "--direct_runner_bundle_repeat=1"]
    run(local_args(selection(corpus, reference, signs) + replayed, workers=1))

    output = tmp_path / "out"
    command = [SIGNKPS, "local", *selection(corpus, output, signs)]
    killed = subprocess.Popen(
        [*command, "--direct_num_workers=2"],
        cwd=REPO,
        start_new_session=True,  # its own process group: the driver and its workers
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while killed.poll() is None and not list(output.glob("*/*.npz")):
            time.sleep(0.002)
    finally:
        kill_group_if_running(killed)
    assert killed.returncode == -signal.SIGKILL, "the run finished before the kill"
    written_before = len(list(output.glob("*/*.npz")))
    for npz in output.glob("*/*.npz"):
        load(npz)  # whatever the kill interrupted, every npz on disk is whole

    resumed = run(local_args(selection(corpus, output, signs), workers=2))
    skipped = resumed.counters["signs_skipped"]
    assert skipped >= written_before >= 1
    assert resumed.counters["signs_written"] == signs - skipped
    # npz byte for byte, reports but their timings
    assert outputs(output) == outputs(reference)
    assert not list(output.rglob("*.tmp"))
    assert verify.main([f"--output_root={output}"]) == 0


WRITE_WITH_A_FILE_SIZE_LIMIT = """
import resource, signal, sys
import numpy as np
from tests.support import npz_bytes
from transforms.files import write_atomically

final, limit, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = npz_bytes({"v": np.random.default_rng(0).random((40, 184, 4), dtype=np.float32)})
assert len(data) > limit
if mode == "killed":
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it: the write fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
write_atomically(final, data)
"""


@pytest.mark.parametrize("mode", ["killed", "error"])
def test_an_npz_is_never_half_written(tmp_path, mode):
    """The kernel stops the write midway: SIGXFSZ kills the writer, or the write fails."""
    from pipeline.records.reports import remove_temp_files

    final = tmp_path / "01-train" / "0001.npz"
    final.parent.mkdir()
    old = {"old": np.ones((2, 184, 4), np.float32)}
    from tests.support import npz_bytes

    final.write_bytes(npz_bytes(old))
    limit = 4096
    writer = subprocess.run(
        [sys.executable, "-c", WRITE_WITH_A_FILE_SIZE_LIMIT, str(final), str(limit), mode],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    temps = list(final.parent.glob(".0001.npz.*.tmp"))
    if mode == "killed":
        assert writer.returncode == -signal.SIGXFSZ, writer.stderr
        assert [t.stat().st_size for t in temps] == [limit]  # it died midway through
        assert remove_temp_files(str(tmp_path)) == 1
    else:
        assert writer.returncode == 1 and "File too large" in writer.stderr
        assert temps == []  # the failed write removed its temporary file
    np.testing.assert_array_equal(load(final)["old"], old["old"])  # the old npz, whole
    assert not list(tmp_path.rglob("*.tmp"))
