"""Where the videos of a selection ended: which signs are written, and why others are not.

A sign with at least one video is always written (an npz, or a .pose folder with its
marker; its failed videos are in its report), so after a finished run the selected signs
without output are exactly those whose folder held no video. The driver lists only those
folders again, to tell the user why.
"""

from __future__ import annotations

from typing import Any

from apache_beam.io.filesystems import FileSystems

from keypoints.corpus import (
    POSE_SIGN_DONE,
    SignKey,
    SignListing,
    done_path,
    group_videos,
    join,
    sign_folder,
)
from keypoints.frames import basename
from transforms.listing import list_folder

SignTuple = tuple[int, str, str]  # (sign_id, signer, split), as options.selected_signs


def written_signs(output_root: str, output_format: str) -> set[str]:
    """The done-marking file of every written sign (its npz, or its .pose folder's marker)."""
    parts = ("*", "*.npz") if output_format == "npz" else ("*", "*", POSE_SIGN_DONE)
    pattern = join(output_root, *parts)
    return {m.path for match in FileSystems.match([pattern]) for m in match.metadata_list}


def list_sign(folder: str) -> tuple[SignListing | None, str]:
    """A sign folder's videos, or None and why it cannot be listed."""
    try:
        return group_videos(folder, *list_folder(folder)), ""
    except FileNotFoundError:
        return None, "sign folder does not exist"
    except NotADirectoryError:
        return None, "sign folder is a file, not a folder"
    except OSError as e:
        return None, f"sign folder cannot be listed ({e.strerror or e})"


def why_no_videos(folder: str) -> str:
    listing, reason = list_sign(folder)
    if listing is None:
        return reason
    if listing.videos:
        return f"{len(listing.videos)} videos, not written: the run did not finish this sign"
    if not listing.stray_files:
        return "no files in the sign folder"
    names = ", ".join(basename(p) for p in listing.stray_files[:3])
    more = ", ..." if len(listing.stray_files) > 3 else ""
    return f"no videos: the sign folder holds only files that are not videos ({names}{more})"


def signs_without_output(
    input_root: str,
    corpus_layout: str,
    output_root: str,
    signs: list[SignTuple],
    output_format: str = "npz",
) -> list[dict[str, Any]]:
    """One entry (sign, folder, reason) per selected sign that was not written."""
    done = written_signs(output_root, output_format)
    missing = []
    for sign, signer, split in signs:
        key = SignKey(signer, split, sign)
        if done_path(output_root, key, output_format) in done:
            continue
        folder = sign_folder(input_root, corpus_layout, key)
        missing.append({"sign": key.label, "folder": folder, "reason": why_no_videos(folder)})
    return missing
