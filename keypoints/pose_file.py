"""Keypoints as ``.pose`` files, the format of the ``pose-format`` library.

The files follow what pose-format's own MediaPipe Holistic reader writes, so that its
tools (normalisation by the shoulders, hand normalisation, the visualiser, readers in
Python and JavaScript) treat them as Holistic poses:

- components ``POSE_LANDMARKS``, ``FACE_LANDMARKS``, ``LEFT_HAND_LANDMARKS``,
  ``RIGHT_HAND_LANDMARKS``, in pose-format's order (left hand before right, unlike our
  arrays), point format ``XYZC``; no ``POSE_WORLD_LANDMARKS``, which this project does not
  record. Point names are MediaPipe's: ``NOSE``, ``LEFT_SHOULDER``, ...; the face mesh
  index as text, ``"0"`` to ``"477"``; ``WRIST``, ``THUMB_CMC``, ....
- limbs are MediaPipe's connection sets: ``POSE_CONNECTIONS``, ``FACEMESH_TESSELATION``
  with ``FACEMESH_IRISES``, ``HAND_CONNECTIONS``. A layout that keeps fewer points (the 184
  layout) keeps the limbs between kept points, which is what pose-format's
  ``Pose.get_components`` gives when it selects those points from a full file.
- coordinates in pixels as pose-format's Holistic reader stores them: ``x * width``,
  ``y * height``, and ``z`` as MediaPipe gives it; width and height in the header.
- confidence is channel 4 (pose visibility; 1.0 for detected face and hand points).
  pose-format masks every point whose confidence is 0, so a part that was not detected
  (all zeros in our arrays) reads back masked.

pose-format is imported when a file is made, not when this module is: a run that writes
npz files does not load it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from keypoints import layout as L

POINT_FORMAT = "XYZC"
MAX_DIMENSION = 0xFFFF  # the header stores width and height as unsigned 16-bit numbers

# (our part, pose-format component), in the order pose-format's Holistic files have them.
COMPONENTS = (
    ("pose", "POSE_LANDMARKS"),
    ("face", "FACE_LANDMARKS"),
    ("left_hand", "LEFT_HAND_LANDMARKS"),
    ("right_hand", "RIGHT_HAND_LANDMARKS"),
)
POSE_COLOR = (255, 0, 0)  # pose-format's Holistic colours; hands use its hand palette
FACE_COLOR = (128, 0, 0)

# Where each point of a layout is in the full layout, by name.
_FULL_ROW = {name: row for row, name in enumerate(L.FULL_POINT_NAMES)}


def layout_of(points: npt.NDArray[np.float32]) -> L.Layout:
    """The layout of a (frames, points, 4) array, from its number of points."""
    by_size = {layout.num_points: layout for layout in L.LAYOUTS.values()}
    if points.ndim != 3 or points.shape[2] != L.NUM_CHANNELS or points.shape[1] not in by_size:
        sizes = " or ".join(str(n) for n in sorted(by_size))
        raise ValueError(f"expected points of shape (frames, {sizes}, 4), got {points.shape}")
    return by_size[points.shape[1]]


def model_indices(layout: L.Layout, part: str) -> tuple[int, ...]:
    """The MediaPipe landmark index, within its part, of each of the layout's points."""
    start = L.FULL_PARTS[part].start
    names = layout.point_names[layout.parts[part].slice]
    return tuple(_FULL_ROW[name] - start for name in names)


def pose_order(layout: L.Layout) -> npt.NDArray[np.intp]:
    """Row of the layout's array for each point of its .pose file, in the file's order."""
    rows = [np.arange(layout.parts[part].start, layout.parts[part].stop) for part, _ in COMPONENTS]
    order: npt.NDArray[np.intp] = np.concatenate(rows).astype(np.intp)
    return order


def point_names(part: str, indices: tuple[int, ...]) -> list[str]:
    """pose-format's Holistic point names for MediaPipe landmark ``indices`` of ``part``."""
    if part == "pose":
        return [L.POSE_LANDMARKS[i].upper() for i in indices]
    if part == "face":
        return [str(i) for i in indices]
    return [L.HAND_LANDMARKS[i].upper() for i in indices]


@cache
def _model_limbs(part: str) -> tuple[tuple[int, int], ...]:
    """MediaPipe's connections of a part, by landmark index, sorted for stable files."""
    from mediapipe.python.solutions import face_mesh_connections, hands, pose

    connections = {
        "pose": pose.POSE_CONNECTIONS,
        "face": face_mesh_connections.FACEMESH_TESSELATION | face_mesh_connections.FACEMESH_IRISES,
        "right_hand": hands.HAND_CONNECTIONS,
        "left_hand": hands.HAND_CONNECTIONS,
    }[part]
    return tuple(sorted((int(a), int(b)) for a, b in connections))


def limbs(part: str, indices: tuple[int, ...]) -> list[tuple[int, int]]:
    """The part's connections between kept landmarks, as positions in ``indices``."""
    position = {index: i for i, index in enumerate(indices)}
    return [
        (position[a], position[b]) for a, b in _model_limbs(part) if a in position and b in position
    ]


def _colors(part: str) -> list[tuple[int, int, int]]:
    if part == "pose":
        return [POSE_COLOR]
    if part == "face":
        return [FACE_COLOR]
    from pose_format.utils.openpose import hand_colors

    return [tuple(c) for c in hand_colors]


def pose_header(layout: L.Layout, width: int, height: int) -> Any:
    """The pose_format.PoseHeader of a layout's files for frames of width x height pixels."""
    from pose_format.pose_header import (
        VERSION,
        PoseHeader,
        PoseHeaderComponent,
        PoseHeaderDimensions,
    )

    for side, size in (("width", width), ("height", height)):
        if not 0 < size <= MAX_DIMENSION:
            raise ValueError(f"frame {side} {size} does not fit a .pose header (1..65535)")
    components = []
    for part, name in COMPONENTS:
        indices = model_indices(layout, part)
        components.append(
            PoseHeaderComponent(
                name=name,
                points=point_names(part, indices),
                limbs=limbs(part, indices),
                colors=_colors(part),
                point_format=POINT_FORMAT,
            )
        )
    return PoseHeader(VERSION, PoseHeaderDimensions(width, height, 0), components)


def to_pose(points: npt.NDArray[np.float32], width: int, height: int, fps: float) -> Any:
    """A pose_format.Pose of one video: (frames, 184 or 553, 4) image coordinates."""
    layout = layout_of(points)
    header = pose_header(layout, width, height)
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody

    ordered = points[:, pose_order(layout)]
    scale = np.array([width, height, 1], dtype=np.float32)
    data = (ordered[..., :3] * scale)[:, np.newaxis]  # one person per frame
    confidence = ordered[..., 3][:, np.newaxis]
    return Pose(header, NumPyPoseBody(fps=fps, data=data, confidence=confidence))


def pose_bytes(points: npt.NDArray[np.float32], width: int, height: int, fps: float) -> bytes:
    """The .pose file of one video; the same points give the same bytes."""
    buffer = io.BytesIO()
    to_pose(points, width, height, fps).write(buffer)
    return buffer.getvalue()


def sign_poses(
    arrays: Mapping[str, npt.NDArray[np.float32]], records: Mapping[str, Mapping[str, Any]]
) -> dict[str, bytes]:
    """The .pose files of one sign's npz arrays (video name -> bytes).

    ``records`` are the sign's per-video report records by video name: they hold each
    video's frame size and rate. ValueError names the video that cannot be converted.
    """
    poses = {}
    for video, points in arrays.items():
        record = records.get(video)
        if record is None:
            raise ValueError(f"video {video!r} has no report record (frame size, fps)")
        width, height, fps = (record.get(k) for k in ("width", "height", "fps"))
        if not (isinstance(width, int) and isinstance(height, int) and fps):
            raise ValueError(f"video {video!r}: its report has no frame size or fps")
        try:
            poses[video] = pose_bytes(points, width, height, float(fps))
        except ValueError as e:
            raise ValueError(f"video {video!r}: {e}") from e
    return poses
