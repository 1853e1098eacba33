"""What ``signkps pack`` would pack: the source output, checked, as one list of videos per split.

Everything here reads the output root through ``transforms.files`` (so it may be a
bucket) and decompresses nothing: frame counts and shapes come from the npz members'
headers. The checks are ``signkps verify``'s own (``check_output``), and one more that
verify cannot make: every array has the points of the run's layout, so an output that
two runs of different ``--layout_points`` wrote into is refused, not mixed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, field
from typing import Any, BinaryIO

from keypoints.corpus import SignKey
from keypoints.layout import LAYOUTS, NUM_CHANNELS, Layout
from keypoints.npz import NpyHeader, read_npz_headers
from keypoints.outputs import locate_npz, npz_path, run_record_path, sign_report_path
from keypoints.packed import FORMAT_VERSION, POINTS_DTYPE, PackEntry
from pipeline.job.options import MAX_SIGN, SignKpsOptions
from pipeline.tools.verify import FramesOf, Tally, check_output, output_format
from pipeline.usage import UsageError
from transforms import files

# The run options that change what the numbers in an npz mean: a pack never mixes them.
SETTING_OPTIONS = ("layout_points", "adjusted", "fps")
SHOWN_MISMATCHES = 1  # verify's mismatches named in the refusal; verify lists them all


@dataclass(frozen=True)
class Selection:
    """Which signs to pack; None for signers or splits means every one the output holds."""

    signers: frozenset[str] | None
    splits: frozenset[str] | None
    first: int
    last: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Selection:
        first, last = args.selected_signs_from, args.selected_signs_to
        if not 1 <= first <= last <= MAX_SIGN:
            raise UsageError(
                f"sign range {first}..{last} is not valid: "
                f"need 1 <= --selected_signs_from <= --selected_signs_to <= {MAX_SIGN}"
            )
        signers = None if args.signers is None else frozenset(args.signers)
        splits = None if args.splits is None else frozenset(args.splits)
        return cls(signers, splits, first, last)

    def __contains__(self, key: SignKey) -> bool:
        return (
            (self.signers is None or key.signer in self.signers)
            and (self.splits is None or key.split in self.splits)
            and self.first <= key.sign <= self.last
        )

    def check_against(self, keys: Iterable[SignKey], output_root: str) -> None:
        """A signer or split that the output does not hold at all is a typo: say so."""
        keys = set(keys)
        for what, chosen, present in (
            ("signer", self.signers, {k.signer for k in keys}),
            ("split", self.splits, {k.split for k in keys}),
        ):
            unknown = sorted((chosen or set()) - present)
            if unknown:
                raise UsageError(
                    f"unknown {what}{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                    f"{output_root} holds {what}s {', '.join(sorted(present)) or 'none'}"
                )


@dataclass(frozen=True)
class Labels:
    """Each sign's label: the sign id minus one, or a map file's."""

    mapping: dict[int, int] | None = None
    file: str | None = None
    sha256: str | None = None

    @classmethod
    def from_file(cls, path: str | None) -> Labels:
        """Labels from a JSON object ``{"<sign id>": <label>, ...}``; the default without one."""
        if path is None:
            return cls()
        try:
            data = files.read_bytes(path)
            loaded = json.loads(data)
            mapping = {int(sign): int(label) for sign, label in loaded.items()}
        except OSError as e:
            raise UsageError(f"--labels {path} cannot be read ({e})") from None
        except (ValueError, TypeError, AttributeError) as e:
            raise UsageError(
                f'--labels {path} is not a JSON object of sign ids to labels ({{"1": 0}}): {e}'
            ) from None
        return cls(mapping, path, hashlib.sha256(data).hexdigest())

    def of(self, sign: int) -> int:
        return sign - 1 if self.mapping is None else self.mapping[sign]

    def has(self, sign: int) -> bool:
        return self.mapping is None or sign in self.mapping

    def check_covers(self, signs: Iterable[int]) -> None:
        if self.mapping is None:
            return
        missing = sorted(set(signs) - set(self.mapping))
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise UsageError(f"--labels {self.file} has no label for sign {missing[0]}{more}")

    def describe(self) -> dict[str, Any]:
        """How labels were made, for the manifest (with the map itself: it is small)."""
        if self.mapping is None:
            return {"from": "sign id minus one"}
        shown = {str(sign): label for sign, label in sorted(self.mapping.items())}
        return {"from": "map", "file": self.file, "sha256": self.sha256, "map": shown}


@dataclass(frozen=True)
class Source:
    """The output root to pack, with its run's provenance and the settings it was made with."""

    output_root: str
    run: dict[str, Any]
    run_sha256: str
    settings: dict[str, Any]
    layout: Layout

    @classmethod
    def read(cls, output_root: str) -> Source:
        path = run_record_path(output_root)
        if not files.exists(path):
            raise UsageError(
                f"{path} not found: not a signkps output, or its run did not finish "
                "(a pack records the run's provenance: run the pipeline again to complete it)"
            )
        data = files.read_bytes(path)
        try:
            run: dict[str, Any] = json.loads(data)
        except ValueError as e:
            raise UsageError(f"{path}: not valid JSON ({e})") from None
        fmt = output_format(output_root)
        if fmt != "npz":
            raise UsageError(
                f"{output_root} holds {fmt} output: signkps pack reads the npz files of a run "
                "with --output_format npz"
            )
        settings = run_settings(run)
        return cls(
            output_root,
            run,
            hashlib.sha256(data).hexdigest(),
            settings,
            LAYOUTS[settings["layout_points"]],
        )


def run_settings(run: dict[str, Any]) -> dict[str, Any]:
    """What a pack keeps one of: layout, coordinates, frame rate, backend and its models.

    run.json lists only the options a run changed, so the others are the pipeline's
    defaults. The backend's settings hold its model files' sha256 (tasks); the MediaPipe
    version is there too, since landmarks differ between releases.
    """
    parser = argparse.ArgumentParser(add_help=False)
    SignKpsOptions._add_argparse_args(parser)
    options = {**vars(parser.parse_args([])), **run.get("options", {})}
    return {
        "layout_points": str(options["layout_points"]),
        "adjusted": bool(options["adjusted"]),
        "fps": float(options["fps"]),
        "backend": run.get("backend"),
        # The workers' MediaPipe made the landmarks; a run.json older than that record
        # names only the driver's.
        "mediapipe": sorted(
            {str(w.get("mediapipe")) for w in run.get("workers", [])}
            or {str(run.get("versions", {}).get("mediapipe"))}
        ),
    }


# Sign -> each member's header of its npz, from verify's reading until the sign is planned.
Headers = dict[SignKey, dict[str, NpyHeader]]


def header_frames(headers: Headers) -> FramesOf:
    """verify's frame counter for an npz, from its members' headers, keeping the headers."""

    def frames_of(path: str, tally: Tally) -> dict[str, int] | None:
        try:
            with files.open_for_reading(path) as f:
                found = read_npz_headers(f)
        except Exception as e:  # a damaged file of any kind is what verify looks for
            tally.mismatches.append(f"{path}: cannot be read as an npz ({type(e).__name__}: {e})")
            return None
        located = locate_npz(path)
        if located is not None:
            headers[located[1]] = found
        return {name: h.shape[0] if h.shape else 0 for name, h in found.items()}

    return frames_of


@dataclass(frozen=True)
class SignEntries:
    """One sign's videos to pack, in order, and how many of its videos are left out."""

    entries: list[PackEntry]
    failed: int  # failed videos in the reports
    unpackable: int  # ok in the reports, not readable in the npz (only with --force)

    @property
    def digest(self) -> str:
        """Identifies the entries: a sign read again must give the same."""
        described = json.dumps([astuple(e) for e in self.entries])
        return hashlib.sha256(described.encode()).hexdigest()


def _check_shape(path: str, video: str, header: NpyHeader, layout: Layout) -> None:
    expected = (layout.num_points, NUM_CHANNELS)
    if header.shape[1:] != expected or len(header.shape) != 3:
        raise UsageError(
            f"{path}: video {video!r} has shape {header.shape}, not (frames, *{expected}) of "
            f"the run's --layout_points {layout.name}: the output mixes layouts, and a pack "
            "holds one; repack the odd signs with --overwrite"
        )
    if header.dtype.str != POINTS_DTYPE or header.fortran_order:
        raise UsageError(f"{path}: video {video!r} is not little-endian float32 in C order")


def sign_entries(
    source: Source,
    key: SignKey,
    records: list[dict[str, Any]],
    members: dict[str, NpyHeader],
    labels: Labels,
) -> SignEntries:
    """A sign's videos to pack, from its records and its npz's headers, by video name.

    The one rule both passes of a pack apply: the plan that counts frames, and the copy.
    """
    path = npz_path(source.output_root, key)
    entries: list[PackEntry] = []
    failed = unpackable = 0
    for record in sorted(records, key=lambda r: str(r.get("video"))):
        video = str(record.get("video"))
        if record.get("status") == "failed":
            failed += 1
            continue
        header = members.get(video)
        if (
            record.get("status") != "ok"
            or header is None
            or (entries and entries[-1].video == video)
        ):
            unpackable += 1
            continue
        _check_shape(path, video, header, source.layout)
        origin = str(record.get("source", ""))
        entries.append(PackEntry(*key, video, labels.of(key.sign), header.shape[0], path, origin))
    return SignEntries(entries, failed, unpackable)


@dataclass
class SplitPlan:
    """One split's counts, and the signs to copy from with their entries' digests.

    Holds a few numbers per sign and none per video, so planning a corpus of any size
    takes the same memory; the copy reads each sign again (:func:`read_sign`).
    """

    split: str
    signs: dict[SignKey, str] = field(default_factory=dict)  # sign -> SignEntries.digest
    videos: int = 0
    frames: int = 0
    failed: int = 0
    unpackable: int = 0

    def add(self, key: SignKey, found: SignEntries) -> None:
        if found.entries:
            self.signs[key] = found.digest
        self.videos += len(found.entries)
        self.frames += sum(e.frames for e in found.entries)
        self.failed += found.failed
        self.unpackable += found.unpackable

    def key(self, source: Source, labels: Labels) -> str:
        """Identifies what this split would hold: a pack with the same key need not redo it."""
        described = {
            "version": FORMAT_VERSION,
            "output_root": source.output_root,
            "run_sha256": source.run_sha256,
            "settings": source.settings,
            "labels": labels.describe(),
            "signs": [(k.label, digest) for k, digest in sorted(self.signs.items())],
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def plan_splits(
    source: Source, selection: Selection, labels: Labels, force: bool
) -> dict[str, SplitPlan]:
    """Each selected split's plan, after verify's checks of the whole output pass.

    A verify mismatch refuses the pack in one line (``--force`` packs anyway: what cannot
    be packed is then left out and counted).
    """
    tally, headers, plans = Tally(), Headers(), dict[str, SplitPlan]()
    seen: set[SignKey] = set()

    def plan_sign(label: str, records: list[dict[str, Any]], _: dict[str, int] | None) -> None:
        key = SignKey.from_label(label)
        if key is None:
            return
        members = headers.pop(key, {})
        seen.add(key)
        if key in selection and labels.has(key.sign):
            found = sign_entries(source, key, records, members, labels)
            plans.setdefault(key.split, SplitPlan(key.split)).add(key, found)

    check_output(source.output_root, tally, header_frames(headers), plan_sign)
    selection.check_against(seen, source.output_root)
    labels.check_covers(key.sign for key in seen if key in selection)
    if tally.mismatches and not force:
        shown = "; ".join(tally.mismatches[:SHOWN_MISMATCHES])
        raise UsageError(
            f"{source.output_root} does not verify ({len(tally.mismatches)} mismatches, the "
            f"first: {shown}): 'signkps verify --output_root {source.output_root}' lists "
            "them; fix the output, or pack anyway with --force"
        )
    if not plans:
        raise UsageError(f"nothing to pack: no sign of {source.output_root} is selected")
    return dict(sorted(plans.items()))


@contextlib.contextmanager
def read_sign(
    source: Source, plan: SplitPlan, key: SignKey, labels: Labels
) -> Iterator[tuple[BinaryIO, SignEntries]]:
    """A planned sign read again for the copy: its open npz and its entries.

    ValueError when they are no longer what the plan counted (a run rewrote the sign since).
    """
    records = files.read_json_lines(sign_report_path(source.output_root, key))
    with files.open_for_reading(npz_path(source.output_root, key)) as f:
        found = sign_entries(source, key, records, read_npz_headers(f), labels)
        if found.digest != plan.signs[key]:
            raise ValueError(f"{key.label} changed since it was checked: a run wrote it meanwhile")
        yield f, found
