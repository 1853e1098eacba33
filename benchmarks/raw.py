"""The limit: N processes calling a backend directly on frame files, no Beam.

Each process builds the backend once, then for every video starts fresh tracking state
(as the pipeline does, so both compute the same landmarks) and runs every frame:
read, decode, BGR -> RGB, landmarks. The backend is configured as run_local.sh's
pipeline configures it for the same N (keypoints.backends.graph_threads_per_worker). Prints one
JSON line: frames and seconds.

    python -m benchmarks.raw --workers 2 --backend holistic VIDEO_FOLDER...
    python -m benchmarks.raw --workers 2 --backend tasks --model_dir M VIDEO_FOLDER...
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import cv2

from keypoints.backends import BackendConfig, graph_threads_per_worker

_backend = None


def _init(backend: str, config: BackendConfig) -> None:
    global _backend
    from keypoints.backends import create_backend

    _backend = create_backend(backend, config)


def _run_video(folder: str) -> int:
    assert _backend is not None
    _backend.start_video()
    frames = sorted(Path(folder).iterdir())
    for i, path in enumerate(frames):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        _backend.process(rgb, round(i * 1000 / 30))
    return len(frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--backend", default="holistic")
    parser.add_argument("--model_dir", help="Tasks model files (tasks backend)")
    parser.add_argument("videos", nargs="+")
    args = parser.parse_args(argv)
    config = BackendConfig(
        model_dir=args.model_dir, graph_threads=graph_threads_per_worker(args.workers)
    )
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers, initializer=_init, initargs=(args.backend, config)) as pool:
        frames = sum(pool.imap_unordered(_run_video, args.videos, chunksize=1))
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
