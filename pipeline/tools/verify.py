"""``signkps verify --output_root O [--input_root I ...]``: is every video accounted for?

Recounts the output without trusting the run that wrote it:

- every npz has its sign's report and every report its npz;
- every ``ok`` record of a report is a key of its npz, with as many frames as it says;
  every key has one ``ok`` record; a ``failed`` record has a reason and no key;
- ``_reports/videos.jsonl`` holds exactly the records of the per-sign reports;
- no temporary file is left.

With ``--input_root`` (and the run's selection options: ``--signers``, ``--splits``,
``--selected_signs_from``, ``--selected_signs_to``, ``--corpus_layout``) it also lists
every selected sign folder again, as the run does, and checks that each video found
there has exactly one record. It prints each mismatch on a line of its own and exits 1
when there is any, 0 when everything adds up (2 for options it cannot use).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keypoints.corpus import SignKey, join, sign_folder
from keypoints.frames import basename
from keypoints.outputs import (
    POSE_SUFFIX,
    combined_report_path,
    pose_folder,
    sign_of_report_path,
    sign_report_pattern,
    temp_pattern,
)
from pipeline.job.options import SignKpsOptions, selected_signs
from pipeline.records.accounting import written_signs
from pipeline.records.reports import run_record
from pipeline.usage import CommandParser, UsageError
from transforms import files
from transforms.listing import list_sign

Records = dict[str, list[dict[str, Any]]]  # sign label ("01-train/0001") -> its records


@dataclass
class Tally:
    signs: int = 0
    ok: int = 0
    failed: int = 0
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_report(path: str, tally: Tally) -> list[dict[str, Any]]:
    try:
        return files.read_json_lines(path)
    except (OSError, ValueError) as e:
        tally.mismatches.append(f"{path}: cannot be read as JSON Lines ({e})")
        return []


def _npz_frames(path: str, tally: Tally) -> dict[str, int] | None:
    """Frame count of every array of an npz, or None (and a mismatch) when unreadable."""
    try:
        arrays = files.read_npz_file(path)
    except Exception as e:  # a damaged file of any kind is what this command looks for
        tally.mismatches.append(f"{path}: cannot be read as an npz ({type(e).__name__}: {e})")
        return None
    frames = {}
    for name, array in arrays.items():
        if array.ndim != 3 or array.dtype != np.float32:
            tally.mismatches.append(
                f"{path}: {name} is {array.dtype} {array.shape}, not float32 (frames, points, 4)"
            )
        frames[name] = int(array.shape[0]) if array.ndim else 0
    return frames


def _check_sign(label: str, records: list[dict[str, Any]], keys: dict[str, int], t: Tally) -> None:
    ok = Counter(r["video"] for r in records if r.get("status") == "ok")
    for video, count in ok.items():
        if count > 1:
            t.mismatches.append(f"{label}: {count} ok records for video {video!r}")
    for record in records:
        video, status = record.get("video"), record.get("status")
        if status == "ok":
            t.ok += 1
            if video not in keys:
                t.mismatches.append(f"{label}: video {video!r} is ok in the report, not in the npz")
            elif keys[video] != record.get("frames"):
                t.mismatches.append(
                    f"{label}: video {video!r} has {keys[video]} frames in the npz, "
                    f"{record.get('frames')} in the report"
                )
        elif status == "failed":
            t.failed += 1
            if not record.get("reason"):
                t.mismatches.append(f"{label}: video {video!r} failed without a reason")
            if video in keys and video not in ok:
                t.mismatches.append(f"{label}: video {video!r} failed, yet is in the npz")
        else:
            t.mismatches.append(f"{label}: video {video!r} has status {status!r}")
    for key in sorted(set(keys) - set(ok)):
        t.mismatches.append(f"{label}: {key!r} is in the npz without an ok record")


def _pose_frames(folder: str, tally: Tally) -> dict[str, int] | None:
    """Frame count of every .pose file of a sign's folder, or None when one is unreadable."""
    from pose_format import Pose

    frames = {}
    for path in sorted(files.matching(join(folder, "*" + POSE_SUFFIX))):
        try:
            pose = Pose.read(files.read_bytes(path))
        except Exception as e:  # a damaged file of any kind is what this command looks for
            tally.mismatches.append(f"{path}: cannot be read as a .pose file ({e})")
            return None
        frames[basename(path)[: -len(POSE_SUFFIX)]] = int(pose.body.data.shape[0])
    return frames


def output_format(output_root: str) -> str:
    """The format the last run (or conversion) wrote, from its run.json (npz without one)."""
    run = run_record(output_root) or {}
    converted = run.get("conversion", {})  # signkps convert wrote it from another run's npz
    return str(converted.get("output_format") or run.get("options", {}).get("output_format", "npz"))


def written_outputs(output_root: str, fmt: str) -> dict[str, str]:
    """Sign label -> its npz, or its .pose folder when the folder's marker says it is done."""
    written = written_signs(output_root, fmt)
    if fmt == "pose":
        return {key.label: pose_folder(output_root, key) for key in written}
    return {key.label: path for key, path in written.items()}


# Frame count of each video of a sign's file, or None (and a mismatch in the tally).
FramesOf = Callable[[str, Tally], dict[str, int] | None]
# A sign's label, its records, and its file's frame counts (None: unreadable), once checked.
OnSign = Callable[[str, list[dict[str, Any]], dict[str, int] | None], None]


def check_output(
    output_root: str,
    tally: Tally,
    npz_frames: FramesOf | None = None,
    on_sign: OnSign | None = None,
) -> Records:
    """Reports against the written files; returns the records of each sign.

    ``npz_frames`` reads an npz's frame counts in place of decompressing every array
    (``signkps pack`` reads only the headers, and checks the data as it copies it).
    With ``on_sign``, each sign's records go to it as soon as the sign is checked, and
    none are returned: memory then holds one sign's records, whatever the output's size.
    """
    fmt = output_format(output_root)
    frames_of = _pose_frames if fmt == "pose" else (npz_frames or _npz_frames)
    article, noun = ("a", ".pose folder") if fmt == "pose" else ("an", "npz")
    reports = {}
    for path in files.matching(sign_report_pattern(output_root)):
        key = sign_of_report_path(output_root, path)
        if key is not None:
            reports[key.label] = path
    npzs = written_outputs(output_root, fmt)
    records: Records = {}
    per_sign = Fingerprint()
    for label in sorted(set(reports) | set(npzs)):
        if label not in npzs:
            tally.mismatches.append(f"{label}: a report but no {noun} (the sign was not finished)")
        if label not in reports:
            tally.mismatches.append(f"{label}: {article} {noun} but no report ({npzs[label]})")
            continue
        sign_records = _read_report(reports[label], tally)
        keys = frames_of(npzs[label], tally) if label in npzs else {}
        if keys is not None:
            tally.signs += 1
            _check_sign(label, sign_records, keys, tally)
        per_sign.add(_digests(sign_records))
        if on_sign is None:
            records[label] = sign_records
        else:
            on_sign(label, sign_records, keys)
    _check_combined_report(output_root, per_sign, list(reports.values()), tally)
    for temp in sorted(files.matching(temp_pattern(output_root))):
        tally.mismatches.append(f"{temp}: temporary file left by an interrupted write")
    return records


def _digests(records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A short digest of each record's content: the combined report is compared by these,
    so that memory holds a few bytes per video, not every record twice."""
    for record in records:
        yield hashlib.sha256(json.dumps(record, sort_keys=True).encode()).digest()[:16]


def _streamed_records(path: str, tally: Tally) -> Iterator[dict[str, Any]]:
    """The records of a JSON Lines file, one line in memory at a time."""
    try:
        with files.open_for_reading(path) as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    except (OSError, ValueError) as e:
        tally.mismatches.append(f"{path}: cannot be read as JSON Lines ({e})")


@dataclass
class Fingerprint:
    """A multiset of record digests in two numbers: how many, and their sum.

    Two equal multisets give equal fingerprints, and different ones differ but by a
    2**-128 chance, so the reports are compared in memory that does not grow with them;
    only when they differ are they read again, to count what differs.
    """

    count: int = 0
    total: int = 0

    def add(self, digests: Iterable[bytes]) -> None:
        for digest in digests:
            self.count += 1
            self.total = (self.total + int.from_bytes(digest, "big")) % _FINGERPRINT_MODULUS


_FINGERPRINT_MODULUS = 2**128


def _check_combined_report(
    output_root: str, per_sign: Fingerprint, reports: list[str], tally: Tally
) -> None:
    path = combined_report_path(output_root)
    if not files.exists(path):
        tally.mismatches.append(f"{path} is missing: no run has finished writing its reports")
        return
    combined_fingerprint = Fingerprint()
    combined_fingerprint.add(_digests(_streamed_records(path, tally)))
    if combined_fingerprint != per_sign:
        quiet = Tally()  # the reports' own problems are in the tally already
        combined = Counter(_digests(_streamed_records(path, quiet)))
        per_sign_records = (r for report in reports for r in _read_report(report, quiet))
        per_sign_counts = Counter(_digests(per_sign_records))
        tally.mismatches.append(
            f"{path} differs from the per-sign reports "
            f"({sum((combined - per_sign_counts).values())} records only there, "
            f"{sum((per_sign_counts - combined).values())} missing): the last run did not finish"
        )


def check_input(opts: SignKpsOptions, records: Records, tally: Tally) -> int:
    """Every video in the selected sign folders has exactly one record; returns how many."""
    found_total = 0
    for sign, signer, split in selected_signs(opts):
        key = SignKey(signer, split, sign)
        folder = sign_folder(opts.input_root, opts.corpus_layout, key)
        listing, reason = list_sign(folder)
        found = Counter(basename(v.location) for v in listing.videos)
        found_total += sum(found.values())
        recorded = Counter(basename(r.get("source", "")) for r in records.get(key.label, []))
        if not found:
            tally.notes.append(f"{key.label}: no videos ({reason or 'folder empty'})")
            if recorded:
                tally.mismatches.append(
                    f"{key.label}: {sum(recorded.values())} records, but no videos in {folder}"
                )
            continue
        if key.label not in records:
            tally.mismatches.append(
                f"{key.label}: {len(found)} videos in {folder}, "
                "but no report of them (not processed)"
            )
            continue
        for entry, count in sorted(recorded.items()):
            if count > 1:
                tally.mismatches.append(f"{key.label}: {count} records for {entry}")
        for entry in sorted(set(found) - set(recorded)):
            tally.mismatches.append(f"{key.label}: {entry} is in the input but has no record")
        for entry in sorted(set(recorded) - set(found)):
            tally.mismatches.append(f"{key.label}: a record for {entry}, which is not in the input")
    return found_total


def main(argv: list[str]) -> int:
    """``signkps verify``: 0 when every video adds up, 1 for any mismatch (each printed)."""
    parser = CommandParser(prog="signkps verify", description=__doc__)
    SignKpsOptions._add_argparse_args(parser)
    parser.parse_args(argv)  # --help, and one clear line for a bad value
    opts = SignKpsOptions(argv)
    if not opts.output_root:
        raise UsageError("--output_root is required: the output root of the run to check")
    if not files.has_any(join(opts.output_root, "**")):
        raise UsageError(f"--output_root {opts.output_root} is empty or missing")

    tally = Tally()
    records = check_output(opts.output_root, tally)
    found = check_input(opts, records, tally) if opts.input_root else None
    for line in tally.mismatches:
        print(f"MISMATCH {line}")
    accounted = (
        f"{tally.signs} signs, {tally.ok + tally.failed} videos: "
        f"{tally.ok} in npz files, {tally.failed} failed with a reason"
    )
    if found is not None:
        accounted += f"; {found} videos in the selected input folders"
        if tally.notes:
            accounted += f", {len(tally.notes)} selected signs without videos"
    if tally.mismatches:
        print(f"signkps verify: {len(tally.mismatches)} mismatches ({accounted})")
        return 1
    print(f"signkps verify: OK, every video accounted for ({accounted})")
    return 0
