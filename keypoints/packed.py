"""The packed dataset: one memory-mapped array per split, an index beside it, a manifest.

What ``signkps pack`` writes and ``keypoints.dataset`` reads, spelled out once::

    {dest}/manifest.json           layout, labels, settings, source run, every file's sha256
    {dest}/{split}/points.npy      float32 (total_frames, points, 4): every video, in order
    {dest}/{split}/index.parquet   one row per video (INDEX_COLUMNS): where its frames are
    {dest}/.{split}.{unique}.tmp/  a split being written; renamed to {split}/ when complete

Videos follow one another in the order of the source's ``_reports/videos.jsonl``: signer,
then sign number, then video name (signer and video name sorted as text), so a video's
rows are ``points[first_frame : first_frame + frames]``. ``points.npy`` is a plain .npy
(header format 1.0, data aligned to 64 bytes) that ``np.load(path, mmap_mode="r")`` maps
without reading it.

A split's index carries, in its Parquet footer (:data:`INDEX_METADATA_KEY`), what it was
packed from (the source's settings, labels, run and the list of videos), so that a later
pack can tell whether the split is still what it would write, and refuse to put a split
of other settings beside it. Writing is streaming: each video's data goes from its npz
member to the file in chunks of :data:`COPY_CHUNK` bytes, never whole in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from keypoints.layout import NUM_CHANNELS
from keypoints.npz import NPY_SUFFIX, read_npy_header

FORMAT = "signkps-pack"
FORMAT_VERSION = 1
POINTS_FILE = "points.npy"
INDEX_FILE = "index.parquet"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".signkps-pack.lock"  # held (flock) by the one pack writing a destination
TEMP_SUFFIX = ".tmp"
INDEX_METADATA_KEY = b"signkps"
POINTS_DTYPE = "<f4"  # float32, little-endian: what every npz of the pipeline holds
COPY_CHUNK = 1 << 20  # bytes per read from an npz member: memory does not grow with a video
ORDER = "signer, then sign, then video name (signer and video name sorted as text)"

# Column -> Arrow type, in the index's order.
INDEX_COLUMNS: dict[str, pa.DataType] = {
    "signer": pa.string(),
    "split": pa.string(),
    "sign": pa.int32(),
    "video": pa.string(),
    "label": pa.int64(),
    "first_frame": pa.int64(),
    "frames": pa.int64(),
    "npz": pa.string(),  # the npz file the frames were copied from
    "source": pa.string(),  # the video in the corpus (its record's "source")
}
INDEX_SCHEMA = pa.schema(list(INDEX_COLUMNS.items()))
INDEX_ROW_GROUP = 8192  # index rows held before they are written: memory per split, bounded


def split_folder(dest: str, split: str) -> str:
    return os.path.join(dest, split)


def points_path(dest: str, split: str) -> str:
    return os.path.join(dest, split, POINTS_FILE)


def index_path(dest: str, split: str) -> str:
    return os.path.join(dest, split, INDEX_FILE)


def manifest_path(dest: str) -> str:
    return os.path.join(dest, MANIFEST_FILE)


def temp_folder(dest: str, split: str) -> str:
    """A new hidden folder beside the split's, for writing it whole before the rename."""
    return os.path.join(dest, f".{split}.{uuid.uuid4().hex}{TEMP_SUFFIX}")


def is_temp(name: str) -> bool:
    """Whether a name in a destination is one of :func:`temp_folder`'s (a killed pack's)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


@dataclass(frozen=True)
class PackEntry:
    """One video to pack: where its array is, how long it is, and its row of the index."""

    signer: str
    split: str
    sign: int
    video: str
    label: int
    frames: int
    npz: str
    source: str


@dataclass(frozen=True)
class FileDigest:
    bytes: int
    sha256: str


def sha256_of(path: str) -> FileDigest:
    """Size and sha256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(COPY_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(size, digest.hexdigest())


class _HashingWriter:
    """A file that hashes and counts what goes through it, so no second pass reads it."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._f.write(data)


def _points_header(frames: int, points: int) -> dict[str, Any]:
    return {"descr": POINTS_DTYPE, "fortran_order": False, "shape": (frames, points, NUM_CHANNELS)}


def _copy_video(
    archive: zipfile.ZipFile, entry: PackEntry, points: int, out: _HashingWriter
) -> None:
    """Copy one npz member's data, after checking that its header is what was planned.

    The member is read to its end, where zipfile checks its CRC: a damaged npz raises
    instead of packing wrong numbers.
    """
    with archive.open(entry.video + NPY_SUFFIX) as member:
        header = read_npy_header(member)  # type: ignore[arg-type]
        expected = (entry.frames, points, NUM_CHANNELS)
        if header.shape != expected or header.dtype.str != POINTS_DTYPE or header.fortran_order:
            raise ValueError(
                f"{entry.npz}: video {entry.video!r} is now {header.dtype.str} {header.shape}, "
                f"not {POINTS_DTYPE} {expected}: the npz changed while it was packed"
            )
        copied = 0
        while chunk := member.read(COPY_CHUNK):
            out.write(chunk)
            copied += len(chunk)
    if copied != header.nbytes:
        raise ValueError(
            f"{entry.npz}: video {entry.video!r} holds {copied} bytes, not {header.nbytes}"
        )


class PointsWriter:
    """A new points.npy, written front to back: the header, then each video's bytes.

    The header states ``frames``, the split's total, counted beforehand from the npz
    headers; each video is then streamed from its npz member. float32 .npy data is the
    same bytes in an npz and in the packed file, so the copy is bit for bit, and it needs
    one chunk of memory, whatever the corpus. :meth:`finish` checks that exactly
    ``frames`` frames came, and flushes the file to disk, so that a rename after it
    publishes complete data. Everything written is hashed on the way: no second pass.
    """

    def __init__(self, path: str, frames: int, points: int) -> None:
        self.frames, self.points, self.written = frames, points, 0
        self._file = open(path, "wb")  # noqa: SIM115 (closed by finish or __exit__)
        self._out = _HashingWriter(self._file)
        np.lib.format.write_array_header_1_0(self._out, _points_header(frames, points))  # type: ignore[no-untyped-call]

    def add(self, npz: BinaryIO, entries: Sequence[PackEntry]) -> None:
        """Copy ``entries``, all of one npz file (open as ``npz``, seekable), in their order."""
        name = entries[0].npz if entries else "an npz"
        try:
            with zipfile.ZipFile(npz) as archive:
                for entry in entries:
                    _copy_video(archive, entry, self.points, self._out)
                    self.written += entry.frames
        except (zipfile.BadZipFile, KeyError, EOFError) as e:  # damaged, or changed
            raise ValueError(f"{name}: cannot be packed ({type(e).__name__}: {e})") from e
        if self.written > self.frames:
            raise ValueError(f"{name}: more frames than counted: the output changed meanwhile")

    def finish(self) -> FileDigest:
        if self.written != self.frames:
            raise ValueError(
                f"{self.written} frames packed, {self.frames} counted: the output changed meanwhile"
            )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return FileDigest(self._out.size, self._out.digest.hexdigest())

    def __enter__(self) -> PointsWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()


class IndexWriter:
    """A split's index, written a row group at a time as the videos are packed.

    Rows wait in memory only until :data:`INDEX_ROW_GROUP` of them are there; what the
    split was packed from goes in the file's footer (:meth:`finish`), readable alone.
    """

    def __init__(self, path: str) -> None:
        self.path, self.first_frame = path, 0
        self._writer = pq.ParquetWriter(path, INDEX_SCHEMA)
        self._rows: list[dict[str, Any]] = []

    def add(self, entries: Sequence[PackEntry]) -> None:
        for entry in entries:
            self._rows.append({**asdict(entry), "first_frame": self.first_frame})
            self.first_frame += entry.frames
        if len(self._rows) >= INDEX_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=INDEX_SCHEMA))
            self._rows = []

    def finish(self, metadata: dict[str, Any]) -> None:
        self._flush()
        self._writer.add_key_value_metadata({INDEX_METADATA_KEY: json.dumps(metadata)})
        self._writer.close()
        with open(self.path, "rb") as f:
            os.fsync(f.fileno())

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._writer.is_open:
            self._writer.close()


def read_index(path: str) -> pa.Table:
    """A split's index: one row per video (INDEX_COLUMNS), in the points' order."""
    return pq.read_table(path)


def read_index_metadata(path: str) -> dict[str, Any]:
    """What a split was packed from (its Parquet footer only); ValueError when there is none."""
    metadata = pq.read_metadata(path).metadata or {}
    if INDEX_METADATA_KEY not in metadata:
        raise ValueError(f"{path} is not the index of a signkps pack")
    found: dict[str, Any] = json.loads(metadata[INDEX_METADATA_KEY])
    return found
