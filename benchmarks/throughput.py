"""Throughput benchmark: the pipeline against its limit, the reference design and pose-format.

Builds a KArSL-layout corpus by replicating the real signer footage in ../shared/assets
(frame folders, plus the same frames encoded as .mp4 files for pose-format, which reads
video files only), then measures in one run, with the same N worker processes:

  raw          N processes calling the backend directly on the frames, no Beam (the limit)
  pipeline     the Beam pipeline end to end, with run_local.sh's defaults
  reference    the design this project grew from (benchmarks/reference.py)
  pose-format  pose-format's videos_to_poses (Holistic) on the .mp4 copies, and the
               pipeline on the same .mp4 files

Each method is also run on a one-frame corpus: that wall time is its fixed start-up
cost, reported apart, and ``fps_steady`` is frames / (wall - start-up). Prints one JSON
line per measurement, then the ratios. Numbers, not assertions: the machine is shared,
so compare ratios measured in one run.

    .venv/bin/python -m benchmarks.throughput --workers 2 --signs 10 --videos-per-sign 10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from benchmarks.procstats import run_measured

REPO = Path(__file__).resolve().parents[1]
SIGNER = "01"
SPLIT = "train"


def assets_dir() -> Path:
    return Path(os.environ.get("SIGNKPS_TEST_ASSETS", REPO.parent / "shared" / "assets"))


def ping_pong(frames: list[Path], count: int) -> list[Path]:
    """``count`` frames going back and forth over the clip, so motion stays smooth."""
    cycle = frames + frames[-2:0:-1]
    return [cycle[i % len(cycle)] for i in range(count)]


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link saves the disk a corpus-sized copy; other filesystems get a copy.

    A target left by an earlier run in the same --workdir is replaced.
    """
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_corpus(
    root: Path, signs: int, videos: int, frames: int, mp4: bool = True
) -> dict[str, Any]:
    """Frame folders under root/frames and (``mp4``) .mp4 copies under root/mp4, KArSL layout."""
    source = sorted((assets_dir() / "media" / "signer_sample_frames").glob("*.jpg"))
    for sign in range(1, signs + 1):
        rel = Path(SIGNER, SIGNER, SPLIT, f"{sign:04d}")
        (root / "mp4" / rel).mkdir(parents=True, exist_ok=True)
        for v in range(videos):
            folder = root / "frames" / rel / f"v{v:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            sequence = ping_pong(source[v % 3 :], frames)  # videos differ a little
            for i, frame in enumerate(sequence):
                link_or_copy(frame, folder / f"{i:05d}.jpg")
            if not mp4:
                continue
            writer = cv2.VideoWriter(
                str(root / "mp4" / rel / f"v{v:03d}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                30.0, (640, 360),
            )  # fmt: skip
            for frame in sequence:
                writer.write(cv2.imread(str(frame)))
            writer.release()
    return {"signs": signs, "videos": signs * videos, "frames": signs * videos * frames}


def output_bytes(folder: Path, suffix: str) -> int:
    return sum(p.stat().st_size for p in folder.rglob(f"*{suffix}"))


_python = sys.executable  # whose install the commands run: this one unless use_python()


def use_python(interpreter: str) -> None:
    """Run the measured commands with another install's interpreter (and its scripts)."""
    global _python
    _python = interpreter


def python() -> str:
    return _python


def pipeline_cmd(corpus: Path, out: Path, signs: int, workers: int, backend: str) -> list[str]:
    return [
        python(), "-m", "pipeline.cli", "local", f"--input_root={corpus}", f"--output_root={out}",
        "--signers", SIGNER, "--splits", SPLIT, "--selected_signs_from=1",
        f"--selected_signs_to={signs}", f"--direct_num_workers={workers}", f"--backend={backend}",
    ]  # fmt: skip


def video_folders(corpus: Path) -> list[str]:
    return sorted(str(p) for p in corpus.glob("*/*/*/*/*") if p.is_dir())


def sign_folders(corpus: Path) -> list[str]:
    return sorted(str(p) for p in corpus.glob("*/*/*/*") if p.is_dir())


@dataclass(frozen=True)
class Method:
    """One measured command, and its run on the one-frame corpus (the fixed start-up)."""

    method: str
    backend: str
    cmd: list[str]
    startup_cmd: list[str]
    out: Path | None = None
    suffix: str = ".npz"
    pose_folders: tuple[Path, ...] = ()  # pose-format writes beside the videos: cleared first


class Bench:
    def __init__(self, work: Path, workers: int, frames: int, logs: Path) -> None:
        self.work, self.workers, self.frames, self.logs = work, workers, frames, logs

    def measure(self, m: Method, round_: int) -> dict[str, Any]:
        log = str(self.logs / f"{m.method}-{m.backend}-{round_}.log")
        self._clear(m)
        startup, _, _ = run_measured(m.startup_cmd, log_path=log + ".startup")
        self._clear(m)
        wall, tree, code = run_measured(m.cmd, log_path=log)
        if code != 0:
            raise RuntimeError(f"{m.method} ({m.backend}) failed with exit code {code}: see {log}")
        record = {
            "method": m.method,
            "backend": m.backend,
            "round": round_,
            "workers": self.workers,
            "frames": self.frames,
            "wall_s": round(wall, 2),
            "fps": round(self.frames / wall, 2),
            "startup_s": round(startup, 2),
            "fps_steady": round(self.frames / (wall - startup), 2),
            "peak_rss_worker_mb": tree.worker_peak_mb(),
            "peak_rss_driver_mb": tree.root_peak_mb(),
            "output_bytes": output_bytes(m.out, m.suffix) if m.out is not None else None,
        }
        print(json.dumps(record), flush=True)
        return record

    def _clear(self, m: Method) -> None:
        """Remove earlier output: the tools skip videos whose output exists."""
        if m.out is not None and m.suffix == ".npz":
            shutil.rmtree(m.out, ignore_errors=True)
        shutil.rmtree(self.work / "out-tiny", ignore_errors=True)
        for folder in m.pose_folders:
            for pose_file in folder.rglob("*.pose"):
                pose_file.unlink()


def median_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median steady frames/s (the lower middle one for an even count)."""
    ranked = sorted(records, key=lambda r: r["fps_steady"])
    return ranked[(len(ranked) - 1) // 2]


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    if not a or not b or not a.get(key) or not b.get(key):
        return None
    return round(a[key] / b[key], 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--signs", type=int, default=10)
    parser.add_argument("--videos-per-sign", type=int, default=10)
    parser.add_argument("--frames-per-video", type=int, default=60)
    parser.add_argument("--backends", nargs="+", default=["holistic", "tasks"])
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["raw", "pipeline", "reference", "pose-format"]
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every method this many times, one after another in turn; ratios use "
        "each method's median round",
    )
    parser.add_argument(
        "--workdir", help="keep the corpus and outputs here (default: a temporary folder)"
    )
    args = parser.parse_args(argv)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="signkps-bench-"))
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(work / "corpus", args.signs, args.videos_per_sign, args.frames_per_video)
    build_corpus(work / "tiny", 1, 1, 1)
    print(json.dumps({"corpus": corpus, "workers": args.workers, "rounds": args.rounds,
                      "workdir": str(work)}), flush=True)  # fmt: skip
    bench = Bench(work, args.workers, corpus["frames"], logs)
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    plan = methods(args, work)
    for round_ in range(1, args.rounds + 1):
        for m in plan:  # every method once per round: drift over the run hits all alike
            by.setdefault((m.method, m.backend), []).append(bench.measure(m, round_))
    medians = {key: median_record(records) for key, records in by.items()}
    if args.rounds > 1:
        for (method, backend), records in by.items():
            print(json.dumps({"median": method, "backend": backend,
                              "fps_steady": medians[method, backend]["fps_steady"],
                              "rounds": [r["fps_steady"] for r in records]}))  # fmt: skip
    print(json.dumps({"ratios": ratios(medians, args.backends)}), flush=True)
    return 0


def methods(args: argparse.Namespace, work: Path) -> list[Method]:
    """What one round measures, in order."""
    n = args.workers
    frames_root, mp4_root = work / "corpus" / "frames", work / "corpus" / "mp4"
    tiny_frames, tiny_mp4 = work / "tiny" / "frames", work / "tiny" / "mp4"
    tiny_out = work / "out-tiny"
    model_dir = str(assets_dir() / "models")
    plan = []
    for backend in args.backends:
        extra = ["--model_dir", model_dir] if backend == "tasks" else []
        if "raw" not in args.skip:
            cmd = [python(), "-m", "benchmarks.raw", f"--workers={n}", f"--backend={backend}"]
            plan.append(Method("raw", backend, cmd + extra + video_folders(frames_root),
                               cmd + extra + video_folders(tiny_frames)))  # fmt: skip
        if "pipeline" not in args.skip:
            out = work / f"out-pipeline-{backend}"
            plan.append(Method(
                "pipeline", backend, pipeline_cmd(frames_root, out, args.signs, n, backend) + extra,
                pipeline_cmd(tiny_frames, tiny_out, 1, n, backend) + extra, out,
            ))  # fmt: skip
    if "reference" not in args.skip:
        cmd = [python(), "-m", "benchmarks.reference", f"--workers={n}", f"--model_dir={model_dir}"]
        out = work / "out-reference"
        plan.append(Method(
            "reference", "tasks", [*cmd, "--output", str(out), *sign_folders(frames_root)],
            [*cmd, "--output", str(tiny_out), *sign_folders(tiny_frames)], out,
        ))  # fmt: skip
    if "pose-format" not in args.skip:
        tool = shutil.which("videos_to_poses", path=str(Path(python()).parent))
        if tool is None:
            why = "videos_to_poses not installed: pip install -e .[pose]"
            print(json.dumps({"skipped": "pose-format", "why": why}))
            return plan
        cmd = [tool, "--num-workers", str(n), "--recursive",
               "--additional-config", "refine_face_landmarks=true"]  # fmt: skip
        plan.append(Method(
            "pose-format", "holistic", [*cmd, "--directory", str(mp4_root)],
            [*cmd, "--directory", str(tiny_mp4)], mp4_root, ".pose", (mp4_root, tiny_mp4),
        ))  # fmt: skip
        out = work / "out-pipeline-mp4"
        plan.append(Method(
            "pipeline-mp4", "holistic", pipeline_cmd(mp4_root, out, args.signs, n, "holistic"),
            pipeline_cmd(tiny_mp4, tiny_out, 1, n, "holistic"), out,
        ))  # fmt: skip
    return plan


def ratios(by: dict[tuple[str, str], dict[str, Any]], backends: list[str]) -> dict[str, Any]:
    found = {}
    ref = by.get(("reference", "tasks"))
    for backend in backends:
        pipe = by.get(("pipeline", backend))
        found[f"pipeline/raw {backend}"] = ratio(pipe, by.get(("raw", backend)), "fps_steady")
        found[f"pipeline/reference {backend}"] = ratio(pipe, ref, "fps_steady")
        if pipe and ref:
            found[f"output bytes pipeline/reference {backend}"] = round(
                pipe["output_bytes"] / ref["output_bytes"], 3
            )
    found["pipeline/pose-format holistic (mp4)"] = ratio(
        by.get(("pipeline-mp4", "holistic")), by.get(("pose-format", "holistic")), "fps_steady"
    )
    return found


if __name__ == "__main__":
    sys.exit(main())
