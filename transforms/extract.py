"""Keypoint extraction: the DoFn that owns a MediaPipe backend."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.pvalue import PCollection

from keypoints.backends import Backend, BackendConfig, backend_settings, create_backend
from keypoints.corpus import SignKey
from keypoints.extract import ExtractionSettings, VideoKeypoints, extract_video, failed_video
from keypoints.frames import VideoSource
from keypoints.isolation import (
    BackendFactory,
    BackendRaised,
    ExtractorClosed,
    IsolatedExtractor,
    ProcessDied,
)
from transforms import metrics
from transforms.files import open_for_reading
from transforms.listing import VideoWork
from transforms.progress import ProgressSender
from transforms.staging import (
    StagedResult,
    WriteSign,
    complete_sign,
    record_video,
    record_worker,
    reuse_video,
    run_signature,
    video_signature,
)

logger = logging.getLogger(__name__)


# Tries per video. The FnApiRunner of a local run does not retry a bundle that raises (it
# fails the whole job), and a cluster's bundle retry would redo every video of the bundle,
# so the DoFn retries the one video itself, each time with a new backend.
MAX_ATTEMPTS = 3
# Of those, tries that may end with the extraction process dead (isolation on). A crash in
# native code is most often the video's own (a frame MediaPipe cannot take) and comes
# back every time, so it is not worth three tries; the one retry, in a new process, is
# for a death that was not the video's: the kernel's out-of-memory killer picking this
# process while other workers peaked, a kill from outside.
MAX_PROCESS_DEATHS = 2


class ExtractKeypointsDoFn(beam.DoFn):
    """Builds the backend once per DoFn instance, then extracts one video per element.

    With ``isolate`` (the default) the backend, and the decoding, run in a child process
    of the worker (keypoints.isolation), started in ``setup()``: a crash in native code
    (MediaPipe, OpenCV, FFmpeg) kills that process, not the worker, and costs the video
    in hand, which is recorded as failed with how the process died; a new process takes
    the next video. Without it, the backend lives in the worker and such a crash ends the
    worker, and with it a local run.

    The backend's model files are resolved (fetched, verified) where it is built, on the worker.
    Each video is recorded durably under ``output_root`` and its record emitted
    (transforms.staging): keypoints never travel as elements. A video already recorded,
    by an earlier run that did not finish, from the same input and settings, is reused
    unless ``reuse`` is off (``--overwrite``). The worker that records a sign's last video
    writes the sign with ``write_sign``, the sink's own writer.
    """

    def __init__(
        self,
        output_root: str,
        backend: str,
        settings: ExtractionSettings,
        write_sign: WriteSign,
        run_id: str,
        backend_config: BackendConfig | None = None,
        reuse: bool = True,
        isolate: bool = True,
    ) -> None:
        self._output_root = output_root
        self._backend_name = backend
        self._backend_config = backend_config or BackendConfig()
        self._settings = settings
        self._write_sign = write_sign
        self._reuse = reuse
        self._run_id = run_id
        self._isolate = isolate
        self._stopping = False
        self._backend: Backend | None = None
        self._extractor: IsolatedExtractor | None = None
        self._run_signature = ""
        self._progress = ProgressSender()

    def setup(self) -> None:
        self._run_signature = run_signature(
            self._backend_name,
            backend_settings(self._backend_name, self._backend_config),
            self._settings,
        )
        record_worker(self._output_root, self._run_id)
        if self._isolate:
            # Starts the child now, in the background; the first video waits for it ready.
            self._extractor = IsolatedExtractor(self.backend_factory(), open_for_reading)
        else:
            self._backend = self._new_backend()

    def backend_factory(self) -> BackendFactory:
        """What builds the backend in the extraction process: picklable, by reference."""
        return functools.partial(create_backend, self._backend_name, self._backend_config)

    def _new_backend(self) -> Backend:
        return create_backend(self._backend_name, self._backend_config, open_file=open_for_reading)

    def process(self, element: VideoWork) -> Iterator[StagedResult]:
        key, source, source_sig = element
        signature = video_signature(source_sig, self._run_signature)
        root, run_id = self._output_root, self._run_id
        staged = None
        if self._reuse:  # a record of this run's too: a retried bundle's
            staged = reuse_video(root, key, source.location, signature, run_id)
        if staged is None:
            result = self._extract(key, source)
            if self._stopping:
                # The worker is being shut down (an interrupted run) and its backend was
                # closed under this video: its numbers cannot be trusted, so nothing is
                # recorded, and the next run extracts the video again.
                raise RuntimeError(f"{key.label} {source.name}: worker stopped mid-video")
            staged = record_video(root, key, result, signature, run_id)
        (metrics.VIDEOS_REUSED if staged.report.reused else metrics.VIDEOS_EXTRACTED).inc()
        report, ok = staged.report, staged.array_path is not None
        (metrics.VIDEOS_OK if ok else metrics.VIDEOS_FAILED).inc()
        metrics.FRAMES.inc(report.frames)
        metrics.UNREADABLE_FRAMES.inc(report.unreadable_frames)
        self._progress.send(
            event="video", sign=key.label, frames=report.frames, ok=ok, reused=report.reused
        )
        if complete_sign(root, key, self._run_signature, run_id, self._write_sign):
            metrics.SIGNS_WRITTEN.inc()
            self._progress.send(event="written", sign=key.label)
        yield key, staged

    def _extract(self, key: SignKey, source: VideoSource) -> VideoKeypoints:
        """The video's keypoints; a backend that raises is replaced and the video redone.

        Input problems never raise (they are in the report). What does raise is the
        backend, whose state is then unknown: it is closed and a new one redoes the video
        from its first frame, so no frame is processed twice into the output. A process
        that dies under the video (isolation) is replaced the same way, up to
        MAX_PROCESS_DEATHS times. After MAX_ATTEMPTS tries in all the video is recorded as
        failed with each error, and the rest of its sign is still written.
        """
        errors: list[tuple[str, str]] = []  # (what happened, how the video was redone)
        deaths = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self._extractor is None and self._backend is None:
                self._backend = self._new_backend()  # one that cannot be built fails the bundle
            try:
                result = self._extract_once(source)
            except ExtractorClosed:  # teardown: the worker stops (the caller knows)
                errors.append((f"attempt {attempt} stopped: the worker is stopping", ""))
                break
            except ProcessDied as e:  # the extraction process died under the video
                # The reason holds the process's last line of output; all of it went to
                # the worker's stderr as it came.
                errors.append((f"attempt {attempt} failed: {e}", "redone in a new process"))
                logger.warning("%s %s: %s", key.label, source.name, errors[-1][0])
                metrics.VIDEO_ATTEMPTS_FAILED.inc()
                deaths += 1
                if deaths == MAX_PROCESS_DEATHS or self._stopping:
                    break
                continue
            except BackendRaised as e:  # in the child, which replaced its backend
                errors.append(
                    (f"attempt {attempt} failed: {e.type_name}: {e}", "redone with a new backend")
                )
                logger.warning("%s %s: %s\n%s", key.label, source.name, errors[-1][0], e.details)
                metrics.VIDEO_ATTEMPTS_FAILED.inc()
                continue
            except Exception as e:  # the backend failed mid-video: recorded, then retried
                if self._extractor is not None:
                    raise  # not the backend's: the extractor's own (BackendUnavailable)
                errors.append(
                    (
                        f"attempt {attempt} failed: {type(e).__name__}: {e}",
                        "redone with a new backend",
                    )
                )
                logger.warning("%s %s: %s", key.label, source.name, errors[-1][0], exc_info=True)
                metrics.VIDEO_ATTEMPTS_FAILED.inc()
                self._close_backend()
                continue
            result.report.problems[:0] = [f"{err}; {redone}" for err, redone in errors]
            return result
        problems = [err for err, _ in errors]
        return failed_video(
            source, f"extraction failed {len(errors)} times; last: {problems[-1]}", problems
        )

    def _extract_once(self, source: VideoSource) -> VideoKeypoints:
        if self._extractor is not None:
            return self._extractor.extract(source, self._settings)
        assert self._backend is not None
        return extract_video(source, self._backend, self._settings, open_for_reading)

    def _close_backend(self) -> None:
        if self._backend is not None:
            backend, self._backend = self._backend, None
            try:
                backend.close()
            except Exception:  # a broken backend may not close cleanly; it is dropped anyway
                logger.warning("closing a failed %s backend raised", self._backend_name)

    def teardown(self) -> None:
        self._stopping = True  # first: a video being extracted meanwhile is not recorded
        if self._extractor is not None:
            self._extractor.close()  # kills the child, under a video or not
        self._close_backend()
        self._progress.close()
        if not self._isolate:
            # The worker process usually exits next, and Python's last garbage collection
            # of a heap holding Beam and MediaPipe is slow there (benchmarks/RESULTS.md),
            # paid once per worker at the end of every run, as a local runner stops its
            # workers one after another. Collect now, then freeze what is left so that exit
            # skips it. Not with isolation: MediaPipe is in the child, and the worker may
            # be a thread of the launching process (signkps local), which must not have
            # its heap frozen under it.
            gc.collect()
            gc.freeze()


class ExtractKeypoints(beam.PTransform[PCollection[VideoWork], PCollection[StagedResult]]):
    """One element per video in; per video, its staged record (report, array path) out."""

    def __init__(self, extractor: ExtractKeypointsDoFn) -> None:
        super().__init__()
        self._dofn = extractor

    def expand(self, videos: PCollection[VideoWork]) -> PCollection[StagedResult]:
        staged: PCollection[StagedResult] = videos | "Extract" >> beam.ParDo(
            self._dofn
        ).with_output_types(StagedResult)
        return staged
