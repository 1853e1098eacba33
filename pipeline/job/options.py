"""The pipeline's options, declared in one place, and their validation.

Options that cannot work fail before any work starts, each with one line that says what
is wrong and how to fix it. Validation looks at the input root through FileSystems, with
a handful of listings that stop at their first file, so it stays cheap on a bucket too.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from keypoints.backends import BACKENDS
from keypoints.corpus import KARSL_LAYOUT, SignSelection, join, selection_folder
from keypoints.images import MIN_REDUCED_SIDE, REDUCTIONS
from keypoints.layout import LAYOUTS
from keypoints.models import POSE_MODELS
from keypoints.outputs import OUTPUT_FORMATS
from pipeline.usage import UsageError
from transforms import files

MAX_SIGN = 9999


class OptionsError(UsageError):
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
            "--mediapipe_threads",
            type=int,
            default=1,
            help="Threads of each worker's MediaPipe graph (holistic backend; 0: one per "
            "core). The default 1 suits one worker process per core, as run_local.sh, "
            "Dataflow and the Flink setup here run; run_local.sh gives fewer workers the "
            "spare cores.",
        )
        group.add_argument(
            "--fps",
            type=float,
            default=30.0,
            help="Frame rate of frame folders (video files carry their own).",
        )
        group.add_argument(
            "--decode_scale",
            type=int,
            choices=REDUCTIONS,
            default=1,
            help="Decode frames up to this many times smaller (JPEG: in the decoder itself), "
            f"never below {MIN_REDUCED_SIDE} px on the shorter side: faster on large frames, "
            "not bit-identical to the default, which decodes them whole. README, "
            "Performance, gives what it costs in accuracy.",
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
        group.add_argument(
            "--no_isolate_backend",
            dest="isolate_backend",
            action="store_false",
            help="Run MediaPipe, and the decoding, in the worker process itself. By default "
            "they run in a child process of each worker, so that a crash in native code "
            "fails the video in hand, not the worker and with it the run.",
        )


def selected_signs(opts: SignKpsOptions) -> list[SignSelection]:
    """(sign_id, signer, split) for every sign the options select, in a stable order."""
    return [
        (sign, signer, split)
        for signer in opts.signers
        for split in opts.splits
        for sign in range(opts.selected_signs_from, opts.selected_signs_to + 1)
    ]


def check_arguments(argv: Sequence[str]) -> None:
    """Raise OptionsError for a signkps argument argparse refuses (bad value or choice).

    PipelineOptions would print its whole usage (every Beam option) and exit; this
    gives the one line that matters instead.
    """
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    SignKpsOptions._add_argparse_args(parser)
    try:
        parser.parse_known_args(list(argv))
    except argparse.ArgumentError as e:
        raise OptionsError(str(e)) from None


def validate(opts: SignKpsOptions, corpus: bool = True) -> None:
    """Raise OptionsError for options that cannot work.

    ``corpus=False`` skips the checks that list the input root (they reach a bucket for a
    gs:// corpus), for building a job without touching its data.
    """
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
    if opts.mediapipe_threads < 0:
        raise OptionsError(
            f"--mediapipe_threads must be 0 (one per core) or more, got {opts.mediapipe_threads}"
        )
    _check_output_outside_input(opts.input_root, opts.output_root)
    if corpus:
        _check_input_root(opts.input_root)
        _check_selection(opts)
    if opts.output_format == "pose" and opts.adjusted:
        raise OptionsError(
            "--output_format pose holds image coordinates in pixels, as pose-format's tools "
            "expect: drop --adjusted (pose-format normalises by itself; keypoints.derive "
            "derives adjusted points from npz output)"
        )


def _has_a_file(folder: str) -> bool:
    """Whether anything lies under ``folder`` (the listing stops at the first file)."""
    return files.has_any(join(folder, "**"))


def _check_output_outside_input(input_root: str, output_root: str) -> None:
    """The output must not land in the corpus, where a later listing would meet it."""
    if files.is_local(input_root) and files.is_local(output_root):
        inside, outside = os.path.realpath(output_root), os.path.realpath(input_root)
    else:
        inside, outside = output_root.rstrip("/"), input_root.rstrip("/")
    if inside == outside or inside.startswith(outside + "/"):
        raise OptionsError(
            f"--output_root {output_root} is inside --input_root {input_root}: "
            "choose an output folder outside the corpus"
        )


def _check_input_root(input_root: str) -> None:
    if files.is_local(input_root) and not os.path.isdir(input_root):
        what = "is not a folder" if os.path.exists(input_root) else "does not exist"
        raise OptionsError(f"--input_root {input_root} {what}")
    if not _has_a_file(input_root):
        raise OptionsError(
            f"--input_root {input_root} is empty (or does not exist): no file under it"
        )


def _check_selection(opts: SignKpsOptions) -> None:
    """Every selected signer and split must have folders under the input root.

    A signer (or split) none of whose selected folders exists is a typo, not a gap in
    the corpus; one missing (signer, split) pair among existing ones is a gap, which the
    run reports sign by sign.
    """
    present: dict[tuple[str, str], bool] = {}
    for signer in opts.signers:
        for split in opts.splits:
            folder = selection_folder(opts.input_root, opts.corpus_layout, signer, split)
            if folder is None:
                return  # the layout has no folder per signer and split to check
            present[signer, split] = _has_a_file(folder)
    signers = [s for s in opts.signers if not any(present[s, t] for t in opts.splits)]
    if signers:
        raise OptionsError(
            f"unknown signer{'s' if len(signers) > 1 else ''} {', '.join(signers)}: "
            f"nothing under {opts.input_root} in the layout {opts.corpus_layout} "
            f"for splits {', '.join(opts.splits)}{_found(opts.input_root)}"
        )
    splits = [t for t in opts.splits if not any(present[s, t] for s in opts.signers)]
    if splits:
        example = selection_folder(opts.input_root, opts.corpus_layout, opts.signers[0], splits[0])
        raise OptionsError(
            f"unknown split{'s' if len(splits) > 1 else ''} {', '.join(splits)}: "
            f"nothing under {opts.input_root} in the layout {opts.corpus_layout} "
            f"for signers {', '.join(opts.signers)}{_found(os.path.dirname(example or ''))}"
        )


def _found(folder: str) -> str:
    """The sub-folders of a local folder, to show next to a typo."""
    if not folder or not files.is_local(folder) or not os.path.isdir(folder):
        return ""
    names = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f" (folders in {folder}: {listed})"
