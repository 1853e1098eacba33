"""What durable progress costs per video, against extracting that video, in one process.

Every video a run extracts is also signed (its frame files stat'ed), recorded (array and
JSON record through FileSystems) and checked for its sign's completion (the manifest and
every record of the sign read back). This times exactly those calls, the ones the
extraction step makes (transforms.staging), on a KArSL-like sign of real frame folders,
and the real Holistic extraction of one of its videos, and prints the ratio.

    .venv/bin/python -m benchmarks.records [--frames 50] [--videos 4] [--repeat 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from keypoints.backends import create_backend
from keypoints.corpus import SignKey, group_videos
from keypoints.extract import ExtractionSettings, extract_video
from tests.conftest import assets_dir
from transforms.files import open_for_reading
from transforms.listing import list_folder
from transforms.staging import (
    complete_sign,
    record_video,
    reuse_video,
    run_signature,
    source_signature,
    video_signature,
    write_manifest,
)

KEY = SignKey("01", "train", 1)


def build_sign(root: Path, videos: int, frames: int) -> Path:
    assets = assets_dir()
    assert assets is not None, "the shared assets are needed (../shared/assets)"
    footage = sorted((assets / "media" / "signer_sample_frames").glob("*.jpg"))
    sign = root / "sign"
    for v in range(videos):
        folder = sign / f"v{v}"
        folder.mkdir(parents=True)
        for i in range(frames):
            shutil.copy(footage[i % len(footage)], folder / f"{i:05d}.jpg")
    return sign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="signkps-records-"))
    try:
        sign = build_sign(work, args.videos, args.frames)
        listing = group_videos(str(sign), *list_folder(str(sign)))
        video = listing.videos[0]
        backend = create_backend("holistic")
        settings = ExtractionSettings()
        started = time.perf_counter()
        result = extract_video(video, backend, settings, open_for_reading)
        extract_s = time.perf_counter() - started
        backend.close()

        run = run_signature("holistic", {"model_complexity": 1}, settings)
        output = str(work / "out")
        costs = []
        for i in range(args.repeat):
            run_id = f"run{i}"
            started = time.perf_counter()
            sources = {v.location: source_signature(v) for v in listing.videos}  # listing
            write_manifest(output, KEY, sources)
            listing_s = time.perf_counter() - started
            per_video = []
            for v in listing.videos:
                started = time.perf_counter()
                signature = video_signature(sources[v.location], run)
                assert reuse_video(output, KEY, v.location, signature, run_id) is None
                staged_result = type(result)(
                    type(result.report)(**{**result.report.to_dict(), "source": v.location}),
                    result.points,
                )
                record_video(output, KEY, staged_result, signature, run_id)
                completed = complete_sign(output, KEY, run, run_id, lambda *a: None)
                per_video.append(time.perf_counter() - started)
            assert completed
            costs.append((listing_s / args.videos + statistics.mean(per_video)) * 1000)
            shutil.rmtree(work / "out")
        cost_ms = statistics.median(costs)
        print(
            f"{args.videos} videos x {args.frames} frames (640x360 JPEG), {args.repeat} rounds\n"
            f"  extracting one video (Holistic, one process): {extract_s * 1000:.0f} ms\n"
            f"  signing, recording and completion checks, per video: {cost_ms:.2f} ms "
            f"(median of rounds)\n"
            f"  ratio: {cost_ms / (extract_s * 1000):.2%} of a video's extraction"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
