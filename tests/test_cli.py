"""The ``signkps`` console script, as a user runs it: every sub-command, for real.

One demo run makes a small real output (MediaPipe on frames made from a sample image);
each post-run command then works on it through the installed console script.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import COMMANDS
from tests.conftest import REPO, SIGNKPS

pytestmark = pytest.mark.slow


def signkps(*args: object, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SIGNKPS, *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    workdir = tmp_path_factory.mktemp("demo")
    done = signkps("demo", "--workdir", workdir, "--direct_num_workers=2")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir, done


def test_help_lists_every_sub_command():
    done = signkps("--help")
    assert done.returncode == 0
    for name in ("run", "local", "flink", "demo", "verify", "convert", "preview", "report", "pack"):
        assert f"    {name} " in done.stdout
    assert set(COMMANDS) == {"run", "local", "flink", "demo", "verify", "convert", "preview",
                             "report", "pack"}  # fmt: skip
    for name in COMMANDS:
        sub = signkps(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "usage: signkps" in sub.stdout


def test_every_refusal_is_one_line_and_status_2(tmp_path):
    for args, message in (
        ((), "signkps: the following arguments are required: COMMAND"),
        (("nope",), "signkps: argument COMMAND: invalid choice: 'nope'"),
        (("verify",), "signkps: --output_root is required"),
        (("verify", f"--output_root={tmp_path}"), "is empty or missing"),
        (("convert", "--input", tmp_path), "signkps: the following arguments are required"),
        (("report", "--output_root", tmp_path, "--out", tmp_path / "r.html"), "no video reports"),
        (("run", "--backend=openpose"), "signkps: argument --backend: invalid choice"),
        (("local", f"--input_root={tmp_path}"), "signkps: --output_root is required"),
        (("flink", "--local_cluster"), "signkps: --input_root is required"),
        (("pack", f"--output_root={tmp_path}"), "arguments are required: --dest"),
    ):
        done = signkps(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("signkps: "), (args, done.stderr)
        assert message in lines[0], (args, lines[0])


def test_demo_writes_keypoints_quietly(demo):
    workdir, done = demo
    output = workdir / "output"
    for sign in (1, 2):
        arrays = npz_arrays(output / "01-train" / f"{sign:04d}.npz")
        assert sorted(arrays) == ["video_1", "video_2"]
        assert all(a.shape == (8, 184, 4) and a.dtype == np.float32 for a in arrays.values())
    assert "signs   written 2" in done.stdout and "videos  ok 4, failed 0" in done.stdout
    assert "signkps verify --output_root" in done.stdout
    # No library chatter at all: google-api-core's Python-version FutureWarning (the dataflow
    # extra is installed here), Beam's and MediaPipe's start-up lines are kept off the terminal.
    assert done.stderr == "", done.stderr


def test_run_local_and_python_m_pipeline_write_the_demos_bytes(demo, tmp_path):
    workdir, _ = demo
    corpus = workdir / "corpus"
    selection = ["--signers", "01", "--splits", "train", "--selected_signs_to=2"]
    expected = {p.name: p.read_bytes() for p in (workdir / "output" / "01-train").glob("*.npz")}
    runs = {
        "run": [SIGNKPS, "run"],  # the DirectRunner: one in-process worker
        "local": [SIGNKPS, "local", "--direct_num_workers=2"],
        "python -m pipeline": [sys.executable, "-m", "pipeline"],
    }
    for name, command in runs.items():
        output = tmp_path / name.replace(" ", "_")
        args = [f"--input_root={corpus}", f"--output_root={output}", *selection]
        done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (name, done.stderr[-3000:])
        written = {p.name: p.read_bytes() for p in (output / "01-train").glob("*.npz")}
        assert written == expected, name


def test_verify_convert_preview_report_on_the_demos_output(demo, tmp_path):
    workdir, _ = demo
    output = workdir / "output"
    npz = output / "01-train" / "0001.npz"

    verified = signkps("verify", f"--output_root={output}", f"--input_root={workdir / 'corpus'}",
                       "--signers", "01", "--splits", "train", "--selected_signs_to=2")  # fmt: skip
    assert verified.returncode == 0, verified.stdout
    assert "signkps verify: OK, every video accounted for (2 signs, 4 videos" in verified.stdout

    poses = tmp_path / "poses"
    converted = signkps("convert", "--input", output, "--output", poses)
    assert converted.returncode == 0, converted.stderr
    assert "2 signs converted" in converted.stdout
    assert sorted(p.name for p in (poses / "01-train" / "0001").iterdir()) == [
        "_SUCCESS", "video_1.pose", "video_2.pose",
    ]  # fmt: skip
    assert signkps("verify", f"--output_root={poses}").returncode == 0

    png = tmp_path / "preview.png"
    frames = workdir / "corpus" / "01" / "01" / "train" / "0001" / "video_1"
    drawn = signkps("preview", "--npz", npz, "--video", "video_1", "--frames", frames, "--out", png)
    assert drawn.returncode == 0, drawn.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "8 frames" in drawn.stdout

    page = tmp_path / "report.html"
    reported = signkps("report", "--output_root", output, "--out", page)
    assert reported.returncode == 0, reported.stderr
    html = page.read_text()
    assert "video_1" in html and "data:image/png;base64," in html
    run = json.loads((output / "_reports" / "run.json").read_text())
    assert run["options"]["output_root"] == str(output)
