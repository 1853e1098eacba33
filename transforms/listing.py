"""Expand selected signs into their videos."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.pvalue import PCollection

from keypoints.corpus import SignKey, SignListing, SignSelection, group_videos, join, sign_folder
from keypoints.frames import VideoSource, basename
from keypoints.outputs import no_videos_path
from transforms import files, metrics
from transforms.progress import ProgressSender
from transforms.staging import source_signature, write_manifest

logger = logging.getLogger(__name__)

# A video to extract: its sign, where it is, and its source signature (transforms.staging).
VideoWork = tuple[SignKey, VideoSource, str]
Listing = tuple[list[str], list[str], list[str], dict[str, str]]


def list_folder(folder: str) -> Listing:
    """Files directly in a folder, files one level down, its sub-folders, and unlistable ones.

    On a local disk every directory entry is seen, including those a recursive listing
    drops without a word (broken symbolic links, named pipes, sub-folders it cannot
    enter), so each can be reported. Other file systems are listed through one recursive
    match. Raises FileNotFoundError for a local folder that does not exist.
    """
    if files.is_local(folder):
        return _list_local_folder(folder)
    entries: list[str] = []
    nested: list[str] = []
    prefix = folder.rstrip("/") + "/"
    for path in files.matching(join(folder, "**")):
        depth = path[len(prefix) :].count("/")
        (entries if depth == 0 else nested if depth == 1 else []).append(path)
    return entries, nested, [], {}


def _list_local_folder(folder: str) -> Listing:
    entries: list[str] = []
    nested: list[str] = []
    folders: list[str] = []
    unlistable: dict[str, str] = {}
    with os.scandir(folder) as found:
        for entry in found:
            path = join(folder, entry.name)
            try:
                is_folder = entry.is_dir()  # follows symbolic links, as a reader would
            except OSError:  # a link loop: an entry of its own, which reading names
                is_folder = False
            if not is_folder:
                entries.append(path)
                continue
            folders.append(path)
            try:
                with os.scandir(entry.path) as inside:
                    nested.extend(join(path, e.name) for e in inside)
            except OSError as e:
                unlistable[path] = e.strerror or str(e)
    return entries, nested, folders, unlistable


def list_sign(folder: str) -> tuple[SignListing, str]:
    """A sign folder's videos, and why it has none when it has none ("" when it has some)."""
    try:
        listing = group_videos(folder, *list_folder(folder))
    except FileNotFoundError:
        return SignListing([], []), "sign folder does not exist"
    except NotADirectoryError:
        return SignListing([], []), "sign folder is a file, not a folder"
    except OSError as e:
        return SignListing([], []), f"sign folder cannot be listed ({e.strerror or e})"
    if listing.videos:
        return listing, ""
    if not listing.stray_files:
        return listing, "no files in the sign folder"
    names = ", ".join(basename(p) for p in listing.stray_files[:3])
    more = ", ..." if len(listing.stray_files) > 3 else ""
    return (
        listing,
        f"no videos: the sign folder holds only files that are not videos ({names}{more})",
    )


class ListSignVideosDoFn(beam.DoFn):
    """(sign_id, signer, split) -> (SignKey, VideoSource, signature) for each of its videos.

    The sign's manifest is written before any of its videos goes on, so that whoever
    records its last video can write the sign (transforms.staging). A sign without videos
    is recorded under the staging area with the reason, for the run's summary
    (``pipeline.records.accounting``).
    """

    def __init__(self, input_root: str, corpus_layout: str, output_root: str) -> None:
        self._input_root = input_root
        self._corpus_layout = corpus_layout
        self._output_root = output_root
        self._progress = ProgressSender()

    def process(self, element: SignSelection) -> Iterator[VideoWork]:
        key = SignKey.from_selection(element)
        folder = sign_folder(self._input_root, self._corpus_layout, key)
        listing, reason = list_sign(folder)
        if listing.stray_files:
            metrics.STRAY_FILES.inc(len(listing.stray_files))
            logger.warning(
                "%s: ignored %d files that are neither videos nor frame folders: %s",
                folder,
                len(listing.stray_files),
                ", ".join(listing.stray_files[:5]),
            )
        if not listing.videos:
            metrics.SIGNS_MISSING.inc()
            logger.warning("%s: %s; sign %s not written", folder, reason, key.label)
            record = {"sign": key.label, "folder": folder, "reason": reason}
            files.write_atomically(
                no_videos_path(self._output_root, key), json.dumps(record).encode()
            )
        signatures = {video.location: source_signature(video) for video in listing.videos}
        if listing.videos:
            write_manifest(self._output_root, key, signatures)
        self._progress.send(event="sign", sign=key.label, videos=len(listing.videos), skipped=False)
        for video in listing.videos:
            yield key, video, signatures[video.location]

    def teardown(self) -> None:
        self._progress.close()


class ListSignVideos(beam.PTransform[PCollection[SignSelection], PCollection[VideoWork]]):
    """Sign tuples in, one element per video out, spread over workers by a reshuffle."""

    def __init__(self, input_root: str, corpus_layout: str, output_root: str) -> None:
        super().__init__()
        self._dofn = ListSignVideosDoFn(input_root, corpus_layout, output_root)

    def expand(self, signs: PCollection[SignSelection]) -> PCollection[VideoWork]:
        videos: PCollection[VideoWork] = (
            signs
            | "ListVideos" >> beam.ParDo(self._dofn).with_output_types(VideoWork)
            | "SpreadVideos" >> beam.Reshuffle()
        )
        return videos
