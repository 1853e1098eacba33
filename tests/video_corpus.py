"""Real-world video files, made from the shared footage of a real signer, for tests.

The pipeline meets files made by phones, webcams, browsers, YouTube downloaders and
trimming tools, and each of these makes its files in its own way. This module makes one
small file (or frame folder) of each kind from the 9 real frames in
``../shared/assets/media/signer_sample_frames`` (640x360), with the ffmpeg binary of the
``imageio-ffmpeg`` wheel (ffmpeg 9.0.2: libx264, libvpx, libvpx-vp9, libaom-av1, libopus,
aac), and measures with PyAV (``av``, whose own FFmpeg libraries are 8.1) what each holds:
the ground truth a test compares the pipeline against.

The base clip: the 9 frames looped forwards then backwards (0, 1, ..., 8, 7, ..., 1, 0, ...),
a smooth 16-frame cycle, 48 frames (64 for the edit list) at 25 fps, 640x360, so that
MediaPipe finds the signer in every frame. All of the corpus is under 700 frames: each
costs MediaPipe some 40 ms.

Intact files (a player plays them whole; the pipeline must keep every frame):

``plain.mp4``
    The control: H.264 (libx264, B-frames, a keyframe every 25 frames) in mp4, nothing odd.
``edit_list.mp4``
    An mp4 whose edit list (``elst``) starts 2 frames into its media: 64 samples, of which
    a player shows 62 (PyAV ``stream.frames`` says 64 and decoding gives 62). What a
    stream-copy trim a few frames in writes (QuickTime's and the iPhone Photos app's Trim,
    LosslessCut, ``ffmpeg -ss 0.08 -i in.mp4 -c copy``): the samples from the keyframe
    before the cut stay in the file, and the edit list hides them.
``trim_copy.mp4``
    ``ffmpeg -ss 0.5 -i plain.mp4 -c copy``: the same, half a second in; 48 samples
    declared, 35 shown.
``mkv_audio.mkv``
    H.264 and an AAC audio track (a sine) in Matroska, ``-shortest``: a YouTube download
    that yt-dlp merged into mkv (``--merge-output-format mkv``). Matroska declares no frame
    count (``stream.frames`` is 0) and no stream duration (only a ``DURATION`` tag).
``webm_audio_longer.webm``
    VP9 and Opus in WebM, the audio 3 s and the video 1.92 s: a YouTube download whose
    audio outlasts its picture; ``container.duration`` is the audio's.
``vfr.mkv``
    Variable frame rate: 4 frames of every 16 dropped (``select``) and the timestamps of
    the rest kept (``-fps_mode vfr``), so the gaps are 40 ms and, once a cycle, 200 ms, while
    the stream still says 25 fps. What phones (low light), webcams and screen recorders make.
``av1.mp4``
    AV1 (libaom-av1, ``-usage realtime -cpu-used 8``) in mp4: what YouTube serves today.
``rotated_phone.mp4``, ``rotated_180.mp4``, ``rotated_270.mp4``, ``hflip.mp4``
    A phone's recording: the frames stored as the sensor saw them and a display matrix that
    tells players how to turn them upright, added by stream copy
    (``ffmpeg -display_rotation D -i stored.mp4 -c copy``; ffmpeg's D is counterclockwise).
    The stored frames are the upright picture turned the other way, so what a player shows
    is the signer upright. ``rotated_phone.mp4`` is a phone held upright (portrait): stored
    640x360, shown 360x640 after a 90 degree clockwise turn (ffprobe: "rotation of -90.00
    degrees", the old ``rotate=90`` tag), with AAC audio, like an iPhone's or Android's
    file; its upright picture is the signer cropped to 360x360 and padded to 360x640 with
    the background's grey. ``rotated_270.mp4`` is the phone held upside down (270 clockwise,
    ffprobe: "rotation of 90.00 degrees"), ``rotated_180.mp4`` held landscape the other way
    up (shown 640x360), ``hflip.mp4`` a front camera's mirrored picture (``-display_hflip``;
    ffmpeg 9 supports it): the matrix mirrors the stored frames back.
``live.webm``
    A recording made the way a browser's MediaRecorder writes it (VP8 and Opus in WebM,
    written as it is recorded): ffmpeg writes WebM to a pipe (``-f webm pipe:1``), so it
    can never seek back to fill in the duration or the index (Cues). ``container.duration``
    is None, as it is for files from Chrome and Firefox.

Truncated files (a copy or an upload that stopped; the pipeline must fail or flag them):

``cut50_faststart.mp4``, ``cut90_faststart.mp4``
    An mp4 written with ``-movflags +faststart`` (its index, ``moov``, before the media, as
    web uploads and many apps write it), its first 50% or 90% of bytes kept. The header is
    whole, so the file opens and declares 48 frames; decoding stops where the data ends.
``cut60_live.webm``
    The first 60% of the bytes of ``live.webm``. It declares neither a duration nor a frame
    count, so nothing in the file says frames are missing: FFmpeg only logs "File ended
    prematurely".

Frame folders (a folder of image files is one video):

``wide_frame/``
    8 of the real 640x360 JPEG frames and, in 00004's place, ``00004.png``, a 33000x10 PNG
    (a few hundred bytes; 330,000 pixels, under any pixel limit): a filmstrip or panorama
    strip exported into the folder by mistake.
``huge_sparse/``
    8 real frames and ``00005.png``: a PNG signature and header (IHDR, 640x360) and then a
    hole to 64 GiB (``os.truncate``): a file that a download tool (BitTorrent clients, aria2)
    preallocated and never filled. It takes no disk space; reading it takes forever. Copy it
    with :func:`place_case` only: ``shutil.copy`` writes all 64 GiB.
``appledouble/``
    9 real frames as PNG and what macOS leaves on a FAT/exFAT drive, a network share or in a
    zip: ``._00001.png`` (AppleDouble: 4096 bytes of Finder information, not an image, but
    named like one) and ``.DS_Store``.

A symbolic link loop:

``self.mp4``
    A link to itself (``self.mp4 -> self.mp4``): opening it fails with ELOOP ("Too many
    levels of symbolic links"). A sync tool or a mistaken ``ln -s`` makes these.

Ground truth, measured with PyAV at build time (:func:`decode_video`): the frames decoded
(before the first error, for a truncated file), their times, the sizes, the display matrix.
PyAV 18 has no stream-level side data: the display matrix is read from the first decoded
frame (``frame.side_data``; FFmpeg copies the container's matrix onto each frame).
``frame.rotation`` gives the counterclockwise angle in [-180, 180] and says -180 for a
mirror (``hflip.mp4``), so flips are read from the matrix itself (:func:`display_transform`).

Every build gives the same bytes (``-fflags +bitexact``, deterministic encoder settings).
:func:`cached_video_corpus` builds the corpus once into a folder named after ffmpeg, PyAV
and this module's recipe; building takes 2.5-5 s on 2 cores. Keep that folder out of the
repository (``tmp_path_factory``, not the pytest cache): ``huge_sparse`` would go into a
Docker build context or a backup as 64 GiB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import math
import os
import shlex
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging
import imageio_ffmpeg
from av.sidedata.sidedata import Type as SideDataType
from PIL import Image

FPS = 25
# 0, 1, ..., 8, 7, ..., 1: looped, the signer moves smoothly back and forth.
CYCLE = (*range(9), *range(7, 0, -1))
FRAMES = 48  # 3 cycles, 1.92 s
EDIT_LIST_FRAMES = 64
SPARSE_SIZE = 64 << 30
# The signer stands in x 155..465 of the 640x360 frames: a phone held upright frames him
# like this crop, padded above and below with the background's grey.
PORTRAIT = "crop=360:360:140:0,pad=360:640:0:140:color=0x262626"
H264 = (
    *("-c:v", "libx264", "-preset", "veryfast", "-crf", "23"),
    *("-g", "25", "-bf", "2", "-pix_fmt", "yuv420p"),
)
SINE = ("-f", "lavfi", "-i")


def _sine(seconds: float) -> str:
    return f"sine=frequency=440:sample_rate=48000:duration={seconds}"


@dataclass(frozen=True)
class Decoding:
    """What PyAV (and FFmpeg's log) reports while decoding a file's first video stream."""

    frames: int  # frames decoded before the first exception (all of them when none)
    error: str | None  # "ExceptionType: message" of the exception decoding ended with
    logs: tuple[str, ...]  # FFmpeg's messages at warning level and above: "level [who] text"
    # Frames a decoder that skips the packets it cannot decode, and then drains, gets.
    frames_skipping_errors: int
    time_base: str  # the video stream's, e.g. "1/12800"
    container_duration: float | None  # seconds (container.duration); None when unknown
    stream_duration: float | None  # seconds (stream.duration * time_base); None when unknown
    declared_frames: int  # stream.frames; 0 when the container does not say
    average_rate: str | None  # stream.average_rate
    first_frame_time: float | None  # seconds
    last_frame_end: float | None  # the last frame's pts + duration, in seconds
    frame_times: tuple[float, ...]  # pts * time_base of each decoded frame, seconds
    stored_size: tuple[int, int] | None  # (width, height) of the decoded frames
    display_matrix: tuple[int, ...] | None  # the 9 int32 of the first frame's matrix
    pyav_rotation: int  # frame.rotation of the first frame (counterclockwise, -180..180)


@dataclass(frozen=True)
class VideoCase:
    name: str  # file or folder name
    path: Path
    kind: str  # "file", "folder" or "symlink"
    intact: bool  # a player plays it whole (every frame of it must be kept)
    decoded_frames: int | None  # frames PyAV decodes (before an error); None for folders/loops
    upright_size: tuple[int, int] | None  # (width, height) as a player shows it
    stored_size: tuple[int, int] | None  # (width, height) of the decoded frames
    rotation: int  # degrees clockwise a player turns the stored frames (0, 90, 180, 270)
    hflip: bool  # a player mirrors the stored frames left to right (before turning them)
    declared_frames: int | None  # PyAV stream.frames (0 when the container does not say)
    frame_times: tuple[float, ...] | None  # seconds, of each decoded frame
    # A folder's frame files (a broken one counted; junk such as ._ files not): its length.
    frame_images: int | None
    truncated_from: int | None  # bytes of the whole file a truncated one was cut from
    decoding: Decoding | None  # what decoding it with PyAV reports; None for folders/loops
    recipe: tuple[str, ...]  # how it was made: commands, run in the corpus folder
    notes: str  # what real-world file it stands for, and what is special about it


def ffmpeg_exe() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def _run_ffmpeg(cwd: Path, args: Sequence[str], stdout: Path | None = None) -> str:
    """Run ffmpeg in ``cwd``; returns the command as a shell line (ffmpeg ...)."""
    argv = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(cwd / stdout, "wb")) if stdout else subprocess.DEVNULL
        done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.PIPE, check=False)
    line = shlex.join(["ffmpeg", *args]) + (f" > {stdout}" if stdout else "")
    if done.returncode:
        raise RuntimeError(f"{line} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return line


# The display matrix ------------------------------------------------------------------------


def display_transform(matrix: Sequence[int] | None) -> tuple[int, bool]:
    """(degrees clockwise, mirrored) of the turn a player applies for a display matrix.

    The matrix is FFmpeg's (AV_PKT_DATA_DISPLAYMATRIX: 9 int32, a b u / c d v / x y w, the
    2x2 part in 16.16 fixed point). A mirrored matrix (negative determinant) is read as
    "mirror left to right, then turn": a pure mirror is (0, True).
    """
    if matrix is None:
        return 0, False
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
    mirrored = a * d - b * c < 0
    if mirrored:
        a, c = -a, -c
    degrees = math.degrees(math.atan2(b, a))
    return round(degrees / 90) * 90 % 360, mirrored


def _first_frame_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    # PyAV 18's stubs type side data as a mapping of str to object; it is a buffer.
    side: Any = frame.side_data.get(SideDataType.DISPLAYMATRIX.name)
    return None if side is None else struct.unpack("9i", bytes(side))


# Ground truth ------------------------------------------------------------------------------


@contextlib.contextmanager
def _ffmpeg_log() -> Iterator[list[tuple[int, str, str]]]:
    """FFmpeg's log messages of this thread while in the block (logging set to VERBOSE)."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.VERBOSE)
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_level(previous)


_LEVEL_NAMES = {
    av.logging.PANIC: "panic",
    av.logging.FATAL: "fatal",
    av.logging.ERROR: "error",
    av.logging.WARNING: "warning",
}


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return round(float(value * time_base), 6)


def _count_skipping_errors(path: Path) -> int:
    """Frames decoded when the packets that fail are skipped and the decoder drained."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        with contextlib.suppress(av.FFmpegError):
            for packet in container.demux(stream):
                with contextlib.suppress(av.FFmpegError):
                    count += len(stream.decode(packet))
        # demux ends with an empty packet that drains the decoder; drain again in case the
        # demuxer stopped on an error first.
        with contextlib.suppress(av.FFmpegError):
            count += len(stream.decode(None))
    return count


def decode_video(path: Path) -> Decoding:
    """Decode the first video stream of ``path`` with PyAV, one thread, the way a reader does.

    An exception ends decoding, as it ends a plain ``for frame in container.decode(...)``;
    it is recorded with the frames decoded before it. Raises what ``av.open`` raises.
    """
    frame_times: list[float] = []
    error = None
    matrix: tuple[int, ...] | None = None
    stored_size = None
    rotation = 0
    last_end = None
    with _ffmpeg_log() as logs:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            time_base = stream.time_base
            if time_base is None:
                raise ValueError(f"{path.name}: a video stream without a time base")
            try:
                for frame in container.decode(stream):
                    if stored_size is None:
                        stored_size = (frame.width, frame.height)
                        matrix = _first_frame_matrix(frame)
                        rotation = frame.rotation
                    if frame.pts is None:
                        raise ValueError(f"{path.name}: a frame without a timestamp")
                    frame_times.append(round(float(frame.pts * time_base), 6))
                    last_end = _seconds(frame.pts + (frame.duration or 0), time_base)
            except av.FFmpegError as e:
                error = f"{type(e).__name__}: {e}"
            duration = container.duration
            container_duration = None if duration is None else round(duration / 1e6, 6)
            stream_duration = _seconds(stream.duration, time_base)
            declared = stream.frames
            rate = str(stream.average_rate) if stream.average_rate else None
        messages = tuple(
            f"{_LEVEL_NAMES.get(level, level)} [{who}] {text.strip()}"
            for level, who, text in logs
            if level <= av.logging.WARNING
        )
    return Decoding(
        frames=len(frame_times),
        error=error,
        logs=messages,
        frames_skipping_errors=_count_skipping_errors(path),
        first_frame_time=frame_times[0] if frame_times else None,
        last_frame_end=last_end,
        frame_times=tuple(frame_times),
        stored_size=stored_size,
        display_matrix=matrix,
        pyav_rotation=rotation,
        time_base=str(time_base),
        container_duration=container_duration,
        stream_duration=stream_duration,
        declared_frames=declared,
        average_rate=rate,
    )


def _file_case(
    dest: Path,
    name: str,
    recipe: Sequence[str],
    notes: str,
    intact: bool = True,
    truncated_from: int | None = None,
) -> VideoCase:
    path = dest / name
    decoding = decode_video(path)
    rotation, hflip = display_transform(decoding.display_matrix)
    stored = decoding.stored_size
    upright = None
    if stored is not None:
        upright = stored[::-1] if rotation in (90, 270) else stored
    return VideoCase(
        name=name,
        path=path,
        kind="file",
        intact=intact,
        decoded_frames=decoding.frames,
        upright_size=upright,
        stored_size=stored,
        rotation=rotation,
        hflip=hflip,
        declared_frames=decoding.declared_frames,
        frame_times=decoding.frame_times,
        frame_images=None,
        truncated_from=truncated_from,
        decoding=decoding,
        recipe=tuple(recipe),
        notes=notes,
    )


def _other_case(
    dest: Path,
    name: str,
    kind: str,
    intact: bool,
    recipe: Sequence[str],
    notes: str,
    frame_images: int | None = None,
) -> VideoCase:
    return VideoCase(
        name=name,
        path=dest / name,
        kind=kind,
        intact=intact,
        decoded_frames=None,
        upright_size=None,
        stored_size=None,
        rotation=0,
        hflip=False,
        declared_frames=None,
        frame_times=None,
        frame_images=frame_images,
        truncated_from=None,
        decoding=None,
        recipe=tuple(recipe),
        notes=notes,
    )


# Frame-folder pieces -----------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk (8-bit RGB), and nothing after them."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)


def appledouble_bytes() -> bytes:
    """A 4096-byte AppleDouble file, as macOS writes ``._name`` beside ``name`` off HFS/APFS."""
    entries = 2
    header = struct.pack(">II16sH", 0x00051607, 0x00020000, b"Mac OS X        ", entries)
    finder_offset = len(header) + 12 * entries
    fork = b"This resource fork intentionally left blank   "
    fork_offset = 4096 - 286
    header += struct.pack(">III", 9, finder_offset, fork_offset - finder_offset)  # Finder info
    header += struct.pack(">III", 2, fork_offset, 286)  # resource fork
    finder = b"\0" * 32 + b"\0\0ATTR" + b"\0" * 20 + b"com.apple.quarantine\0" + b"0083;6553f2a0;"
    body = (header + finder).ljust(fork_offset, b"\0")
    return (body + b"\0\0\1\0" + fork).ljust(4096, b"\0")


def ds_store_bytes() -> bytes:
    """The start of a Finder ``.DS_Store`` (the "Bud1" buddy allocator), 6148 bytes."""
    return (b"\0\0\0\1Bud1" + b"\0\0\x10\0" + b"\0" * 20).ljust(6148, b"\0")


def _make_sparse(path: Path, head: bytes, size: int) -> None:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    used = os.stat(path).st_blocks * 512
    if used > 64 << 20:  # a filesystem without holes: do not leave 64 GiB on the disk
        path.unlink()
        raise OSError(errno.ENOSPC, f"{path.parent} does not keep sparse files sparse")


def _frame_folder_cases(dest: Path, frames: list[Path]) -> list[VideoCase]:
    cases = []

    wide = dest / "wide_frame"
    wide.mkdir()
    for i, frame in enumerate(frames):
        if i != 4:
            shutil.copyfile(frame, wide / f"{i:05d}.jpg")
    Image.new("RGB", (33_000, 10), (38, 38, 38)).save(wide / "00004.png", optimize=True)
    cases.append(
        _other_case(
            dest,
            "wide_frame",
            "folder",
            True,
            ["copy frames 0-3 and 5-8 as 00000.jpg..00008.jpg; PIL: 00004.png, 33000x10 grey"],
            "8 real 640x360 frames and one 33000x10 PNG (a filmstrip exported by mistake; "
            f"{(wide / '00004.png').stat().st_size} bytes, 330,000 pixels)",
            frame_images=9,
        )
    )

    sparse = dest / "huge_sparse"
    sparse.mkdir()
    for i, frame in enumerate(frames):
        if i != 5:
            shutil.copyfile(frame, sparse / f"{i:05d}.jpg")
    _make_sparse(sparse / "00005.png", png_header(640, 360), SPARSE_SIZE)
    cases.append(
        _other_case(
            dest,
            "huge_sparse",
            "folder",
            False,
            [
                "copy frames 0-4 and 6-8 as 00000.jpg..00008.jpg",
                "00005.png: PNG signature + IHDR (640x360), then os.truncate to 64 GiB",
            ],
            "a preallocated, never filled download: 00005.png is 64 GiB of apparent size "
            "(a PNG header, then a hole), no disk space; not a decodable image",
            frame_images=9,
        )
    )

    apple = dest / "appledouble"
    apple.mkdir()
    for i, frame in enumerate(frames):
        with Image.open(frame) as image:
            image.save(apple / f"{i:05d}.png", compress_level=1)
    (apple / "._00001.png").write_bytes(appledouble_bytes())
    (apple / ".DS_Store").write_bytes(ds_store_bytes())
    cases.append(
        _other_case(
            dest,
            "appledouble",
            "folder",
            True,
            ["PIL: frames 0-8 as 00000.png..00008.png", "write ._00001.png and .DS_Store"],
            "a folder copied from a Mac onto exFAT/SMB/zip: 9 real PNG frames, an AppleDouble "
            "._00001.png (4096 bytes, not an image) and a .DS_Store",
            frame_images=9,
        )
    )
    return cases


# The corpus --------------------------------------------------------------------------------


def build_video_corpus(dest: Path, frames_dir: Path) -> dict[str, VideoCase]:
    """Make every case in ``dest`` (created; must not exist) from the frames in ``frames_dir``.

    Returns the cases by name, in the order of the module's docstring.
    """
    frames = sorted(frames_dir.glob("*.jpg"))
    if len(frames) != 9:
        raise ValueError(f"{frames_dir}: expected the 9 signer frames, found {len(frames)}")
    dest.mkdir(parents=True)
    work = dest / "_work"
    work.mkdir()
    # The looped clip, as image sequences of 48 and of 64 frames.
    for count in (FRAMES, EDIT_LIST_FRAMES):
        (work / str(count)).mkdir()
        for i in range(count):
            shutil.copyfile(frames[CYCLE[i % len(CYCLE)]], work / str(count) / f"{i:05d}.jpg")
    clip = ("-framerate", str(FPS), "-i", f"_work/{FRAMES}/%05d.jpg")
    clip64 = ("-framerate", str(FPS), "-i", f"_work/{EDIT_LIST_FRAMES}/%05d.jpg")
    cases: list[VideoCase] = []

    def ff(*args: str, stdout: str | None = None) -> str:
        # bitexact: no random Matroska UIDs nor version strings, the same bytes every build
        args = (*args[:-1], "-fflags", "+bitexact", args[-1])
        return _run_ffmpeg(dest, args, Path(stdout) if stdout else None)

    plain = [ff(*clip, *H264, "plain.mp4")]
    cases.append(_file_case(dest, "plain.mp4", plain, "the control: H.264 in mp4, nothing odd"))

    recipe = [
        ff(*clip64, *H264, "_work/edit_list_src.mp4"),
        ff("-ss", "0.08", "-i", "_work/edit_list_src.mp4", "-c", "copy", "edit_list.mp4"),
    ]
    cases.append(
        _file_case(
            dest,
            "edit_list.mp4",
            recipe,
            "a stream-copy trim 2 frames in (QuickTime/Photos Trim, LosslessCut): 64 samples, "
            "the edit list shows the last 62",
        )
    )

    recipe = [*plain, ff("-ss", "0.5", "-i", "plain.mp4", "-c", "copy", "trim_copy.mp4")]
    cases.append(
        _file_case(
            dest,
            "trim_copy.mp4",
            recipe,
            "a stream-copy trim half a second in: the edit list hides the samples from the "
            "keyframe before the cut",
        )
    )

    recipe = [
        *plain,
        ff(
            *("-i", "plain.mp4", *SINE, _sine(5), "-map", "0:v", "-map", "1:a"),
            *("-c:v", "copy", "-c:a", "aac", "-shortest", "mkv_audio.mkv"),
        ),
    ]
    cases.append(
        _file_case(dest, "mkv_audio.mkv", recipe, "a YouTube download merged into mkv: H.264 + AAC")
    )

    vp9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M")
    recipe = [
        ff(*clip, *SINE, _sine(3), *vp9, "-c:a", "libopus", "webm_audio_longer.webm"),
    ]
    cases.append(
        _file_case(
            dest,
            "webm_audio_longer.webm",
            recipe,
            "a YouTube download in WebM (VP9 + Opus) whose audio (3 s) outlasts the video (1.92 s)",
        )
    )

    drop = r"select='not(between(mod(n\,16)\,3\,6))'"
    recipe = [
        ff(*clip, "-vf", drop, "-fps_mode", "vfr", *H264, "vfr.mkv"),
    ]
    cases.append(
        _file_case(
            dest,
            "vfr.mkv",
            recipe,
            "variable frame rate (a phone in low light, a webcam): 4 of every 16 frames "
            "dropped, gaps of 40 and 200 ms, the stream still says 25 fps",
        )
    )

    aom = ("-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-crf", "35")
    recipe = [ff(*clip, *aom, "av1.mp4")]
    cases.append(_file_case(dest, "av1.mp4", recipe, "AV1 in mp4, as YouTube serves it"))

    # (name, stored = the upright picture turned back, ffmpeg's display option, audio, notes)
    turns = [
        (
            "rotated_phone.mp4",
            f"{PORTRAIT},transpose=cclock",
            ("-display_rotation", "-90"),
            True,
            "a phone held upright: stored 640x360, turned 90 degrees clockwise to 360x640, "
            "with AAC audio",
        ),
        (
            "rotated_180.mp4",
            "hflip,vflip",
            ("-display_rotation", "180"),
            False,
            "a phone held landscape the other way up: stored upside down, turned 180 degrees",
        ),
        (
            "rotated_270.mp4",
            f"{PORTRAIT},transpose=clock",
            ("-display_rotation", "90"),
            False,
            "a phone held upside down: stored 640x360, turned 270 degrees clockwise to 360x640",
        ),
        (
            "hflip.mp4",
            "hflip",
            ("-display_hflip",),
            False,
            "a front camera: stored mirrored, the display matrix mirrors it back",
        ),
    ]
    for name, stored_filter, display, audio, notes in turns:
        stored = f"_work/stored_{name}"
        sound = (*SINE, _sine(5), "-c:a", "aac", "-shortest") if audio else ()
        recipe = [
            ff(*clip, *sound, "-vf", stored_filter, *H264, stored),
            ff(*display, "-i", stored, "-c", "copy", name),
        ]
        cases.append(_file_case(dest, name, recipe, notes))

    # libvpx's VP8 "realtime" adapts its speed to the clock, so its bytes vary: "good".
    vp8 = ("-c:v", "libvpx", "-deadline", "good", "-cpu-used", "5", "-b:v", "1M")
    live = [
        ff(
            *(*clip, *SINE, _sine(FRAMES / FPS), *vp8, "-c:a", "libopus"),
            *("-f", "webm", "pipe:1"),
            stdout="live.webm",
        )
    ]
    cases.append(
        _file_case(
            dest,
            "live.webm",
            live,
            "a browser's MediaRecorder recording: VP8 + Opus in WebM written front to back, "
            "no duration, no Cues",
        )
    )

    faststart = [ff(*clip, *H264, "-movflags", "+faststart", "_work/faststart.mp4")]
    for name, source, percent, recipe in [
        ("cut50_faststart.mp4", "_work/faststart.mp4", 50, faststart),
        ("cut90_faststart.mp4", "_work/faststart.mp4", 90, faststart),
        ("cut60_live.webm", "live.webm", 60, live),
    ]:
        data = (dest / source).read_bytes()
        (dest / name).write_bytes(data[: len(data) * percent // 100])
        cut = f"keep the first {percent}% of the bytes of {source} ({len(data)} bytes)"
        cases.append(
            _file_case(
                dest,
                name,
                [*recipe, cut],
                f"a copy or upload that stopped at {percent}% of {Path(source).name}",
                intact=False,
                truncated_from=len(data),
            )
        )

    cases.extend(_frame_folder_cases(dest, frames))

    add_symlink_loop(dest)
    cases.append(
        _other_case(
            dest,
            "self.mp4",
            "symlink",
            False,
            ["ln -s self.mp4 self.mp4"],
            "a symbolic link to itself: opening it fails with ELOOP",
        )
    )
    shutil.rmtree(work)
    return {case.name: case for case in cases}


def add_symlink_loop(folder: Path, name: str = "self.mp4") -> Path:
    """Put a symbolic link to itself, ``name -> name``, in ``folder`` (a sign folder)."""
    link = folder / name
    os.symlink(name, link)
    return link


def _copy_keeping_holes(src: Path, dst: Path) -> None:
    """Copy a file, leaving its holes holes (a sparse file stays sparse)."""
    size = src.stat().st_size
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fin.fileno(), offset, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            end = os.lseek(fin.fileno(), start, os.SEEK_HOLE)
            fin.seek(start)
            fout.seek(start)
            fout.write(fin.read(end - start))
            offset = end
        fout.truncate(size)


def place_case(case: VideoCase, folder: Path, name: str | None = None) -> Path:
    """Put a copy of ``case`` in ``folder`` (e.g. a sign folder) as ``name``; returns its path.

    A video file keeps ``case.name``'s extension when ``name`` has none. The symbolic link
    loop is made anew (``name -> name``) and sparse files stay sparse: never copy the corpus
    with ``shutil.copy``/``copytree``, which would write 64 GiB for ``huge_sparse``.
    """
    name = name or case.name
    if case.kind == "file" and not Path(name).suffix:
        name += case.path.suffix
    folder.mkdir(parents=True, exist_ok=True)
    if case.kind == "symlink":
        return add_symlink_loop(folder, name)
    target = folder / name
    if case.kind == "file":
        _copy_keeping_holes(case.path, target)
        return target
    target.mkdir()
    for entry in sorted(case.path.iterdir()):
        _copy_keeping_holes(entry, target / entry.name)
    return target


# Looking inside files ----------------------------------------------------------------------

_MP4_CONTAINERS = frozenset({"moov", "trak", "mdia", "minf", "stbl", "edts", "udta"})


def mp4_boxes(data: bytes) -> list[tuple[str, int, bytes]]:
    """The boxes of an mp4, depth first: ("moov/trak/edts/elst", offset, payload).

    A box cut short by truncation is listed with the part of its payload that is there.
    """
    boxes: list[tuple[str, int, bytes]] = []

    def walk(start: int, end: int, parent: str) -> None:
        offset = start
        while offset + 8 <= end:
            size, kind_bytes = struct.unpack(">I4s", data[offset : offset + 8])
            header = 8
            if size == 1:
                size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
            elif size == 0:
                size = end - offset
            if size < header:
                return
            kind = kind_bytes.decode("latin-1")
            path = f"{parent}/{kind}" if parent else kind
            payload = data[offset + header : min(offset + size, end)]
            boxes.append((path, offset, payload))
            if kind in _MP4_CONTAINERS:
                walk(offset + header, min(offset + size, end), path)
            offset += size

    walk(0, len(data), "")
    return boxes


def mp4_edit_lists(data: bytes) -> list[list[tuple[int, int]]]:
    """Each track's edit list: (segment duration in movie time, media time in track time)."""
    lists = []
    for path, _, payload in mp4_boxes(data):
        if not path.endswith("/elst"):
            continue
        version = payload[0]
        (count,) = struct.unpack(">I", payload[4:8])
        entry = ">Qq" if version == 1 else ">Ii"
        step = struct.calcsize(entry) + 4  # and the media rate, 2 x int16
        lists.append([struct.unpack_from(entry, payload, 8 + i * step) for i in range(count)])
    return lists


# The cache ---------------------------------------------------------------------------------


def recipe_key(frames_dir: Path) -> str:
    """What the corpus depends on: ffmpeg, PyAV and its FFmpeg, this module, the frames."""
    digest = hashlib.sha256()
    for part in (ffmpeg_version(), av.__version__, av.ffmpeg_version_info):
        digest.update(part.encode() + b"\0")
    digest.update(Path(__file__).read_bytes())
    for frame in sorted(frames_dir.glob("*.jpg")):
        digest.update(frame.read_bytes())
    return digest.hexdigest()[:16]


def _to_json(case: VideoCase) -> dict[str, Any]:
    data = dataclasses.asdict(case)
    data["path"] = case.path.name
    return data


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _from_json(folder: Path, data: dict[str, Any]) -> VideoCase:
    fields = {k: _tuples(v) for k, v in data.items()}
    fields["path"] = folder / data["path"]
    if data["decoding"] is not None:
        fields["decoding"] = Decoding(**{k: _tuples(v) for k, v in data["decoding"].items()})
    return VideoCase(**fields)


MANIFEST = "manifest.json"


def cached_video_corpus(root: Path, frames_dir: Path) -> dict[str, VideoCase]:
    """The corpus in ``root/<recipe key>``, built there first when it is not there yet.

    Several processes may call this at once: each builds in a folder of its own and the
    first to finish renames it into place.
    """
    folder = root / f"video-corpus-{recipe_key(frames_dir)}"
    manifest = folder / MANIFEST
    if not manifest.is_file():
        root.mkdir(parents=True, exist_ok=True)
        building = root / f".building-{folder.name}-{os.getpid()}"
        if building.exists():
            shutil.rmtree(building)
        cases = build_video_corpus(building, frames_dir)
        text = json.dumps([_to_json(c) for c in cases.values()], indent=1)
        (building / MANIFEST).write_text(text)
        try:
            building.rename(folder)
        except OSError:  # another process got there first
            shutil.rmtree(building)
    data = json.loads(manifest.read_text())
    return {d["name"]: _from_json(folder, d) for d in data}


def ffmpeg_stream_info(path: Path) -> str:
    """What ``ffmpeg -i path`` (ffprobe's report, without ffprobe) prints about the file."""
    argv = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stderr


def ffmpeg_first_frame(
    path: Path, *, autorotate: bool = True, video_filter: str | None = None
) -> Image.Image:
    """The first frame of a video (or image) file as ffmpeg, a player, shows it.

    ``autorotate=False``: as stored, the display matrix not applied.
    """
    argv = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if not autorotate:
        argv.append("-noautorotate")
    argv += ["-i", str(path), "-frames:v", "1"]
    if video_filter:
        argv += ["-vf", video_filter]
    argv += ["-f", "image2pipe", "-c:v", "png", "pipe:1"]
    png = subprocess.run(argv, capture_output=True, check=True).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")
