"""The legacy MediaPipe Holistic solution as a backend.

Holistic crops each hand around the pose's wrist, so its left/right hand slots are
already the signer's own hands and need no reassignment.
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


class HolisticBackend:
    name = "holistic"

    def __init__(self) -> None:
        from mediapipe.python.solutions import holistic

        self._holistic = holistic.Holistic(**SETTINGS)

    def settings(self) -> dict[str, Any]:
        return dict(SETTINGS)

    def start_video(self) -> None:
        # Restarting the graph drops the tracking state; measured at about 5 ms, against
        # about 15 ms plus a slow first frame for a new instance.
        self._holistic.reset()

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> npt.NDArray[np.float32]:
        results = self._holistic.process(rgb)
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

    def close(self) -> None:
        self._holistic.close()
