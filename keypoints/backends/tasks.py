"""MediaPipe Tasks landmarkers (pose, face, two hands) as a backend.

The Tasks API is where MediaPipe is going: Holistic exists only up to 0.10.2x. The three
landmarkers run independently in VIDEO mode, so two things Holistic does by construction
are done here:

- Hand slots. The hand landmarker does not know which hand is whose; each detected hand
  goes to the slot of the nearest pose wrist when there is a pose (two hands never share
  a slot), else to the slot its handedness label names. Frames where the label and the
  wrist disagreed are counted per video.
- Fresh tracking state per video. VIDEO mode carries tracking and smoothing state from
  frame to frame, and needs strictly increasing timestamps. Restarting each landmarker's
  graph drops that state and lets timestamps start again at 0, for less than new
  landmarkers cost (benchmarks/compare_backends.py). Offsetting the timestamps of the next
  video, or feeding a blank frame between videos, keeps state: the same video then gives
  different landmarks depending on what came before it.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from keypoints import layout as L
from keypoints.backends.base import BackendConfig
from keypoints.models import FACE_MODEL, HAND_MODEL, POSE_MODELS, ModelFile, ModelStore

logger = logging.getLogger(__name__)

NUM_POSES = 1
NUM_FACES = 1
NUM_HANDS = 2
MIN_CONFIDENCE = 0.5  # detection, presence and tracking, every landmarker (MediaPipe's default)
PRESENT = 1.0  # channel 4 of face and hand points: the Tasks API leaves 0.0 or None there

# MediaPipe's handedness label -> the signer's hand. Checked on non-mirrored footage of a
# signer (tests/test_tasks.py): the hand labelled "Left" is nearest the pose's LEFT_WRIST.
LABEL_SLOTS = {"Left": "left_hand", "Right": "right_hand"}
HAND_SLOTS = ("right_hand", "left_hand")
SLOT_POSE_WRISTS = {"right_hand": L.POSE_RIGHT_WRIST, "left_hand": L.POSE_LEFT_WRIST}

# How start_video() drops tracking state: restart the landmarkers' graphs, or build new ones.
RESTART, REBUILD = "restart", "rebuild"

Point2 = tuple[float, float]


def models_for(config: BackendConfig) -> dict[str, ModelFile]:
    if config.pose_model not in POSE_MODELS:
        raise ValueError(
            f"unknown pose model {config.pose_model!r}; choose one of {', '.join(POSE_MODELS)}"
        )
    return {"pose": POSE_MODELS[config.pose_model], "face": FACE_MODEL, "hand": HAND_MODEL}


def settings(config: BackendConfig) -> dict[str, Any]:
    """What decides this backend's output; every model file is verified against its sha256."""
    return {
        "running_mode": "VIDEO",
        "pose_model": config.pose_model,
        "num_poses": NUM_POSES,
        "num_faces": NUM_FACES,
        "num_hands": NUM_HANDS,
        "min_detection_confidence": MIN_CONFIDENCE,
        "min_presence_confidence": MIN_CONFIDENCE,
        "min_tracking_confidence": MIN_CONFIDENCE,
        "hand_slots": "nearest pose wrist, else handedness label",
        "models": {
            role: {"file": model.name, "sha256": model.sha256}
            for role, model in models_for(config).items()
        },
    }


@dataclass(frozen=True)
class DetectedHand:
    wrist: Point2  # in pixels, so that distances mean the same across and along the image
    label: str  # MediaPipe's top handedness category
    score: float


def _distance(a: Point2, b: Point2) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def slots_by_label(hands: Sequence[DetectedHand]) -> list[str]:
    """Each hand in the slot its label names; the more confident one wins a shared label."""
    slots: list[str | None] = [None] * len(hands)
    free = list(HAND_SLOTS)
    for i in sorted(range(len(hands)), key=lambda i: -hands[i].score):
        wanted = LABEL_SLOTS.get(hands[i].label)
        slot = wanted if wanted in free else free[0]
        slots[i] = slot
        free.remove(slot)
    return [s for s in slots if s is not None]


def slots_by_wrist(hands: Sequence[DetectedHand], pose_wrists: Mapping[str, Point2]) -> list[str]:
    """The distinct slots that put the hands' wrists nearest the pose wrists, in total."""

    def total(slots: Iterable[str]) -> float:
        pairs = zip(hands, slots, strict=True)
        return sum(_distance(hand.wrist, pose_wrists[slot]) for hand, slot in pairs)

    return list(min(itertools.permutations(HAND_SLOTS, len(hands)), key=total))


def place_hands(
    hands: Sequence[DetectedHand], pose_wrists: Mapping[str, Point2] | None
) -> tuple[list[str], bool]:
    """The slot of each hand, and whether a hand's label named a different slot."""
    if len(hands) > len(HAND_SLOTS):
        raise ValueError(f"{len(hands)} hands for {len(HAND_SLOTS)} slots")
    if pose_wrists is None:
        return slots_by_label(hands), False
    slots = slots_by_wrist(hands, pose_wrists)
    disagreed = any(LABEL_SLOTS.get(h.label) != s for h, s in zip(hands, slots, strict=True))
    return slots, disagreed


def _points(landmarks: Sequence[Any], with_visibility: bool) -> npt.NDArray[np.float32]:
    if with_visibility:
        rows = [(p.x, p.y, p.z, p.visibility or 0.0) for p in landmarks]
    else:
        rows = [(p.x, p.y, p.z, PRESENT) for p in landmarks]
    return np.array(rows, dtype=np.float32)


class TasksBackend:
    """Pose, face and hand landmarkers, built once per worker and restarted per video."""

    name = "tasks"

    def __init__(
        self,
        config: BackendConfig,
        store: ModelStore | None = None,
        reset: str = RESTART,
    ) -> None:
        if reset not in (RESTART, REBUILD):
            raise ValueError(f"unknown reset {reset!r}; choose {RESTART} or {REBUILD}")
        store = store or ModelStore(config.model_dir)
        self._config = config
        self._paths = {role: store.path(model) for role, model in models_for(config).items()}
        self._reset = reset
        self._pose, self._face, self._hands = self._build()
        self._used = False  # whether the landmarkers have seen a frame since they were fresh
        self.hand_label_disagreements = 0

    def _build(self) -> tuple[Any, Any, Any]:
        from mediapipe.tasks.python import BaseOptions, vision

        def base(role: str) -> Any:
            return BaseOptions(model_asset_path=str(self._paths[role]))

        video = vision.RunningMode.VIDEO
        pose = vision.PoseLandmarker.create_from_options(
            vision.PoseLandmarkerOptions(
                base_options=base("pose"),
                running_mode=video,
                num_poses=NUM_POSES,
                min_pose_detection_confidence=MIN_CONFIDENCE,
                min_pose_presence_confidence=MIN_CONFIDENCE,
                min_tracking_confidence=MIN_CONFIDENCE,
            )
        )
        face = vision.FaceLandmarker.create_from_options(
            vision.FaceLandmarkerOptions(
                base_options=base("face"),
                running_mode=video,
                num_faces=NUM_FACES,
                min_face_detection_confidence=MIN_CONFIDENCE,
                min_face_presence_confidence=MIN_CONFIDENCE,
                min_tracking_confidence=MIN_CONFIDENCE,
            )
        )
        hands = vision.HandLandmarker.create_from_options(
            vision.HandLandmarkerOptions(
                base_options=base("hand"),
                running_mode=video,
                num_hands=NUM_HANDS,
                min_hand_detection_confidence=MIN_CONFIDENCE,
                min_hand_presence_confidence=MIN_CONFIDENCE,
                min_tracking_confidence=MIN_CONFIDENCE,
            )
        )
        return pose, face, hands

    def settings(self) -> dict[str, Any]:
        return settings(self._config)

    def start_video(self) -> None:
        self.hand_label_disagreements = 0
        if not self._used:
            return
        if self._reset == RESTART:
            # The Tasks API has no public reset; its task runner's restart() is what
            # mediapipe offers for "resetting a stateful task graph to process new data".
            for landmarker in (self._pose, self._face, self._hands):
                landmarker._runner.restart()
        else:
            self.close()
            self._pose, self._face, self._hands = self._build()
        self._used = False

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> npt.NDArray[np.float32]:
        import mediapipe as mp

        self._used = True
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        pose = self._pose.detect_for_video(image, timestamp_ms)
        face = self._face.detect_for_video(image, timestamp_ms)
        hands = self._hands.detect_for_video(image, timestamp_ms)

        frame = L.empty_frame()
        pose_wrists = None
        if pose.pose_landmarks:
            frame[L.FULL_PARTS["pose"].slice] = _points(pose.pose_landmarks[0], True)
            pose_wrists = {
                slot: self._pixels(pose.pose_landmarks[0][i], rgb)
                for slot, i in SLOT_POSE_WRISTS.items()
            }
        if face.face_landmarks:
            frame[L.FULL_PARTS["face"].slice] = _points(face.face_landmarks[0], False)
        detected = [
            DetectedHand(
                self._pixels(landmarks[L.HAND_WRIST], rgb),
                handedness[0].category_name,
                handedness[0].score,
            )
            for landmarks, handedness in zip(hands.hand_landmarks, hands.handedness, strict=True)
        ]
        slots, disagreed = place_hands(detected, pose_wrists)
        self.hand_label_disagreements += disagreed
        for landmarks, slot in zip(hands.hand_landmarks, slots, strict=True):
            frame[L.FULL_PARTS[slot].slice] = _points(landmarks, False)
        return frame

    @staticmethod
    def _pixels(point: Any, rgb: npt.NDArray[np.uint8]) -> Point2:
        height, width = rgb.shape[:2]
        return (point.x * width, point.y * height)

    def close(self) -> None:
        for landmarker in (self._pose, self._face, self._hands):
            landmarker.close()
