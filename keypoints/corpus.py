"""Corpus layout: where a sign's videos live, and which entries of its folder are videos.

Only path arithmetic and grouping here; listing files is the caller's job (the pipeline
lists through Beam's FileSystems), so the same rules serve local disks and buckets. Where
the keypoints go is ``keypoints.outputs``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from natsort import natsorted

from keypoints.frames import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoSource,
    basename,
    extension,
    natural_order,
)

KARSL_LAYOUT = "{signer}/{signer}/{split}/{sign:04d}"
_LABEL = re.compile(r"(?P<signer>[^/]+)-(?P<split>[^/-]+)/(?P<sign>\d+)")
_SIGN_FIELD = re.compile(r"\{sign(?:[:!][^}]*)?\}")  # {sign} or {sign:04d}, not {signer}


# What the pipeline starts from, one element per sign: (sign_id, signer, split).
SignSelection = tuple[int, str, str]


class SignKey(NamedTuple):
    """One output file: a sign as recorded by one signer in one split.

    The pipeline's key from listing to sink; Beam encodes it deterministically
    (``transforms.coders``), so it groups as it is.
    """

    signer: str
    split: str
    sign: int

    @property
    def label(self) -> str:
        """``01-train/0001``: how a person names the sign, and its path below an output root."""
        return f"{self.signer}-{self.split}/{self.sign:04d}"

    @classmethod
    def from_label(cls, label: str) -> SignKey | None:
        """The sign a :attr:`label` names, or None when ``label`` is not one."""
        match = _LABEL.fullmatch(label)
        if match is None:
            return None
        return cls(match["signer"], match["split"], int(match["sign"]))

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SignKey:
        """The sign of a video's record in a report (its ``signer``, ``split``, ``sign``)."""
        return cls(str(record["signer"]), str(record["split"]), int(record["sign"]))

    @classmethod
    def from_selection(cls, selection: SignSelection) -> SignKey:
        sign, signer, split = selection
        return cls(signer, split, sign)


def join(root: str, *parts: str) -> str:
    """Join URL or path components with '/', as Beam's file systems expect."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def sign_folder(input_root: str, corpus_layout: str, key: SignKey) -> str:
    return join(input_root, corpus_layout.format(signer=key.signer, split=key.split, sign=key.sign))


def selection_folder(input_root: str, corpus_layout: str, signer: str, split: str) -> str | None:
    """The folder that holds a (signer, split)'s sign folders, when the layout has one.

    It is the layout's path before the component that names the sign (for KArSL,
    ``{signer}/{signer}/{split}``); None when that path does not name both the signer
    and the split, so that their existence cannot be checked on their own.
    """
    parts = corpus_layout.split("/")
    prefix = []
    for part in parts:
        if _SIGN_FIELD.search(part):
            break
        prefix.append(part)
    joined = "/".join(prefix)
    if "{signer" not in joined or "{split" not in joined:
        return None
    return join(input_root, joined.format(signer=signer, split=split))


@dataclass
class SignListing:
    """The videos found in one sign folder, and the files there that are not videos."""

    videos: list[VideoSource]
    stray_files: list[str]


def group_videos(
    folder: str,
    entries: Iterable[str],
    nested_files: Iterable[str],
    folders: Iterable[str],
    unlistable: Mapping[str, str] | None = None,
) -> SignListing:
    """Videos of a sign folder from a listing of it.

    ``entries`` are the paths directly inside ``folder``, ``nested_files`` the files one level
    deeper, ``folders`` those entries known to be folders (an empty folder can only be seen
    on file systems that have folders; object stores list only ``nested_files``), and
    ``unlistable`` the folders whose contents could not be listed, with the reason. A frame
    folder's video name is the folder's name, a video file's its file name without
    extension. A folder without image files is still a video, one that has no frames.
    Hidden entries (a ``.`` prefix: ``.DS_Store``, macOS's AppleDouble ``._*`` files) are
    no part of the corpus, at either level, and are left out without a word.

    Two entries that give one video name (``a/`` and ``a.mp4``, ``a.mp4`` and ``a.avi``)
    would have to share one key of the npz; which of them the user meant cannot be known,
    so both become videos with a ``problem`` that names them all, and neither is written.
    """
    prefix = folder.rstrip("/") + "/"
    frames: dict[str, list[str]] = {basename(p): [] for p in folders if not _hidden(p)}
    ignored: dict[str, list[str]] = {}
    for path in nested_files:
        name = path[len(prefix) :].split("/", 1)[0]
        if _hidden(name) or _hidden(path):
            continue
        frames.setdefault(name, [])
        if extension(path) in IMAGE_EXTENSIONS:
            frames[name].append(path)
        else:
            ignored.setdefault(name, []).append(path)

    unlistable = unlistable or {}
    videos = [
        VideoSource(
            name,
            join(folder, name),
            True,
            tuple(natural_order(paths)),
            tuple(natural_order(ignored.get(name, []))),
            _unlistable_problem(unlistable.get(join(folder, name))),
        )
        for name, paths in frames.items()
    ]
    stray = []
    for path in entries:
        name, ext = basename(path), extension(path)
        if name in frames or _hidden(name):
            continue
        if ext in VIDEO_EXTENSIONS:
            videos.append(VideoSource(name[: -len(ext)], path, False, (path,)))
        else:
            stray.append(path)
    videos = natsorted(_refuse_clashes(videos), key=lambda v: (v.name, v.location))
    return SignListing(videos, sorted(stray))


def _hidden(path: str) -> bool:
    return basename(path).startswith(".")


def _unlistable_problem(reason: str | None) -> str | None:
    return None if reason is None else f"the frame folder cannot be listed ({reason})"


def _refuse_clashes(videos: list[VideoSource]) -> list[VideoSource]:
    by_name: dict[str, list[VideoSource]] = {}
    for video in videos:
        by_name.setdefault(video.name, []).append(video)
    result = []
    for name, same in by_name.items():
        if len(same) == 1:
            result.extend(same)
            continue
        shown = natsorted(basename(v.location) + ("/" if v.is_folder else "") for v in same)
        problem = (
            f"name clash: {' and '.join(shown)} would both be stored as video {name!r}; "
            "neither is written: rename or remove all but one"
        )
        result.extend(dataclasses.replace(v, problem=problem) for v in same)
    return result
