"""The legacy MediaPipe Holistic solution as a backend.

Holistic crops each hand around the pose's wrist, so its left/right hand slots are
already the signer's own hands and need no reassignment.

Fresh tracking state per video, cheaply. Restarting the graph (``Holistic.reset()``)
rebuilds every TFLite interpreter on the next frame, a cost paid on every video. A blank
frame instead finds no pose, and with no pose every tracking loop and landmark filter in
the graph starts over on the next frame, with one exception: the low-pass filter that
smooths the pose's visibility scores is only invoked on frames that have a pose, so it
keeps the previous video's values (up to 0.8 apart on the shared footage). Here that
filter is set to pass the raw scores through (alpha 1), and the same filter runs in
Python (PoseVisibilityFilter), reset for every video. The result is bit-identical to a
new Holistic instance per video (tests/test_holistic.py), for a fraction of a restart's
cost (benchmarks/RESULTS.md, "Where the time and memory went").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from keypoints import layout as L

# Holistic only works offline with model_complexity=1: 0 and 2 download a model first.
SETTINGS: dict[str, Any] = {
    "static_image_mode": False,
    "model_complexity": 1,
    "refine_face_landmarks": True,
    "smooth_landmarks": True,
    "min_detection_confidence": 0.5,
    "min_tracking_confidence": 0.5,
}

PRESENT = np.float32(1.0)  # channel 4 of face and hand points: MediaPipe leaves it at 0


# Holistic's graph streams read per frame: layout part -> (stream, has visibility).
LANDMARK_STREAMS = {
    "pose": ("pose_landmarks", True),
    "face": ("face_landmarks", False),
    "right_hand": ("right_hand_landmarks", False),
    "left_hand": ("left_hand_landmarks", False),
}
_STREAM_NAMES = {stream for stream, _ in LANDMARK_STREAMS.values()}
_POSE_STREAM = LANDMARK_STREAMS["pose"][0]
_IMAGE_STREAM = "image"
_FRAME_INTERVAL_US = 33333  # the clock SolutionBase feeds the graph: 30 frames per second


def landmarks_array(landmark_list: Any, with_visibility: bool) -> npt.NDArray[np.float32]:
    """(n, 4) float32 from a MediaPipe NormalizedLandmarkList."""
    if with_visibility:
        rows = [(p.x, p.y, p.z, p.visibility) for p in landmark_list.landmark]
    else:
        rows = [(p.x, p.y, p.z, PRESENT) for p in landmark_list.landmark]
    return np.array(rows, dtype=np.float32)


def landmarks_frame(found: Mapping[str, Any]) -> npt.NDArray[np.float32]:
    """One frame of the full layout from landmark lists by stream; parts not found stay NaN."""
    frame = L.empty_frame()
    for part, (stream, with_visibility) in LANDMARK_STREAMS.items():
        if found.get(stream) is not None:
            frame[L.FULL_PARTS[part].slice] = landmarks_array(found[stream], with_visibility)
    return frame


# Holistic's pose-visibility smoothing node, found in its expanded graph by these.
_VISIBILITY_CALCULATOR = "VisibilitySmoothingCalculator"
_POSE_LANDMARKS_STREAM_SUFFIX = "unfiltered_pose_landmarks"

# Clears tracking state between videos: MediaPipe finds no pose in it (checked each time).
BLANK_FRAME = np.full((64, 64, 3), 255, dtype=np.uint8)


class PoseVisibilityFilter:
    """MediaPipe's LowPassFilter over the pose's visibility scores, with the same arithmetic.

    ``alpha * value`` in float, ``(1 - alpha) * previous`` in double, their sum rounded to
    float, as MediaPipe's C++ computes it (the tests compare the result bit for bit). The
    first scores after a reset pass as they are; frames without a pose leave the state
    alone, as in the graph.
    """

    def __init__(self, alpha: float) -> None:
        self._alpha = np.float32(alpha)
        self._previous: npt.NDArray[np.float32] | None = None

    def reset(self) -> None:
        self._previous = None

    def apply(self, raw: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self._previous is None:
            smoothed = raw.copy()
        else:
            blended = (self._alpha * raw).astype(np.float64) + (
                1.0 - np.float64(self._alpha)
            ) * self._previous.astype(np.float64)
            smoothed = blended.astype(np.float32)
        self._previous = smoothed
        return smoothed


def pass_raw_pose_visibility(config: Any) -> float:
    """Set the graph's pose-visibility low-pass filter to alpha 1; the alpha it had.

    ``config``: Holistic's expanded CalculatorGraphConfig. Refuses to guess if the graph
    is not the one of the pinned mediapipe version.
    """
    from mediapipe.calculators.util import visibility_smoothing_calculator_pb2 as vsc

    found: list[float] = []
    for node in config.node:
        if node.calculator != _VISIBILITY_CALCULATOR or not any(
            s.endswith(_POSE_LANDMARKS_STREAM_SUFFIX) for s in node.input_stream
        ):
            continue
        options = node.options.Extensions[vsc.VisibilitySmoothingCalculatorOptions.ext]
        if options.HasField("low_pass_filter"):
            found.append(options.low_pass_filter.alpha)
            options.low_pass_filter.alpha = 1.0
    if len(found) != 1:
        raise RuntimeError(
            f"expected one pose-visibility low-pass filter in the Holistic graph, "
            f"found {len(found)}: this mediapipe version is not the pinned one"
        )
    return found[0]


def set_graph_threads(config: Any, threads: int) -> None:
    """Run the graph's calculators on a pool of ``threads`` threads (the default executor)."""
    from mediapipe.framework import thread_pool_executor_pb2 as tpe

    default = next((e for e in config.executor if not e.name), None) or config.executor.add()
    default.type = "ThreadPoolExecutor"
    default.options.Extensions[tpe.ThreadPoolExecutorOptions.ext].num_threads = threads


def _holistic(graph_threads: int) -> tuple[Any, float]:
    """A Holistic whose graph passes pose visibility through unsmoothed, and the alpha it had.

    Edits the expanded graph config before the graph is built, through the hook that
    mediapipe 0.10.21's SolutionBase calls for it.
    """
    from mediapipe.python import packet_creator, packet_getter
    from mediapipe.python._framework_bindings.image_frame import ImageFormat
    from mediapipe.python.solutions import holistic

    alphas: list[float] = []

    class EditedHolistic(holistic.Holistic):  # type: ignore[misc]
        def _initialize_graph_interface(self, *args: Any, **kwargs: Any) -> Any:
            config = super()._initialize_graph_interface(*args, **kwargs)
            alphas.append(pass_raw_pose_visibility(config))
            if graph_threads:
                set_graph_threads(config, graph_threads)
            return config

        def landmark_lists(self, rgb: npt.NDArray[np.uint8]) -> dict[str, Any]:
            """``process()`` reduced to the landmark streams: the lists found, by stream.

            The same packets on the same clock, without what ``process()`` adds each frame
            and the backend discards (a new namedtuple class, the pose's world landmarks, a
            cleared field on every pose landmark); benchmarks/RESULTS.md has what it saves.
            """
            self._graph_outputs.clear()
            self._simulated_timestamp += _FRAME_INTERVAL_US
            image = packet_creator.create_image_frame(rgb, image_format=ImageFormat.SRGB)
            self._graph.add_packet_to_input_stream(
                stream=_IMAGE_STREAM, packet=image.at(self._simulated_timestamp)
            )
            self._graph.wait_until_idle()
            return {
                stream: packet_getter.get_proto(packet)
                for stream, packet in self._graph_outputs.items()
                if stream in _STREAM_NAMES and not packet.is_empty()
            }

    return EditedHolistic(**SETTINGS), alphas[0]


class HolisticBackend:
    name = "holistic"

    def __init__(self, restart_graph: bool = False, graph_threads: int = 0) -> None:
        """``restart_graph``: start videos with Holistic.reset() instead (for benchmarks).

        ``graph_threads``: the graph's thread pool (BackendConfig); 0 is MediaPipe's default.
        """
        self._holistic, alpha = _holistic(graph_threads)
        self._visibility = PoseVisibilityFilter(alpha)
        self._restart_graph = restart_graph

    def settings(self) -> dict[str, Any]:
        return dict(SETTINGS)

    def start_video(self) -> None:
        if self._restart_graph or _POSE_STREAM in self._holistic.landmark_lists(BLANK_FRAME):
            self._holistic.reset()  # (a pose in a blank frame was never seen, but then restart)
        self._visibility.reset()

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> npt.NDArray[np.float32]:
        found = self._holistic.landmark_lists(rgb)
        frame = landmarks_frame(found)
        if _POSE_STREAM in found:
            pose = L.FULL_PARTS["pose"].slice
            frame[pose, 3] = self._visibility.apply(frame[pose, 3])
        return frame

    def close(self) -> None:
        self._holistic.close()
