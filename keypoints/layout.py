"""The keypoint layouts, spelled out once.

Every backend fills the *full* layout: all 553 landmarks MediaPipe gives for one frame
(pose 33, face mesh 478 with irises, right hand 21, left hand 21). The published
184-point layout is a fixed subset of it, so it can always be derived again from full
output, and normalisation (which needs points outside the subset, such as the nose tip
and the iris centres) runs on the full layout before the subset is taken.

Each point has four channels, ``[x, y, z, visibility]``. A part that was not detected is
all zeros. "Right" and "left" are the signer's own hands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CHANNELS = ("x", "y", "z", "visibility")
NUM_CHANNELS = len(CHANNELS)

# MediaPipe Pose landmark names, in the model's order (indices 0..32).
POSE_LANDMARKS = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

# MediaPipe Hands landmark names, in the model's order (indices 0..20).
HAND_LANDMARKS = (
    "wrist",
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "index_finger_mcp",
    "index_finger_pip",
    "index_finger_dip",
    "index_finger_tip",
    "middle_finger_mcp",
    "middle_finger_pip",
    "middle_finger_dip",
    "middle_finger_tip",
    "ring_finger_mcp",
    "ring_finger_pip",
    "ring_finger_dip",
    "ring_finger_tip",
    "pinky_mcp",
    "pinky_pip",
    "pinky_dip",
    "pinky_tip",
)

FACE_MESH_POINTS = 478  # the refined mesh: 468 surface points and 10 iris points

# Landmark indices inside each part that normalisation and hand placement rely on.
POSE_NOSE = 0
POSE_LEFT_SHOULDER = 11
POSE_RIGHT_SHOULDER = 12
POSE_LEFT_WRIST = 15
POSE_RIGHT_WRIST = 16
FACE_NOSE_TIP = 1
FACE_RIGHT_IRIS_CENTER = 468  # the subject's right eye
FACE_LEFT_IRIS_CENTER = 473
HAND_WRIST = 0
HAND_MIDDLE_FINGER_MCP = 9

# The upper-body pose points kept by the 184 layout: shoulders, elbows, wrists.
POSE_184 = (11, 12, 13, 14, 15, 16)

# The sorted union of the points of FACEMESH_CONTOURS and FACEMESH_IRISES on the refined
# mesh. Written out so that importing the layout needs no MediaPipe; tests check it
# against MediaPipe's own connection sets.
FACE_184 = (
    0, 7, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67,
    70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144,
    145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 172, 173,
    176, 178, 181, 185, 191, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285,
    288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332,
    334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385,
    386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 469, 470, 471, 472,
    474, 475, 476, 477,
)  # fmt: skip

HAND_184 = tuple(range(len(HAND_LANDMARKS)))


@dataclass(frozen=True)
class Part:
    """One body part's block of points inside a layout."""

    name: str
    start: int
    stop: int

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    def __len__(self) -> int:
        return self.stop - self.start


def _parts(sizes: dict[str, int]) -> dict[str, Part]:
    parts, start = {}, 0
    for name, size in sizes.items():
        parts[name] = Part(name, start, start + size)
        start += size
    return parts


PART_NAMES = ("pose", "face", "right_hand", "left_hand")

FULL_PARTS = _parts(
    {
        "pose": len(POSE_LANDMARKS),
        "face": FACE_MESH_POINTS,
        "right_hand": len(HAND_LANDMARKS),
        "left_hand": len(HAND_LANDMARKS),
    }
)
FULL_POINTS = sum(len(p) for p in FULL_PARTS.values())  # 553

_SUBSET = {"pose": POSE_184, "face": FACE_184, "right_hand": HAND_184, "left_hand": HAND_184}
PARTS_184 = _parts({name: len(_SUBSET[name]) for name in PART_NAMES})
POINTS_184 = sum(len(p) for p in PARTS_184.values())  # 184

POSE_SLICE = PARTS_184["pose"].slice  # 0:6
FACE_SLICE = PARTS_184["face"].slice  # 6:142
RIGHT_HAND_SLICE = PARTS_184["right_hand"].slice  # 142:163
LEFT_HAND_SLICE = PARTS_184["left_hand"].slice  # 163:184

# Row i of the 184 layout is row FULL_TO_184[i] of the full layout.
FULL_TO_184: npt.NDArray[np.intp] = np.array(
    [FULL_PARTS[name].start + i for name in PART_NAMES for i in _SUBSET[name]], dtype=np.intp
)


def _point_name(part: str, index: int) -> str:
    if part == "pose":
        return f"pose_{POSE_LANDMARKS[index]}"
    if part == "face":
        return f"face_{index:03d}"
    return f"{part}_{HAND_LANDMARKS[index]}"


FULL_POINT_NAMES = tuple(
    _point_name(name, i) for name in PART_NAMES for i in range(len(FULL_PARTS[name]))
)
POINT_NAMES_184 = tuple(FULL_POINT_NAMES[i] for i in FULL_TO_184)


@dataclass(frozen=True)
class Layout:
    """A named set of points a run writes: the 184 subset or everything."""

    name: str
    point_names: tuple[str, ...]
    parts: dict[str, Part]

    @property
    def num_points(self) -> int:
        return len(self.point_names)


LAYOUT_184 = Layout("184", POINT_NAMES_184, PARTS_184)
LAYOUT_FULL = Layout("full", FULL_POINT_NAMES, FULL_PARTS)
LAYOUTS = {layout.name: layout for layout in (LAYOUT_184, LAYOUT_FULL)}


def empty_frame() -> npt.NDArray[np.float32]:
    """One frame of the full layout with nothing detected."""
    return np.zeros((FULL_POINTS, NUM_CHANNELS), dtype=np.float32)


def select_184(full: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The 184-point subset of full-layout points, for any leading shape (frames, ...)."""
    return full[..., FULL_TO_184, :]


def part_present(points: npt.NDArray[np.float32], part: Part) -> npt.NDArray[np.bool_]:
    """Whether a part was detected, per frame: a missing part is all zeros."""
    present: npt.NDArray[np.bool_] = np.any(points[..., part.slice, :] != 0, axis=(-2, -1))
    return present
