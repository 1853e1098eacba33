"""``signkps convert --input O --output P``: npz output -> .pose files.

Turns the npz files of an earlier run (full or 184 layout, image coordinates) into what a
run with ``--output_format pose`` writes: ``P/{signer}-{split}/{sign:04d}/{video}.pose``,
each sign's report and marker, and ``P/_reports/``. Each video's frame size and frame rate
come from its record in the run's reports. The same keypoints give the same bytes as the
pipeline's own pose output. ``P`` may be ``O``: the .pose folders then sit beside the npz
files. Signs already converted are skipped unless ``--overwrite``; a sign that cannot be
converted is reported and left out, and the others go on.
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from keypoints.corpus import SignKey
from keypoints.outputs import done_path, npz_path, run_record_path, sign_report_path
from keypoints.pose_file import sign_poses
from pipeline.records import reports
from pipeline.usage import CommandParser, UsageError
from transforms import files
from transforms.pose_sink import write_sign_poses

logger = logging.getLogger(__name__)


class ConvertError(UsageError):
    """An input that cannot be converted at all; shown as one line."""


@dataclass
class ConvertOutcome:
    converted: list[SignKey] = field(default_factory=list)
    skipped: list[SignKey] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "<file>: <problem>", one per sign


def source_run(input_root: str) -> dict[str, Any]:
    """The input's run.json, after checking that its npz files hold image coordinates."""
    path = run_record_path(input_root)
    if not files.exists(path):
        raise ConvertError(
            f"{path} not found: not a signkps output, or its run did not finish "
            "(run the pipeline again to complete it)"
        )
    try:
        record: dict[str, Any] = files.read_json(path)
    except ValueError as e:
        raise ConvertError(f"{path}: not valid JSON ({e})") from e
    if record.get("options", {}).get("adjusted"):
        raise ConvertError(
            f"{input_root} holds adjusted (normalised) coordinates (see {path}): .pose files "
            "hold image coordinates, convert the output of a run without --adjusted"
        )
    return record


def records_by_sign(input_root: str) -> dict[SignKey, dict[str, dict[str, Any]]]:
    signs: dict[SignKey, dict[str, dict[str, Any]]] = defaultdict(dict)
    for record in reports.video_records(input_root):
        signs[SignKey.from_record(record)][record["video"]] = record
    return dict(signs)


def convert_sign(
    input_root: str, output_root: str, key: SignKey, records: dict[str, dict[str, Any]]
) -> int:
    """Convert one sign's npz; returns its number of videos. ValueError names the problem."""
    arrays = files.read_npz_file(npz_path(input_root, key))
    poses = sign_poses(arrays, records)
    write_sign_poses(output_root, key, files.read_bytes(sign_report_path(input_root, key)), poses)
    return len(poses)


def convert(input_root: str, output_root: str, overwrite: bool = False) -> ConvertOutcome:
    """Convert every sign of ``input_root`` that has an npz; raises ConvertError."""
    run_record = source_run(input_root)
    outcome, videos = ConvertOutcome(), 0
    for key, records in sorted(records_by_sign(input_root).items()):
        source = npz_path(input_root, key)
        if not files.exists(source):
            continue  # a run cut short between the sign's report and its npz
        if not overwrite and files.exists(done_path(output_root, key, "pose")):
            outcome.skipped.append(key)
            continue
        try:
            videos += convert_sign(input_root, output_root, key, records)
        except ValueError as e:
            outcome.failed.append(f"{source}: {e}")
            logger.error("%s: %s", source, e)
            continue
        outcome.converted.append(key)
    reports.remove_temp_files(output_root)
    run_record["conversion"] = {
        "from": input_root,
        "to": output_root,
        "output_format": "pose",
        "pose-format": metadata.version("pose-format"),
        "signs_converted": len(outcome.converted),
        "videos_converted": videos,
        "signs_failed": len(outcome.failed),
        "finished": reports.utc_now(),
    }
    reports.write_reports(output_root, run_record)
    return outcome


def main(argv: list[str]) -> int:
    """``signkps convert``: 0 when every sign converted, 1 when some could not be."""
    parser = CommandParser(
        prog="signkps convert",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, help="output root of a run that wrote npz")
    parser.add_argument("--output", required=True, help="where the .pose files go (may be --input)")
    parser.add_argument("--overwrite", action="store_true", help="redo signs converted before")
    args = parser.parse_args(argv)
    outcome = convert(args.input, args.output, args.overwrite)
    print(
        f"signkps convert: {len(outcome.converted)} signs converted, "
        f"{len(outcome.skipped)} skipped (already converted), {len(outcome.failed)} failed"
    )
    for problem in outcome.failed:
        print(f"  FAILED  {problem}")
    print(f"  output  {args.output}")
    return 1 if outcome.failed else 0
