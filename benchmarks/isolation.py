"""What crash isolation costs (issue 15): the extraction process's start-up and round trips.

Three measurements, each alternating isolated and in-process so that the machine's drift
reaches both alike; prints one JSON line per measurement, then medians:

  startup    fresh interpreters that have imported what a worker has (transforms.extract):
             in-process, the time to build Holistic (MediaPipe's import included, as in a
             worker's setup()); isolated, the time for IsolatedExtractor() to return and
             then for its child to be ready (spawn, imports, Holistic). Also the peak
             memory of each process, and the import of Beam's FileSystems the child does
             without (transforms.files).
  roundtrip  one process holding both: per video, wall time of extract_video in-process
             against IsolatedExtractor.extract on the same video (a video that fails at
             once, a 9-frame and a 50-frame frame folder of the real 640x360 signer), and
             the results compared bit for bit.
  runs       whole ``signkps local`` runs, 2 workers, with and without --no_isolate_backend,
             on a one-frame corpus (the start-up) and a small corpus.

    .venv/bin/python -m benchmarks.isolation --rounds 5 --workdir /tmp/bench-isolation
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.procstats import run_measured
from benchmarks.throughput import assets_dir, build_corpus, ping_pong

REPO = Path(__file__).resolve().parents[1]

STARTUP_IN_PROCESS = """
import json, resource, time
import transforms.extract
from keypoints.backends import create_backend
t0 = time.perf_counter()
backend = create_backend("holistic")
ready = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ready_s": ready, "worker_peak_mb": peak}))
"""

STARTUP_ISOLATED = """
import functools, json, resource, time
import transforms.extract
from keypoints.backends import create_backend
from keypoints.isolation import IsolatedExtractor
from transforms.files import open_for_reading
t0 = time.perf_counter()
extractor = IsolatedExtractor(functools.partial(create_backend, "holistic", None), open_for_reading)
returned = time.perf_counter() - t0
extractor.ready()
ready = time.perf_counter() - t0
pid = extractor.pid
child_peak = int(open(f"/proc/{pid}/status").read().split("VmHWM:")[1].split()[0]) / 1024
extractor.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"returned_s": returned, "ready_s": ready, "worker_peak_mb": peak,
                  "child_peak_mb": child_peak}))
"""

IMPORT_FILES = """
import json, time
t0 = time.perf_counter()
import transforms.files
print(json.dumps({"import_s": time.perf_counter() - t0}))
"""


def python_json(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def emit(record: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(record), flush=True)
    return record


def median(records: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in records), 4)


def startup(rounds: int) -> dict[str, Any]:
    isolated, in_process, imports = [], [], []
    for r in range(1, rounds + 1):
        in_process.append(emit({"bench": "startup", "mode": "in-process", "round": r,
                                **python_json(STARTUP_IN_PROCESS)}))  # fmt: skip
        isolated.append(emit({"bench": "startup", "mode": "isolated", "round": r,
                              **python_json(STARTUP_ISOLATED)}))  # fmt: skip
        imports.append(emit({"bench": "startup", "mode": "import transforms.files",
                             "round": r, **python_json(IMPORT_FILES)}))  # fmt: skip
    return {
        "in_process_ready_s": median(in_process, "ready_s"),
        "isolated_returned_s": median(isolated, "returned_s"),
        "isolated_ready_s": median(isolated, "ready_s"),
        "in_process_worker_peak_mb": median(in_process, "worker_peak_mb"),
        "isolated_worker_peak_mb": median(isolated, "worker_peak_mb"),
        "isolated_child_peak_mb": median(isolated, "child_peak_mb"),
        "beam_files_import_s": median(imports, "import_s"),
    }


def frame_folder(root: Path, name: str, frames: list[Path]) -> Any:
    from keypoints.frames import VideoSource

    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for i, frame in enumerate(frames):
        target = folder / f"{i:05d}.jpg"
        shutil.copy(frame, target)
        paths.append(str(target))
    return VideoSource(name, str(folder), True, tuple(paths))


def roundtrip(rounds: int, work: Path) -> dict[str, Any]:
    from keypoints.backends import create_backend
    from keypoints.extract import ExtractionSettings, extract_video
    from keypoints.frames import VideoSource
    from keypoints.isolation import IsolatedExtractor

    signer = sorted((assets_dir() / "media" / "signer_sample_frames").glob("*.jpg"))
    videos = {
        "fails at once": VideoSource("none", str(work / "none"), True, (), problem="listed"),
        "9 frames": frame_folder(work / "videos", "nine", signer),
        "50 frames": frame_folder(work / "videos", "fifty", ping_pong(signer, 50)),
    }
    settings = ExtractionSettings()
    read = functools.partial(open, mode="rb")
    backend = create_backend("holistic")
    extractor = IsolatedExtractor(functools.partial(create_backend, "holistic", None), read)
    extractor.ready()
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for video in videos.values():  # warm both up: first frames are slower
            extract_video(video, backend, settings, read)
            extractor.extract(video, settings)
        for r in range(1, rounds + 1):
            for label, video in videos.items():
                t0 = time.perf_counter()
                here = extract_video(video, backend, settings, read)
                t1 = time.perf_counter()
                there = extractor.extract(video, settings)
                t2 = time.perf_counter()
                same = here.ok == there.ok and (
                    here.points is None or np.array_equal(here.points, there.points)
                )
                emit({"bench": "roundtrip", "video": label, "round": r, "identical": same,
                      "in_process_s": t1 - t0, "isolated_s": t2 - t1})  # fmt: skip
                times.setdefault((label, "in-process"), []).append(t1 - t0)
                times.setdefault((label, "isolated"), []).append(t2 - t1)
    finally:
        extractor.close()
        backend.close()
    summary: dict[str, Any] = {}
    for label in videos:
        here = statistics.median(times[label, "in-process"])
        there = statistics.median(times[label, "isolated"])
        summary[label] = {
            "in_process_ms": round(here * 1000, 2),
            "isolated_ms": round(there * 1000, 2),
            "overhead_ms": round((there - here) * 1000, 2),
        }
    return summary


def runs(rounds: int, work: Path, signs: int, videos: int, frames: int) -> dict[str, Any]:
    corpora = {
        "one frame": (build_corpus(work / "tiny", 1, 1, 1, mp4=False), work / "tiny", 1),
        "small": (build_corpus(work / "small", signs, videos, frames, mp4=False), work / "small",
                  signs),
    }  # fmt: skip
    walls: dict[tuple[str, str], list[float]] = {}
    for r in range(1, rounds + 1):
        for label, (_, root, n) in corpora.items():
            for mode, extra in (("isolated", []), ("in-process", ["--no_isolate_backend"])):
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                cmd = [
                    str(Path(sys.executable).with_name("signkps")), "local",
                    f"--input_root={root / 'frames'}", f"--output_root={out}",
                    "--signers=01", "--splits=train", f"--selected_signs_to={n}",
                    "--direct_num_workers=2", *extra,
                ]  # fmt: skip
                wall, sample, code = run_measured(cmd)
                assert code == 0, f"{cmd} exited with {code}"
                peaks = {
                    kind: max(
                        (kb / 1024 for pid, kb in sample.peaks_kb.items()
                         if marker in sample.commands.get(pid, "")),
                        default=0.0,
                    )
                    for kind, marker in (("worker", "sdk_worker_main"),
                                         ("child", "keypoints.isolation"))
                }  # fmt: skip
                emit({"bench": "run", "corpus": label, "mode": mode, "round": r,
                      "wall_s": wall, "worker_peak_mb": peaks["worker"],
                      "child_peak_mb": peaks["child"]})  # fmt: skip
                walls.setdefault((label, mode), []).append(wall)
    return {
        f"{label}, {mode}": {"wall_s": [round(w, 2) for w in ws],
                             "median_s": round(statistics.median(ws), 2)}
        for (label, mode), ws in walls.items()
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--run-rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-isolation"))
    parser.add_argument("--only", choices=["startup", "roundtrip", "runs"])
    parser.add_argument("--signs", type=int, default=4)
    parser.add_argument("--videos-per-sign", type=int, default=4)
    parser.add_argument("--frames-per-video", type=int, default=25)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)
    summary: dict[str, Any] = {}
    if args.only in (None, "startup"):
        summary["startup"] = startup(args.rounds)
    if args.only in (None, "roundtrip"):
        summary["roundtrip"] = roundtrip(args.rounds * 2, args.workdir)
    if args.only in (None, "runs"):
        summary["runs"] = runs(
            args.run_rounds, args.workdir, args.signs, args.videos_per_sign,
            args.frames_per_video,
        )  # fmt: skip
    print(json.dumps({"summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
