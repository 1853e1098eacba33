"""The limit: N processes calling a backend directly on a corpus's videos, no Beam.

Each process builds the backend once, then for every video starts fresh tracking state
(as the pipeline does, so both compute the same landmarks) and runs every frame through
the product's own frame source, keypoints.frames.open_video: for a frame folder the same
read, header check and decode (keypoints.images: libjpeg-turbo straight to RGB) the pipeline
does, for a video file the same FFmpeg decode, and ``--decode_scale`` as the pipeline's.
What it leaves out is everything else the pipeline does per frame and per video (the
report's counts, the point layout, staging, Beam). The backend is configured as
run_local.sh's pipeline configures it for the same N
(keypoints.backends.graph_threads_per_worker). Prints one JSON line: frames, seconds, and
``last_video_at``, the wall-clock time (time.time) at which the last video was done.

    python -m benchmarks.raw --workers 2 --backend holistic VIDEO_FOLDER_OR_FILE...
    python -m benchmarks.raw --workers 2 --backend holistic --decode_scale 2 VIDEO_FOLDER...
    python -m benchmarks.raw --workers 2 --backend tasks --model_dir M VIDEO_FOLDER...
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import sys
import time
from typing import BinaryIO

from keypoints.backends import BackendConfig, graph_threads_per_worker
from keypoints.frames import IMAGE_EXTENSIONS, VideoSource, extension, natural_order, open_video

FPS = 30.0  # frame folders' rate, the pipeline's --fps default

_backend = None
_scale = 1


def decode_scale_supported() -> bool:
    """Whether the product's frame source takes a decode scale (``--decode_scale``)."""
    return "scale" in inspect.signature(open_video).parameters


def video_source(path: str) -> VideoSource:
    """A frame folder (its frame files in natural order) or a video file, as the listing makes."""
    name = os.path.basename(path.rstrip("/"))
    if not os.path.isdir(path):
        return VideoSource(os.path.splitext(name)[0], path, False, (path,))
    frames = [
        os.path.join(path, entry)
        for entry in os.listdir(path)
        if extension(entry) in IMAGE_EXTENSIONS
    ]
    return VideoSource(name, path, True, tuple(natural_order(frames)))


def open_binary(path: str) -> BinaryIO:
    """Local files as the pipeline opens them (Beam's LocalFileSystem: ``open(path, "rb")``)."""
    return open(path, "rb")


def _init(backend: str, config: BackendConfig, scale: int) -> None:
    global _backend, _scale
    from keypoints.backends import create_backend

    _backend = create_backend(backend, config)
    _scale = scale


def _run_video(path: str) -> int:
    assert _backend is not None
    _backend.start_video()
    scale = {"scale": _scale} if _scale != 1 else {}  # runs where the option is not there yet
    count = 0
    with open_video(video_source(path), open_binary, FPS, **scale) as stream:
        for frame in stream.frames:
            if frame.rgb is None:
                continue  # unreadable: the pipeline skips it too
            ms = round(frame.index * 1000 / stream.fps) if frame.time_ms is None else frame.time_ms
            _backend.process(frame.rgb, ms)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--backend", default="holistic")
    parser.add_argument("--model_dir", help="Tasks model files (tasks backend)")
    parser.add_argument(
        "--decode_scale", type=int, default=1, help="as the pipeline's --decode_scale"
    )
    parser.add_argument("videos", nargs="+", help="frame folders or video files")
    args = parser.parse_args(argv)
    if args.decode_scale != 1 and not decode_scale_supported():
        parser.error("keypoints.frames.open_video takes no decode scale yet")
    config = BackendConfig(
        model_dir=args.model_dir, graph_threads=graph_threads_per_worker(args.workers)
    )
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    initargs = (args.backend, config, args.decode_scale)
    with context.Pool(args.workers, initializer=_init, initargs=initargs) as pool:
        frames = sum(pool.imap_unordered(_run_video, args.videos, chunksize=1))
        last_video_at = time.time()
    print(
        json.dumps(
            {
                "frames": frames,
                "seconds": time.perf_counter() - started,
                "last_video_at": last_video_at,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
