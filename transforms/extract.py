"""Keypoint extraction: the DoFn that owns a MediaPipe backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from keypoints.backends import Backend, BackendConfig, create_backend
from keypoints.corpus import SignKey
from keypoints.extract import ExtractionSettings, VideoKeypoints, extract_video
from transforms import metrics
from transforms.listing import VideoWork
from transforms.progress import ProgressSender

VideoResult = tuple[SignKey, VideoKeypoints]


def open_for_reading(path: str) -> BinaryIO:
    """Open a local path or any URL Beam's file systems know, uncompressed."""
    return FileSystems.open(path, compression_type="uncompressed")  # type: ignore[no-any-return]


class ExtractKeypointsDoFn(beam.DoFn):
    """Builds the backend once per DoFn instance, then extracts one video per element.

    The backend's model files are resolved (fetched, verified) in ``setup()``, on the worker.
    """

    def __init__(
        self,
        backend: str,
        settings: ExtractionSettings,
        progress_socket: str | None = None,
        backend_config: BackendConfig | None = None,
    ) -> None:
        self._backend_name = backend
        self._backend_config = backend_config or BackendConfig()
        self._settings = settings
        self._backend: Backend | None = None
        self._progress = ProgressSender(progress_socket)

    def setup(self) -> None:
        self._backend = create_backend(
            self._backend_name, self._backend_config, open_file=open_for_reading
        )

    def process(self, element: VideoWork) -> Iterator[VideoResult]:
        key, source = element
        assert self._backend is not None, "setup() builds the backend"
        result = extract_video(source, self._backend, self._settings, open_for_reading)
        report = result.report
        (metrics.VIDEOS_OK if result.ok else metrics.VIDEOS_FAILED).inc()
        metrics.FRAMES.inc(report.frames)
        metrics.UNREADABLE_FRAMES.inc(report.unreadable_frames)
        self._progress.send(
            event="video",
            sign=key.label,
            frames=report.frames,
            ok=result.ok,
            seconds=report.seconds,
        )
        yield key, result

    def teardown(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        self._progress.close()


class ExtractKeypoints(beam.PTransform):
    def __init__(
        self,
        backend: str,
        settings: ExtractionSettings,
        progress_socket: str | None = None,
        backend_config: BackendConfig | None = None,
    ) -> None:
        super().__init__()
        self._dofn = ExtractKeypointsDoFn(backend, settings, progress_socket, backend_config)

    def expand(self, videos: beam.PCollection[VideoWork]) -> beam.PCollection[VideoResult]:
        return videos | "Extract" >> beam.ParDo(self._dofn)
