"""Holistic and Tasks side by side on the shared footage: coverage per part, ms per frame.

    .venv/bin/python -m benchmarks.compare_backends [--assets DIR] [--repeats N]

Prints two Markdown tables (the README's): what each backend finds and how fast, and what
it costs to start a video from fresh tracking state. Timings are the best of ``--repeats``
runs, in CPU time (and wall-clock); on a shared machine they are indicative only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from keypoints import layout as L
from keypoints.backends import Backend, BackendConfig, create_backend
from keypoints.backends.holistic import HolisticBackend
from keypoints.backends.tasks import REBUILD, TasksBackend
from keypoints.extract import extract_frames
from keypoints.frames import VideoSource, open_video
from tests.conftest import assets_dir

Frames = list[npt.NDArray[np.uint8]]
BACKEND_NAMES = ("holistic", "tasks")
PART_TITLES = {"pose": "pose", "face": "face", "right_hand": "right hand", "left_hand": "left hand"}


def read(paths: list[Path], name: str) -> Frames:
    """Decoded RGB frames, through the same reader the pipeline uses."""
    folder = paths[0].suffix != ".mp4"
    source = VideoSource(name, str(paths[0].parent), folder, tuple(map(str, paths)))
    with open_video(source, lambda path: open(path, "rb"), 30.0) as stream:
        return [f.rgb for f in stream.frames if f.rgb is not None]


def footage(assets: Path) -> dict[str, list[Frames]]:
    """Named sets of videos: the signer clip and frames, and the stills (one frame each)."""
    media = assets / "media"
    stills = [*sorted(media.glob("gesture_*.jpg")), media / "astronaut.jpg"]
    return {
        "signer, 9 frames 640x360": [read(sorted(media.glob("signer_sample_frames/*.jpg")), "f")],
        "signer, 9 frames 1280x720 (mp4)": [read([media / "signer_sample_1280x720_9f.mp4"], "c")],
        f"{len(stills)} stills (gestures, portrait)": [read([p], p.stem) for p in stills],
    }


def coverage(backend: Backend, videos: list[Frames]) -> dict[str, float]:
    full = np.concatenate([extract_frames(video, backend) for video in videos])
    return {name: float(L.part_present(full, part).mean()) for name, part in L.FULL_PARTS.items()}


@dataclass(frozen=True)
class Cost:
    """Milliseconds of CPU (the process, all its threads) and of wall-clock.

    CPU time is what a worker core pays, and other jobs on the machine disturb it far less
    than wall-clock time.
    """

    cpu_ms: float
    wall_ms: float

    def __str__(self) -> str:
        return f"{self.cpu_ms:.0f} ({self.wall_ms:.0f})"

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.cpu_ms + other.cpu_ms, self.wall_ms + other.wall_ms)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.cpu_ms - other.cpu_ms, self.wall_ms - other.wall_ms)

    def per(self, n: int) -> Cost:
        return Cost(self.cpu_ms / n, self.wall_ms / n)


def best(costs: list[Cost]) -> Cost:
    """The least disturbed of repeated measurements."""
    return Cost(min(c.cpu_ms for c in costs), min(c.wall_ms for c in costs))


def timed(run: Callable[[], object]) -> Cost:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return Cost((time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000)


def per_frame(backend: Backend, videos: list[Frames], repeats: int) -> Cost:
    """Best over repeats of the cost per frame, start_video() excluded."""
    runs = []
    for _ in range(repeats):
        total, frames = Cost(0, 0), 0
        for video in videos:
            backend.start_video()
            for i, rgb in enumerate(video):
                total += timed(lambda: backend.process(rgb, round(i * 1000 / 30)))  # noqa: B023
                frames += 1
        runs.append(total.per(frames))
    return best(runs)


def per_video(build: Callable[[], Backend], frames: Frames, repeats: int) -> Cost:
    """What start_video() adds to a video: its own cost and that of a slower first frame."""
    backend = build()
    steady = per_frame(backend, [frames], repeats)
    costs = []
    for _ in range(repeats):
        extract_frames(frames[:3], backend)  # leaves tracking state to drop

        def first_frame() -> None:
            backend.start_video()
            backend.process(frames[0], 0)

        costs.append(timed(first_frame) - steady)
    backend.close()
    return best(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=Path, default=assets_dir())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.assets is None:
        parser.error("test assets not found: give --assets or set SIGNKPS_TEST_ASSETS")
    config = BackendConfig(model_dir=str(args.assets / "models"))
    sets = footage(args.assets)
    backends = {name: create_backend(name, config) for name in BACKEND_NAMES}

    print("| footage | part | " + " | ".join(BACKEND_NAMES) + " |")
    print("|---|---|" + "---:|" * len(BACKEND_NAMES))
    for title, videos in sets.items():
        found = {name: coverage(b, videos) for name, b in backends.items()}
        for part, part_title in PART_TITLES.items():
            cells = " | ".join(f"{found[name][part]:.0%}" for name in BACKEND_NAMES)
            print(f"| {title} | {part_title} | {cells} |")
        speed = {name: per_frame(b, videos, args.repeats) for name, b in backends.items()}
        cells = " | ".join(str(speed[name]) for name in BACKEND_NAMES)
        print(f"| {title} | **ms per frame, CPU (wall)** | {cells} |")
    for backend in backends.values():
        backend.close()

    frames = sets["signer, 9 frames 640x360"][0]
    builders: dict[str, Callable[[], Backend]] = {
        "holistic: blank frame, visibility filtered in Python (used)": lambda: create_backend(
            "holistic"
        ),
        "holistic: restart the graph": lambda: HolisticBackend(restart_graph=True),
        "tasks: restart the three graphs (used)": lambda: TasksBackend(config),
        "tasks: build three new landmarkers": lambda: TasksBackend(config, reset=REBUILD),
    }
    print("\n| fresh tracking state for each video | ms per video, CPU (wall) |")
    print("|---|---:|")
    for title, build in builders.items():
        print(f"| {title} | {per_video(build, frames, args.repeats)} |")


if __name__ == "__main__":
    main()
