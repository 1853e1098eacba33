"""Reading a packed dataset (``signkps pack``) for training, with plain numpy.

:class:`PackedKeypoints` is a map-style dataset: ``len(ds)`` and ``ds[i]``, which is all a
PyTorch ``DataLoader`` asks of a ``Dataset``, so it is used there unchanged, and nothing
here imports torch. Opening one reads the manifest and the split's index, and maps the
points file: no frame is read until an item is asked for, and then only that video's.

Each worker process of a loader maps the file itself (the map is dropped when the dataset
is pickled), so spawned workers get the dataset without a copy of its frames.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from keypoints.packed import (
    FORMAT,
    FORMAT_VERSION,
    index_path,
    manifest_path,
    points_path,
    read_index,
)

Sampling = Literal["uniform", "segment"]
SAMPLINGS: tuple[Sampling, ...] = ("uniform", "segment")


class TemporalSampler:
    """Which ``length`` frames of a video of ``frames`` frames an item holds.

    Both modes cut the video into ``length`` equal segments and take one frame of each,
    in order, so every sign keeps its whole course at a fixed length; a video shorter
    than ``length`` repeats frames.

    - ``uniform``: each segment's middle frame; the same every time (evaluation).
    - ``segment``: a random frame of each segment (TSN-style augmentation), drawn from a
      generator seeded with ``(seed, epoch, index)``: the same indices for the same
      seed, epoch and item, whichever worker process asks, and new ones each epoch.
    """

    def __init__(self, length: int, mode: Sampling = "uniform", seed: int = 0) -> None:
        if length < 1:
            raise ValueError(f"length must be at least 1, got {length}")
        if mode not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {mode!r}")
        self.length, self.mode, self.seed = length, mode, seed

    def __call__(self, frames: int, index: int = 0, epoch: int = 0) -> npt.NDArray[np.intp]:
        if frames < 1:
            raise ValueError("a video without frames cannot be sampled")
        bounds = np.arange(self.length + 1) * frames / self.length
        starts = np.floor(bounds[:-1]).astype(np.intp)
        stops = np.maximum(np.floor(bounds[1:]).astype(np.intp), starts + 1)
        if self.mode == "uniform":
            chosen = np.floor((bounds[:-1] + bounds[1:]) / 2).astype(np.intp)
        else:
            rng = np.random.default_rng((self.seed, epoch, index))
            chosen = rng.integers(starts, stops).astype(np.intp)
        indices: npt.NDArray[np.intp] = np.minimum(chosen, frames - 1)
        return indices


def _column(values: pa.ChunkedArray) -> npt.NDArray[np.int64] | list[Any]:
    """Numbers as a numpy array, text as a list of str."""
    if pa.types.is_integer(values.type):
        numbers: npt.NDArray[np.int64] = values.to_numpy().astype(np.int64)
        return numbers
    texts: list[Any] = values.to_pylist()
    return texts


def read_manifest(dest: str) -> dict[str, Any]:
    """The pack's manifest; ValueError when ``dest`` holds no complete pack."""
    try:
        with open(manifest_path(dest), "rb") as f:
            manifest: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        raise ValueError(
            f"{dest} holds no complete pack: {manifest_path(dest)} is missing "
            "(signkps pack writes it last)"
        ) from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise ValueError(f"{manifest_path(dest)} is not a {FORMAT} version {FORMAT_VERSION}")
    return manifest


class PackedKeypoints:
    """One split of a pack: item ``i`` is ``(points, label, record)`` of the i-th video.

    ``points`` is a read-only view into the mapped file, ``(frames, points, 4)`` float32;
    with ``length`` it is a new ``(length, points, 4)`` array of the frames a
    :class:`TemporalSampler` picks (``sampling``, ``seed``; :meth:`set_epoch` moves the
    random one on). ``label`` is the index's label (by default the sign id minus one);
    ``record`` is the video's row of the index (signer, split, sign, video, label,
    first_frame, frames, npz, source).

    ``signers`` and ``signs`` keep only those videos: a signer-independent split is the
    same files opened twice, e.g. ``signers=["01", "02"]`` to train and ``["03"]`` to test.
    """

    def __init__(
        self,
        dest: str,
        split: str,
        *,
        signers: Iterable[str] | None = None,
        signs: Iterable[int] | None = None,
        length: int | None = None,
        sampling: Sampling = "uniform",
        seed: int = 0,
    ) -> None:
        self.dest, self.split = str(dest), split
        self.manifest = read_manifest(self.dest)
        if split not in self.manifest["splits"]:
            packed = ", ".join(sorted(self.manifest["splits"])) or "none"
            raise ValueError(f"{self.dest} has no split {split!r} (packed: {packed})")
        index = read_index(index_path(self.dest, split))
        if signers is not None:
            kept = pa.array(list(signers), pa.string())
            index = index.filter(pc.is_in(index["signer"], value_set=kept))
        if signs is not None:
            kept = pa.array(list(signs), pa.int32())
            index = index.filter(pc.is_in(index["sign"], value_set=kept))
        # Columns, not a dict per row: small to hold and to pickle into each loader worker.
        self._columns = {name: _column(index[name]) for name in index.column_names}
        self._first = self._columns["first_frame"]
        self._frames = self._columns["frames"]
        self._labels = self._columns["label"]
        self.sampler = None if length is None else TemporalSampler(length, sampling, seed)
        self.epoch = 0
        self._points: npt.NDArray[np.float32] | None = None

    @property
    def point_names(self) -> list[str]:
        names: list[str] = self.manifest["layout"]["point_names"]
        return names

    @property
    def parts(self) -> dict[str, slice]:
        """Each body part's rows of the points axis (``keypoints.layout``'s parts)."""
        return {name: slice(*bounds) for name, bounds in self.manifest["layout"]["parts"].items()}

    @property
    def labels(self) -> list[int]:
        return [int(label) for label in self._labels]

    def record(self, i: int) -> dict[str, Any]:
        """Video ``i``'s row of the index."""
        return {
            name: int(column[i]) if isinstance(column, np.ndarray) else column[i]
            for name, column in self._columns.items()
        }

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every kept video's row of the index, in order."""
        return [self.record(i) for i in range(len(self))]

    @property
    def points(self) -> npt.NDArray[np.float32]:
        """The whole split's frames, mapped read-only on first use in this process."""
        if self._points is None:
            self._points = np.load(points_path(self.dest, self.split), mmap_mode="r")
        return self._points

    def set_epoch(self, epoch: int) -> None:
        """Draw other random frames (``sampling="segment"``) from now on, as in epoch ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._first)

    def __getitem__(self, i: int) -> tuple[npt.NDArray[np.float32], int, dict[str, Any]]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"video {i} of {len(self)}")
        i %= len(self)
        first, frames = int(self._first[i]), int(self._frames[i])
        video = self.points[first : first + frames]
        if self.sampler is not None:
            video = video[self.sampler(frames, index=i, epoch=self.epoch)]
        return video, int(self._labels[i]), self.record(i)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_points"] = None  # a memmap pickles as its data: each process maps its own
        return state
