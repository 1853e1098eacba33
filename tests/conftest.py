"""Shared fixtures: the real assets in ../shared/assets and small KArSL-layout corpora."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import cv2
import numpy as np
import pytest

from keypoints.corpus import KARSL_LAYOUT, SignKey, sign_folder
from tests.video_corpus import VideoCase, cached_video_corpus

REPO = Path(__file__).resolve().parents[1]
# The console script the project installs, beside this interpreter: what a user runs.
SIGNKPS = str(Path(sys.executable).with_name("signkps"))


def assets_dir() -> Path | None:
    candidates = [os.environ.get("SIGNKPS_TEST_ASSETS"), REPO.parent / "shared" / "assets"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "SHA256SUMS").is_file():
            return Path(candidate)
    return None


def unavailable(reason: str) -> None:
    """A part a test needs cannot be had here: skip, but fail in CI, which must have it."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def flink_parts(request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """Flink and the job server, downloaded (with a word on the terminal) on first use."""
    from pipeline.flink.dist import FetchError, flink_home, job_server_classpath

    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled():
            return flink_home(), job_server_classpath()
    except FetchError as e:
        unavailable(f"Flink or the Beam Flink job server cannot be had here: {e}")
        raise


@pytest.fixture(scope="session")
def assets() -> Path:
    """The shared real models and footage; their absence fails CI and skips elsewhere."""
    found = assets_dir()
    if found is None:
        reason = "test assets not found: set SIGNKPS_TEST_ASSETS or place them in ../shared/assets"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def signer_frames(assets: Path) -> list[Path]:
    """The 9 frames of a real signer, 640x360, in order."""
    return sorted((assets / "media" / "signer_sample_frames").glob("*.jpg"))


def read_rgb(paths: list[Path]) -> list[np.ndarray]:
    """Image files as RGB arrays, the way MediaPipe takes them."""
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


@pytest.fixture(scope="session")
def signer_rgb(signer_frames: list[Path]) -> list[np.ndarray]:
    """The sample signer's 9 frames, decoded to RGB."""
    return read_rgb(signer_frames)


@pytest.fixture(scope="session")
def signer_video(assets: Path) -> Path:
    return assets / "media" / "signer_sample_1280x720_9f.mp4"


@pytest.fixture(scope="session")
def video_corpus(assets: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, VideoCase]:
    """Real-world video files made from the signer footage (tests/video_corpus.py)."""
    root = tmp_path_factory.getbasetemp() / "video_corpus"
    return cached_video_corpus(root, assets / "media" / "signer_sample_frames")


# A video of a corpus: a list of frame files (a frame folder) or one video file.
VideoSpec = list[Path] | Path
CorpusSpec = Mapping[SignKey, Mapping[str, VideoSpec]]


def build_corpus(root: Path, spec: CorpusSpec) -> Path:
    """Lay out real files as a KArSL corpus: frame folders get files 00000.jpg, ..."""
    for key, videos in spec.items():
        folder = Path(sign_folder(str(root), KARSL_LAYOUT, key))
        for name, video in videos.items():
            if isinstance(video, Path):
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(video, folder / f"{name}{video.suffix}")
                continue
            (folder / name).mkdir(parents=True)
            for i, frame in enumerate(video):
                shutil.copy(frame, folder / name / f"{i:05d}{frame.suffix}")
    return root


@pytest.fixture
def make_corpus(tmp_path: Path) -> Callable[[CorpusSpec], Path]:
    return lambda spec: build_corpus(tmp_path / "corpus", spec)


# The corpus a run on another runner is compared on with the DirectRunner: two signs, a frame
# folder, a video file, and a file that is no video, which must end as a failure record on
# every runner. Sign 3 of a 1..3 selection has no folder.
RUNNER_CORPUS_VIDEOS = [("clip", "ok"), ("frames", "ok"), ("broken", "failed"), ("reversed", "ok")]


@pytest.fixture(scope="session")
def runner_corpus(
    tmp_path_factory: pytest.TempPathFactory, signer_frames: list[Path], signer_video: Path
) -> Path:
    root = build_corpus(
        tmp_path_factory.mktemp("runner-corpus"),
        {
            SignKey("01", "train", 1): {"frames": signer_frames, "clip": signer_video},
            SignKey("01", "train", 2): {"reversed": signer_frames[::-1]},
        },
    )
    (root / "01" / "01" / "train" / "0002" / "broken.mp4").write_bytes(b"not a video\n" * 64)
    return root
