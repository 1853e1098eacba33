"""Packing a multi-GB output: wall time, MB/s against ``cp``, and the pack's peak memory.

Writes a synthetic output in the real layout (npz files by ``keypoints.npz.write_npz``,
each sign's report, ``_reports/videos.jsonl`` and a ``run.json``; some videos failed),
with keypoint-like numbers (smooth tracks, hands sometimes missing) so that the npz files
compress about as real ones do. Then it runs ``signkps pack`` on part of it and on all
of it, each as a child process whose peak RSS is read from ``wait4``, a second time on
all of it (every split kept: the cost of checking the output alone), and ``cp`` of the
same npz files and of the packed points, all with a warm page cache.

    .venv/bin/python -m benchmarks.pack [--gb 2.2] [--workdir /tmp/signkps-pack-bench] [--keep]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from keypoints.corpus import SignKey
from keypoints.layout import LAYOUTS, PARTS_184
from keypoints.npz import write_npz
from keypoints.outputs import combined_report_path, npz_path, run_record_path, sign_report_path

SIGNKPS = str(Path(sys.executable).with_name("signkps"))
MB = 1e6
FRAMES = (40, 120)  # frames per video, uniform in this range (KArSL-like lengths)
FAILED_EVERY = 97  # one video in this many is a failed one: in the reports, not in the npz
MISSING_HAND = 0.3  # share of frames where each hand is not detected (all zeros)
# The rest of a video's record, as the pipeline writes it (README, "Reports").
RECORD: dict[str, Any] = {
    "status": "ok",
    "reason": None,
    "frames": 0,
    "unreadable_frames": 0,
    "ignored_files": 0,
    "width": 640,
    "height": 360,
    "stored_width": None,
    "stored_height": None,
    "rotation": 0,
    "mirrored": False,
    "fps": 30.0,
    "coverage": {"pose": 1.0, "face": 1.0, "right_hand": 0.7, "left_hand": 0.7},
    "hand_label_disagreements": None,
    "problems": [],
    "ffmpeg_log": [],
    "seconds": 1.234,
    "reused": False,
}


def keypoint_track(rng: np.random.Generator, frames: int, points: int) -> np.ndarray:
    """Smooth random tracks in [0, 1], visibility 1, each hand missing in some frames."""
    start = rng.uniform(0.2, 0.8, size=(1, points, 3))
    steps = rng.normal(0, 0.002, size=(frames, points, 3)).cumsum(axis=0)
    xyz = np.clip(start + steps, 0, 1)
    track = np.concatenate([xyz, np.ones((frames, points, 1))], axis=2).astype(np.float32)
    if points == len(LAYOUTS["184"].point_names):
        for part in ("right_hand", "left_hand"):
            gone = rng.random(frames) < MISSING_HAND
            track[gone, PARTS_184[part].slice] = 0
    return track


def write_sign(
    root: str, key: SignKey, videos: int, layout_points: str, seed: int
) -> list[dict[str, Any]]:
    """One sign's npz and report; its records."""
    rng = np.random.default_rng(seed)
    points = LAYOUTS[layout_points].num_points
    records, arrays = [], []
    for v in range(videos):
        name = f"{key.signer}_{key.sign:04d}_{v:03d}"
        source = f"/corpus/{key.signer}/{key.signer}/{key.split}/{key.sign:04d}/{name}"
        record = {**key._asdict(), "video": name, "source": source, **RECORD}
        if (seed + v) % FAILED_EVERY == 0:
            record.update(status="failed", reason="synthetic: no readable frame")
        else:
            frames = int(rng.integers(FRAMES[0], FRAMES[1] + 1))
            arrays.append((name, keypoint_track(rng, frames, points)))
            record["frames"] = frames
        records.append(record)
    npz = Path(npz_path(root, key))
    npz.parent.mkdir(parents=True, exist_ok=True)
    with npz.open("wb") as f:
        write_npz(f, arrays)
    report = Path(sign_report_path(root, key))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def _write_sign_job(job: tuple[str, SignKey, int, str, int]) -> list[dict[str, Any]]:
    return write_sign(*job)


def run_json(root: str, layout_points: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A run.json as the pipeline writes one (the fields a pack reads, and their kind)."""
    ok = sum(r["status"] == "ok" for r in records)
    options: dict[str, Any] = {"input_root": "/corpus", "output_root": root}
    if layout_points != "184":
        options["layout_points"] = layout_points
    return {
        "project": "signkps",
        "versions": {"python": "3.11.7", "mediapipe": "0.10.21", "numpy": np.__version__},
        "backend": {"name": "holistic", "settings": {"model_complexity": 1, "refine": True}},
        "options": options,
        "counters": {"videos_ok": ok, "videos_failed": len(records) - ok},
        "output": {"videos_ok": ok, "videos_failed": len(records) - ok},
        "started": "2026-12-01T00:00:00+00:00",
        "finished": "2026-12-01T01:00:00+00:00",
    }


def build_output(
    root: Path,
    signers: list[str],
    splits: list[str],
    signs: int,
    videos: int,
    layout_points: str = "184",
    processes: int = 1,
    until_bytes: int | None = None,
) -> dict[str, int]:
    """A finished run's output in the real layout; with ``until_bytes``, signs are added
    (all signers and splits at a time) until the npz files hold at least that many bytes."""
    jobs, records, written, sign = [], [], 0, 0
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        while sign < signs or (until_bytes is not None and written < until_bytes):
            sign += 1
            keys = [SignKey(signer, split, sign) for signer in signers for split in splits]
            batch = [
                (str(root), key, videos, layout_points, len(jobs) + i) for i, key in enumerate(keys)
            ]
            jobs.extend(batch)
            for found in pool.map(_write_sign_job, batch):
                records.extend(found)
            written = sum(os.path.getsize(npz_path(str(root), job[1])) for job in jobs)
    records.sort(key=lambda r: (r["signer"], r["split"], r["sign"], r["video"]))
    Path(combined_report_path(str(root))).write_text("".join(json.dumps(r) + "\n" for r in records))
    run = run_json(str(root), layout_points, records)
    Path(run_record_path(str(root))).write_text(json.dumps(run, indent=2) + "\n")
    frames = sum(r["frames"] for r in records)
    return {"signs": sign, "videos": len(records), "frames": frames, "npz_bytes": written}


def timed_child(command: list[str]) -> dict[str, Any]:
    """Wall time and peak RSS (MB) of one child process, which must succeed."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    out = child.stdout.read().decode() if child.stdout else ""
    err = child.stderr.read().decode() if child.stderr else ""
    assert os.waitstatus_to_exitcode(status) == 0, (command, out, err)
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss * 1024 / MB, "stdout": out}


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def copy_times(source: Path, target: Path) -> dict[str, float]:
    """``cp -r`` of a tree: its wall time, and with the ``sync`` that puts it on disk."""
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    copied = time.perf_counter() - started
    subprocess.run(["sync"], check=True)
    synced = time.perf_counter() - started
    shutil.rmtree(target)
    return {"wall_s": copied, "wall_with_sync_s": synced}


def one_round(pack: list[str], output: Path, dest: Path, npz_bytes: int) -> dict[str, Any]:
    """A whole pack into a new destination, then cp of its input and of its output."""
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["sync"], check=True)
    whole = timed_child([*pack, f"--dest={dest}"])
    points = sum(p.stat().st_size for p in dest.rglob("points.npy"))
    cp_npz = copy_times(output, dest.with_name("copy"))
    cp_points = copy_times(dest, dest.with_name("copy"))
    return {
        "pack_s": whole["wall_s"],
        "pack_peak_rss_mb": whole["peak_rss_mb"],
        "points_bytes": points,
        "pack_mb_per_s_npz_read": npz_bytes / MB / whole["wall_s"],
        "pack_mb_per_s_points_written": points / MB / whole["wall_s"],
        "cp_npz_mb_per_s": npz_bytes / MB / cp_npz["wall_s"],
        "cp_npz_sync_mb_per_s": npz_bytes / MB / cp_npz["wall_with_sync_s"],
        "cp_points_mb_per_s": points / MB / cp_points["wall_s"],
        "cp_points_sync_mb_per_s": points / MB / cp_points["wall_with_sync_s"],
        "stdout": whole["stdout"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.2, help="npz bytes to write, in GB")
    parser.add_argument("--videos", type=int, default=20, help="videos per sign")
    parser.add_argument("--rounds", type=int, default=2, help="whole packs, each with its cp")
    parser.add_argument("--workdir", type=Path, help="default: a new folder in /tmp")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (and its output)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="signkps-pack-bench-"))
    output, dest = work / "output", work / "packed"
    try:
        if not (output / "_reports" / "run.json").exists():
            started = time.perf_counter()
            signers, splits = ["01", "02", "03"], ["train", "test"]
            until = int(args.gb * 1e9)
            cores = os.cpu_count() or 1
            built = build_output(output, signers, splits, 1, args.videos, "184", cores, until)
            print(f"built {built} in {time.perf_counter() - started:.0f} s")
        npz_bytes = sum(p.stat().st_size for p in output.rglob("*.npz"))
        copy_times(output, work / "warm")  # the page cache holds the npz files from here on
        pack = [SIGNKPS, "pack", f"--output_root={output}"]
        results: dict[str, Any] = {"npz_bytes": npz_bytes}
        results["startup_s"] = timed_child([SIGNKPS, "pack", "--help"])["wall_s"]
        part = timed_child(
            [*pack, f"--dest={work / 'part'}", "--signers", "01", "--splits", "train"]
        )
        results["pack_one_sixth"] = {**part, "dest_bytes": tree_bytes(work / "part")}
        shutil.rmtree(work / "part")
        results["rounds"] = [one_round(pack, output, dest, npz_bytes) for _ in range(args.rounds)]
        results["pack_again_kept"] = timed_child([*pack, f"--dest={dest}"])
        print(json.dumps(results, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
