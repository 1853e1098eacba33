"""The design this project grew from, rebuilt faithfully to compare against.

A process pool with one task per sign. Each worker holds the three MediaPipe Tasks
landmarkers (pose, face, hands) in IMAGE mode and, for every frame, calls the three
through a thread pool made for that frame, then builds the 184-point array (hands placed
by the classifier's handedness label) and saves each sign as an npz of float64 arrays
with ``np.savez``. Prints one JSON line: frames and seconds.

    python -m benchmarks.reference --workers 2 --model_dir M --output O SIGN_FOLDER...
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from keypoints import layout as L

_models = None


def _init(model_dir: str) -> None:
    global _models
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    def options(name: str) -> BaseOptions:
        return BaseOptions(model_asset_path=os.path.join(model_dir, name))

    image_mode = vision.RunningMode.IMAGE
    _models = (
        mp,
        vision.PoseLandmarker.create_from_options(vision.PoseLandmarkerOptions(
            base_options=options("pose_landmarker_full.task"), running_mode=image_mode)),
        vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
            base_options=options("face_landmarker.task"), running_mode=image_mode, num_faces=1)),
        vision.HandLandmarker.create_from_options(vision.HandLandmarkerOptions(
            base_options=options("hand_landmarker.task"), running_mode=image_mode, num_hands=2)),
    )  # fmt: skip


def _frame_184(pose, face, hands) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.zeros((L.POINTS_184, 4), dtype=np.float64)
    if pose.pose_landmarks:
        lms = pose.pose_landmarks[0]
        out[L.POSE_SLICE] = [[lms[i].x, lms[i].y, lms[i].z, lms[i].visibility] for i in L.POSE_184]
    if face.face_landmarks:
        lms = face.face_landmarks[0]
        out[L.FACE_SLICE] = [[lms[i].x, lms[i].y, lms[i].z, 1.0] for i in L.FACE_184]
    for handedness, lms in zip(hands.handedness, hands.hand_landmarks, strict=True):
        part = L.RIGHT_HAND_SLICE if handedness[0].category_name == "Right" else L.LEFT_HAND_SLICE
        out[part] = [[p.x, p.y, p.z, 1.0] for p in lms]
    return out


def _run_sign(job: tuple[str, str]) -> int:
    sign_folder, out_path = job
    assert _models is not None
    mp, pose, face, hands = _models
    videos = {}
    for video in sorted(Path(sign_folder).iterdir()):
        rows = []
        for frame_path in sorted(video.iterdir()):
            rgb = cv2.cvtColor(cv2.imread(str(frame_path)), cv2.COLOR_BGR2RGB)
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            with ThreadPoolExecutor(max_workers=3) as threads:
                futures = [threads.submit(m.detect, image) for m in (pose, face, hands)]
                rows.append(_frame_184(*(f.result() for f in futures)))
        videos[video.name] = np.stack(rows)
    np.savez(out_path, **videos)
    return sum(len(v) for v in videos.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("signs", nargs="+")
    args = parser.parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    jobs = [(s, os.path.join(args.output, f"{i:04d}.npz")) for i, s in enumerate(args.signs)]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers, initializer=_init, initargs=(args.model_dir,)) as pool:
        frames = sum(pool.imap_unordered(_run_sign, jobs, chunksize=1))
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
