"""Reading and writing whole files through Beam's FileSystems (local disk, gs://, ...)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import BinaryIO

from apache_beam.io.filesystems import FileSystems

from keypoints.frames import basename

TEMP_SUFFIX = ".tmp"


def temp_name(final: str) -> str:
    """A unique hidden name beside ``final`` (same folder, so the rename is cheap)."""
    folder = final[: -len(basename(final))]
    return f"{folder}.{basename(final)}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def write_atomically(final: str, data: bytes | Callable[[BinaryIO], None]) -> None:
    """``final`` holds the data or is untouched: never a partial file, whatever fails.

    ``data`` is the bytes, or a function that writes them to a stream (no copy in memory).
    A write that raises (a full disk) removes its temporary file; one killed outright
    leaves it behind, hidden, for the end of the next run to remove.
    """
    temp = temp_name(final)
    try:
        with FileSystems.create(temp, compression_type="uncompressed") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
        FileSystems.rename([temp], [final])  # replaces an older file (--overwrite) in one step
    except Exception:
        if FileSystems.exists(temp):
            FileSystems.delete([temp])
        raise


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read()  # type: ignore[no-any-return]


def delete_if_present(paths: list[str]) -> None:
    present = [p for p in paths if FileSystems.exists(p)]
    if present:
        FileSystems.delete(present)
