"""Scaling benchmark: raw MediaPipe and the pipeline at several worker counts on one host.

For each N the corpus holds the same work per worker (``--videos-per-worker`` videos of
``--frames-per-video`` frames), so a run that scales perfectly keeps its wall time as N
grows. Each N measures raw (N processes calling the backend, no Beam) and the pipeline
(run_local.sh's defaults with ``--direct_num_workers N``), both with their one-frame
start-up run, exactly as ``benchmarks.throughput`` does. Prints one JSON line per
measurement and a summary: steady frames/s per N, speed-up over N = 1, pipeline/raw.

    python -m benchmarks.scaling --workers 1 4 16 --workdir /tmp/scaling
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.throughput import (
    Bench,
    Method,
    assets_dir,
    build_corpus,
    pipeline_cmd,
    python,
    ratio,
    video_folders,
)


def measure_n(work: Path, n: int, videos: int, frames: int, backend: str) -> dict[str, Any]:
    root = work / f"n{n}"
    corpus = build_corpus(root / "corpus", n, videos, frames, mp4=False)
    tiny = root / "tiny"
    build_corpus(tiny, 1, 1, 1, mp4=False)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    total = corpus["frames"]
    bench = Bench(root, n, total, logs)
    extra = ["--model_dir", str(assets_dir() / "models")] if backend == "tasks" else []
    raw_cmd = [python(), "-m", "benchmarks.raw", f"--workers={n}", f"--backend={backend}", *extra]
    raw = bench.measure(Method(
        "raw", backend, raw_cmd + video_folders(root / "corpus" / "frames"),
        raw_cmd + video_folders(tiny / "frames"),
    ), 1)  # fmt: skip
    pipe = bench.measure(Method(
        "pipeline", backend,
        pipeline_cmd(root / "corpus" / "frames", root / "out", n, n, backend) + extra,
        pipeline_cmd(tiny / "frames", root / "out-tiny", 1, n, backend) + extra, root / "out",
    ), 1)  # fmt: skip
    return {"workers": n, "frames": total, "raw": raw, "pipeline": pipe}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--videos-per-worker", type=int, default=10)
    parser.add_argument("--frames-per-video", type=int, default=60)
    parser.add_argument("--backend", default="holistic", choices=["holistic", "tasks"])
    parser.add_argument("--workdir", help="keep corpora and logs here (default: a temp folder)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="signkps-scaling-"))

    rows = [
        measure_n(work, n, args.videos_per_worker, args.frames_per_video, args.backend)
        for n in args.workers
    ]
    base = {kind: rows[0][kind]["fps_steady"] / rows[0]["workers"] for kind in ("raw", "pipeline")}
    summary = [
        {
            "workers": row["workers"],
            "frames": row["frames"],
            "raw_fps": row["raw"]["fps_steady"],
            "pipeline_fps": row["pipeline"]["fps_steady"],
            "raw_speedup": round(row["raw"]["fps_steady"] / base["raw"], 2),
            "pipeline_speedup": round(row["pipeline"]["fps_steady"] / base["pipeline"], 2),
            "pipeline/raw": ratio(row["pipeline"], row["raw"], "fps_steady"),
            "pipeline_startup_s": row["pipeline"]["startup_s"],
        }
        for row in rows
    ]
    print(json.dumps({"scaling": summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
