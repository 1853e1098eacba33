"""The legacy MediaPipe Holistic solution as a backend.

Holistic crops each hand around the pose's wrist, so its left/right hand slots are
already the signer's own hands and need no reassignment.

Fresh tracking state per video, cheaply. Restarting the graph (``Holistic.reset()``)
rebuilds every TFLite interpreter on the next frame: 70-85 ms of CPU per video. A blank
frame instead finds no pose, and with no pose every tracking loop and landmark filter in
the graph starts over on the next frame, with one exception: the low-pass filter that
smooths the pose's visibility scores is only invoked on frames that have a pose, so it
keeps the previous video's values (up to 0.8 apart on the shared footage). Here that
filter is set to pass the raw scores through (alpha 1), and the same filter runs in
Python (PoseVisibilityFilter), reset for every video. The result is bit-identical to a
new Holistic instance per video (tests/test_holistic.py) for ~30 ms of CPU per video.
"""

from __future__ import annotations

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


def landmarks_array(landmark_list: Any, with_visibility: bool) -> npt.NDArray[np.float32]:
    """(n, 4) float32 from a MediaPipe NormalizedLandmarkList."""
    if with_visibility:
        rows = [(p.x, p.y, p.z, p.visibility) for p in landmark_list.landmark]
    else:
        rows = [(p.x, p.y, p.z, PRESENT) for p in landmark_list.landmark]
    return np.array(rows, dtype=np.float32)


def results_frame(results: Any) -> npt.NDArray[np.float32]:
    """One frame of the full layout from Holistic's results; parts not found stay NaN."""
    frame = L.empty_frame()
    for part, found, with_visibility in (
        ("pose", results.pose_landmarks, True),
        ("face", results.face_landmarks, False),
        ("right_hand", results.right_hand_landmarks, False),
        ("left_hand", results.left_hand_landmarks, False),
    ):
        if found is not None:
            frame[L.FULL_PARTS[part].slice] = landmarks_array(found, with_visibility)
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


def _holistic_with_raw_pose_visibility() -> tuple[Any, float]:
    """A Holistic whose graph passes pose visibility through unsmoothed, and the alpha it had.

    Edits the expanded graph config before the graph is built, through the hook that
    mediapipe 0.10.21's SolutionBase calls for it; refuses to guess if the graph differs.
    """
    from mediapipe.calculators.util import visibility_smoothing_calculator_pb2 as vsc
    from mediapipe.python.solutions import holistic

    found: list[float] = []

    class RawPoseVisibilityHolistic(holistic.Holistic):  # type: ignore[misc]
        def _initialize_graph_interface(self, *args: Any, **kwargs: Any) -> Any:
            config = super()._initialize_graph_interface(*args, **kwargs)
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
            return config

    return RawPoseVisibilityHolistic(**SETTINGS), found[0]


class HolisticBackend:
    name = "holistic"

    def __init__(self, restart_graph: bool = False) -> None:
        """``restart_graph``: start videos with Holistic.reset() instead (for benchmarks)."""
        self._holistic, alpha = _holistic_with_raw_pose_visibility()
        self._visibility = PoseVisibilityFilter(alpha)
        self._restart_graph = restart_graph

    def settings(self) -> dict[str, Any]:
        return dict(SETTINGS)

    def start_video(self) -> None:
        if self._restart_graph or self._holistic.process(BLANK_FRAME).pose_landmarks is not None:
            self._holistic.reset()  # (a pose in a blank frame was never seen, but then restart)
        self._visibility.reset()

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> npt.NDArray[np.float32]:
        results = self._holistic.process(rgb)
        frame = results_frame(results)
        if results.pose_landmarks is not None:
            pose = L.FULL_PARTS["pose"].slice
            frame[pose, 3] = self._visibility.apply(frame[pose, 3])
        return frame

    def close(self) -> None:
        self._holistic.close()
