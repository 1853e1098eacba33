"""``signkps pack`` and ``keypoints.dataset``: a run's npz files as one mapped array per split.

One real run (MediaPipe on real frames, with a broken video) is packed through the console
script and checked bit for bit; the refusals, resuming and the reader run on synthetic
outputs in the real layout (benchmarks.pack writes them), through ``pipeline.cli.main``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import pickle
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.pack import build_output, keypoint_track
from keypoints.corpus import SignKey
from keypoints.dataset import PackedKeypoints, TemporalSampler
from keypoints.layout import POINT_NAMES_184
from keypoints.npz import read_npz_headers, write_npz
from keypoints.packed import PointsWriter, index_path, manifest_path, points_path
from pipeline import cli
from pipeline.tools.verify import Tally, check_output
from tests.conftest import REPO, SIGNKPS, build_corpus

SIGNERS, SPLITS = ["01", "02"], ["train", "test"]
# Reads besides the index and manifest when a pack is opened: the points file's header,
# through numpy's buffered reads, and pyarrow's speculative read of a Parquet footer.
READ_SLACK = 65536


def pack(*args: object) -> int:
    return cli.main(["pack", *map(str, args)])


def refusal(capsys: pytest.CaptureFixture[str], *args: object, status: int = 2) -> str:
    """The one line a refused pack prints (after checking that it is one line)."""
    capsys.readouterr()
    assert pack(*args) == status
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("signkps: "), lines
    return lines[0]


def rchar() -> int:
    """Bytes this process has read through read() and its kind, so far (not page faults)."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


def npz_array(path: str, video: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as npz:
        return npz[video]


@pytest.fixture(scope="module")
def real_pack(tmp_path_factory, signer_frames):
    """A real run (two signers, two splits, one broken video), packed by the console script."""
    root = tmp_path_factory.mktemp("pack")
    broken = root / "broken.mp4"
    broken.write_text("not a video")
    corpus = build_corpus(
        root / "corpus",
        {
            SignKey("01", "train", 1): {"v1": signer_frames[:4], "v2": signer_frames[4:]},
            SignKey("01", "train", 2): {"v1": signer_frames[2:5], "broken": broken},
            SignKey("02", "train", 1): {"v1": signer_frames[::2]},
            SignKey("01", "test", 1): {"v1": signer_frames[:2]},
        },
    )
    output, dest = root / "output", root / "packed"
    selection = ["--signers", *SIGNERS, "--splits", *SPLITS, "--selected_signs_to=2"]
    run = [f"--input_root={corpus}", f"--output_root={output}", *selection]
    done = subprocess.run(
        [SIGNKPS, "local", *run, "--direct_num_workers=2"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    packed = subprocess.run(
        [SIGNKPS, "pack", f"--output_root={output}", f"--dest={dest}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert packed.returncode == 0, packed.stderr
    return output, dest, packed.stdout


@pytest.mark.slow
def test_a_real_run_packs_bit_for_bit_without_its_failed_video(real_pack):
    output, dest, stdout = real_pack
    records = [json.loads(line) for line in (output / "_reports" / "videos.jsonl").open()]
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == 5 and [r["video"] for r in records if r["status"] == "failed"] == ["broken"]
    assert "signkps pack: train: 4 videos" in stdout and "1 failed video left out" in stdout

    manifest = json.loads(Path(manifest_path(str(dest))).read_text())
    assert manifest["splits"]["train"]["failed_left_out"] == 1
    assert manifest["splits"]["train"]["videos"] == 4
    assert manifest["splits"]["test"]["videos"] == 1
    assert manifest["source"]["run"] == json.loads((output / "_reports" / "run.json").read_text())
    assert manifest["layout"]["point_names"] == list(POINT_NAMES_184)
    assert manifest["layout"]["parts"]["right_hand"] == [142, 163]
    for split in SPLITS:
        for name, digest in manifest["splits"][split]["files"].items():
            data = (dest / name).read_bytes()
            assert digest == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    packed = {}
    for split in SPLITS:
        dataset = PackedKeypoints(str(dest), split)
        for i in range(len(dataset)):
            points, label, record = dataset[i]
            assert label == record["sign"] - 1 and record["split"] == split
            packed[record["signer"], record["split"], record["sign"], record["video"]] = points
    assert "broken" not in {key[3] for key in packed}
    order = [(r["signer"], r["split"], r["sign"], r["video"]) for r in ok]
    assert sorted(packed) == sorted(order)
    for key in order:
        npz = output / f"{key[0]}-{key[1]}" / f"{key[2]:04d}.npz"
        expected = npz_array(str(npz), key[3])
        assert packed[key].dtype == np.float32 and packed[key].tobytes() == expected.tobytes()
    rows = PackedKeypoints(str(dest), "train").records
    assert [(r["signer"], r["sign"], r["video"]) for r in rows] == [
        ("01", 1, "v1"),
        ("01", 1, "v2"),
        ("01", 2, "v1"),
        ("02", 1, "v1"),
    ]


@pytest.mark.slow
def test_opening_a_real_pack_maps_the_points_and_reads_only_the_index(real_pack):
    _, dest, _ = real_pack
    mapped = np.load(points_path(str(dest), "train"), mmap_mode="r")
    assert isinstance(mapped, np.memmap) and mapped.shape[1:] == (184, 4)
    assert PackedKeypoints(str(dest), "train").points.size  # imports and first reads aside
    before = rchar()
    dataset = PackedKeypoints(str(dest), "train")
    assert isinstance(dataset.points, np.memmap)
    read = rchar() - before
    small = Path(index_path(str(dest), "train")).stat().st_size
    small += Path(manifest_path(str(dest))).stat().st_size
    assert read <= small + READ_SLACK, (read, small)


def synthetic(root: Path, layout_points: str = "184", signs: int = 3, videos: int = 4) -> Path:
    build_output(root, SIGNERS, SPLITS, signs, videos, layout_points)
    return root


def test_opening_reads_the_index_not_the_points(tmp_path):
    """A pack of 40 MB of points: opening it and reading an item reads a few kilobytes."""
    output = synthetic(tmp_path / "output", signs=6, videos=10)
    dest = tmp_path / "packed"
    assert pack("--output_root", output, "--dest", dest) == 0
    points = Path(points_path(str(dest), "train")).stat().st_size
    assert points > 20_000_000
    PackedKeypoints(str(dest), "test")[0]  # imports and first reads aside
    before = rchar()
    dataset = PackedKeypoints(str(dest), "train")
    video, _, record = dataset[len(dataset) - 1]
    assert float(np.abs(video).sum()) > 0  # its pages were faulted in, not read()
    read = rchar() - before
    index = Path(index_path(str(dest), "train")).stat().st_size
    manifest = Path(manifest_path(str(dest))).stat().st_size
    assert read <= index + manifest + READ_SLACK < points // 100, (read, index, manifest)
    assert video.tobytes() == npz_array(record["npz"], record["video"]).tobytes()


def test_npz_headers_are_read_without_the_data(tmp_path):
    path = tmp_path / "big.npz"
    arrays = [(f"v{i}", keypoint_track(np.random.default_rng(i), 2000, 184)) for i in range(4)]
    with path.open("wb") as f:
        write_npz(f, arrays)

    class Counting:
        def __init__(self, f: Any) -> None:
            self.f, self.read_bytes = f, 0

        def read(self, n: int = -1) -> bytes:
            data = self.f.read(n)
            self.read_bytes += len(data)
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

    with path.open("rb") as f:
        counting = Counting(f)
        headers = read_npz_headers(counting)  # type: ignore[arg-type]
    assert {name: h.shape for name, h in headers.items()} == {name: a.shape for name, a in arrays}
    assert counting.read_bytes < path.stat().st_size / 20, counting.read_bytes


def test_a_signer_independent_split_and_a_label_map(tmp_path):
    output = synthetic(tmp_path / "output")
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"1": 7, "2": 8, "3": 9}))
    dest = tmp_path / "packed"
    assert pack("--output_root", output, "--dest", dest, "--labels", labels) == 0
    train = PackedKeypoints(str(dest), "train", signers=["01"])
    held_out = PackedKeypoints(str(dest), "train", signers=["02"])
    everyone = PackedKeypoints(str(dest), "train")
    assert {r["signer"] for r in train.records} == {"01"}
    assert {r["signer"] for r in held_out.records} == {"02"}
    assert len(train) + len(held_out) == len(everyone)
    assert set(everyone.labels) == {7, 8, 9}
    assert all(label == record["sign"] + 6 for _, label, record in everyone)
    manifest = json.loads(Path(manifest_path(str(dest))).read_text())
    assert manifest["labels"]["map"] == {"1": 7, "2": 8, "3": 9}

    only = tmp_path / "only"
    assert (
        pack(
            "--output_root",
            output,
            "--dest",
            only,
            "--signers",
            "02",
            "--splits",
            "test",
            "--selected_signs_to",
            2,
        )
        == 0
    )
    assert sorted(json.loads(Path(manifest_path(str(only))).read_text())["splits"]) == ["test"]
    rows = PackedKeypoints(str(only), "test").records
    assert {(r["signer"], r["sign"]) for r in rows} == {("02", 1), ("02", 2)}


def test_refusals_are_one_line(tmp_path, capsys):
    output = synthetic(tmp_path / "output")
    dest = tmp_path / "packed"
    assert "must be a local folder" in refusal(
        capsys, "--output_root", output, "--dest", "gs://bucket/packed"
    )
    assert "overlap" in refusal(capsys, "--output_root", output, "--dest", output / "packed")
    assert "unknown signer 07" in refusal(
        capsys, "--output_root", output, "--dest", dest, "--signers", "07"
    )
    assert "sign range 5..2" in refusal(
        capsys,
        "--output_root",
        output,
        "--dest",
        dest,
        "--selected_signs_from",
        5,
        "--selected_signs_to",
        2,
    )
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"1": 0}))
    assert "has no label for sign 2 (and 1 more)" in refusal(
        capsys, "--output_root", output, "--dest", dest, "--labels", labels
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert "holds notes.txt, which no pack wrote" in refusal(
        capsys, "--output_root", output, "--dest", other
    )
    assert "run.json not found" in refusal(capsys, "--output_root", other, "--dest", dest)
    assert not dest.exists()


def test_a_destination_never_mixes_layouts_or_runs(tmp_path, capsys):
    dest = tmp_path / "packed"
    first = synthetic(tmp_path / "first")
    assert pack("--output_root", first, "--dest", dest) == 0
    full = synthetic(tmp_path / "full", layout_points="full", signs=1, videos=2)
    line = refusal(capsys, "--output_root", full, "--dest", dest, "--splits", "train")
    assert "packed with other settings (layout_points '184' there, 'full' here)" in line
    second = synthetic(tmp_path / "second", signs=2)
    line = refusal(capsys, "--output_root", second, "--dest", dest, "--splits", "train")
    assert "test was packed from another output or run" in line and "--splits test" in line
    assert pack("--output_root", second, "--dest", dest) == 0  # both splits: one source again
    assert json.loads(Path(manifest_path(str(dest))).read_text())["source"]["output_root"] == str(
        second
    )


def test_an_output_mixing_layouts_is_refused(tmp_path, capsys):
    output = synthetic(tmp_path / "output")
    npz = output / "01-train" / "0002.npz"
    with np.load(npz) as found:
        frames = {name: found[name].shape[0] for name in found.files}
    with npz.open("wb") as f:  # as a later run with --layout_points full would have written
        write_npz(f, [(name, np.zeros((n, 553, 4), np.float32)) for name, n in frames.items()])
    line = refusal(capsys, "--output_root", output, "--dest", tmp_path / "packed")
    assert "0002.npz" in line and "the output mixes layouts" in line


def test_verify_problems_stop_it_unless_forced(tmp_path, capsys):
    output = synthetic(tmp_path / "output")
    (output / "01-train" / "0002.npz").unlink()
    dest = tmp_path / "packed"
    line = refusal(capsys, "--output_root", output, "--dest", dest)
    assert "does not verify (" in line and "the first: 01-train/0002: a report but no npz" in line
    assert "--force" in line and not dest.exists()
    assert pack("--output_root", output, "--dest", dest, "--force") == 0
    assert "4 unreadable (--force)" in capsys.readouterr().out
    manifest = json.loads(Path(manifest_path(str(dest))).read_text())
    assert manifest["splits"]["train"]["unpackable_left_out"] == 4
    rows = PackedKeypoints(str(dest), "train").records
    assert ("01", 2) not in {(r["signer"], r["sign"]) for r in rows}


def test_a_rerun_keeps_what_is_packed_and_redoes_what_changed(tmp_path, capsys, monkeypatch):
    output = synthetic(tmp_path / "output")
    dest = tmp_path / "packed"
    assert pack("--output_root", output, "--dest", dest) == 0
    train = Path(points_path(str(dest), "train"))
    inode = train.stat().st_ino
    leftover = dest / ".train.0123abcd.tmp"  # a killed pack's half-written split
    leftover.mkdir()
    (leftover / "points.npy").write_bytes(b"partial")
    capsys.readouterr()
    assert pack("--output_root", output, "--dest", dest) == 0
    out = capsys.readouterr().out
    assert "train: kept, already packed" in out and "test: kept" in out
    assert not leftover.exists() and train.stat().st_ino == inode
    monkeypatch.chdir(tmp_path)  # the same output, spelt another way
    assert pack("--output_root", "output/", "--dest", "packed") == 0
    assert capsys.readouterr().out.count("kept, already packed") == 2

    run = output / "_reports" / "run.json"  # another run finished there since
    run.write_text(run.read_text().replace("01:00:00", "02:00:00"))

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(dest / "x"))

    monkeypatch.setattr(PointsWriter, "add", full_disk)  # the disk fills up mid-split
    line = refusal(capsys, "--output_root", output, "--dest", dest, status=1)
    assert "No space left on device; the splits packed so far are kept" in line
    assert not Path(manifest_path(str(dest))).exists()  # no manifest while a split is in flux
    assert [p.name for p in dest.iterdir() if p.name.endswith(".tmp")] == []
    with pytest.raises(ValueError, match="holds no complete pack"):
        PackedKeypoints(str(dest), "train")
    monkeypatch.undo()
    assert pack("--output_root", output, "--dest", dest) == 0
    assert "kept" not in capsys.readouterr().out
    assert (
        PackedKeypoints(str(dest), "train")
        .manifest["source"]["run"]["finished"]
        .startswith("2026-12-01T02")
    )


def test_the_temporal_sampler():
    uniform = TemporalSampler(4)
    assert uniform(8).tolist() == [1, 3, 5, 7]
    assert uniform(2).tolist() == [0, 0, 1, 1]  # a short video repeats frames
    assert uniform(1).tolist() == [0, 0, 0, 0]
    segment = TemporalSampler(8, "segment", seed=5)
    first = segment(100, index=3, epoch=0)
    assert first.tolist() == segment(100, index=3, epoch=0).tolist()  # deterministic
    assert first.tolist() != segment(100, index=3, epoch=1).tolist()  # new frames each epoch
    assert first.tolist() != TemporalSampler(8, "segment", seed=6)(100, 3).tolist()
    assert all(int(12.5 * k) <= i < int(12.5 * (k + 1)) for k, i in enumerate(first.tolist()))
    assert sorted(first.tolist()) == first.tolist()
    assert TemporalSampler(16, "segment")(5).tolist() == sorted(TemporalSampler(16, "segment")(5))
    with pytest.raises(ValueError, match="sampling must be one of"):
        TemporalSampler(4, "random")  # type: ignore[arg-type]


_worker_dataset: PackedKeypoints | None = None


def _start_worker(state: bytes) -> None:
    global _worker_dataset
    _worker_dataset = pickle.loads(state)


def _fetch(indices: list[int]) -> list[tuple[np.ndarray, int, dict[str, Any]]]:
    assert _worker_dataset is not None
    return [_worker_dataset[i] for i in indices]


def stand_in_loader(dataset: PackedKeypoints, batch_size: int, workers: int):
    """What torch's DataLoader does with a map-style Dataset, without torch.

    It pickles the dataset into spawned worker processes, asks each for ``dataset[i]`` of
    a batch of indices (``len(dataset)`` gives them), and collates: arrays stacked, labels
    into one array, records into a dict of lists (default_collate's rules).
    """
    state = pickle.dumps(dataset)
    batches = [
        list(range(i, min(i + batch_size, len(dataset))))
        for i in range(0, len(dataset), batch_size)
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(state,)) as pool:
        for items in pool.map(_fetch, batches):
            points, labels, records = zip(*items, strict=True)
            yield (
                np.stack(points),
                np.array(labels),
                {k: [r[k] for r in records] for k in records[0]},
            )


def test_the_dataset_in_a_data_loader_stand_in(tmp_path):
    output = synthetic(tmp_path / "output")
    dest = tmp_path / "packed"
    assert pack("--output_root", output, "--dest", dest) == 0
    dataset = PackedKeypoints(str(dest), "train", length=16, sampling="segment", seed=1)
    assert isinstance(dataset.points, np.memmap)  # mapped here; the pickle carries none of it
    assert len(pickle.dumps(dataset)) < 100_000
    seen = []
    for points, labels, records in stand_in_loader(dataset, batch_size=5, workers=2):
        assert points.shape[1:] == (16, 184, 4) and points.dtype == np.float32
        assert labels.tolist() == [s - 1 for s in records["sign"]]
        seen.extend(records["video"])
    assert sorted(seen) == sorted(r["video"] for r in dataset.records)
    here = [dataset[i][0] for i in range(len(dataset))]
    again = np.concatenate([p for p, _, _ in stand_in_loader(dataset, 5, 2)])
    assert np.array_equal(np.stack(here), again)  # the same frames in workers as here


@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable:UserWarning")
def test_the_dataset_in_a_real_torch_data_loader(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (CI runs the stand-in)")
    output = synthetic(tmp_path / "output")
    dest = tmp_path / "packed"
    assert pack("--output_root", output, "--dest", dest) == 0
    dataset = PackedKeypoints(str(dest), "train", length=16, sampling="segment", seed=1)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=4,
        shuffle=True,
        num_workers=2,
        multiprocessing_context="spawn",
        generator=torch.Generator().manual_seed(0),
    )
    seen = []
    for points, labels, records in loader:
        assert points.dtype == torch.float32 and tuple(points.shape[1:]) == (16, 184, 4)
        assert labels.tolist() == (records["sign"] - 1).tolist()
        for video, batch_points in zip(records["video"], points, strict=True):
            i = next(i for i, r in enumerate(dataset.records) if r["video"] == video)
            assert np.array_equal(batch_points.numpy(), dataset[i][0])
        seen.extend(records["video"])
    assert sorted(seen) == sorted(r["video"] for r in dataset.records)
    whole = PackedKeypoints(str(dest), "train")  # variable lengths: one video per batch
    first = next(iter(torch.utils.data.DataLoader(whole, batch_size=None)))
    assert tuple(first[0].shape) == whole[0][0].shape


def test_pack_help_says_the_destination_is_local(capsys):
    with pytest.raises(SystemExit):
        pack("--help")
    shown = " ".join(capsys.readouterr().out.split())
    assert "a local folder (memory mapping needs a local file)" in shown


def test_verify_reads_sign_by_sign_and_compares_the_combined_report(tmp_path, capsys):
    """pack verifies with verify's own check_output, sign by sign (on_sign), records not kept."""
    output = synthetic(tmp_path / "output")
    kept = check_output(str(output), Tally())
    handed: dict[str, int] = {}
    tally = Tally()
    assert (
        check_output(
            str(output), tally, on_sign=lambda label, rs, _: handed.update({label: len(rs)})
        )
        == {}
    )
    assert handed == {label: len(rs) for label, rs in kept.items()} and not tally.mismatches

    combined = output / "_reports" / "videos.jsonl"
    lines = combined.read_text().splitlines(keepends=True)
    combined.write_text("".join(lines[:-1]))
    expected = "differs from the per-sign reports (0 records only there, 1 missing)"
    assert expected in refusal(capsys, "--output_root", output, "--dest", tmp_path / "packed")
    assert cli.main(["verify", f"--output_root={output}"]) == 1
    assert expected in capsys.readouterr().out
    combined.write_text("".join([*lines[:-1], lines[0]]))
    assert cli.main(["verify", f"--output_root={output}"]) == 1
    assert "(1 records only there, 1 missing)" in capsys.readouterr().out
