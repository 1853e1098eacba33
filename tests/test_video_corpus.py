"""The video corpus of tests/video_corpus.py is what it says it is (this tests the corpus,
not the pipeline)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.video_corpus import (
    PORTRAIT,
    SPARSE_SIZE,
    VideoCase,
    appledouble_bytes,
    cached_video_corpus,
    display_transform,
    ffmpeg_first_frame,
    ffmpeg_stream_info,
    mp4_boxes,
    mp4_edit_lists,
    place_case,
    png_header,
)

Corpus = dict[str, VideoCase]


@pytest.fixture(scope="session")
def corpus(video_corpus: Corpus) -> Corpus:
    return video_corpus


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two pictures of one size, 0..255."""
    assert a.size == b.size
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def test_a_second_call_reads_the_same_corpus_back(corpus: Corpus, assets: Path) -> None:
    root = next(iter(corpus.values())).path.parents[1]
    again = cached_video_corpus(root, assets / "media" / "signer_sample_frames")
    assert again == corpus
    assert not any(p.name.startswith(".building") for p in root.iterdir())


def test_intact_files_decode_whole_without_complaint(corpus: Corpus) -> None:
    intact = [c for c in corpus.values() if c.kind == "file" and c.intact]
    assert len(intact) == 12
    for case in intact:
        assert case.decoding is not None
        assert case.decoding.error is None, case.name
        assert case.decoding.logs == (), case.name
        assert case.decoded_frames == case.decoding.frames_skipping_errors, case.name
    assert sum(c.decoded_frames or c.frame_images or 0 for c in corpus.values()) < 800


def test_edit_list_hides_samples_the_file_holds(corpus: Corpus) -> None:
    case = corpus["edit_list.mp4"]
    assert (case.declared_frames, case.decoded_frames) == (64, 62)
    # plain.mp4's edit list only skips the B-frames' composition delay (2 frames of 512);
    # this one starts 2 frames further into the media.
    [[(_, plain_start)]] = mp4_edit_lists(corpus["plain.mp4"].path.read_bytes())
    [[(_, start)]] = mp4_edit_lists(case.path.read_bytes())
    assert (start - plain_start) // 512 == 2
    assert case.frame_times is not None and case.frame_times[0] == 0.0


def test_stream_copy_trim_declares_more_than_it_shows(corpus: Corpus) -> None:
    case = corpus["trim_copy.mp4"]
    assert case.declared_frames == 48
    assert case.decoded_frames == 35
    assert corpus["plain.mp4"].declared_frames == corpus["plain.mp4"].decoded_frames == 48


def test_files_with_audio(corpus: Corpus) -> None:
    for name, codecs in [
        ("mkv_audio.mkv", ("h264", "aac")),
        ("webm_audio_longer.webm", ("vp9", "opus")),
        ("rotated_phone.mp4", ("h264", "aac")),
        ("live.webm", ("vp8", "opus")),
    ]:
        with av.open(str(corpus[name].path)) as container:
            assert tuple(s.codec_context.name for s in container.streams) == codecs, name
    longer = corpus["webm_audio_longer.webm"].decoding
    assert longer is not None and longer.last_frame_end == 1.92
    assert longer.container_duration is not None and longer.container_duration > 2.9


def test_vfr_gaps_are_not_uniform(corpus: Corpus) -> None:
    case = corpus["vfr.mkv"]
    assert case.frame_times is not None and case.decoded_frames == 36
    gaps = {round(b - a, 3) for a, b in zip(case.frame_times, case.frame_times[1:], strict=False)}
    assert gaps == {0.04, 0.2}
    assert case.decoding is not None and case.decoding.average_rate == "25"


def test_av1(corpus: Corpus) -> None:
    with av.open(str(corpus["av1.mp4"].path)) as container:
        assert container.streams.video[0].codec_context.name in ("libdav1d", "av1", "libaom-av1")
    assert corpus["av1.mp4"].decoded_frames == 48


def test_display_matrices(corpus: Corpus) -> None:
    expect = {
        # name: (clockwise, mirrored, PyAV's frame.rotation, shown as)
        "rotated_phone.mp4": (90, False, -90, (360, 640)),
        "rotated_180.mp4": (180, False, -180, (640, 360)),
        "rotated_270.mp4": (270, False, 90, (360, 640)),
        "hflip.mp4": (0, True, -180, (640, 360)),  # frame.rotation mistakes a mirror for 180
        "plain.mp4": (0, False, 0, (640, 360)),
    }
    for name, (clockwise, mirrored, pyav, upright) in expect.items():
        case = corpus[name]
        assert case.decoding is not None
        assert (case.rotation, case.hflip, case.decoding.pyav_rotation) == (
            clockwise,
            mirrored,
            pyav,
        ), name
        assert (case.stored_size, case.upright_size) == ((640, 360), upright), name
    # What ffprobe would say (ffmpeg -i): it too calls a mirror a turn of 180 degrees.
    for name, degrees in [
        ("rotated_phone.mp4", "-90.00"),
        ("rotated_180.mp4", "-180.00"),
        ("rotated_270.mp4", "90.00"),
        ("hflip.mp4", "-180.00"),
    ]:
        info = ffmpeg_stream_info(corpus[name].path)
        assert f"Display Matrix: rotation of {degrees} degrees" in info, name
    assert "Display Matrix" not in ffmpeg_stream_info(corpus["plain.mp4"].path)
    assert display_transform((0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)) == (90, False)
    assert display_transform((65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30)) == (180, True)


def test_a_player_shows_the_signer_upright(corpus: Corpus) -> None:
    plain = corpus["plain.mp4"].path
    landscape = ffmpeg_first_frame(plain)
    portrait = ffmpeg_first_frame(plain, video_filter=PORTRAIT)
    for name, upright in [
        ("rotated_phone.mp4", portrait),
        ("rotated_270.mp4", portrait),
        ("rotated_180.mp4", landscape),
        ("hflip.mp4", landscape),
    ]:
        path = corpus[name].path
        shown = ffmpeg_first_frame(path)
        assert shown.size == corpus[name].upright_size
        assert difference(shown, upright) < 4, name  # two H.264 encodings apart
        stored = ffmpeg_first_frame(path, autorotate=False)
        if stored.size == upright.size:
            assert difference(stored, upright) > 10, name


def test_live_webm_has_no_duration_nor_index(corpus: Corpus) -> None:
    case = corpus["live.webm"]
    with av.open(str(case.path)) as container:
        assert container.duration is None
        assert container.streams.video[0].frames == 0
    assert b"\x1c\x53\xbb\x6b" not in case.path.read_bytes()  # Matroska's Cues element
    assert case.decoded_frames == 48
    assert b"\x1c\x53\xbb\x6b" in corpus["webm_audio_longer.webm"].path.read_bytes()


def test_cut_files_are_prefixes_of_whole_ones(corpus: Corpus) -> None:
    for name, percent in [("cut50_faststart.mp4", 50), ("cut90_faststart.mp4", 90)]:
        case = corpus[name]
        assert case.truncated_from is not None and not case.intact
        assert case.path.stat().st_size == case.truncated_from * percent // 100
        top = [path for path, _, _ in mp4_boxes(case.path.read_bytes()) if "/" not in path]
        assert top.index("moov") < top.index("mdat"), name  # faststart: the header survives
        assert case.declared_frames == 48
        assert case.decoded_frames is not None and case.decoded_frames < 48 * percent // 100
        assert case.decoding is not None and "InvalidDataError" in (case.decoding.error or "")
    live = corpus["cut60_live.webm"]
    whole = corpus["live.webm"].path.read_bytes()
    assert live.truncated_from == len(whole)
    assert whole.startswith(live.path.read_bytes())
    assert live.path.stat().st_size == len(whole) * 60 // 100
    assert live.decoded_frames is not None and 0 < live.decoded_frames < 48
    assert live.decoding is not None and live.decoding.error is None
    assert any("File ended prematurely" in log for log in live.decoding.logs)


def test_wide_frame(corpus: Corpus) -> None:
    folder = corpus["wide_frame"].path
    wide = folder / "00004.png"
    with Image.open(wide) as image:
        assert image.size == (33_000, 10)
    assert wide.stat().st_size < 10_000
    assert sorted(p.name for p in folder.iterdir()) == [
        *(f"0000{i}.jpg" for i in range(4)),
        "00004.png",
        *(f"0000{i}.jpg" for i in range(5, 9)),
    ]


def test_huge_sparse_frame_takes_no_disk(corpus: Corpus, tmp_path: Path) -> None:
    huge = corpus["huge_sparse"].path / "00005.png"
    stat = huge.stat()
    assert stat.st_size == SPARSE_SIZE == 64 << 30
    assert stat.st_blocks * 512 < 1 << 20
    with open(huge, "rb") as f:
        assert f.read(64) == png_header(640, 360) + bytes(64 - len(png_header(640, 360)))
    assert len(list(huge.parent.iterdir())) == 9
    copy = place_case(corpus["huge_sparse"], tmp_path / "sign") / "00005.png"
    assert copy.stat().st_size == SPARSE_SIZE and copy.stat().st_blocks * 512 < 1 << 20


def test_appledouble_junk(corpus: Corpus) -> None:
    folder = corpus["appledouble"].path
    junk = folder / "._00001.png"
    assert junk.read_bytes() == appledouble_bytes() and junk.stat().st_size == 4096
    assert junk.read_bytes()[:4] == b"\x00\x05\x16\x07"
    with pytest.raises(OSError):
        Image.open(junk)
    assert (folder / ".DS_Store").read_bytes()[4:8] == b"Bud1"
    frames = sorted(folder.glob("0*.png"))
    assert len(frames) == 9
    with Image.open(frames[0]) as image:
        assert image.size == (640, 360)


def test_symlink_loop(corpus: Corpus, tmp_path: Path) -> None:
    for link in (corpus["self.mp4"].path, place_case(corpus["self.mp4"], tmp_path)):
        assert link.is_symlink() and os.readlink(link) == "self.mp4"
        with pytest.raises(OSError) as raised:
            link.stat()
        assert raised.value.errno == errno.ELOOP


def test_place_case_copies_a_file(corpus: Corpus, tmp_path: Path) -> None:
    copy = place_case(corpus["edit_list.mp4"], tmp_path / "0001", "signer")
    assert copy == tmp_path / "0001" / "signer.mp4"
    assert copy.read_bytes() == corpus["edit_list.mp4"].path.read_bytes()
