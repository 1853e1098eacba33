"""Every file access of the pipeline and its tools, through Beam's FileSystems.

Local disks, ``gs://`` and every other file system Beam knows are reached the same way,
here and nowhere else: open, read (bytes, JSON, JSON Lines, npz, npy), write atomically,
list, delete. Paths come from ``keypoints.outputs`` and ``keypoints.corpus``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from keypoints.npz import read_npy, read_npz
from keypoints.outputs import temp_path

_UNCOMPRESSED = "uncompressed"  # never guess a compression from a file's extension


def open_for_reading(path: str) -> BinaryIO:
    """Open a local path or any URL Beam's file systems know, uncompressed."""
    stream: BinaryIO = FileSystems.open(path, compression_type=_UNCOMPRESSED)
    return stream


def read_bytes(path: str) -> bytes:
    with open_for_reading(path) as f:
        return f.read()


def read_json(path: str) -> Any:
    """A JSON file's value; ValueError when it is not JSON."""
    return json.loads(read_bytes(path))


def read_json_lines(path: str) -> list[dict[str, Any]]:
    """The records of a JSON Lines file, blank lines skipped; ValueError when one is not JSON."""
    return [json.loads(line) for line in read_bytes(path).decode().splitlines() if line.strip()]


def read_npz_file(path: str) -> dict[str, npt.NDArray[np.float32]]:
    """Every array of an npz, by name, read without pickles; ValueError when it is not one."""
    return read_npz(read_bytes(path))


def read_npy_file(path: str) -> npt.NDArray[np.float32]:
    with open_for_reading(path) as f:
        return read_npy(f)


def write_atomically(final: str, data: bytes | Callable[[BinaryIO], None]) -> None:
    """``final`` holds the data or is untouched: never a partial file, whatever fails.

    ``data`` is the bytes, or a function that writes them to a stream (no copy in memory).
    A write that raises (a full disk) removes its temporary file; one killed outright
    leaves it behind, hidden, for the end of the next run to remove. An OSError of the
    write names ``final``: a failed ``write()`` or ``close()`` names no file by itself, and
    "No space left on device" is of no use to a person without the path.
    """
    temp = temp_path(final)
    try:
        with FileSystems.create(temp, compression_type=_UNCOMPRESSED) as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
        FileSystems.rename([temp], [final])  # replaces an older file (--overwrite) in one step
    except Exception as e:
        if FileSystems.exists(temp):
            FileSystems.delete([temp])
        if isinstance(e, OSError) and e.errno is not None and e.filename in (None, temp):
            raise OSError(e.errno, e.strerror, final) from e
        raise


def create_new(path: str, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists; whether this call created it.

    On this machine's disks the creation is atomic (``O_CREAT | O_EXCL``): of processes
    racing for one path, exactly one gets True. A reader may briefly find the file empty,
    before its data is in. Elsewhere (a bucket) it is best effort: the path is checked,
    then written, and a writer racing another may get True for a file the other's write
    replaced; read the file back to know whose it is.
    """
    if not is_local(path):
        if FileSystems.exists(path):
            return False
        write_atomically(path, data)
        return True
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        os.unlink(path)  # half-written: it must not stand for anything
        raise
    return True


def rename(source: str, target: str) -> None:
    """Move one file; OSError when ``source`` is gone (another process moved it first)."""
    FileSystems.rename([source], [target])


def exists(path: str) -> bool:
    return bool(FileSystems.exists(path))


def signature(path: str) -> tuple[int, float] | None:
    """A file's size and modification time, or None when it cannot be looked at.

    What a durable record remembers of its input (transforms.staging): a file edited,
    replaced or touched since has another signature.
    """
    try:
        if is_local(path):
            found = os.stat(path)
            return found.st_size, found.st_mtime
        (meta,) = FileSystems.match([path])[0].metadata_list
        return int(meta.size_in_bytes), float(meta.last_updated_in_seconds)
    except (OSError, ValueError):  # Beam's BeamIOError is an OSError too
        return None


def is_local(path: str) -> bool:
    """Whether ``path`` is on this machine's file system (not a bucket)."""
    return isinstance(FileSystems.get_filesystem(path), LocalFileSystem)


def matching(pattern: str) -> list[str]:
    """Every path that matches a glob (``*`` within a folder, ``**`` across folders)."""
    return [meta.path for match in FileSystems.match([pattern]) for meta in match.metadata_list]


def has_any(pattern: str) -> bool:
    """Whether anything matches ``pattern``; the listing stops at the first match."""
    matches = FileSystems.match([pattern], limits=[1])
    return bool(matches[0].metadata_list)


def delete(paths: list[str]) -> None:
    """Delete files, or folders with everything in them."""
    if paths:
        FileSystems.delete(paths)


def delete_if_present(paths: list[str]) -> None:
    delete([p for p in paths if FileSystems.exists(p)])
