"""The model store against a real HTTP server on 127.0.0.1 serving the real model files."""

from __future__ import annotations

import hashlib
import http.server
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from keypoints.cache import CACHE_ENV
from keypoints.models import (
    BASE_URL_ENV,
    FACE_MODEL,
    HAND_MODEL,
    POSE_MODELS,
    ModelError,
    ModelFile,
    ModelStore,
    default_cache_dir,
    sha256_of,
)
from tests.model_mirror import mirror, serving

MODEL = FACE_MODEL  # the smallest bundle, 3.7 MB
GOOD, CORRUPT, CUT = "good", "corrupt", "cut"  # folders of the server, one per behaviour


class ModelHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; under /cut/ it announces the whole file and closes after half of it."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if not self.path.startswith(f"/{CUT}/"):
            super().do_GET()
            return
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Server:
    url: str
    root: Path  # what it serves
    requests: list[str] = field(default_factory=list)  # the paths it was asked for

    def served(self, folder: str, model: ModelFile) -> bytes:
        return (self.root / folder / model.url_path).read_bytes()


@pytest.fixture(scope="module")
def server(assets: Path, tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("www")
    mirror(root / GOOD, assets / "models", corrupt=False)
    mirror(root / CORRUPT, assets / "models", corrupt=True)
    mirror(root / CUT, assets / "models", corrupt=False)
    (root / "dir").symlink_to(assets / "models")  # a flat model folder, as a URL
    requests: list[str] = []
    handler = type("Handler", (ModelHandler,), {"requests": requests})
    with serving(root, handler) as url:
        yield Server(url, root, requests)


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_download_fills_the_cache_once(server, tmp_path):
    store = ModelStore(
        cache_dir=tmp_path / "cache", base_url=f"{server.url}/{GOOD}", progress=False
    )
    before = len(server.requests)
    path = store.path(MODEL)
    assert server.requests[before:] == [f"/{GOOD}/{MODEL.url_path}"]
    assert path == tmp_path / "cache" / MODEL.name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL.sha256
    assert leftovers(tmp_path / "cache") == [MODEL.name]  # no temporary file left behind
    assert store.path(MODEL) == path
    assert len(server.requests) == before + 1  # the second time it comes from the cache


def test_a_download_shows_its_progress(server, tmp_path, capsys):
    store = ModelStore(cache_dir=tmp_path, base_url=f"{server.url}/{GOOD}", progress=True)
    store.path(MODEL)
    bar = capsys.readouterr().err
    assert MODEL.name in bar and "100%" in bar and "3.58M" in bar  # 3,758,596 bytes


def test_environment_names_the_cache_and_the_mirror(server, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    monkeypatch.setenv(BASE_URL_ENV, f"{server.url}/{GOOD}")
    assert default_cache_dir() == tmp_path / "env-cache" / "models"
    path = ModelStore(progress=False).path(HAND_MODEL)
    assert path == tmp_path / "env-cache" / "models" / HAND_MODEL.name
    assert sha256_of(path) == HAND_MODEL.sha256


def test_a_corrupted_download_is_refused_with_both_hashes(server, tmp_path):
    store = ModelStore(
        cache_dir=tmp_path / "cache", base_url=f"{server.url}/{CORRUPT}", progress=False
    )
    with pytest.raises(ModelError) as refused:
        store.path(MODEL)
    actual = hashlib.sha256(server.served(CORRUPT, MODEL)).hexdigest()
    message = str(refused.value)
    assert MODEL.name in message and MODEL.sha256 in message and actual in message
    assert leftovers(tmp_path / "cache") == []


def test_an_interrupted_transfer_is_refused_and_leaves_nothing(server, tmp_path):
    store = ModelStore(cache_dir=tmp_path / "cache", base_url=f"{server.url}/{CUT}", progress=False)
    with pytest.raises(ModelError, match="interrupted") as refused:
        store.path(MODEL)
    data = server.served(CUT, MODEL)
    size, half = len(data), hashlib.sha256(data[: len(data) // 2]).hexdigest()
    message = str(refused.value)
    assert f"{size // 2} of {size} bytes" in message
    assert MODEL.name in message and MODEL.sha256 in message and half in message
    assert leftovers(tmp_path / "cache") == []


def test_a_missing_file_names_the_url_and_the_status(server, tmp_path):
    store = ModelStore(
        cache_dir=tmp_path / "cache", base_url=f"{server.url}/{GOOD}", progress=False
    )
    with pytest.raises(ModelError, match="HTTP 404") as refused:
        store.path(POSE_MODELS["heavy"])  # not served
    assert f"{server.url}/{GOOD}/{POSE_MODELS['heavy'].url_path}" in str(refused.value)
    assert leftovers(tmp_path / "cache") == []


def test_an_unreachable_server_says_how_to_give_the_files(tmp_path):
    store = ModelStore(cache_dir=tmp_path, base_url="http://127.0.0.1:9", progress=False)
    with pytest.raises(ModelError, match="--model_dir"):
        store.path(MODEL)


def test_a_bad_cached_file_is_fetched_again(server, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / MODEL.name).write_bytes(b"not a model")
    store = ModelStore(cache_dir=cache, base_url=f"{server.url}/{GOOD}", progress=False)
    assert sha256_of(store.path(MODEL)) == MODEL.sha256


def test_a_model_folder_is_used_in_place_after_the_check(assets, tmp_path):
    models = assets / "models"
    store = ModelStore(str(models), cache_dir=tmp_path / "cache")
    assert store.path(MODEL) == models / MODEL.name
    assert not (tmp_path / "cache").exists()  # nothing copied, nothing downloaded

    with pytest.raises(ModelError, match=re.escape(f"{POSE_MODELS['lite'].name}: not found in")):
        store.path(POSE_MODELS["lite"])

    truncated = tmp_path / "truncated"
    truncated.mkdir()
    data = (models / MODEL.name).read_bytes()[:1000]
    (truncated / MODEL.name).write_bytes(data)
    with pytest.raises(ModelError) as refused:
        ModelStore(str(truncated)).path(MODEL)
    message = str(refused.value)
    assert str(truncated / MODEL.name) in message
    assert MODEL.sha256 in message and hashlib.sha256(data).hexdigest() in message


def test_a_model_folder_given_as_a_url_is_copied_into_the_cache(server, tmp_path):
    """What --model_dir gs://... does on Dataflow, with an HTTP opener standing in for GCS."""
    base = server.url
    store = ModelStore(
        f"{base}/dir", cache_dir=tmp_path / "cache", open_file=urllib.request.urlopen
    )
    path = store.path(HAND_MODEL)
    assert path == tmp_path / "cache" / HAND_MODEL.name
    assert sha256_of(path) == HAND_MODEL.sha256

    missing = ModelStore(f"{base}/dir", cache_dir=tmp_path / "c2", open_file=urllib.request.urlopen)
    with pytest.raises(
        ModelError, match=re.escape(f"cannot read {base}/dir/pose_landmarker_lite.task")
    ):
        missing.path(POSE_MODELS["lite"])


def test_pinned_hashes_match_the_shared_assets(assets):
    for model in (POSE_MODELS["full"], FACE_MODEL, HAND_MODEL):
        assert sha256_of(assets / "models" / model.name) == model.sha256
    sums = (assets / "SHA256SUMS").read_text()
    assert all(m.sha256 in sums for m in (POSE_MODELS["full"], FACE_MODEL, HAND_MODEL))
