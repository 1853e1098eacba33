"""Small helpers the tests share that the project itself has no use for."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
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


def group_alive(group: int) -> bool:
    """Whether any process of a process group is still there."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def written_signs(output: Path) -> set[str]:
    """The labels (``01-train/0001``) of the signs whose npz is on disk."""
    return {f"{p.parent.name}/{p.stem}" for p in output.glob("*/*.npz")}


def unwritten_records(output: Path) -> list[Path]:
    """Video records of signs not written yet: what a rerun can take instead of extracting."""
    written = written_signs(output)
    return [
        r
        for r in (output / "_staging").glob("*/*/[0-9a-f]*.json")
        if f"{r.parent.parent.name}/{r.parent.name}" not in written
    ]
