"""Other layouts from full-layout output, without running MediaPipe again.

A run with ``--layout_points full`` keeps every landmark, image coordinates. What any other
run would have written for the same frames is a function of that array alone, plus the
frame size for the adjusted variant: the pipeline itself computes its output with
:func:`derive_points` from the full landmarks of each frame, so deriving later gives the
same numbers bit for bit.

The frame size of a video is in its report (``width`` and ``height`` of its record in
``_reports/videos.jsonl``). The report holds the size of the video's *first* frame, which
is every frame's size for a video file and for frame folders of uniform images; a frame
folder mixing image sizes would need each frame's own size, which the report does not keep.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from keypoints import layout as L
from keypoints.normalise import adjust


def check_full(points: npt.NDArray[np.float32]) -> None:
    """Raise ValueError unless ``points`` is full-layout landmarks, (..., 553, 4)."""
    if points.ndim < 2 or points.shape[-2:] != (L.FULL_POINTS, L.NUM_CHANNELS):
        raise ValueError(
            f"expected full-layout points of shape (..., {L.FULL_POINTS}, {L.NUM_CHANNELS}), "
            f"got {points.shape}: was the run made with --layout_points full?"
        )


def derive_points(
    full: npt.NDArray[np.float32],
    layout: str = "184",
    adjusted: bool = False,
    frame_size: tuple[int, int] | None = None,
) -> npt.NDArray[np.float32]:
    """What a run with ``--layout_points layout`` (and ``--adjusted``) writes for ``full``.

    ``full`` is one frame (553, 4) or a video (frames, 553, 4) of full-layout image
    coordinates; ``frame_size`` is ``(width, height)`` in pixels, needed only when
    ``adjusted``.
    """
    check_full(full)
    if layout not in L.LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: expected one of {sorted(L.LAYOUTS)}")
    if adjusted:
        if frame_size is None:
            raise ValueError("adjusted points need the frame size (width, height) in pixels")
        full = adjust(full, *frame_size)
    return L.select_184(full) if layout == "184" else full
