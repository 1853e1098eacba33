"""Small helpers the tests share that the project itself has no use for."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from keypoints.backends import create_backend
from keypoints.backends.holistic import LANDMARK_STREAMS, landmarks_frame
from keypoints.npz import write_npz


def npz_bytes(arrays: Mapping[str, npt.NDArray[np.float32]]) -> bytes:
    """The .npz file the sink writes for ``arrays``, entries in the mapping's order."""
    buffer = io.BytesIO()
    write_npz(buffer, arrays.items())
    return buffer.getvalue()


def results_frame(results: Any) -> npt.NDArray[np.float32]:
    """One frame of the full layout from what a stock ``Holistic.process`` returns."""
    return landmarks_frame(
        {stream: getattr(results, stream) for stream, _ in LANDMARK_STREAMS.values()}
    )


def kill_group_if_running(process: subprocess.Popen[Any]) -> None:
    """A launched run's whole process group killed, if the run still runs (for a finally)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def group_alive(group: int) -> bool:
    """Whether any process of a process group is still there."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def parent_of(pid: int) -> int:
    """The parent process id of ``pid``, from /proc (Linux)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def output_files(output: Path) -> dict[str, bytes]:
    """Every npz under an output root, by its path there."""
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*.npz"))}


def video_records(output: Path) -> list[dict[str, Any]]:
    """The run's video records, all but the time each video took."""
    lines = (output / "_reports" / "videos.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def small_corpus(root: Path, frames: list[Path], signs: int, videos: int) -> Path:
    """``signs`` signs of ``videos`` two-frame folders each, a little different from each other."""
    from keypoints.corpus import SignKey
    from tests.conftest import build_corpus

    spec = {
        SignKey("01", "train", s): {
            f"v{v}": frames[(s + v) % 7 : (s + v) % 7 + 2] for v in range(videos)
        }
        for s in range(1, signs + 1)
    }
    return build_corpus(root, spec)


def written_signs(output: Path) -> set[str]:
    """The labels (``01-train/0001``) of the signs whose npz is on disk."""
    return {f"{p.parent.name}/{p.stem}" for p in output.glob("*/*.npz")}


def unwritten_records(output: Path) -> list[Path]:
    """Video records of signs not written yet: what a rerun can take instead of extracting."""
    written = written_signs(output)
    return [
        r
        for r in (output / "_staging").glob("*/*/[0-9a-f]*.json")
        if f"{r.parent.parent.name}/{r.parent.name}" not in written
    ]


# Poison frames: plain images of one colour, each making the test backends below (and the
# tests/crash_hook patch, in every process of a real run) do one thing when it reaches the
# model. Real footage never has a frame of exactly one of these colours.
ABORT_RGB = (255, 0, 255)  # MediaPipe really aborts: OpenCV's remap refuses a wide image
HANG_RGB = (0, 255, 255)  # the backend announces itself (a marker file), then waits to be killed
RAISE_RGB = (255, 255, 0)  # the backend raises RuntimeError
# An image OpenCV's remap refuses inside MediaPipe (it asserts each side < SHRT_MAX, and
# the exception ends the process): the crash of a frame 33,000 pixels wide.
TOO_WIDE = (16, 32_800, 3)


def write_poison_frame(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (640, 360)):
    """A PNG of one colour (lossless: it decodes to exactly that colour), by default the
    size of the signer frames (a video's frames must have one size)."""
    width, height = size
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb[::-1]  # OpenCV writes BGR
    assert cv2.imwrite(str(path), image)
    return path


def poison_of(rgb: npt.NDArray[np.uint8]) -> tuple[int, int, int] | None:
    """The poison colour a frame is all of, if any."""
    first = tuple(int(c) for c in rgb[0, 0])
    if first in (ABORT_RGB, HANG_RGB, RAISE_RGB) and (rgb == first).all():
        return first  # type: ignore[return-value]
    return None


class PoisonedBackend:
    """The real backend, doing what a poison frame asks when one comes (see above)."""

    def __init__(self, backend: Any, marker: str) -> None:
        self._backend, self._marker = backend, marker
        self.name = backend.name

    def settings(self) -> dict[str, Any]:
        return self._backend.settings()

    def start_video(self) -> None:
        self._backend.start_video()

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> npt.NDArray[np.float32]:
        poison = poison_of(rgb)
        if poison == ABORT_RGB:
            rgb = np.zeros(TOO_WIDE, np.uint8)
        elif poison == HANG_RGB:
            Path(self._marker).write_text(str(os.getpid()))
            time.sleep(300)
        elif poison == RAISE_RGB:
            raise RuntimeError("poison frame")
        return self._backend.process(rgb, timestamp_ms)

    def close(self) -> None:
        self._backend.close()


@dataclass(frozen=True)
class PoisonedHolistic:
    """A picklable backend factory (keypoints.isolation): Holistic with poison frames.

    ``marker`` is the file a HANG_RGB frame writes its process id into.
    """

    marker: str

    def __call__(self, open_file: Any) -> PoisonedBackend:
        return PoisonedBackend(create_backend("holistic"), self.marker)


def unbuildable_backend(open_file: Any) -> PoisonedBackend:
    """A picklable backend factory that fails, as a backend whose models are missing would."""
    raise FileNotFoundError("pose_landmarker_full.task: no such model file")
