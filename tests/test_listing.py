"""Listing a sign folder as real corpora leave them: links, loops and hidden files."""

from __future__ import annotations

import shutil
from pathlib import Path

from keypoints.backends import create_backend
from keypoints.extract import ExtractionSettings, extract_video
from transforms.files import open_for_reading
from transforms.listing import list_sign


def test_one_bad_entry_is_its_own_problem_and_hidden_files_are_no_part_of_the_corpus(
    tmp_path: Path, signer_frames, signer_video
):
    sign = tmp_path / "0001"
    good = sign / "good"
    good.mkdir(parents=True)
    for i, frame in enumerate(signer_frames[:2]):
        shutil.copy(frame, good / f"{i:05d}.jpg")
    (good / "._00001.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS metadata
    (good / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (sign / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (sign / "._clip.mp4").write_bytes(b"\x00\x05\x16\x07")
    shutil.copy(signer_video, sign / "clip.mp4")
    (sign / "self.mp4").symlink_to("self.mp4")  # a loop: stat() fails with ELOOP
    (sign / "gone.mp4").symlink_to("nowhere.mp4")

    listing, reason = list_sign(str(sign))
    assert reason == "" and listing.stray_files == []
    assert [v.name for v in listing.videos] == ["clip", "gone", "good", "self"]
    by_name = {v.name: v for v in listing.videos}
    assert [Path(p).name for p in by_name["good"].frame_paths] == ["00000.jpg", "00001.jpg"]
    assert by_name["good"].ignored == ()  # hidden files are not "not a frame file" problems

    backend = create_backend("holistic")
    try:
        results = {
            name: extract_video(video, backend, ExtractionSettings(), open_for_reading).report
            for name, video in by_name.items()
        }
    finally:
        backend.close()
    assert results["good"].status == "ok" and results["good"].frames == 2
    assert results["good"].problems == []
    assert results["clip"].status == "ok" and results["clip"].frames == 9
    assert results["self"].status == "failed"
    assert results["self"].reason.startswith("self.mp4: symbolic link loop")
    assert results["gone"].status == "failed"
    assert results["gone"].reason == "gone.mp4: broken symbolic link"
