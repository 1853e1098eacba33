"""Where the signs of a selection ended: which are written, and why others are not.

A sign with at least one video is always written (an npz, or a .pose folder with its
marker; its failed videos are in its report), so after a finished run the selected signs
without output are those whose folder held no video; the listing recorded why, for each,
in the staging area (transforms.listing), which this reads before the run removes it.
"""

from __future__ import annotations

from typing import Any

from keypoints.corpus import SignKey, SignSelection, sign_folder
from keypoints.outputs import done_pattern, no_videos_pattern, sign_of_done_path
from transforms import files

NOT_FINISHED = "not written: the run did not finish this sign"


def written_signs(output_root: str, output_format: str) -> dict[SignKey, str]:
    """Every written sign, with the file that marks it done (its npz, or its pose marker)."""
    written = {}
    for path in files.matching(done_pattern(output_root, output_format)):
        key = sign_of_done_path(output_root, path, output_format)
        if key is not None:
            written[key] = path
    return written


def signs_without_output(
    input_root: str,
    corpus_layout: str,
    output_root: str,
    signs: list[SignSelection],
    output_format: str = "npz",
) -> list[dict[str, Any]]:
    """One entry (sign, folder, reason) per selected sign that was not written."""
    done = written_signs(output_root, output_format)
    recorded = {}
    for path in files.matching(no_videos_pattern(output_root)):
        record = files.read_json(path)
        recorded[record["sign"]] = record
    missing = []
    for selection in signs:
        key = SignKey.from_selection(selection)
        if key in done:
            continue
        folder = sign_folder(input_root, corpus_layout, key)
        unlisted = {"sign": key.label, "folder": folder, "reason": NOT_FINISHED}
        missing.append(recorded.get(key.label, unlisted))
    return missing
