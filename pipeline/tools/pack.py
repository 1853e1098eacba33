"""``signkps pack --output_root O --dest D``: one memory-mapped dataset per split, for training.

Writes, for each selected split, ``D/<split>/points.npy`` (float32, every video's frames
one after another) and ``D/<split>/index.parquet`` (one row per video: where its frames
are, its label), then ``D/manifest.json`` (layout, labels, settings, the source run's
run.json, every file's sha256). The format is ``keypoints.packed``'s; ``keypoints.dataset``
reads it. Memory stays flat whatever the corpus: sizes come from the npz members'
headers, and each video is streamed from its npz into place.

Safe to stop and run again: a split is written in a hidden folder and renamed into place
whole, the manifest goes last, and a split already packed from the same output, with the
same selection and labels, is kept. A destination holding splits of other settings
(layout, coordinates, frame rate, backend, models) is refused, not mixed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from keypoints.layout import CHANNELS
from keypoints.packed import (
    FORMAT,
    FORMAT_VERSION,
    INDEX_FILE,
    LOCK_FILE,
    MANIFEST_FILE,
    ORDER,
    POINTS_FILE,
    IndexWriter,
    PointsWriter,
    index_path,
    is_temp,
    manifest_path,
    read_index_metadata,
    sha256_of,
    split_folder,
    temp_folder,
)
from pipeline.job.options import MAX_SIGN
from pipeline.tools.pack_plan import (
    Labels,
    Selection,
    Source,
    SplitPlan,
    plan_splits,
    read_sign,
)
from pipeline.usage import CommandParser, RunStopped, UsageError
from transforms import files

MB = 1e6


def parser() -> CommandParser:
    p = CommandParser(
        prog="signkps pack",
        description="Pack a finished run's npz files into one memory-mapped array per split "
        "(D/<split>/points.npy), an index of its videos (D/<split>/index.parquet) and "
        "D/manifest.json, for training (keypoints.dataset.PackedKeypoints). Failed videos "
        "are left out and counted; an output that does not verify is refused (--force).",
    )
    p.add_argument("--output_root", required=True, help="The run's output (a folder or URL).")
    p.add_argument(
        "--dest",
        required=True,
        help="Where the pack goes: a local folder (memory mapping needs a local file), "
        "new, empty, or holding a pack of the same settings.",
    )
    p.add_argument("--signers", nargs="+", help="Signers to pack (default: every one).")
    p.add_argument("--splits", nargs="+", help="Splits to pack (default: every one).")
    p.add_argument("--selected_signs_from", type=int, default=1)
    p.add_argument("--selected_signs_to", type=int, default=MAX_SIGN)
    p.add_argument(
        "--labels",
        help='A JSON object of sign ids to labels ({"1": 0, "2": 1, ...}); by default a '
        "sign's label is its id minus one.",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="Pack even when signkps verify finds mismatches; what cannot be read is left out.",
    )
    return p


def _is_local(path: str) -> bool:
    try:
        return files.is_local(path)
    except ValueError:  # a URL of a file system Beam does not have here
        return False


def _check_dest(dest: str, output_root: str) -> None:
    """A local folder outside the output, new or holding nothing but a pack."""
    if not _is_local(dest):
        raise UsageError(f"--dest {dest} must be a local folder: memory mapping needs a local file")
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise UsageError(f"--dest {dest} is not a folder")
    if _is_local(output_root):
        here, root = os.path.realpath(dest), os.path.realpath(output_root)
        if here == root or here.startswith(root + os.sep) or root.startswith(here + os.sep):
            raise UsageError(
                f"--dest {dest} and --output_root {output_root} overlap: pack into a folder "
                "outside the output"
            )
    for entry in sorted(os.listdir(dest)) if os.path.isdir(dest) else []:
        ours = entry in (MANIFEST_FILE, LOCK_FILE) or is_temp(entry)
        if not ours and not os.path.isfile(index_path(dest, entry)):
            raise UsageError(
                f"--dest {dest} holds {entry}, which no pack wrote: choose a new or empty folder"
            )


@contextlib.contextmanager
def _locked(dest: str) -> Iterator[None]:
    """Hold the destination for this pack alone; the lock goes with the process, however it ends."""
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, LOCK_FILE), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"--dest {dest} is being written by another signkps pack") from None
        yield


def _packed_splits(dest: str) -> dict[str, dict[str, Any]]:
    """Each split already in the destination, with what it was packed from."""
    found = {}
    for entry in sorted(os.listdir(dest)):
        path = index_path(dest, entry)
        if os.path.isfile(path):
            try:
                found[entry] = read_index_metadata(path)
            except ValueError as e:  # pyarrow's errors of a damaged file are ValueErrors too
                raise UsageError(
                    f"{path} cannot be read ({e}): delete {split_folder(dest, entry)}"
                ) from None
    return found


def _differences(there: dict[str, Any], here: dict[str, Any]) -> str:
    shown = []
    for name in sorted(set(there) | set(here)):
        a, b = there.get(name), here.get(name)
        if a != b:
            detail = "differ" if isinstance(a, dict) or isinstance(b, dict) else f"{a!r} there"
            shown.append(f"{name} {detail}" + ("" if "differ" in detail else f", {b!r} here"))
    return "; ".join(shown)


def _check_mixing(
    dest: str,
    packed: dict[str, dict[str, Any]],
    plans: dict[str, SplitPlan],
    source: Source,
    labels: Labels,
) -> None:
    """Refuse a destination whose splits would not all be of one output, settings and labels."""
    for split, meta in packed.items():
        for what, there, here in (
            ("settings", meta.get("settings", {}), source.settings),
            ("labels", meta.get("labels", {}), labels.describe()),
        ):
            if there != here:
                raise UsageError(
                    f"{split_folder(dest, split)} was packed with other {what} "
                    f"({_differences(there, here)}): a pack holds one kind of keypoints; "
                    "pack into another --dest"
                )
        if split not in plans and meta.get("run_sha256") != source.run_sha256:
            raise UsageError(
                f"{split_folder(dest, split)} was packed from another output or run "
                f"(run.json differs from {source.output_root}'s): add --splits {split} to "
                "pack it again too, or pack into another --dest"
            )


def _write_split(dest: str, plan: SplitPlan, source: Source, labels: Labels, key: str) -> None:
    """Write one split in a hidden folder, then put it in place of the old one, if any.

    Each planned sign is read again, one at a time, and its videos copied and indexed.
    """
    temp = temp_folder(dest, plan.split)
    os.makedirs(temp)
    try:
        points = PointsWriter(
            os.path.join(temp, POINTS_FILE), plan.frames, source.layout.num_points
        )
        with points, IndexWriter(os.path.join(temp, INDEX_FILE)) as index:
            for sign in sorted(plan.signs):
                with read_sign(source, plan, sign, labels) as (npz, found):
                    points.add(npz, found.entries)
                    index.add(found.entries)
            digest = points.finish()
            index.finish(_split_metadata(plan, source, labels, key) | {"points": asdict(digest)})
        final = split_folder(dest, plan.split)
        old = temp_folder(dest, plan.split) if os.path.exists(final) else None
        if old is not None:
            os.rename(final, old)
        os.rename(temp, final)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _split_metadata(plan: SplitPlan, source: Source, labels: Labels, key: str) -> dict[str, Any]:
    """What a split was packed from and what it holds, for its index's footer."""
    return {
        "pack_key": key,
        "split": plan.split,
        "output_root": source.output_root,
        "run_sha256": source.run_sha256,
        "settings": source.settings,
        "labels": labels.describe(),
        "videos": plan.videos,
        "frames": plan.frames,
        "signs": len(plan.signs),
        "signers": sorted({sign.signer for sign in plan.signs}),
        "failed_left_out": plan.failed,
        "unpackable_left_out": plan.unpackable,
    }


def manifest(dest: str, source: Source, labels: Labels) -> dict[str, Any]:
    """The manifest of every split in the destination (all of one source, by now)."""
    layout = source.layout
    splits = {}
    for split, meta in _packed_splits(dest).items():
        index = sha256_of(index_path(dest, split))
        kept = ("videos", "frames", "signs", "signers", "failed_left_out", "unpackable_left_out")
        splits[split] = {name: meta[name] for name in kept}
        splits[split]["files"] = {
            f"{split}/{POINTS_FILE}": meta["points"],
            f"{split}/{INDEX_FILE}": asdict(index),
        }
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "order": ORDER,
        "layout": {
            "name": layout.name,
            "points": layout.num_points,
            "channels": list(CHANNELS),
            "point_names": list(layout.point_names),
            "parts": {name: [part.start, part.stop] for name, part in layout.parts.items()},
        },
        "labels": labels.describe(),
        "settings": source.settings,
        "source": {
            "output_root": source.output_root,
            "run_sha256": source.run_sha256,
            "run": source.run,
        },
        "splits": splits,
    }


def _write_manifest(dest: str, content: dict[str, Any]) -> None:
    temp = os.path.join(dest, f".{MANIFEST_FILE}.tmp")
    with open(temp, "w") as f:
        json.dump(content, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(temp, manifest_path(dest))


def _intact(dest: str, meta: dict[str, Any], key: str) -> bool:
    """Whether a split on disk is what this pack would write, its points file whole."""
    if meta.get("pack_key") != key:
        return False
    points = os.path.join(split_folder(dest, meta["split"]), POINTS_FILE)
    return os.path.isfile(points) and os.path.getsize(points) == meta["points"]["bytes"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def pack(dest: str, source: Source, plans: dict[str, SplitPlan], labels: Labels) -> list[str]:
    """Write what ``plans`` say into ``dest``; one line per split on what was done."""
    lines = []
    with _locked(dest):
        for entry in os.listdir(dest):
            if is_temp(entry):  # a killed pack's: no other pack runs here now
                shutil.rmtree(os.path.join(dest, entry), ignore_errors=True)
        packed = _packed_splits(dest)
        _check_mixing(dest, packed, plans, source, labels)
        for split, plan in plans.items():
            key = plan.key(source, labels)
            left_out = f"{_count(plan.failed, 'failed video')} left out" + (
                f", {plan.unpackable} unreadable (--force)" if plan.unpackable else ""
            )
            if _intact(dest, packed.get(split, {}), key):
                lines.append(f"{split}: kept, already packed from this output ({left_out})")
                continue
            with contextlib.suppress(FileNotFoundError):
                os.remove(manifest_path(dest))  # no reader may see it describe a split in flux
            _write_split(dest, plan, source, labels, key)
            size = os.path.getsize(os.path.join(split_folder(dest, split), POINTS_FILE))
            lines.append(
                f"{split}: {_count(plan.videos, 'video')}, {_count(plan.frames, 'frame')} "
                f"({size / MB:.1f} MB), {left_out}"
            )
        _write_manifest(dest, manifest(dest, source, labels))
    return lines


def main(argv: list[str]) -> int:
    """``signkps pack``: 0 when every selected split is packed."""
    args = parser().parse_args(argv)
    selection = Selection.from_args(args)
    _check_dest(args.dest, args.output_root)
    labels = Labels.from_file(args.labels)
    # One output, one spelling: the pack key and the index's npz paths do not depend on the cwd.
    local = _is_local(args.output_root)
    source = Source.read(os.path.abspath(args.output_root) if local else args.output_root)
    plans = plan_splits(source, selection, labels, args.force)
    try:
        lines = pack(args.dest, source, plans, labels)
    except UsageError:
        raise  # a ValueError too, but about the destination, not about the copy
    except OSError as e:
        raise RunStopped(
            f"{e.filename or args.dest}: {e.strerror or e}; the splits packed so far are "
            "kept: run the same command again"
        ) from e
    except ValueError as e:  # an npz that changed or is damaged under the copy
        raise RunStopped(f"{e}; run signkps verify, then the same command again") from e
    for line in lines:
        print(f"signkps pack: {line}")
    print(f"signkps pack: wrote {manifest_path(args.dest)}")
    return 0
