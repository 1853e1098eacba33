"""Bad input beside good videos: one run over a corpus holding every kind, many checks.

The run is ``signkps local`` in a subprocess, as a user starts it, so the
checks read what a user sees: the summary, the reports, the npz files, and what
``signkps verify`` says about them.

Unreadable files: the tests usually run as root, and root reads a file whatever its
permission bits say. So as root the run starts under ``setpriv`` with the two
capabilities that let root ignore permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)
dropped from its bounding set: the kernel then refuses it ``chmod 000`` files with a real
EACCES, as it would any user. Where that is not possible those checks are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from keypoints import layout as L
from keypoints.backends import create_backend
from keypoints.corpus import KARSL_LAYOUT, SignKey, sign_folder
from keypoints.extract import extract_frames
from tests.conftest import REPO, SIGNKPS, build_corpus, read_rgb
from tests.support import npz_bytes

pytestmark = pytest.mark.slow

SIGN = SignKey("01", "train", 1)  # every kind of bad video beside good ones
ONLY_STRAYS = SignKey("01", "train", 2)  # a sign folder holding no video
MISSING = SignKey("01", "train", 3)  # no folder at all
EMPTY = SignKey("01", "train", 4)  # an empty folder
ALL_FAILED = SignKey("01", "train", 5)  # one video, which fails: its npz has no key
NOT_SELECTED = SignKey("01", "train", 6)  # outside the run's range (for verify)
SELECTION = ["--signers", "01", "--splits", "train", "--selected_signs_from=1"]


def drop_permission_override(scratch: Path) -> list[str] | None:
    """A command prefix under which root obeys permission bits; [] when not root."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    probe = scratch / "permission-probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        denied = subprocess.run([*prefix, "cat", str(probe)], capture_output=True, text=True)
    except OSError:  # no setpriv here
        return None
    # cat, not setpriv, must be what failed (a container may forbid dropping capabilities)
    return prefix if f"cat: {probe}: Permission denied" in denied.stderr else None


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG: ~100 kB on disk, width*height*3 bytes once decoded to colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def avi_of(frames: list[Path], path: Path) -> None:
    """A Motion-JPEG AVI: its header states the frame count, so truncation shows."""
    images = [cv2.imread(str(f)) for f in frames]
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, (width, height))
    for image in images:
        writer.write(image)
    writer.release()


def build_bad_corpus(root: Path, frames: list[Path], clip: Path, deny: bool) -> None:
    """The corpus: each video of SIGN is named for what it shows."""
    good = frames[:3]
    build_corpus(
        root,
        {
            SIGN: {
                "good": good,
                "clip": clip,
                "corrupt_jpeg": good,
                "zero_byte": good[:2],
                "with_notes": good[:2],
                "not_image": good,
                "all_bad": good[:2],
                "mixed_sizes": good,
                "huge": good[:1],
                "special": good[:1],
                "a": good[:2],
                "locked": good[:2],
                "locked_folder": good[:1],
            },
            ALL_FAILED: {},
            NOT_SELECTED: {"later": good[:1]},
        },
    )
    folder = Path(sign_folder(str(root), KARSL_LAYOUT, SIGN))
    data = good[2].read_bytes()
    damaged = bytearray(data)
    damaged[:64] = b"\x13" * 64  # the JPEG header is gone
    (folder / "corrupt_jpeg" / "00001.jpg").write_bytes(bytes(damaged))
    (folder / "corrupt_jpeg" / "00002.jpg").write_bytes(data[: len(data) // 2])  # truncated
    (folder / "zero_byte" / "00001.jpg").write_bytes(b"")
    (folder / "with_notes" / "notes.txt").write_text("filmed on a Tuesday")
    (folder / "with_notes" / "Thumbs.db").write_bytes(b"\x00" * 16)
    (folder / "not_image" / "00001.jpg").write_text("this is text, not a JPEG")
    for frame in (folder / "all_bad").iterdir():
        frame.write_bytes(b"")
    (folder / "empty").mkdir()
    (folder / "only_text").mkdir()
    (folder / "only_text" / "readme.txt").write_text("frames to follow")
    small = cv2.resize(cv2.imread(str(good[2])), (320, 180))
    cv2.imwrite(str(folder / "mixed_sizes" / "00002.jpg"), small)
    (folder / "huge" / "00001.png").write_bytes(huge_png(30000, 30000))
    os.mkfifo(folder / "special" / "00001.jpg")  # opening it would block for ever
    (folder / "special" / "00002.jpg").symlink_to(folder / "no-such-frame.jpg")
    os.mkdir(folder / "special" / "00003.jpg")  # a folder where a frame file belongs
    bgr = cv2.imread(str(good[0]))
    os.mkdir(folder / "png")
    cv2.imwrite(str(folder / "png" / "00000.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "png" / "00001.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    (folder / "truncated.mp4").write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    avi_of(good, folder / "cut.avi")
    cut = (folder / "cut.avi").read_bytes()
    (folder / "cut.avi").write_bytes(cut[: len(cut) * 6 // 10])
    (folder / "text.mp4").write_text("not a video at all")
    (folder / "empty_file.mp4").write_bytes(b"")
    shutil.copy(clip, folder / "a.mp4")  # clashes with the frame folder a/
    (folder / "stray.txt").write_text("a note beside the videos")
    shutil.copy(clip, folder / "locked_clip.mp4")
    if deny:
        (folder / "locked" / "00001.jpg").chmod(0)
        (folder / "locked_clip.mp4").chmod(0)
        (folder / "locked_folder").chmod(0)

    strays = Path(sign_folder(str(root), KARSL_LAYOUT, ONLY_STRAYS))
    strays.mkdir(parents=True)
    (strays / "index.html").write_text("<p>not a video</p>")
    Path(sign_folder(str(root), KARSL_LAYOUT, EMPTY)).mkdir(parents=True)
    failing = Path(sign_folder(str(root), KARSL_LAYOUT, ALL_FAILED))
    failing.mkdir(parents=True)
    (failing / "broken.mp4").write_text("nothing to see")


def run_cli(command: str, *args: str, prefix: list[str] | None = None):
    return subprocess.run(
        [*(prefix or []), SIGNKPS, command, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, signer_frames, signer_video):
    root = tmp_path_factory.mktemp("bad")
    prefix = drop_permission_override(root)
    corpus, output = root / "corpus", root / "output"
    build_bad_corpus(corpus, signer_frames, signer_video, deny=prefix is not None)
    done = run_cli(
        "local",
        f"--input_root={corpus}",
        f"--output_root={output}",
        *SELECTION,
        "--selected_signs_to=5",
        "--direct_num_workers=2",
        prefix=prefix,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (output / "_reports" / "videos.jsonl").open()]
    by_video = {(r["sign"], r["source"].rsplit("/", 1)[-1]): r for r in records}
    yield {
        "corpus": corpus,
        "output": output,
        "summary": done.stdout,
        "log": done.stderr,
        "records": by_video,
        "denied": prefix is not None,
        "prefix": prefix,
    }
    for path in (corpus / "01" / "01" / "train" / "0001").rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755)  # let pytest clean up


def record(bad_run, entry: str, sign: int = 1) -> dict:
    return bad_run["records"][sign, entry]


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_good_videos_beside_bad_ones_are_written_exactly(bad_run, signer_frames):
    arrays = load(bad_run["output"] / "01-train" / "0001.npz")
    expected_keys = {"good", "clip", "corrupt_jpeg", "zero_byte", "with_notes", "not_image",
                     "huge", "special", "png", "locked"}  # fmt: skip
    if not bad_run["denied"]:
        expected_keys |= {"locked_folder", "locked_clip"}  # root read them after all
    assert set(arrays) == expected_keys
    backend = create_backend("holistic")
    try:
        rgb = read_rgb(signer_frames[:3])
        good = L.select_184(extract_frames(rgb, backend))
        first_two = L.select_184(extract_frames(rgb[:2], backend))
        first_and_third = L.select_184(extract_frames([rgb[0], rgb[2]], backend))
    finally:
        backend.close()
    np.testing.assert_array_equal(arrays["good"], good)
    assert arrays["clip"].shape == (9, 184, 4)
    # A frame left out is skipped: the video is its readable frames, in order.
    np.testing.assert_array_equal(arrays["corrupt_jpeg"], good[:1])
    np.testing.assert_array_equal(arrays["not_image"], first_and_third)
    np.testing.assert_array_equal(arrays["zero_byte"], good[:1])
    np.testing.assert_array_equal(arrays["with_notes"], first_two)
    # A 4-channel PNG is its colour picture: the keypoints of the same pixels as JPEG.
    np.testing.assert_array_equal(arrays["png"][0], good[0])
    assert arrays["png"].shape == (2, 184, 4)
    assert record(bad_run, "png")["coverage"]["pose"] == 1.0  # the greyscale frame too


def test_each_bad_frame_is_named_with_its_problem(bad_run):
    corrupt = record(bad_run, "corrupt_jpeg")
    assert corrupt["status"] == "ok" and corrupt["frames"] == 1
    assert corrupt["unreadable_frames"] == 2
    assert corrupt["problems"] == [
        "00001.jpg: not a decodable image (damaged, truncated, or not an image)",
        "00002.jpg: not a decodable image (damaged, truncated, or not an image)",
    ]
    assert record(bad_run, "zero_byte")["problems"] == ["00001.jpg: empty file (0 bytes)"]
    assert record(bad_run, "not_image")["problems"] == [
        "00001.jpg: not a decodable image (damaged, truncated, or not an image)"
    ]
    notes = record(bad_run, "with_notes")
    assert notes["frames"] == 2 and notes["ignored_files"] == 2
    assert notes["problems"] == [
        "Thumbs.db: not a frame file, ignored",
        "notes.txt: not a frame file, ignored",
    ]
    huge = record(bad_run, "huge")
    assert huge["frames"] == 1 and huge["problems"] == [
        "00001.png: 30000x30000 is 900,000,000 pixels, over the limit of 40,000,000 pixels "
        "per frame; not decoded"
    ]
    special = record(bad_run, "special")
    assert special["frames"] == 1 and special["problems"] == [
        "00001.jpg: not a regular file (a named pipe, socket or device)",
        "00002.jpg: broken symbolic link",
        "00003.jpg: a folder, not a file",
    ]


def test_each_failed_video_says_which_file_and_why(bad_run):
    reasons = {
        entry: r["reason"]
        for (sign, entry), r in bad_run["records"].items()
        if sign == 1 and r["status"] == "failed"
    }
    expected = {
        "empty": "empty folder: no frame files (.bmp .jpeg .jpg .png)",
        "only_text": "no frame files (.bmp .jpeg .jpg .png) in the folder, only readme.txt",
        "all_bad": "no readable frame (all 2 unusable: 00000.jpg: empty file (0 bytes))",
        "mixed_sizes": "frames differ in size: 00000.jpg is 640x360, 00002.jpg is 320x180; "
        "all frames of a video must have one size",
        "truncated.mp4": "truncated.mp4: not a readable video file "
        "(not a video, or truncated or damaged: moov atom not found)",
        "cut.avi": "cut.avi: truncated or damaged: the demuxer marks 1 packet(s) corrupt "
        "(2 frames decoded)",
        "text.mp4": "text.mp4: not a readable video file "
        "(not a video, or truncated or damaged: moov atom not found)",
        "empty_file.mp4": "empty_file.mp4: empty file (0 bytes)",
        "a": "name clash: a.mp4 and a/ would both be stored as video 'a'; "
        "neither is written: rename or remove all but one",
        "a.mp4": "name clash: a.mp4 and a/ would both be stored as video 'a'; "
        "neither is written: rename or remove all but one",
    }
    if bad_run["denied"]:
        expected["locked_clip.mp4"] = "locked_clip.mp4: cannot be read (Permission denied)"
        expected["locked_folder"] = "the frame folder cannot be listed (Permission denied)"
    assert reasons == expected
    npz = load(bad_run["output"] / "01-train" / "0005.npz")
    assert npz == {}  # the sign's one video failed: an npz with no key, and its record
    assert record(bad_run, "broken.mp4", sign=5)["status"] == "failed"


def test_unreadable_frame_is_reported(bad_run):
    if not bad_run["denied"]:
        pytest.skip("cannot make a file unreadable here (root without setpriv)")
    locked = record(bad_run, "locked")
    assert locked["status"] == "ok" and locked["frames"] == 1
    assert locked["problems"] == ["00001.jpg: cannot be read (Permission denied)"]


def test_summary_and_run_record_list_what_is_missing(bad_run):
    summary = bad_run["summary"]
    corpus = bad_run["corpus"]
    assert "signs   written 2, skipped (already done) 0, without videos 3" in summary
    assert (
        "  NO VIDEOS 01-train/0002: no videos: the sign folder holds only files that are not "
        f"videos (index.html) ({corpus}/01/01/train/0002)"
    ) in summary
    assert f"  NO VIDEOS 01-train/0003: sign folder does not exist ({corpus}/01/01/train/0003)" in (
        summary
    )
    assert "  NO VIDEOS 01-train/0004: no files in the sign folder" in summary
    assert "  FAILED  01-train/0001 mixed_sizes: frames differ in size" in summary
    assert (
        "  PARTIAL 01-train/0001 corrupt_jpeg: 2 frames left out, 1 written; first: 00001.jpg"
        in (summary)
    )
    assert "2 files in sign folders that are not videos" in summary
    assert "stray.txt" in bad_run["log"]  # the worker names it
    run_record = json.loads((bad_run["output"] / "_reports" / "run.json").read_text())
    assert [s["sign"] for s in run_record["signs_without_videos"]] == [
        "01-train/0002",
        "01-train/0003",
        "01-train/0004",
    ]
    assert run_record["signs_without_videos"][1]["reason"] == "sign folder does not exist"
    total = len([r for r in bad_run["records"].values()])
    assert run_record["output"]["videos_ok"] + run_record["output"]["videos_failed"] == total


def test_every_video_found_is_accounted_for(bad_run):
    output, corpus = bad_run["output"], bad_run["corpus"]
    assert not list(output.rglob("*.tmp"))
    checked = run_cli(
        "verify",
        f"--output_root={output}",
        f"--input_root={corpus}",
        *SELECTION,
        "--selected_signs_to=5",
        prefix=bad_run["prefix"],
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    n = len(bad_run["records"])
    assert f"signkps verify: OK, every video accounted for (2 signs, {n} videos" in checked.stdout
    assert f"{n} videos in the selected input folders" in checked.stdout


def test_verify_lists_each_mismatch(bad_run, tmp_path):
    output = tmp_path / "output"
    shutil.copytree(bad_run["output"], output)
    npz = output / "01-train" / "0001.npz"
    arrays = load(npz)
    del arrays["good"]
    arrays["clip"] = arrays["clip"][:5]
    npz.write_bytes(npz_bytes(arrays))
    (output / "01-train" / ".0005.npz.0123.tmp").write_bytes(b"PK")
    (output / "_reports" / "videos" / "01-train" / "0005.jsonl").unlink()
    checked = run_cli(
        "verify",
        f"--output_root={output}",
        f"--input_root={bad_run['corpus']}",
        *SELECTION,
        "--selected_signs_to=6",
        prefix=bad_run["prefix"],
    )
    assert checked.returncode == 1
    lines = checked.stdout.splitlines()
    for expected in (
        "MISMATCH 01-train/0001: video 'good' is ok in the report, not in the npz",
        "MISMATCH 01-train/0001: video 'clip' has 5 frames in the npz, 9 in the report",
        f"MISMATCH 01-train/0005: an npz but no report ({output}/01-train/0005.npz)",
        f"MISMATCH {output}/01-train/.0005.npz.0123.tmp: temporary file left by an interrupted "
        "write",
        "MISMATCH 01-train/0006: 1 videos in "
        f"{bad_run['corpus']}/01/01/train/0006, but no report of them (not processed)",
    ):
        assert expected in lines, checked.stdout
    assert lines[-1].startswith("signkps verify: ") and "mismatches" in lines[-1]
