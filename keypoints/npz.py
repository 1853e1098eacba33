"""The output file format: NumPy's compressed .npz, byte-for-byte reproducible.

``np.savez_compressed`` stamps each zip entry with the current time, so two runs over
the same corpus would give different bytes. This writes the same format (a deflated zip
of ``.npy`` entries, readable with ``np.load(path, allow_pickle=False)``) with a fixed
timestamp, so identical keypoints give identical files, whichever worker wrote them.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


def write_npy(f: BinaryIO, array: npt.NDArray[np.float32]) -> None:
    """One array as a .npy file, written straight to a stream."""
    np.lib.format.write_array(f, array, allow_pickle=False)  # type: ignore[no-untyped-call]


def load_npy(data: bytes) -> npt.NDArray[np.float32]:
    array: npt.NDArray[np.float32] = np.load(io.BytesIO(data), allow_pickle=False)
    return array


def npz_bytes(arrays: Mapping[str, npt.NDArray[np.float32]]) -> bytes:
    """The .npz file holding ``arrays``, entries in the mapping's order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as f:
                np.lib.format.write_array(  # type: ignore[no-untyped-call]
                    f, np.asanyarray(array), allow_pickle=False
                )
    return buffer.getvalue()


def read_npz(data: bytes) -> dict[str, npt.NDArray[np.float32]]:
    """The arrays of an .npz file's bytes, by name; ValueError when it is not one."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise ValueError(f"not a readable npz file ({e})") from e
