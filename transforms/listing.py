"""Expand selected signs into their videos, skipping signs that are already done."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from keypoints.corpus import (
    SignKey,
    SignListing,
    done_path,
    group_videos,
    join,
    sign_folder,
)
from keypoints.frames import VideoSource
from transforms import metrics
from transforms.progress import ProgressSender

logger = logging.getLogger(__name__)

SignTuple = tuple[int, str, str]  # (sign_id, signer, split), as the pipeline starts
VideoWork = tuple[SignKey, VideoSource]


Listing = tuple[list[str], list[str], list[str], dict[str, str]]


def list_folder(folder: str) -> Listing:
    """Files directly in a folder, files one level down, its sub-folders, and unlistable ones.

    On a local disk every directory entry is seen, including those a recursive listing
    drops without a word (broken symbolic links, named pipes, sub-folders it cannot
    enter), so each can be reported. Other file systems are listed through one recursive
    FileSystems.match. Raises FileNotFoundError for a local folder that does not exist.
    """
    if isinstance(FileSystems.get_filesystem(folder), LocalFileSystem):
        return _list_local_folder(folder)
    entries, nested = [], []
    prefix = folder.rstrip("/") + "/"
    for match in FileSystems.match([join(folder, "**")]):
        for meta in match.metadata_list:
            depth = meta.path[len(prefix) :].count("/")
            (entries if depth == 0 else nested if depth == 1 else []).append(meta.path)
    return entries, nested, [], {}


def _list_local_folder(folder: str) -> Listing:
    entries, nested, folders, unlistable = [], [], [], {}
    with os.scandir(folder) as found:
        for entry in found:
            path = join(folder, entry.name)
            if not entry.is_dir():  # follows symbolic links, as a reader would
                entries.append(path)
                continue
            folders.append(path)
            try:
                with os.scandir(entry.path) as inside:
                    nested.extend(join(path, e.name) for e in inside)
            except OSError as e:
                unlistable[path] = e.strerror or str(e)
    return entries, nested, folders, unlistable


class ListSignVideosDoFn(beam.DoFn):
    """(sign_id, signer, split) -> (SignKey, VideoSource) for each of its videos."""

    def __init__(
        self,
        input_root: str,
        corpus_layout: str,
        output_root: str,
        overwrite: bool,
        progress_socket: str | None = None,
        output_format: str = "npz",
    ) -> None:
        self._input_root = input_root
        self._corpus_layout = corpus_layout
        self._output_root = output_root
        self._overwrite = overwrite
        self._output_format = output_format
        self._progress = ProgressSender(progress_socket)

    def process(self, element: SignTuple) -> Iterator[VideoWork]:
        sign, signer, split = element
        key = SignKey(signer, split, sign)
        done = done_path(self._output_root, key, self._output_format)
        if not self._overwrite and FileSystems.exists(done):
            metrics.SIGNS_SKIPPED.inc()
            self._progress.send(event="sign", sign=key.label, videos=0, skipped=True)
            return
        folder = sign_folder(self._input_root, self._corpus_layout, key)
        try:
            listing = group_videos(folder, *list_folder(folder))
        except OSError as e:  # a local folder: missing, or not listable; the summary says which
            listing = SignListing([], [])
            if not isinstance(e, FileNotFoundError):
                logger.warning("%s: cannot be listed (%s)", folder, e.strerror or e)
        if listing.stray_files:
            metrics.STRAY_FILES.inc(len(listing.stray_files))
            logger.warning(
                "%s: ignored %d files that are neither videos nor frame folders: %s",
                folder, len(listing.stray_files), ", ".join(listing.stray_files[:5]),
            )  # fmt: skip
        if not listing.videos:
            metrics.SIGNS_MISSING.inc()
            logger.warning("%s: no videos (folder missing or empty); sign %s not written",
                           folder, key.label)  # fmt: skip
        self._progress.send(event="sign", sign=key.label, videos=len(listing.videos), skipped=False)
        for video in listing.videos:
            yield key, video

    def teardown(self) -> None:
        self._progress.close()


class ListSignVideos(beam.PTransform):
    """Sign tuples in, one element per video out, spread over workers by a reshuffle."""

    def __init__(
        self,
        input_root: str,
        corpus_layout: str,
        output_root: str,
        overwrite: bool = False,
        progress_socket: str | None = None,
        output_format: str = "npz",
    ) -> None:
        super().__init__()
        self._dofn = ListSignVideosDoFn(
            input_root, corpus_layout, output_root, overwrite, progress_socket, output_format
        )

    def expand(self, signs: beam.PCollection[SignTuple]) -> beam.PCollection[VideoWork]:
        return signs | "ListVideos" >> beam.ParDo(self._dofn) | "SpreadVideos" >> beam.Reshuffle()
