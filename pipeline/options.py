"""The pipeline's options, declared in one place, and their validation."""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from keypoints.backends import BACKENDS
from keypoints.corpus import KARSL_LAYOUT, OUTPUT_FORMATS
from keypoints.layout import LAYOUTS
from keypoints.models import POSE_MODELS
from keypoints.pose_file import require_pose_format

MAX_SIGN = 9999


class OptionsError(ValueError):
    """Options that cannot work; raised before any work starts, shown as one line."""


class SignKpsOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("signkps")
        group.add_argument(
            "--input_root",
            help="Corpus root: a local folder or any Beam FileSystems URL (gs://...).",
        )
        group.add_argument(
            "--output_root",
            help="Where {signer}-{split}/{sign:04d}.npz files and _reports/ are written.",
        )
        group.add_argument(
            "--corpus_layout",
            default=KARSL_LAYOUT,
            help="Sign folder relative to --input_root, with {signer}, {split} and {sign} "
            "fields (default: %(default)s, the KArSL layout).",
        )
        group.add_argument("--splits", nargs="+", default=["train", "test"])
        group.add_argument("--signers", nargs="+", default=["01", "02", "03"])
        group.add_argument("--selected_signs_from", type=int, default=1)
        group.add_argument("--selected_signs_to", type=int, default=502)
        group.add_argument(
            "--adjusted",
            action="store_true",
            help="Write per-part normalised coordinates instead of image coordinates.",
        )
        group.add_argument(
            "--backend",
            choices=BACKENDS,
            default="holistic",
            help="holistic: MediaPipe's legacy Holistic; tasks: the Tasks pose, face and "
            "hand landmarkers (model files from --model_dir or the download cache).",
        )
        group.add_argument(
            "--pose_model",
            choices=list(POSE_MODELS),
            default="full",
            help="Pose landmarker bundle of the tasks backend (default: %(default)s).",
        )
        group.add_argument(
            "--model_dir",
            help="Folder or URL (gs://...) holding the tasks backend's .task files, checked "
            "against pinned sha256; by default they are downloaded once into $SIGNKPS_CACHE.",
        )
        group.add_argument(
            "--fps",
            type=float,
            default=30.0,
            help="Frame rate of frame folders (video files carry their own).",
        )
        group.add_argument(
            "--layout_points",
            choices=sorted(LAYOUTS),
            default="184",
            help="184: the published subset; full: every landmark (553 points).",
        )
        group.add_argument(
            "--output_format",
            choices=OUTPUT_FORMATS,
            default="npz",
            help="npz: one {sign:04d}.npz per sign; pose: a {sign:04d}/ folder per sign with "
            "one {video}.pose file per video (pose-format library, image coordinates in pixels).",
        )
        group.add_argument(
            "--overwrite",
            action="store_true",
            help="Redo signs whose npz exists (by default they are skipped).",
        )
        # Set by the local launcher: where workers send progress events.
        group.add_argument("--progress_socket", help=argparse.SUPPRESS)


def selected_signs(opts: SignKpsOptions) -> list[tuple[int, str, str]]:
    """(sign_id, signer, split) for every sign the options select, in a stable order."""
    return [
        (sign, signer, split)
        for signer in opts.signers
        for split in opts.splits
        for sign in range(opts.selected_signs_from, opts.selected_signs_to + 1)
    ]


def validate(opts: SignKpsOptions) -> None:
    """Raise OptionsError for options that cannot work."""
    if not opts.input_root:
        raise OptionsError("--input_root is required: the folder or URL of the corpus")
    if not opts.output_root:
        raise OptionsError("--output_root is required: where the npz files go")
    first, last = opts.selected_signs_from, opts.selected_signs_to
    if not 1 <= first <= last <= MAX_SIGN:
        raise OptionsError(
            f"sign range {first}..{last} is not valid: "
            f"need 1 <= --selected_signs_from <= --selected_signs_to <= {MAX_SIGN}"
        )
    if opts.fps <= 0:
        raise OptionsError(f"--fps must be positive, got {opts.fps}")
    if opts.output_format == "pose":
        _validate_pose_output(opts)


def _validate_pose_output(opts: SignKpsOptions) -> None:
    if opts.adjusted:
        raise OptionsError(
            "--output_format pose holds image coordinates in pixels, as pose-format's tools "
            "expect: drop --adjusted (pose-format normalises by itself; keypoints.derive "
            "derives adjusted points from npz output)"
        )
    try:
        require_pose_format()
    except ImportError as e:
        raise OptionsError(str(e)) from e
