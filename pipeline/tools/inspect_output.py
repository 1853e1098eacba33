"""``signkps preview`` and ``signkps report``: pictures of a run's keypoints.

    signkps preview --npz O/01-train/0001.npz --video NAME \\
        [--frames SOURCE] --out preview.png|.gif|.mp4
    signkps report --output_root O --out report.html

Inputs are read through Beam's FileSystems, so an output root in a bucket works too;
what is written goes to a local file.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from keypoints.corpus import SignKey
from keypoints.frames import VideoUnreadable, basename, open_video
from keypoints.outputs import REPORTS_DIR, locate_npz, npz_path, sign_report_path
from pipeline.drawing import preview
from pipeline.drawing.canvas import Image
from pipeline.drawing.preview import PreviewError, VideoPoints
from pipeline.drawing.report_page import DEFAULT_WORST, ReportInputs, render_report, worst_videos
from pipeline.records import reports
from pipeline.usage import CommandParser, UsageError
from transforms import files

logger = logging.getLogger(__name__)

COORDINATES = ("auto", "image", "adjusted")
THUMBNAIL_SAMPLES = 4
THUMBNAIL_TILE_WIDTH = 200


class InspectError(UsageError):
    """Inputs that cannot be inspected; shown to the user as one line."""


# --- reading a run's output --------------------------------------------------------


def load_npz(path: str) -> dict[str, npt.NDArray[np.float32]]:
    """Every video's array in a sign's npz, read without pickles."""
    if not files.exists(path):
        raise InspectError(f"{path}: no such file")
    try:
        return files.read_npz_file(path)
    except OSError as e:  # Beam's BeamIOError included
        raise InspectError(f"{path}: cannot be read ({e})") from e
    except ValueError as e:
        raise InspectError(f"{path}: {e}") from e


def read_json_lines(path: str) -> list[dict[str, Any]]:
    """Records of a JSON Lines file, none when it does not exist."""
    if not files.exists(path):
        logger.info("no report at %s", path)
        return []
    try:
        return files.read_json_lines(path)
    except ValueError as e:
        raise InspectError(f"{path}: not valid JSON Lines ({e})") from e


def run_record(output_root: str) -> dict[str, Any] | None:
    """The output root's run.json, or None when no run finished there."""
    try:
        return reports.run_record(output_root)
    except ValueError as e:
        raise InspectError(f"{output_root}: its run.json is not valid JSON ({e})") from e


def is_adjusted(
    coordinates: str, run: dict[str, Any] | None, points: npt.NDArray[np.float32]
) -> bool:
    """Whether to draw adjusted panels: as asked, else as the run says, else a guess."""
    if coordinates != "auto":
        return coordinates == "adjusted"
    if run is not None:
        return bool(run.get("options", {}).get("adjusted", False))
    guess = preview.looks_adjusted(points)
    logger.warning(
        "no run.json beside the npz: guessing %s coordinates", "adjusted" if guess else "image"
    )
    return guess


@dataclass(frozen=True)
class SignOutput:
    """What one sign's files say: its arrays, its video records and the run's record."""

    npz_path: str
    arrays: dict[str, npt.NDArray[np.float32]]
    records: dict[str, dict[str, Any]]
    run: dict[str, Any] | None
    label: str


def read_sign(npz_path: str) -> SignOutput:
    arrays = load_npz(npz_path)
    located = locate_npz(npz_path)
    if located is None:
        return SignOutput(npz_path, arrays, {}, None, basename(npz_path))
    root, key = located
    records = {r["video"]: r for r in read_json_lines(sign_report_path(root, key))}
    return SignOutput(npz_path, arrays, records, run_record(root), key.label)


def video_points(sign: SignOutput, video: str | None, coordinates: str) -> VideoPoints:
    """One video of a sign, checked, with its recorded size and rate."""
    if video is None:
        if len(sign.arrays) != 1:
            names = ", ".join(sorted(sign.arrays)) or "none"
            raise InspectError(
                f"{sign.npz_path}: holds several videos ({names}): pick one with --video"
            )
        video = next(iter(sign.arrays))
    record = sign.records.get(video, {})
    if video not in sign.arrays:
        if record.get("status") == "failed":
            raise InspectError(
                f"{sign.npz_path}: video {video!r} failed in the run: {record.get('reason')}"
            )
        names = ", ".join(sorted(sign.arrays)) or "none"
        raise InspectError(f"{sign.npz_path}: no video {video!r} (it holds: {names})")
    try:
        points = preview.as_184(sign.arrays[video], f"{sign.npz_path}[{video}]")
    except PreviewError as e:
        raise InspectError(str(e)) from e
    return VideoPoints(
        label=f"{sign.label} {video}",
        points=points,
        width=record.get("width"),
        height=record.get("height"),
        fps=float(record.get("fps") or 30.0),
        adjusted=is_adjusted(coordinates, sign.run, points),
    )


def _open_binary(path: str) -> BinaryIO:
    return open(path, "rb")


@contextlib.contextmanager
def source_frames(path: str, fps: float) -> Iterator[Iterator[Image]]:
    """The readable frames of a local frame folder or video file, decoded lazily."""
    source = preview.local_source(path)
    try:
        with open_video(source, _open_binary, fps) as stream:
            yield preview.readable_frames(frame.rgb for frame in stream.frames)
    except VideoUnreadable as e:
        raise InspectError(f"{path}: {e}") from e


# --- the sub-commands --------------------------------------------------------------


def make_preview(args: argparse.Namespace) -> str:
    video = video_points(read_sign(args.npz), args.video, args.coordinates)
    with contextlib.ExitStack() as stack:
        frames = None
        if args.frames:
            frames = stack.enter_context(source_frames(args.frames, video.fps))
        preview.write_preview(args.out, video, frames, args.samples, args.columns, args.width)
    return f"signkps: wrote {args.out} ({video.label}, {video.frames} frames)"


def thumbnail(record: dict[str, Any], sign: SignOutput, on_frames: bool) -> bytes | None:
    """A strip of a few frames of a reported video, drawn on its source frames if at hand."""
    try:
        video = video_points(sign, record["video"], "auto")
    except InspectError as e:
        logger.warning("no thumbnail: %s", e)
        return None
    source = record.get("source") or ""
    usable = on_frames and not video.adjusted and os.path.exists(source)
    args = (THUMBNAIL_SAMPLES, THUMBNAIL_SAMPLES, THUMBNAIL_TILE_WIDTH)  # one row of tiles
    if usable:
        try:
            with source_frames(source, video.fps) as frames:
                return preview.encode_png(preview.preview_grid(video, frames, *args))
        except (InspectError, PreviewError, OSError) as e:
            logger.warning("thumbnail of %s drawn without its frames: %s", video.label, e)
    return preview.encode_png(preview.preview_grid(video, None, *args))


def make_report(args: argparse.Namespace) -> str:
    records = reports.video_records(args.output_root)
    if not records:
        raise InspectError(
            f"{args.output_root}: no video reports under {REPORTS_DIR}/videos/: "
            "is this the output root of a signkps run?"
        )
    signs: dict[SignKey, SignOutput] = {}
    thumbnails: dict[int, bytes] = {}
    for i in worst_videos(records, args.worst):
        record = records[i]
        key = SignKey.from_record(record)
        if key not in signs:
            try:
                signs[key] = read_sign(npz_path(args.output_root, key))
            except InspectError as e:
                logger.warning("no thumbnails for %s: %s", key.label, e)
                continue
        png = thumbnail(record, signs[key], not args.no_source_frames)
        if png is not None:
            thumbnails[i] = png
    inputs = ReportInputs(
        output_root=args.output_root,
        records=records,
        run=run_record(args.output_root),
        thumbnails=thumbnails,
        worst=args.worst,
        generated=reports.utc_now(),
    )
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(render_report(inputs))
    return f"signkps: wrote {args.out} ({len(records)} videos)"


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def preview_parser() -> CommandParser:
    p = CommandParser(
        prog="signkps preview",
        description="Draw one video's keypoints: a PNG grid of frames spread over the video, "
        "or every frame as a GIF or MP4.",
    )
    p.add_argument("--npz", required=True, help="a sign's npz, e.g. O/01-train/0001.npz")
    p.add_argument("--video", help="the video's name in the npz (needed if it holds several)")
    p.add_argument("--frames", help="the video's frame folder or video file, to draw on")
    p.add_argument("--out", required=True, help="preview.png (a grid), .gif or .mp4 (animations)")
    p.add_argument(
        "--samples",
        type=_count(1),
        default=preview.DEFAULT_SAMPLES,
        help="frames in a PNG grid (default %(default)s)",
    )
    p.add_argument(
        "--columns",
        type=_count(1),
        default=preview.DEFAULT_COLUMNS,
        help="columns of a PNG grid (default %(default)s)",
    )
    p.add_argument(
        "--width",
        type=_count(16),
        help=f"pixels across one frame (default {preview.DEFAULT_TILE_WIDTH} in a grid, "
        f"{preview.DEFAULT_ANIMATION_WIDTH} in an animation)",
    )
    p.add_argument(
        "--coordinates",
        choices=COORDINATES,
        default="auto",
        help="what the npz holds (default: as the run's run.json says)",
    )
    return p


def report_parser() -> CommandParser:
    r = CommandParser(
        prog="signkps report", description="Write one self-contained HTML page on a run's output."
    )
    r.add_argument("--output_root", required=True, help="the run's --output_root")
    r.add_argument("--out", required=True, help="the HTML file to write")
    r.add_argument(
        "--worst",
        type=_count(0),
        default=DEFAULT_WORST,
        help="how many worst videos get a preview (default %(default)s)",
    )
    r.add_argument(
        "--no_source_frames",
        action="store_true",
        help="draw previews on blank canvases, not on the videos' frames",
    )
    return r


def _written(make: Callable[[argparse.Namespace], str], args: argparse.Namespace) -> int:
    try:
        message = make(args)
    except PreviewError as e:
        raise InspectError(str(e)) from e
    except OSError as e:  # writing the output
        raise InspectError(f"{e.filename or args.out}: {e.strerror or e}") from e
    print(message)
    return 0


def preview_main(argv: list[str]) -> int:
    """``signkps preview``."""
    return _written(make_preview, preview_parser().parse_args(argv))


def report_main(argv: list[str]) -> int:
    """``signkps report``."""
    return _written(make_report, report_parser().parse_args(argv))
