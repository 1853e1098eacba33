"""The output file format: NumPy's compressed .npz, byte-for-byte reproducible.

``np.savez_compressed`` stamps each zip entry with the current time, so two runs over
the same corpus would give different bytes. This writes the same format (a deflated zip
of ``.npy`` entries, readable with ``np.load(path, allow_pickle=False)``) with a fixed
timestamp, so identical keypoints give identical files, whichever worker wrote them.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
NPY_SUFFIX = ".npy"  # an npz member's name is its array's name and this


def write_npy(f: BinaryIO, array: npt.NDArray[np.float32]) -> None:
    """One array as a .npy file, written to a stream without a copy of it in memory.

    The same bytes as ``np.save``; numpy's own writer copies the data in 16 MiB chunks on
    streams that are not plain files, which doubled a long video's memory.
    """
    array = np.ascontiguousarray(array)
    fmt = np.lib.format
    fmt.write_array_header_1_0(f, fmt.header_data_from_array_1_0(array))  # type: ignore[no-untyped-call]
    if array.size:  # a view of no elements cannot be cast
        f.write(array.data.cast("B"))


def npy_size(array: npt.NDArray[np.float32]) -> int:
    """How many bytes write_npy writes for ``array``."""
    header = io.BytesIO()
    fmt = np.lib.format
    fmt.write_array_header_1_0(header, fmt.header_data_from_array_1_0(array))  # type: ignore[no-untyped-call]
    return len(header.getvalue()) + array.nbytes


def read_npy(f: BinaryIO) -> npt.NDArray[np.float32]:
    """The array of a .npy stream, read in small chunks into its final place."""
    array: npt.NDArray[np.float32] = np.lib.format.read_array(f, allow_pickle=False)  # type: ignore[no-untyped-call]
    return array


class _Unseekable:
    """A stream seen without its seek: zipfile then lays entries out as for a pipe.

    zipfile writes a zip differently to streams it can seek (a local file) and to those
    it cannot (a bucket upload); hiding seek makes the same keypoints give the same bytes
    on every file system, without building the file in memory first.
    """

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def write(self, data: bytes) -> int:
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()


def write_npz(f: BinaryIO, arrays: Iterable[tuple[str, npt.NDArray[np.float32]]]) -> None:
    """The .npz file holding ``arrays`` (name, array), in their order, streamed to ``f``.

    Arrays are taken one at a time, so a lazy iterable keeps one of them in memory.
    """
    stream: Any = _Unseekable(f)  # zipfile needs only write() and flush()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays:
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            # The size, known before a byte is written, lets zipfile choose ZIP64 from it
            # (only for a member over 2 GiB). Forcing ZIP64 instead gave other bytes under
            # Python 3.11.2 than under 3.11.7, whose zipfile fixed how it streams ZIP64.
            entry.file_size = npy_size(array)
            with archive.open(entry, "w") as member:
                write_npy(member, array)  # type: ignore[arg-type]


def read_npz(data: bytes) -> dict[str, npt.NDArray[np.float32]]:
    """The arrays of an .npz file's bytes, by name; ValueError when it is not one."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise ValueError(f"not a readable npz file ({e})") from e


@dataclass(frozen=True)
class NpyHeader:
    """What a .npy header says of its array: enough to place the data without reading it."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def read_npy_header(f: BinaryIO) -> NpyHeader:
    """The header of a .npy stream, leaving the stream at the first byte of the data.

    Reads a few hundred bytes whatever the array's size; ValueError when it is no .npy.
    """
    fmt = np.lib.format
    version = fmt.read_magic(f)  # type: ignore[no-untyped-call]
    if version == (1, 0):
        shape, fortran_order, dtype = fmt.read_array_header_1_0(f)  # type: ignore[no-untyped-call]
    elif version == (2, 0):
        shape, fortran_order, dtype = fmt.read_array_header_2_0(f)  # type: ignore[no-untyped-call]
    else:
        raise ValueError(f".npy format version {version} is not supported")
    return NpyHeader(tuple(int(n) for n in shape), np.dtype(dtype), bool(fortran_order))


def read_npz_headers(f: BinaryIO) -> dict[str, NpyHeader]:
    """Each array's header of an .npz stream, by name, without decompressing its data.

    Each member is opened and read only as far as its header (zipfile inflates a few
    kilobytes of it), so a tool can size and check a whole corpus of npz files in
    memory and time that do not grow with their arrays. ``f`` must be seekable (a zip's
    directory is at its end). ValueError when it is not an npz of .npy members.
    """
    headers = {}
    try:
        with zipfile.ZipFile(f) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(NPY_SUFFIX):
                    raise ValueError(f"{info.filename} is not a .npy member")
                with archive.open(info) as member:
                    headers[info.filename[: -len(NPY_SUFFIX)]] = read_npy_header(member)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"not a readable npz file ({e})") from e
    return headers
