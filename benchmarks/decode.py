"""What decoding a 1080p frame costs, and what ``--decode_scale`` costs in keypoint accuracy.

KArSL's frames are 1920x1080 JPEGs (Kinect V2). This builds such frames from the shared
640x360 signer footage, enlarged (bicubic) to 1920x1080 and written at JPEG quality 90
(an enlarged frame holds less detail than a camera's, so it compresses smaller and decodes
a little faster than a real one: the file size is printed), then measures in one process:

- CPU per frame of each decode path: OpenCV as before (``imdecode`` + BGR to RGB), the
  product's default (keypoints.images: libjpeg-turbo straight to RGB), the reduced decodes,
  and Holistic's own cost on the full and the reduced frame;
- the keypoints of ``--decode_scale 2`` against full decoding, per part: the distance in
  pixels of the 1080p frame and as a fraction of the signer's shoulder width, over the
  frames where both found the part, and how often only one of them found it.

    .venv/bin/python -m benchmarks.decode [--videos 4] [--frames 50]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from benchmarks.throughput import assets_dir, ping_pong
from keypoints import images
from keypoints import layout as L
from keypoints.backends import create_backend
from keypoints.extract import ExtractionSettings, extract_video
from keypoints.frames import VideoSource

SIZE = (1920, 1080)
QUALITY = 90


def build_videos(root: Path, videos: int, frames: int) -> list[VideoSource]:
    source = sorted((assets_dir() / "media" / "signer_sample_frames").glob("*.jpg"))
    enlarged = {}
    for path in source:
        image = cv2.resize(cv2.imread(str(path)), SIZE, interpolation=cv2.INTER_CUBIC)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        assert ok
        enlarged[path] = data.tobytes()
    found = []
    for v in range(videos):
        folder = root / f"v{v:02d}"
        folder.mkdir(parents=True)
        paths = []
        for i, frame in enumerate(ping_pong(source[v % 3 :], frames)):
            paths.append(folder / f"{i:05d}.jpg")
            paths[-1].write_bytes(enlarged[frame])
        found.append(VideoSource(folder.name, str(folder), True, tuple(map(str, paths))))
    return found


def read_binary(path: str) -> BinaryIO:
    return open(path, "rb")


def cpu_ms(fn: Callable[[bytes], object], datas: list[bytes], rounds: int = 3) -> float:
    """Median over rounds of CPU ms per call, over every frame."""
    fn(datas[0])
    per_round = []
    for _ in range(rounds):
        start = time.process_time()
        for data in datas:
            fn(data)
        per_round.append((time.process_time() - start) * 1000 / len(datas))
    return round(float(np.median(per_round)), 2)


def decode_costs(datas: list[bytes]) -> dict[str, float]:
    def opencv(data: bytes) -> object:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def opencv_half(data: bytes) -> object:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def product(reduce: int) -> Callable[[bytes], object]:
        return lambda data: images.decode(data, images.read_header(data), reduce)

    return {
        "opencv imdecode + BGR2RGB (before)": cpu_ms(opencv, datas),
        "header read (Pillow)": cpu_ms(images.read_header, datas),
        "signkps default (header + libjpeg-turbo to RGB)": cpu_ms(product(1), datas),
        "opencv IMREAD_REDUCED_COLOR_2 + BGR2RGB": cpu_ms(opencv_half, datas),
        "signkps --decode_scale 2": cpu_ms(product(2), datas),
    }


def model_costs(datas: list[bytes]) -> dict[str, float]:
    backend = create_backend("holistic", None)
    result = {}
    for reduce in (1, 2):
        rgbs = [images.decode(d, images.read_header(d), reduce) for d in datas[:30]]
        backend.start_video()
        backend.process(rgbs[0], 0)  # the first frame of a graph costs more
        start = time.process_time()
        for i, rgb in enumerate(rgbs[1:], 1):
            backend.process(rgb, i * 33)
        result[f"holistic, {rgbs[0].shape[1]}x{rgbs[0].shape[0]} input"] = round(
            (time.process_time() - start) * 1000 / (len(rgbs) - 1), 1
        )
    backend.close()
    return result


def deviation(videos: list[VideoSource]) -> dict[str, dict[str, float]]:
    """Per part: pixel and shoulder-width distances of --decode_scale 2 from full decoding."""
    backend = create_backend("holistic", None)
    whole, half = [], []
    for video in videos:
        for scale, into in ((1, whole), (2, half)):
            settings = ExtractionSettings(decode_scale=scale)
            result = extract_video(video, backend, settings, read_binary)
            assert result.points is not None, result.report.reason
            into.append(result.points)
    backend.close()
    full, reduced = np.concatenate(whole), np.concatenate(half)
    pixels = np.array(SIZE, dtype=np.float64)
    shoulders = full[:, L.POSE_SLICE][:, :2, :2] * pixels  # left and right shoulder
    width = np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=1)
    found: dict[str, dict[str, float]] = {}
    for name, part in L.PARTS_184.items():
        a, b = full[:, part.slice, :2] * pixels, reduced[:, part.slice, :2] * pixels
        in_a, in_b = a.any(axis=(1, 2)), b.any(axis=(1, 2))
        both = in_a & in_b
        gap = np.linalg.norm(a[both] - b[both], axis=2)  # (frames, points)
        per_frame = gap.mean(axis=1)
        found[name] = {
            "frames_both": int(both.sum()),
            "found_by_one_only": int((in_a ^ in_b).sum()),
            "median_px": round(float(np.median(per_frame)), 2),
            "p95_px": round(float(np.percentile(per_frame, 95)), 2),
            "median_shoulder_frac": round(float(np.median(per_frame / width[both])), 4),
            "p95_shoulder_frac": round(float(np.percentile(per_frame / width[both], 95)), 4),
        }
    found["_frames"] = {"total": len(full), "shoulder_width_px": round(float(np.median(width)))}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="signkps-decode-") as work:
        videos = build_videos(Path(work), args.videos, args.frames)
        datas = [Path(p).read_bytes() for p in videos[0].frame_paths]
        size_kb = round(float(np.mean([len(d) for d in datas])) / 1024, 1)
        print(json.dumps({"frame": f"{SIZE[0]}x{SIZE[1]} JPEG q{QUALITY}", "mean_kb": size_kb}))
        print(json.dumps({"decode_cpu_ms_per_frame": decode_costs(datas)}))
        print(json.dumps({"model_cpu_ms_per_frame": model_costs(datas)}))
        print(json.dumps({"decode_scale_2_vs_full": deviation(videos)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
