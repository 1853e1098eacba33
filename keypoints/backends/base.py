"""What the extraction loop needs from a MediaPipe backend."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class BackendConfig:
    """What a backend needs besides its name; the DoFn carries it to the workers.

    ``model_dir`` is a folder or URL holding the Tasks model files (None: the cache,
    filled from the official URLs); ``pose_model`` picks the pose bundle (lite, full, heavy).
    Holistic ships its models inside mediapipe and ignores both.

    ``graph_threads`` sizes the thread pool of Holistic's MediaPipe graph (0: MediaPipe's
    default, one thread per core). With one worker process per core, the way pipelines
    run, one thread each spends less CPU per frame than every process running one thread
    per core; it changes no landmark (tests/test_holistic.py). The Tasks API offers no
    such setting.
    """

    model_dir: str | None = None
    pose_model: str = "full"
    graph_threads: int = 0


def graph_threads_per_worker(workers: int, cores: int | None = None) -> int:
    """BackendConfig.graph_threads for ``workers`` processes sharing a machine's cores.

    With every core holding a worker process, one thread per graph costs less CPU per
    frame than MediaPipe's default of one per core (benchmarks/RESULTS.md, "The gap to
    pose-format, closed"); with fewer workers than cores, each graph gets the cores left.
    """
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


class Backend(Protocol):
    """A landmark model that turns RGB frames into full-layout points.

    Construction is the expensive part (model loading); ``start_video`` must be cheap and
    must leave no tracking state from earlier videos, so that a video's keypoints do not
    depend on which worker processed it or what that worker processed before.
    """

    name: str

    def settings(self) -> dict[str, Any]:
        """Everything that determines the output, for the provenance record."""
        ...

    def start_video(self) -> None:
        """Forget all tracking state: the next frame is the first of a new video."""
        ...

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> npt.NDArray[np.float32]:
        """Landmarks of one frame as a (553, 4) array in the full layout (keypoints.layout).

        ``timestamp_ms`` increases strictly within a video.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class CountsHandLabelDisagreements(Protocol):
    """A backend that places hands by two cues and counts, per video, where they disagreed."""

    hand_label_disagreements: int  # frames since start_video()
