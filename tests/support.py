"""Small helpers the tests share that the project itself has no use for."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

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
