"""The model files of the Tasks backend: pinned by sha256, fetched once, verified every time.

Landmarks depend on the exact model bytes, so every file is checked against the hash the
project was validated with before MediaPipe sees it, whichever way it arrived:

- ``model_dir`` a local folder: its files are used where they are (after the check);
- ``model_dir`` a URL (``gs://...`` on Dataflow): each file is read through the injected
  ``open_file`` and copied into the cache, since MediaPipe loads models from local paths;
- no ``model_dir``: the cache is filled on first use by downloading the official files.

Files enter the cache under a temporary name and are renamed once complete and verified,
so a crash or a concurrent worker never leaves a partial model where it would be used.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from keypoints.cache import cache_root, new_file
from keypoints.frames import OpenFile

logger = logging.getLogger(__name__)

OFFICIAL_BASE_URL = "https://storage.googleapis.com/mediapipe-models"
BASE_URL_ENV = "SIGNKPS_MODEL_BASE_URL"  # a mirror with the official folder structure
CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 60.0


class ModelError(Exception):
    """A model file that cannot be had, or is not the file the project pins."""


@dataclass(frozen=True)
class ModelFile:
    """One official MediaPipe Tasks bundle: its file name, where it is published, its hash."""

    name: str
    url_path: str  # relative to the base URL
    sha256: str


def _official(task: str, variant: str, sha256: str) -> ModelFile:
    name = f"{variant}.task"
    return ModelFile(name, f"{task}/{variant}/float16/1/{name}", sha256)


POSE_MODELS = {
    "lite": _official(
        "pose_landmarker",
        "pose_landmarker_lite",
        "59929e1d1ee95287735ddd833b19cf4ac46d29bc7afddbbf6753c459690d574a",
    ),
    "full": _official(
        "pose_landmarker",
        "pose_landmarker_full",
        "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad",
    ),
    "heavy": _official(
        "pose_landmarker",
        "pose_landmarker_heavy",
        "64437af838a65d18e5ba7a0d39b465540069bc8aae8308de3e318aad31fcbc7b",
    ),
}
FACE_MODEL = _official(
    "face_landmarker",
    "face_landmarker",
    "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
)
HAND_MODEL = _official(
    "hand_landmarker",
    "hand_landmarker",
    "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
)


def default_cache_dir() -> Path:
    """``models/`` of the project's cache root (keypoints.cache)."""
    return cache_root() / "models"


def default_base_url() -> str:
    return os.environ.get(BASE_URL_ENV) or OFFICIAL_BASE_URL


def is_url(location: str) -> bool:
    return "://" in location


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(model: ModelFile, source: str, actual: str, detail: str = "") -> ModelError:
    return ModelError(
        f"{model.name} from {source}: sha256 {actual} is not the pinned "
        f"{model.sha256}{detail}; the file is refused"
    )


@dataclass(frozen=True)
class ModelStore:
    """Where the model files come from; ``path()`` gives a verified local file.

    ``cache_dir`` and ``base_url`` default to :func:`default_cache_dir` and
    :func:`default_base_url`; ``open_file`` reads a ``model_dir`` that is a URL.
    ``progress`` shows a download bar: ``None`` shows it only on a terminal.
    """

    model_dir: str | None = None
    cache_dir: Path | None = None
    base_url: str | None = None
    open_file: OpenFile | None = None
    progress: bool | None = None

    def path(self, model: ModelFile) -> Path:
        if self.model_dir is not None and not is_url(self.model_dir):
            return self._in_model_dir(model)
        cached = (self.cache_dir or default_cache_dir()) / model.name
        if not _cached_and_intact(cached, model):
            self._fetch(model, cached)
        return cached

    def _fetch(self, model: ModelFile, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.model_dir is not None:
            source = f"{self.model_dir.rstrip('/')}/{model.name}"
            with self._open_remote(model, source) as (stream, size):
                _store(model, source, stream, size, target, self.progress)
        else:
            source = f"{(self.base_url or default_base_url()).rstrip('/')}/{model.url_path}"
            with _download(model, source) as (stream, size):
                _store(model, source, stream, size, target, self.progress)
        logger.info("%s: fetched from %s into %s", model.name, source, target.parent)

    def _in_model_dir(self, model: ModelFile) -> Path:
        assert self.model_dir is not None
        path = Path(self.model_dir) / model.name
        if not path.is_file():
            raise ModelError(f"{model.name}: not found in the model folder {self.model_dir}")
        actual = sha256_of(path)
        if actual != model.sha256:
            raise _mismatch(model, str(path), actual)
        return path

    @contextlib.contextmanager
    def _open_remote(self, model: ModelFile, source: str) -> Iterator[tuple[BinaryIO, None]]:
        if self.open_file is None:
            raise ModelError(f"{model.name}: no way to read {source} (no file opener given)")
        try:
            stream = self.open_file(source)
        except OSError as e:
            raise ModelError(f"{model.name}: cannot read {source} ({e})") from e
        with stream:
            yield stream, None


def _cached_and_intact(path: Path, model: ModelFile) -> bool:
    if not path.is_file():
        return False
    actual = sha256_of(path)
    if actual != model.sha256:
        logger.warning(
            "%s: sha256 %s is not the pinned %s; fetching it again", path, actual, model.sha256
        )
    return actual == model.sha256


@contextlib.contextmanager
def _download(model: ModelFile, url: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """The response body and its announced length; errors become a ModelError."""
    try:
        response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        e.close()
        raise ModelError(
            f"{model.name}: download from {url} failed: HTTP {e.code} {e.reason}"
        ) from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ModelError(
            f"{model.name}: cannot download {url} ({reason}); give the files with --model_dir "
            f"or a mirror in ${BASE_URL_ENV}"
        ) from e
    with response:
        length = response.headers.get("Content-Length")
        yield response, int(length) if length and length.isdigit() else None


def _store(
    model: ModelFile,
    source: str,
    stream: BinaryIO,
    size: int | None,
    target: Path,
    progress: bool | None,
) -> None:
    """Copy ``stream`` to ``target`` through a temporary file, renamed only once verified."""
    digest, received = hashlib.sha256(), 0
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=model.name,
        disable=None if progress is None else not progress,
        leave=True,
    )
    with new_file(target) as out, bar:
        try:
            for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as e:
            detail = f" (transfer interrupted after {received} bytes: {e})"
            raise _mismatch(model, source, digest.hexdigest(), detail) from e
        actual = digest.hexdigest()
        if size is not None and received != size:
            detail = f" (transfer interrupted: {received} of {size} bytes)"
            raise _mismatch(model, source, actual, detail)
        if actual != model.sha256:
            raise _mismatch(model, source, actual)
