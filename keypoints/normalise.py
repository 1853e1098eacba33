"""Per-part normalisation ("adjusted" coordinates).

MediaPipe gives x in units of image width and y in units of image height, so the same
hand has a different shape in a portrait and a landscape frame. Adjusting first makes one
unit one image height in every direction (x and z times width/height), then moves each
part to its own origin and divides by a distance within that part, so that the signer's
position in the frame and distance from the camera drop out:

    part  origin                 scale (distance in the image plane, x and y)
    pose  nose (pose 0)          left to right shoulder (pose 11 - 12)
    face  nose tip (mesh 1)      between the iris centres (mesh 468 - 473)
    hand  its wrist (hand 0)     wrist to middle-finger MCP (hand 0 - 9)

    x' = (x * w/h - ox) / s,   y' = (y - oy) / s,   z' = (z * w/h - oz) / s

Channel 4 (visibility) is unchanged. A part whose scale is below ``MIN_SCALE`` (not
detected, or degenerate) becomes all zeros, the same as a part that was not detected.
This runs on the full layout because those origins and scales are not among the 184
published points.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from keypoints import layout as L

MIN_SCALE = 1e-6

# part -> (origin, scale from, scale to), as indices inside the part.
REFERENCES = {
    "pose": (L.POSE_NOSE, L.POSE_LEFT_SHOULDER, L.POSE_RIGHT_SHOULDER),
    "face": (L.FACE_NOSE_TIP, L.FACE_RIGHT_IRIS_CENTER, L.FACE_LEFT_IRIS_CENTER),
    "right_hand": (L.HAND_WRIST, L.HAND_WRIST, L.HAND_MIDDLE_FINGER_MCP),
    "left_hand": (L.HAND_WRIST, L.HAND_WRIST, L.HAND_MIDDLE_FINGER_MCP),
}


def adjust(full: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float32]:
    """Adjusted copy of full-layout points of shape (..., 553, 4), e.g. one frame or a video.

    ``width`` and ``height`` are the frame's size in pixels.
    """
    out = np.array(full, dtype=np.float32, copy=True)
    aspect = np.float32(width / height)
    out[..., 0] *= aspect
    out[..., 2] *= aspect
    for name, (origin, a, b) in REFERENCES.items():
        part = out[..., L.FULL_PARTS[name].slice, :]  # a view into out
        xyz = part[..., :3]
        scale = np.linalg.norm(part[..., a, :2] - part[..., b, :2], axis=-1)
        valid = scale >= MIN_SCALE
        safe = np.where(valid, scale, np.float32(1))[..., None, None]
        xyz[...] = (xyz - part[..., origin : origin + 1, :3]) / safe
        part[~valid] = 0
    return out
