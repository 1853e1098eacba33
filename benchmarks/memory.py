"""Does a worker's memory grow with video length? Peak RSS on a long video vs a short one.

Runs the pipeline with one worker process on a corpus holding one video of
``--short`` frames, then on one of ``--long`` frames, and prints each worker's peak
resident memory and their ratio (the goal: within 10%).

    .venv/bin/python -m benchmarks.memory --short 50 --long 5000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.procstats import run_measured
from benchmarks.throughput import build_corpus, pipeline_cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", type=int, default=50)
    parser.add_argument("--long", type=int, default=5000)
    parser.add_argument("--backend", default="holistic")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="signkps-memory-"))
    peaks = {}
    for label, frames in (("short", args.short), ("long", args.long)):
        build_corpus(work / label, 1, 1, frames)
        cmd = pipeline_cmd(work / label / "frames", work / f"out-{label}", 1, 1, args.backend)
        wall, tree, code = run_measured(cmd, log_path=str(work / f"{label}.log"))
        if code != 0:
            raise RuntimeError(f"pipeline failed: see {work / f'{label}.log'}")
        peaks[label] = tree.worker_peak_mb()
        print(json.dumps({"video_frames": frames, "wall_s": round(wall, 1),
                          "peak_rss_worker_mb": peaks[label],
                          "peak_rss_driver_mb": tree.root_peak_mb()}), flush=True)  # fmt: skip
    print(json.dumps({"long/short worker peak": round(peaks["long"] / peaks["short"], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
