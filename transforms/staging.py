"""The staging area: every video's result, recorded durably, and each sign written when done.

Keypoints never travel as elements. The extraction step records each video as soon as it
has it, under the output root: its array (a .npy file) and then its record (report and
signature, a .json file); the record is written last, so a record on disk always has its
array. Only small records become elements: a corpus of keypoints (gigabytes for KArSL)
never has to fit in a runner's memory or cross the network twice.

Work survives an interruption. A run that dies leaves the records in place, and the next
run reuses every one whose signature still matches (VideoSignature: the source files'
sizes and modification times, the backend and its settings, the extraction settings, and
the versions of this project and MediaPipe) instead of extracting the video again.

Output appears while the run goes. The listing writes each sign's manifest (its videos and
their source signatures) before any of them is extracted; the worker that records a sign's
last video finds all of the manifest's records and writes the sign (complete_sign). Of two
workers finishing a sign's last videos at once, the one that renames the manifest writes
it; the bytes are deterministic anyway, and every write is atomic, so a retried bundle
that writes a sign again writes what was there. The sign's records go once its files are
in place. The group-by-sign at the end only writes what is left over (a sign whose writer
stopped midway) and removes whatever of the staging area a sign left.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import apache_beam as beam
import numpy as np
import numpy.typing as npt
from apache_beam.pvalue import PCollection
from natsort import natsorted

from keypoints.corpus import SignKey, SignSelection
from keypoints.environment import DECIDING_PACKAGES, environment, package_versions
from keypoints.extract import ExtractionSettings, VideoKeypoints, VideoReport
from keypoints.frames import VideoSource
from keypoints.npz import write_npy
from keypoints.outputs import (
    done_path,
    sign_claim_path,
    sign_manifest_path,
    staged_sign_folder,
    staging_path,
    video_record_path,
    worker_record_path,
)
from transforms import files, metrics
from transforms.progress import ProgressSender

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedVideo:
    """A video's report, and where its array waits (None when the video failed)."""

    report: VideoReport
    array_path: str | None

    def load(self) -> npt.NDArray[np.float32]:
        assert self.array_path is not None
        return files.read_npy_file(self.array_path)


StagedResult = tuple[SignKey, StagedVideo]
SignGroup = tuple[SignKey, Iterable[StagedVideo]]
WriteSign = Callable[[str, SignKey, list[StagedVideo]], None]


def source_signature(video: VideoSource) -> str:
    """What a video's result depends on in its input: every file's path, size and mtime."""
    paths = sorted({*video.frame_paths, *video.ignored})
    listed = [[path, files.signature(path)] for path in paths]
    return _digest({"location": video.location, "files": listed, "problem": video.problem})


def run_signature(backend: str, settings: Mapping[str, Any], extraction: ExtractionSettings) -> str:
    """What a video's result depends on besides its input: the same for every video of a run."""
    versions = package_versions(DECIDING_PACKAGES)
    return _digest(
        {
            "backend": backend,
            "settings": settings,
            "extraction": [
                extraction.adjusted,
                extraction.layout,
                extraction.fps,
                extraction.decode_scale,
            ],
            "versions": versions,
        }
    )


def record_worker(output_root: str, run_id: str) -> None:
    """Record the software this worker runs, once per distinct environment of the run.

    The record's name holds its content's digest: every worker with the same environment
    writes the same file, so a pool of a thousand workers leaves one record, not a thousand.
    """
    found = environment()
    path = worker_record_path(output_root, run_id, _digest(found)[:16])
    if not files.exists(path):
        files.write_atomically(path, json.dumps(found, sort_keys=True).encode())


def video_signature(source: str, run: str) -> str:
    return _digest([source, run])


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def record_video(
    output_root: str, key: SignKey, result: VideoKeypoints, signature: str, run_id: str
) -> StagedVideo:
    """Record a video durably: its array first, then its record, which commits both.

    ``run_id`` names the run that made it (a later run that uses the record reports the
    video as reused) and the last run that used it (``seen``: complete_sign writes a sign
    only from records this run has used, so that none of its videos is still to come).
    """
    location, path = result.report.source, None
    if result.points is not None:
        points = result.points
        path = staging_path(output_root, key, location)
        files.write_atomically(path, lambda f: write_npy(f, points))
    record = {
        "signature": signature,
        "run": run_id,
        "seen": run_id,
        "array": path is not None,
        "report": result.report.to_dict(),
    }
    _write_record(output_root, key, location, record)
    return StagedVideo(result.report, path)


def reuse_video(
    output_root: str, key: SignKey, location: str, signature: str, run_id: str
) -> StagedVideo | None:
    """The video's record if it can stand for extracting the video again; marked as used."""
    record = _read_record(output_root, key, location, signature)
    if record is None:
        return None
    if record["seen"] != run_id:
        _write_record(output_root, key, location, {**record, "seen": run_id})
    return _staged(output_root, key, location, record, run_id)


def _write_record(output_root: str, key: SignKey, location: str, record: dict[str, Any]) -> None:
    files.write_atomically(
        video_record_path(output_root, key, location), json.dumps(record).encode()
    )


def _read_record(
    output_root: str, key: SignKey, location: str, signature: str
) -> dict[str, Any] | None:
    """A video's record when it is whole and made from what ``signature`` stands for."""
    try:
        record: dict[str, Any] = files.read_json(video_record_path(output_root, key, location))
        if record["signature"] != signature:
            return None
        VideoReport(**record["report"])  # a record of another version of this project
        array = staging_path(output_root, key, location) if record["array"] else None
    except (OSError, ValueError, KeyError, TypeError):  # missing, torn or of another version
        return None
    if array is not None and not files.exists(array):
        return None
    return record


def _staged(
    output_root: str, key: SignKey, location: str, record: dict[str, Any], run_id: str
) -> StagedVideo:
    report = VideoReport(**record["report"])
    report.reused = record["run"] != run_id  # made by another run than this one
    array = staging_path(output_root, key, location) if record["array"] else None
    return StagedVideo(report, array)


def write_manifest(output_root: str, key: SignKey, signatures: Mapping[str, str]) -> None:
    """The sign's videos (location -> source signature), before any of them is extracted."""
    data = json.dumps(dict(sorted(signatures.items()))).encode()
    files.write_atomically(sign_manifest_path(output_root, key), data)


def complete_sign(
    output_root: str, key: SignKey, run: str, run_id: str, write_sign: WriteSign
) -> bool:
    """Write the sign if every video of its manifest is recorded; whether this call wrote it.

    Called by the worker that has just recorded one of the sign's videos. The one that
    renames the manifest to the claim writes the sign, then removes its records, then the
    claim: a worker that stops in between leaves the claim for the group-by-sign to finish.
    """
    manifest = sign_manifest_path(output_root, key)
    try:
        expected: dict[str, str] = files.read_json(manifest)
    except (OSError, ValueError):
        return False  # written already (or being written by a worker that got here first)
    videos = []
    for location, source in expected.items():
        record = _read_record(output_root, key, location, video_signature(source, run))
        if record is None or record["seen"] != run_id:
            return False  # a video of the sign is still to come in this run
        videos.append(_staged(output_root, key, location, record, run_id))
    claim = sign_claim_path(output_root, key)
    try:
        files.rename(manifest, claim)
    except OSError:
        return False  # another worker recorded the sign's last video at the same time
    write_sign(output_root, key, in_order(videos))
    _drop_records(output_root, key, videos)
    files.delete([claim])
    return True


def _drop_records(output_root: str, key: SignKey, videos: Iterable[StagedVideo]) -> None:
    """Remove the sign's records, once its files are in place."""
    arrays = [v.array_path for v in videos if v.array_path]
    records = [video_record_path(output_root, key, v.report.source) for v in videos]
    files.delete_if_present([*arrays, *records])


def in_order(videos: Iterable[StagedVideo]) -> list[StagedVideo]:
    """Videos in natural order of their names, as every sink writes them."""
    return natsorted(videos, key=lambda v: (v.report.video, v.report.source))


def report_lines(key: SignKey, reports: Iterable[VideoReport]) -> bytes:
    """The sign's per-video report: JSON Lines, one record per video."""
    lines = []
    for report in reports:
        record = {"signer": key.signer, "split": key.split, "sign": key.sign}
        record.update(report.to_dict())
        lines.append(json.dumps(record) + "\n")
    return "".join(lines).encode()


class _WriteLeftoverSignsDoFn(beam.DoFn):
    """After every video is recorded: write each sign not written yet, then drop its records.

    A sign is still to write while its manifest (or a claim) is there and its arrays are:
    a worker that wrote the sign early removed those, its arrays first. A retried bundle
    that already did it all finds nothing left to do.
    """

    def __init__(self, output_root: str, write_sign: WriteSign) -> None:
        self._output_root = output_root
        self._write_sign = write_sign

    def process(self, element: SignGroup) -> Iterator[SignKey]:
        key, grouped = element
        root, videos = self._output_root, in_order(grouped)
        markers = [sign_manifest_path(root, key), sign_claim_path(root, key)]
        pending = any(files.exists(marker) for marker in markers)
        if pending and all(files.exists(v.array_path) for v in videos if v.array_path):
            self._write_sign(root, key, videos)
            metrics.SIGNS_WRITTEN.inc()
        files.delete_if_present([staged_sign_folder(root, key)])
        yield key


class _SkipWrittenSignsDoFn(beam.DoFn):
    def __init__(self, output_root: str, output_format: str) -> None:
        self._output_root = output_root
        self._output_format = output_format
        self._progress = ProgressSender()

    def process(self, element: SignSelection) -> Iterator[SignSelection]:
        key = SignKey.from_selection(element)
        if files.exists(done_path(self._output_root, key, self._output_format)):
            metrics.SIGNS_SKIPPED.inc()
            self._progress.send(event="sign", sign=key.label, videos=0, skipped=True)
            return
        yield element

    def teardown(self) -> None:
        self._progress.close()


class WriteSigns(beam.PTransform[PCollection[StagedResult], PCollection[SignKey]]):
    """A staged record per video in; each sign's files, written by ``write_sign``, out.

    Each sink says how one sign's files are written (``write_sign``, also what the
    extraction step calls for a sign it completes) and which file marks a sign as done.
    """

    output_format: ClassVar[str]

    def __init__(self, output_root: str) -> None:
        super().__init__()
        self._output_root = output_root

    @staticmethod
    def write_sign(output_root: str, key: SignKey, videos: list[StagedVideo]) -> None:
        raise NotImplementedError

    @classmethod
    def skip_written(cls, output_root: str) -> beam.ParDo:
        """Selected signs in, those this sink has not written yet out."""
        return beam.ParDo(_SkipWrittenSignsDoFn(output_root, cls.output_format))

    def expand(self, staged: PCollection[StagedResult]) -> PCollection[SignKey]:
        written: PCollection[SignKey] = (
            staged
            | "GroupBySign" >> beam.GroupByKey()
            | "WriteLeftovers"
            >> beam.ParDo(_WriteLeftoverSignsDoFn(self._output_root, type(self).write_sign))
        )
        return written
