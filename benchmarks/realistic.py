"""Realistic throughput (issue 16): KArSL-like 1080p frame folders and short H.264 clips.

Two corpora, built once in --workdir and reused by later commands with the same sizes:

  KArSL-like  KArSL's layout and frame format: folders of 1920x1080 JPEG frames at quality 90
              (cv2.imwrite, IMWRITE_JPEG_QUALITY 90), <root>/01/01/train/0001/<video>/00000.jpg,
              --signs x --videos-per-sign x --frames-per-video (default 8 x 10 x 50 = 4,000
              frames). The pixels are the 9 real 640x360 signer frames of ../shared/assets,
              UPSCALED with cv2.INTER_CUBIC: real 1080p footage has more fine detail, so
              larger files, a little more decoding work, and perhaps other landmarks. Each
              video is a ping-pong sequence over the 9 frames starting at its own frame;
              repeated frames are hard links to 9 encoded files, so the disk holds 9 JPEGs
              and the OS page cache serves every read after the first. A real corpus is read
              from disk or a bucket once, which costs more; reading is a small share here
              either way, and `breakdown` measures it.
  clips       --clips short video files (default 24) of 40-65 frames each (the length varies),
              H.264 (libx264, yuv420p, CRF 23, preset medium, 30 fps) made with the
              imageio-ffmpeg binary, in the same layout (<root>/01/01/train/0001/clip03.mp4).
              --clip-size 1280x720 (the default) takes the frames of the real 1280x720 signer
              clip of ../shared/assets, not upscaled. Why 720p: webcam and phone recordings
              of isolated signs are often 720p (web-sourced ones often smaller), so it is
              the upper end of common; 640x360 is what benchmarks/throughput.py already
              measured (same footage, mp4v); decoding costs grow with the pixels, which is
              what this benchmark is about; and 720p is the smallest size --decode_scale 2
              still reduces (keypoints.images.MIN_REDUCED_SIDE). --clip-size 640x360 uses
              the 9 JPEG frames as they are.

Sub-commands:

  measure    whole runs, start-up and end included, every method once per round, in turn
             (--rounds), with the same N worker processes (--workers):
               KArSL-like: the pipeline (signkps local) and raw (benchmarks/raw.py: N
               processes calling the backend on the same files through the product's own
               frame source and decoder), each at --decode_scale 1 and 2;
               clips: the pipeline, pose-format's videos_to_poses, raw on the .mp4 files.
             One JSON line per run: wall_s, fps (frames / wall, start-up included), CPU of
             the process tree, peak RSS, and tail_s: the process's end minus the moment its
             last video was done (the pipeline: the newest npz, which the worker writes right
             after a sign's last video; pose-format: the newest .pose; raw: its own
             timestamp). Then the ratios, per round and their median.
  breakdown  in one process, on --sample-videos videos of each corpus: what a frame costs
             (reading the file, header, decoding, colour conversion, MediaPipe, our Python)
             and what a video costs beyond its frames, measured inside extract_video itself;
             the decoders side by side; then start-up (one-frame runs, imports) and the end
             of a run. Wall (perf_counter) and CPU (process_time; for other processes, their
             rusage) side by side. A table, and breakdown.json in --workdir.

    .venv/bin/python -m benchmarks.realistic measure --workdir /tmp/realistic
    .venv/bin/python -m benchmarks.realistic measure --workdir /tmp/realistic \
        --skip karsl raw --python /tmp/plain/bin/python    # a plain install's clips
    .venv/bin/python -m benchmarks.realistic breakdown --workdir /tmp/realistic

Numbers, not assertions: the machine is shared, so compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from unittest import mock

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks.procstats import TreeSample, run_measured
from benchmarks.raw import decode_scale_supported, video_source
from benchmarks.throughput import (
    SIGNER,
    SPLIT,
    assets_dir,
    link_or_copy,
    pipeline_cmd,
    python,
    use_python,
)

KARSL_SIZE = (1920, 1080)
JPEG_QUALITY = 90
CLIP_FPS = 30
CLIP_LENGTHS = (40, 65)  # shortest and longest clip, in frames
CLIP_SIZES = ("1280x720", "640x360")
SCALES = (1, 2)


# ---------------------------------------------------------------------------------------
# Corpora


@dataclasses.dataclass(frozen=True)
class Sizes:
    signs: int
    videos_per_sign: int
    frames_per_video: int
    clips: int
    clips_per_sign: int
    clip_size: str

    @property
    def clip_signs(self) -> int:
        return -(-self.clips // self.clips_per_sign)


def sign_folder(root: Path, sign: int) -> Path:
    return root / SIGNER / SIGNER / SPLIT / f"{sign:04d}"


def ping_pong(frames: list[Any], count: int, start: int) -> list[Any]:
    """``count`` frames going back and forth over the clip from position ``start``."""
    cycle = frames + frames[-2:0:-1]
    return [cycle[(start + i) % len(cycle)] for i in range(count)]


def clip_length(i: int) -> int:
    """Clip i's frame count: spread over CLIP_LENGTHS, different for neighbours."""
    low, high = CLIP_LENGTHS
    return low + (i * 11) % (high - low + 1)


def signer_frames() -> list[Path]:
    return sorted((assets_dir() / "media" / "signer_sample_frames").glob("*.jpg"))


def build_karsl(work: Path, sizes: Sizes) -> dict[str, Any]:
    """The KArSL-like frame folders under work/karsl (9 encoded frames under work/karsl-source)."""
    source_dir = work / "karsl-source"
    source_dir.mkdir(parents=True, exist_ok=True)
    sources = []
    for i, path in enumerate(signer_frames()):
        big = cv2.resize(cv2.imread(str(path)), KARSL_SIZE, interpolation=cv2.INTER_CUBIC)
        target = source_dir / f"{i:05d}.jpg"
        cv2.imwrite(str(target), big, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        sources.append(target)
    root = work / "karsl"
    total_bytes = frames = 0
    for sign in range(1, sizes.signs + 1):
        for v in range(sizes.videos_per_sign):
            folder = sign_folder(root, sign) / f"v{v:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            start = (sign * 7 + v * 3) % (2 * len(sources) - 2)  # videos differ a little
            for i, frame in enumerate(ping_pong(sources, sizes.frames_per_video, start)):
                link_or_copy(frame, folder / f"{i:05d}.jpg")
                total_bytes += frame.stat().st_size
                frames += 1
    return {
        "corpus": "karsl-like",
        "root": str(root),
        "signs": sizes.signs,
        "videos": sizes.signs * sizes.videos_per_sign,
        "frames": frames,
        "size": "x".join(map(str, KARSL_SIZE)),
        "jpeg_quality": JPEG_QUALITY,
        "mean_jpeg_kb": round(total_bytes / max(frames, 1) / 1024, 1),
        "pixels": "9 real 640x360 signer frames upscaled with cv2.INTER_CUBIC (hard links)",
    }


def clip_source_frames(size: str) -> list[Any]:
    """BGR frames for the clips: the real 1280x720 signer clip's, or the 640x360 JPEGs."""
    if size == "640x360":
        return [cv2.imread(str(p)) for p in signer_frames()]
    capture = cv2.VideoCapture(str(assets_dir() / "media" / "signer_sample_1280x720_9f.mp4"))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(bgr)
    capture.release()
    assert frames and frames[0].shape[1::-1] == (1280, 720), "the 1280x720 sample clip is needed"
    return frames


def encode_clip(frames: list[Any], target: Path) -> None:
    """H.264 (libx264, yuv420p) from BGR frames, through the imageio-ffmpeg binary."""
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(CLIP_FPS),
        "-i", "-", "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(target),
    ]  # fmt: skip
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)


def build_clips(work: Path, sizes: Sizes) -> dict[str, Any]:
    """The short H.264 clips under work/clips, ``clips_per_sign`` to a sign folder."""
    source = clip_source_frames(sizes.clip_size)
    root = work / "clips"
    frames = total_bytes = 0
    for i in range(sizes.clips):
        folder = sign_folder(root, i // sizes.clips_per_sign + 1)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"clip{i:02d}.mp4"
        count = clip_length(i)
        encode_clip(ping_pong(source, count, i % (2 * len(source) - 2)), target)
        frames += count
        total_bytes += target.stat().st_size
    return {
        "corpus": "clips",
        "root": str(root),
        "signs": sizes.clip_signs,
        "videos": sizes.clips,
        "frames": frames,
        "size": sizes.clip_size,
        "frames_per_clip": f"{min(map(clip_length, range(sizes.clips)))}-"
        f"{max(map(clip_length, range(sizes.clips)))}",
        "codec": f"H.264 libx264 yuv420p CRF 23, {CLIP_FPS} fps",
        "mean_clip_kb": round(total_bytes / max(sizes.clips, 1) / 1024, 1),
        "pixels": "the real 1280x720 signer clip's 9 frames"
        if sizes.clip_size == "1280x720"
        else "the 9 real 640x360 signer frames",
    }


def build_tiny(work: Path, clip_size: str) -> tuple[Path, Path]:
    """One-frame corpora of each kind: a run on them is a method's fixed start-up."""
    karsl, clips = work / "tiny-karsl", work / "tiny-clips"
    if not (clips / "done").exists():
        shutil.rmtree(karsl, ignore_errors=True)
        shutil.rmtree(clips, ignore_errors=True)
        folder = sign_folder(karsl, 1) / "v000"
        folder.mkdir(parents=True)
        link_or_copy(work / "karsl-source" / "00000.jpg", folder / "00000.jpg")
        sign_folder(clips, 1).mkdir(parents=True)
        encode_clip(clip_source_frames(clip_size)[:1], sign_folder(clips, 1) / "clip00.mp4")
        (clips / "done").touch()
    return karsl, clips


def ensure_corpora(work: Path, sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Both corpora for ``sizes``: reused when work/corpora.json says they were built so."""
    marker = work / "corpora.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        if saved.get("sizes") == dataclasses.asdict(sizes):
            print(json.dumps({"reused corpora": str(work)}), flush=True)
            return saved["corpora"]  # type: ignore[no-any-return]
    for stale in ("karsl", "karsl-source", "clips", "tiny-karsl", "tiny-clips"):
        shutil.rmtree(work / stale, ignore_errors=True)
    started = time.perf_counter()
    corpora = {"karsl": build_karsl(work, sizes), "clips": build_clips(work, sizes)}
    marker.write_text(json.dumps({"sizes": dataclasses.asdict(sizes), "corpora": corpora}))
    print(json.dumps({"built corpora in s": round(time.perf_counter() - started, 1)}))
    return corpora


# ---------------------------------------------------------------------------------------
# Whole runs


@dataclasses.dataclass(frozen=True)
class Method:
    """One measured command; ``out`` is where its output appears (cleared before each run)."""

    name: str
    corpus: str
    scale: int
    cmd: list[str]
    frames: int
    out: Path | None = None  # the pipeline's output root, or the clips (pose-format)
    suffix: str = ".npz"  # of the files written right after a video (the tail's end)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def clear_output(m: Method) -> None:
    """Remove earlier output: every tool skips videos whose output exists."""
    if m.out is None:
        return
    if m.suffix == ".pose":
        for pose_file in m.out.rglob("*.pose"):
            pose_file.unlink()
    else:
        shutil.rmtree(m.out, ignore_errors=True)


def last_video_at(m: Method, log: Path) -> float | None:
    """The wall-clock time (time.time) at which the run's last video was done."""
    if m.out is None:  # raw says it itself
        for line in reversed(log.read_text(errors="replace").splitlines()):
            if line.startswith("{") and "last_video_at" in line:
                return float(json.loads(line)["last_video_at"])
        return None
    times = [p.stat().st_mtime for p in m.out.rglob(f"*{m.suffix}")]
    return max(times, default=None)


@dataclasses.dataclass
class Run:
    wall_s: float
    cpu_s: float
    tail_s: float | None
    tree: TreeSample


def run_command(m: Method, log: Path) -> Run:
    """``m``'s command, once, from a clean output; raises when it fails."""
    clear_output(m)
    cpu = children_cpu_s()
    launched = time.time()
    wall, tree, code = run_measured(m.cmd, log_path=str(log))
    ended = launched + wall
    if code != 0:
        raise RuntimeError(f"{m.name} failed with exit code {code}: see {log}")
    done = last_video_at(m, log)
    tail = round(ended - done, 2) if done is not None else None
    return Run(wall, children_cpu_s() - cpu, tail, tree)


def measure_once(m: Method, round_: int, workers: int, logs: Path) -> dict[str, Any]:
    run = run_command(m, logs / f"{m.name}-{m.corpus}-s{m.scale}-{round_}.log")
    record = {
        "method": m.name,
        "corpus": m.corpus,
        "decode_scale": m.scale,
        "round": round_,
        "workers": workers,
        "frames": m.frames,
        "wall_s": round(run.wall_s, 2),
        "fps": round(m.frames / run.wall_s, 2),
        "cpu_s": round(run.cpu_s, 1),  # the tree's, as far as each process waited for its own
        "cpu_ms_per_frame": round(run.cpu_s * 1000 / m.frames, 1),
        "tail_s": run.tail_s,
        "peak_rss_worker_mb": run.tree.worker_peak_mb(),  # the largest child's
        "peak_rss_driver_mb": run.tree.root_peak_mb(),
        "peak_rss_sum_mb": round(sum(run.tree.peaks_kb.values()) / 1024, 1),
    }
    print(json.dumps(record), flush=True)
    return record


def pose_format_tool() -> str | None:
    return shutil.which("videos_to_poses", path=str(Path(python()).parent))


def pose_format_cmd(tool: str, root: Path, workers: int) -> list[str]:
    """As benchmarks/throughput.py runs it: Holistic with refined face landmarks."""
    return [tool, "--num-workers", str(workers), "--recursive", "--additional-config",
            "refine_face_landmarks=true", "--directory", str(root)]  # fmt: skip


def raw_cmd(videos: list[str], workers: int, scale: int) -> list[str]:
    cmd = [python(), "-m", "benchmarks.raw", f"--workers={workers}", "--backend=holistic"]
    return cmd + ([f"--decode_scale={scale}"] if scale != 1 else []) + videos


def videos_of(root: Path) -> list[str]:
    """Every video (frame folder or file) of a KArSL-layout corpus, in order."""
    return sorted(str(p) for p in root.glob("*/*/*/*/*") if p.is_dir() or p.suffix == ".mp4")


def scale_option_supported() -> bool:
    from keypoints.extract import ExtractionSettings

    fields = {f.name for f in dataclasses.fields(ExtractionSettings)}
    return decode_scale_supported() and "decode_scale" in fields


def plan(corpora: dict[str, dict[str, Any]], work: Path, args: argparse.Namespace) -> list[Method]:
    """What one round measures, in order."""
    n, skip = args.workers, set(args.skip)
    methods = []
    karsl, clips = corpora["karsl"], corpora["clips"]
    scales = list(SCALES)
    if "scale2" in skip or not scale_option_supported():
        if "scale2" not in skip:
            why = "keypoints.frames / ExtractionSettings take no decode scale yet"
            print(json.dumps({"skipped": "decode_scale 2", "why": why}))
        scales = [1]
    if "karsl" not in skip:
        root = Path(karsl["root"])
        for scale in scales:
            out = work / f"out-karsl-s{scale}"
            cmd = pipeline_cmd(root, out, karsl["signs"], n, "holistic")
            cmd += [f"--decode_scale={scale}"] if scale != 1 else []
            methods.append(Method("pipeline", "karsl", scale, cmd, karsl["frames"], out))
            if "raw" not in skip:
                cmd = raw_cmd(videos_of(root), n, scale)
                methods.append(Method("raw", "karsl", scale, cmd, karsl["frames"]))
    if "clips" not in skip:
        root = Path(clips["root"])
        out = work / "out-clips"
        cmd = pipeline_cmd(root, out, clips["signs"], n, "holistic")
        methods.append(Method("pipeline", "clips", 1, cmd, clips["frames"], out))
        tool = pose_format_tool()
        if tool is not None and "pose-format" not in skip:
            cmd = pose_format_cmd(tool, root, n)
            methods.append(Method("pose-format", "clips", 1, cmd, clips["frames"], root, ".pose"))
        elif tool is None:
            why = "videos_to_poses not installed: pip install -e .[pose]"
            print(json.dumps({"skipped": "pose-format", "why": why}))
        if "raw" not in skip:
            methods.append(
                Method("raw", "clips", 1, raw_cmd(videos_of(root), n, 1), clips["frames"])
            )
    return methods


def ratios(records: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """Each ratio per round (both terms from the same round) and the median of the rounds."""
    by = {(r["method"], r["corpus"], r["decode_scale"], r["round"]): r for r in records}
    wanted: list[tuple[str, tuple[str, str, int], tuple[str, str, int], str]] = [
        ("KArSL-like pipeline/raw fps, scale 1 (same decode)", ("pipeline", "karsl", 1),
         ("raw", "karsl", 1), "fps"),
        ("KArSL-like pipeline/raw fps, scale 2 (same decode)", ("pipeline", "karsl", 2),
         ("raw", "karsl", 2), "fps"),
        ("KArSL-like pipeline fps, scale 2/scale 1", ("pipeline", "karsl", 2),
         ("pipeline", "karsl", 1), "fps"),
        ("KArSL-like raw fps, scale 2/scale 1", ("raw", "karsl", 2), ("raw", "karsl", 1), "fps"),
        ("clips pose-format wall/pipeline wall (>= 1.0: the pipeline is as fast or faster)",
         ("pose-format", "clips", 1), ("pipeline", "clips", 1), "wall_s"),
        ("clips pipeline/raw fps (same decode)", ("pipeline", "clips", 1), ("raw", "clips", 1),
         "fps"),
    ]  # fmt: skip
    found = []
    for name, top, bottom, key in wanted:
        per_round = []
        for round_ in range(1, rounds + 1):
            a, b = by.get((*top, round_)), by.get((*bottom, round_))
            if a and b:
                per_round.append(round(a[key] / b[key], 3))
        if per_round:
            median = round(statistics.median(per_round), 3)
            found.append({"ratio": name, "rounds": per_round, "median": median})
    return found


def install_facts() -> dict[str, Any]:
    """Which install the commands run, and whether it has Beam's Google Cloud clients.

    With them (the [dataflow] extra, which the test install includes) ``import
    apache_beam`` also loads the GCS client and google-api-core, whose import checks the
    versions of its dependencies: a few tenths of a second of every run's start-up.
    """
    probe = "import importlib.metadata as m; print(m.version('google-cloud-storage'))"
    found = subprocess.run([python(), "-c", probe], capture_output=True, text=True)
    return {"python": python(), "gcs_client_installed": found.returncode == 0}


def measure(args: argparse.Namespace, work: Path, sizes: Sizes) -> int:
    if args.python:
        use_python(args.python)
    print(json.dumps(install_facts()), flush=True)
    corpora = ensure_corpora(work, sizes)
    for info in corpora.values():
        print(json.dumps(info), flush=True)
    print(json.dumps({"note": "KArSL-like frames are upscaled 640x360 footage, 9 distinct "
                      "files hard-linked: reads come from the page cache"}))  # fmt: skip
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    methods = plan(corpora, work, args)
    started = time.perf_counter()
    records = []
    for round_ in range(1, args.rounds + 1):
        for m in methods:  # every method once per round: drift over the run hits all alike
            records.append(measure_once(m, round_, args.workers, logs))
    for found in ratios(records, args.rounds):
        print(json.dumps(found), flush=True)
    (work / "measure.json").write_text(json.dumps(records, indent=1))
    print(json.dumps({"measured in s": round(time.perf_counter() - started, 1)}))
    return 0


# ---------------------------------------------------------------------------------------
# Breakdown


class Clock:
    """Wall (perf_counter) and CPU (process_time, every thread of this process) per key."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def time(self, key: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(key, time.perf_counter() - wall, time.process_time() - cpu)

    def add(self, key: str, wall: float, cpu: float) -> None:
        self.wall[key] += wall
        self.cpu[key] += cpu
        self.count[key] += 1

    def mark(self) -> tuple[float, float]:
        return time.perf_counter(), time.process_time()


class TimedFile:
    """A file whose reads are timed as "read" (the pipeline reads each frame file whole)."""

    def __init__(self, f: BinaryIO, clock: Clock) -> None:
        self._f, self._clock = f, clock

    def read(self, size: int = -1) -> bytes:
        with self._clock.time("read"):
            return self._f.read(size)

    def __enter__(self) -> TimedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


class TimedBackend:
    """The backend, its calls timed; a video's first frame apart (the graph restarts on it)."""

    def __init__(self, backend: Any, clock: Clock) -> None:
        self._backend, self._clock = backend, clock
        self.name: str = backend.name
        self._first = True
        self.last_end: tuple[float, float] | None = None

    def settings(self) -> dict[str, Any]:
        return dict(self._backend.settings())

    def start_video(self) -> None:
        with self._clock.time("start_video"):
            self._backend.start_video()
        self._first = True

    def process(self, rgb: npt.NDArray[np.uint8], timestamp_ms: int) -> Any:
        key = "process first frame" if self._first else "process"
        self._first = False
        with self._clock.time(key):
            found = self._backend.process(rgb, timestamp_ms)
        self.last_end = self._clock.mark()
        return found

    def close(self) -> None:
        self._backend.close()


class TimedFrames:
    """A stream's frame iterator, each ``next`` timed as "source"; the final one apart."""

    def __init__(self, frames: Iterator[Any], clock: Clock) -> None:
        self._frames, self._clock = frames, clock
        self.first_start: tuple[float, float] | None = None

    def __iter__(self) -> TimedFrames:
        return self

    def __next__(self) -> Any:
        wall, cpu = self._clock.mark()
        if self.first_start is None:
            self.first_start = (wall, cpu)
        try:
            frame = next(self._frames)
        except StopIteration:
            self._clock.add("end of stream", time.perf_counter() - wall, time.process_time() - cpu)
            raise
        self._clock.add("source", time.perf_counter() - wall, time.process_time() - cpu)
        return frame


@contextlib.contextmanager
def instrumented(clock: Clock) -> Iterator[list[TimedFrames]]:
    """extract_video's frame source, header reader and decoder, timed in place."""
    import keypoints.extract
    import keypoints.frames
    import keypoints.images

    streams: list[TimedFrames] = []
    real_open = keypoints.frames.open_video
    real_header, real_decode = keypoints.images.read_header, keypoints.images.decode

    @contextlib.contextmanager
    def open_video(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with contextlib.ExitStack() as stack:
            with clock.time("open"):
                stream = stack.enter_context(real_open(*args, **kwargs))
            stream.frames = TimedFrames(stream.frames, clock)
            streams.append(stream.frames)
            yield stream
            with clock.time("close"):
                stack.close()

    def read_header(data: bytes) -> Any:
        with clock.time("header"):
            return real_header(data)

    def decode(*args: Any, **kwargs: Any) -> Any:
        with clock.time("decode"):
            return real_decode(*args, **kwargs)

    with (
        mock.patch.object(keypoints.extract, "open_video", open_video),
        mock.patch.object(keypoints.images, "read_header", read_header),
        mock.patch.object(keypoints.images, "decode", decode),
    ):
        yield streams


SOURCE_PARTS = {  # what a frame file's source does, as instrumented() times it
    "read": "read file bytes (open + read)",
    "header": "header (keypoints.images.read_header: Pillow)",
    "decode": "decode to RGB (keypoints.images.decode)",
}


def extract_breakdown(backend: Any, videos: list[str], scale: int) -> dict[str, Any]:
    """Per-frame and per-video costs of extract_video on ``videos``, measured inside it."""
    from keypoints.extract import ExtractionSettings, extract_video

    settings = ExtractionSettings(decode_scale=scale) if scale != 1 else ExtractionSettings()
    clock = Clock()
    timed = TimedBackend(backend, clock)

    def open_file(path: str) -> BinaryIO:
        with clock.time("read"):
            f = open(path, "rb")  # noqa: SIM115 (closed by TimedFile)
        return TimedFile(f, clock)  # type: ignore[return-value]

    frames = 0
    spans = span_cpu = 0.0  # first frame read to last frame's landmarks, summed over videos
    decoded_size = None
    with instrumented(clock) as streams:
        for path in videos:
            wall, cpu = clock.mark()
            result = extract_video(video_source(path), timed, settings, open_file)
            clock.add("extract_video", time.perf_counter() - wall, time.process_time() - cpu)
            assert result.ok, result.report.reason
            frames += result.report.frames
            first, last = streams[-1].first_start, timed.last_end
            assert first is not None and last is not None
            spans += last[0] - first[0]
            span_cpu += last[1] - first[1]
            width, height = result.report.width, result.report.height
            assert width is not None and height is not None
            decoded_size = decoded_size or (
                width // result.report.decode_scale,
                height // result.report.decode_scale,
            )
    w, c, n = clock.wall, clock.cpu, len(videos)
    per_frame: dict[str, tuple[float, float]] = {}
    per_video: dict[str, tuple[float, float]] = {}

    def ms(value: float, count: float) -> float:
        return round(value * 1000 / count, 2)

    # per frame: what one frame costs; the source's parts, then MediaPipe, then our Python
    source_parts = [k for k in SOURCE_PARTS if k in w]
    for part in source_parts:
        per_frame[SOURCE_PARTS[part]] = (ms(w[part], frames), ms(c[part], frames))
    label = (
        "frame source, rest (file checks, generator, Frame)"
        if source_parts
        else "frame source: demux + decode + RGB (FFmpeg through PyAV)"
    )
    per_frame[label] = (
        ms(w["source"] - sum(w[k] for k in source_parts), frames),
        ms(c["source"] - sum(c[k] for k in source_parts), frames),
    )
    later = frames - n  # frames after each video's first
    mp_wall = w["process"] / later if later else 0.0
    mp_cpu = c["process"] / later if later else 0.0
    per_frame["MediaPipe backend.process (frames after the first)"] = (
        round(mp_wall * 1000, 2), round(mp_cpu * 1000, 2),
    )  # fmt: skip
    loop_wall = spans - w["source"] - w["process"] - w["process first frame"]
    loop_cpu = span_cpu - c["source"] - c["process"] - c["process first frame"]
    per_frame["our Python per frame (accumulator, layout, loop)"] = (
        ms(loop_wall, frames), ms(loop_cpu, frames),
    )  # fmt: skip
    frame_wall = sum(v[0] for v in per_frame.values())
    frame_cpu = sum(v[1] for v in per_frame.values())
    per_frame["= one frame"] = (round(frame_wall, 2), round(frame_cpu, 2))

    # per video: extract_video's total less its frames' costs
    for key, name in (("start_video", "backend.start_video (blank frame)"),
                       ("open", "open_video"), ("end of stream", "end of stream"),
                       ("close", "closing the source")):  # fmt: skip
        if key in w:
            per_video[name] = (ms(w[key], n), ms(c[key], n))
    per_video["first frame's extra MediaPipe time (graph restart)"] = (
        round((w["process first frame"] / n - mp_wall) * 1000, 2),
        round((c["process first frame"] / n - mp_cpu) * 1000, 2),
    )  # fmt: skip
    fixed_wall = (w["extract_video"] - frame_wall * frames / 1000) * 1000 / n
    fixed_cpu = (c["extract_video"] - frame_cpu * frames / 1000) * 1000 / n
    named_wall = sum(v[0] for v in per_video.values())
    named_cpu = sum(v[1] for v in per_video.values())
    per_video["rest (report, accumulator set-up and finish)"] = (
        round(fixed_wall - named_wall, 2), round(fixed_cpu - named_cpu, 2),
    )  # fmt: skip
    per_video["= per video, beyond its frames"] = (round(fixed_wall, 2), round(fixed_cpu, 2))
    per_video["extract_video total (for reference)"] = (
        ms(w["extract_video"], n), ms(c["extract_video"], n),
    )  # fmt: skip
    return {
        "videos": n,
        "frames": frames,
        "decode_scale": scale,
        "decoded_size": "x".join(map(str, decoded_size or ())),
        "per_frame_ms": per_frame,
        "per_video_ms": per_video,
    }


def read_whole(path: str) -> bytes:
    from benchmarks.raw import open_binary

    with open_binary(path) as f:
        return f.read()


@dataclasses.dataclass(frozen=True)
class Case:
    """One decoder on a sample: ``fn`` on every item, its cost divided by ``per`` frames."""

    label: str
    items: list[Any]
    fn: Callable[[Any], Any]
    per: int


def run_cases(cases: list[Case], repeat: int) -> dict[str, tuple[float, float]]:
    """Mean wall and CPU ms per frame of each case, the median of ``repeat`` rounds in turn."""
    walls: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeat):  # in turn, so that the machine's drift reaches every case alike
        for case in cases:
            wall, cpu = time.perf_counter(), time.process_time()
            for item in case.items:
                case.fn(item)
            walls[case.label].append((time.perf_counter() - wall) * 1000 / max(case.per, 1))
            cpus[case.label].append((time.process_time() - cpu) * 1000 / max(case.per, 1))
    return {
        c.label: (round(statistics.median(walls[c.label]), 2),
                  round(statistics.median(cpus[c.label]), 2))
        for c in cases
    }  # fmt: skip


def jpeg_cases(karsl_videos: list[str]) -> list[Case]:
    """The JPEG decoders and colour conversion on the KArSL-like sample's frames."""
    from benchmarks.raw import open_binary
    from keypoints import images
    from keypoints.frames import read_frame

    paths = [str(p) for v in karsl_videos for p in sorted(Path(v).iterdir())]
    blobs = [Path(p).read_bytes() for p in paths]
    pairs = [(b, images.read_header(b)) for b in blobs]
    arrays = [np.frombuffer(b, np.uint8) for b in blobs]
    bgr_full = [cv2.imdecode(arrays[0], cv2.IMREAD_COLOR)] * len(paths)
    bgr_half = [cv2.imdecode(arrays[0], cv2.IMREAD_REDUCED_COLOR_2)] * len(paths)
    n = len(paths)

    def bgr2rgb(bgr: Any) -> Any:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def decode_pair(pair: tuple[bytes, Any], reduce: int) -> Any:
        return images.decode(pair[0], pair[1], reduce)

    def read_indexed(item: tuple[int, str], scale: int) -> Any:
        given = {"scale": scale} if scale != 1 else {}  # runs where the option is not there yet
        return read_frame(item[0], item[1], open_binary, **given)

    cases = [
        Case("read file bytes (open + read, page cache)", paths, read_whole, n),
        Case("product images.read_header (Pillow)", blobs, images.read_header, n),
        Case("cv2.imdecode IMREAD_COLOR (BGR)", arrays,
             functools.partial(cv2.imdecode, flags=cv2.IMREAD_COLOR), n),
        Case("cv2.imdecode IMREAD_REDUCED_COLOR_2 (BGR, 1/2)", arrays,
             functools.partial(cv2.imdecode, flags=cv2.IMREAD_REDUCED_COLOR_2), n),
        Case("cv2.cvtColor BGR2RGB 1920x1080", bgr_full, bgr2rgb, n),
        Case("cv2.cvtColor BGR2RGB 960x540", bgr_half, bgr2rgb, n),
    ]  # fmt: skip
    try:
        import simplejpeg
    except ImportError:
        print(json.dumps({"skipped": "simplejpeg", "why": "not importable"}))
    else:
        half = {"min_width": KARSL_SIZE[0] // 2, "min_height": KARSL_SIZE[1] // 2, "min_factor": 2}
        cases += [
            Case("simplejpeg.decode_jpeg RGB", blobs,
                 functools.partial(simplejpeg.decode_jpeg, colorspace="RGB"), n),
            Case("simplejpeg.decode_jpeg RGB, 1/2 (DCT scaling)", blobs,
                 functools.partial(simplejpeg.decode_jpeg, colorspace="RGB", **half), n),
        ]  # fmt: skip
    for scale in SCALES:
        reduce = images.reduction(*KARSL_SIZE, scale)
        label = f"product images.decode, reduction {reduce} (RGB)"
        cases.append(Case(label, pairs, functools.partial(decode_pair, reduce=reduce), n))
    for scale in SCALES:
        if scale != 1 and not decode_scale_supported():
            print(json.dumps({"skipped": f"read_frame scale {scale}", "why": "no scale yet"}))
            continue
        label = f"product read_frame, scale {scale} (read + header + decode)"
        items = list(enumerate(paths))
        cases.append(Case(label, items, functools.partial(read_indexed, scale=scale), n))
    return cases


def clip_cases(clip_videos: list[str]) -> list[Case]:
    """The video decoders on the sample clips, every frame to RGB."""
    from benchmarks.raw import open_binary
    from keypoints.frames import open_video

    frames = 0
    for clip in clip_videos:
        capture = cv2.VideoCapture(clip)
        while capture.read()[0]:
            frames += 1
        capture.release()

    def product(clip: str, scale: int) -> None:
        given = {"scale": scale} if scale != 1 else {}
        with open_video(video_source(clip), open_binary, 30.0, **given) as stream:
            for _ in stream.frames:
                pass

    def opencv(clip: str) -> None:
        capture = cv2.VideoCapture(clip)
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        capture.release()

    cases = [
        Case("product open_video (PyAV, one thread, to RGB)", clip_videos,
             functools.partial(product, scale=1), frames),
        Case("cv2.VideoCapture + cvtColor BGR2RGB", clip_videos, opencv, frames),
    ]  # fmt: skip
    if decode_scale_supported():
        label = "product open_video, scale 2 (FFmpeg scaler, area)"
        cases.insert(1, Case(label, clip_videos, functools.partial(product, scale=2), frames))
    try:
        from simple_video_utils.frames import read_frames_exact
    except ImportError:
        return cases

    def pose_format_reader(clip: str) -> None:
        for _ in read_frames_exact(clip):
            pass

    label = "pose-format's reader (simple_video_utils, PyAV threads AUTO)"
    cases.append(Case(label, clip_videos, pose_format_reader, frames))
    return cases


def decoder_table(karsl_videos: list[str], clip_videos: list[str], repeat: int) -> dict[str, Any]:
    """The decoders side by side, outside extract_video, on the samples' frames."""
    jpeg, clips = jpeg_cases(karsl_videos), clip_cases(clip_videos)
    return {
        "jpeg_frames": jpeg[0].per,
        "jpeg": run_cases(jpeg, repeat),
        "clip_frames": clips[0].per,
        "clips": run_cases(clips, repeat),
    }


def command_cost(cmd: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of a short command run ``repeat`` times."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = children_cpu_s(), time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - wall)
        cpus.append(children_cpu_s() - cpu)
    return round(statistics.median(walls), 2), round(statistics.median(cpus), 2)


def run_costs(work: Path, sizes: Sizes, workers: int, repeat: int) -> dict[str, Any]:
    """Start-up (one-frame runs, imports) and the end of a run, in seconds."""
    tiny_karsl, tiny_clips = build_tiny(work, sizes.clip_size)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    imports: dict[str, tuple[float, float]] = {}
    for label, code in (("python -c pass", "pass"), ("import apache_beam", "import apache_beam"),
                        ("import mediapipe", "import mediapipe"), ("import av", "import av"),
                        ("build Holistic + first frame", _HOLISTIC_FIRST_FRAME)):  # fmt: skip
        imports[label] = command_cost([python(), "-c", code], repeat)
    one_frame = [
        Method("pipeline", "karsl", 1,
               pipeline_cmd(tiny_karsl, work / "out-tiny", 1, workers, "holistic"), 1,
               work / "out-tiny"),
        Method("raw", "karsl", 1, raw_cmd(videos_of(tiny_karsl), workers, 1), 1),
        Method("pipeline", "clips", 1,
               pipeline_cmd(tiny_clips, work / "out-tiny", 1, workers, "holistic"), 1,
               work / "out-tiny"),
        Method("raw", "clips", 1, raw_cmd(videos_of(tiny_clips), workers, 1), 1),
    ]  # fmt: skip
    tool = pose_format_tool()
    if tool is not None:
        cmd = pose_format_cmd(tool, tiny_clips, workers)
        one_frame.append(Method("pose-format", "clips", 1, cmd, 1, tiny_clips, ".pose"))
    startup: dict[str, dict[str, Any]] = {}
    for m in one_frame:
        runs = [
            run_command(m, logs / f"startup-{m.name}-{m.corpus}-{i}.log") for i in range(repeat)
        ]
        startup[f"{m.name}, one-frame {m.corpus} corpus"] = {
            "wall_s": round(statistics.median(r.wall_s for r in runs), 2),
            "cpu_s": round(statistics.median(r.cpu_s for r in runs), 2),
            "tail_s": _median_or_none([r.tail_s for r in runs]),
        }
    # the end of a real-sized run: the first KArSL-like sign, its videos on the N workers
    out = work / "out-tail"
    m = Method("pipeline", "karsl", 1,
               pipeline_cmd(work / "karsl", out, 1, workers, "holistic"),
               sizes.videos_per_sign * sizes.frames_per_video, out)  # fmt: skip
    run = run_command(m, logs / "tail-pipeline.log")
    seconds = [json.loads(line)["seconds"] for line in (out / "_reports" / "videos.jsonl").open()]
    busy = sum(seconds) / workers
    sign_run = {
        "videos": len(seconds),
        "frames": m.frames,
        "wall_s": round(run.wall_s, 2),
        "cpu_s": round(run.cpu_s, 2),
        "videos' own seconds / workers": round(busy, 2),
        "tail_s (end - last npz written)": run.tail_s,
        "rest (start-up, imbalance between workers)": round(
            run.wall_s - busy - (run.tail_s or 0.0), 2
        ),
    }
    return {"imports_s": imports, "startup_s": startup, "one_sign_run": sign_run}


_HOLISTIC_FIRST_FRAME = (
    "import numpy as np\n"
    "from keypoints.backends import BackendConfig, create_backend\n"
    "b = create_backend('holistic', BackendConfig(graph_threads=1))\n"
    "b.start_video(); b.process(np.zeros((360, 640, 3), np.uint8), 0)\n"
)


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def print_table(result: dict[str, Any]) -> None:
    def rows(title: str, table: dict[str, tuple[float, float]], unit: str) -> None:
        print(f"\n{title}\n  {'':62} {'wall ' + unit:>10} {'CPU ' + unit:>10}")
        for label, (wall, cpu) in table.items():
            print(f"  {label:62} {wall:10.2f} {cpu:10.2f}")

    for part in result["extract"]:
        what = (f"{part['corpus']}, decode_scale {part['decode_scale']} "
                f"(decoded {part['decoded_size']}), {part['videos']} videos, "
                f"{part['frames']} frames, inside extract_video")  # fmt: skip
        rows(f"Per frame: {what}", part["per_frame_ms"], "ms")
        rows(f"Per video: {what}", part["per_video_ms"], "ms")
    decoders = result["decoders"]
    rows(f"Decoders, KArSL-like 1920x1080 q90 ({decoders['jpeg_frames']} frames)",
         decoders["jpeg"], "ms")  # fmt: skip
    rows(f"Decoders, clips ({decoders['clip_frames']} frames)", decoders["clips"], "ms")
    costs = result["run"]
    rows("Start-up pieces: fresh interpreters, median", costs["imports_s"], "s")
    print(f"\nPer run, N = {result['workers']} workers, median of {result['repeat']}")
    print(f"  {'':62} {'wall s':>10} {'CPU s':>10} {'tail s':>10}")
    for label, r in costs["startup_s"].items():
        tail = "-" if r["tail_s"] is None else f"{r['tail_s']:.2f}"
        print(f"  {label:62} {r['wall_s']:10.2f} {r['cpu_s']:10.2f} {tail:>10}")
    print("\nEnd of a run: the pipeline on the first KArSL-like sign")
    for label, value in costs["one_sign_run"].items():
        print(f"  {label:62} {value!s:>10}")
    print(
        "\nCPU of other processes is their rusage as far as each was waited for; tail: the "
        "process's end minus its last video's (the newest npz / .pose, raw's own timestamp)."
    )


def breakdown(args: argparse.Namespace, work: Path, sizes: Sizes) -> int:
    from keypoints.backends import BackendConfig, create_backend, graph_threads_per_worker

    corpora = ensure_corpora(work, sizes)
    karsl = videos_of(Path(corpora["karsl"]["root"]))[: args.sample_videos]
    clips = videos_of(Path(corpora["clips"]["root"]))[: args.sample_videos]
    config = BackendConfig(graph_threads=graph_threads_per_worker(args.workers))
    backend = create_backend("holistic", config)
    for warm_up in (karsl[:1], clips[:1]):  # the process's first frames, PyAV's import
        extract_breakdown(backend, warm_up, 1)
    parts = []
    scales = SCALES if decode_scale_supported() else (1,)
    for corpus, videos in (("KArSL-like 1920x1080 JPEG", karsl),
                           (f"clips {sizes.clip_size} H.264", clips)):  # fmt: skip
        for scale in scales:
            parts.append({"corpus": corpus, **extract_breakdown(backend, videos, scale)})
    backend.close()
    result = {
        "workers": args.workers,
        "repeat": args.repeat,
        "graph_threads": config.graph_threads,
        "extract": parts,
        "decoders": decoder_table(karsl, clips, args.repeat),
        "run": run_costs(work, sizes, args.workers, args.repeat),
    }
    print(
        f"One process, Holistic with {config.graph_threads} graph thread(s) (as each of "
        f"{args.workers} workers runs it), MediaPipe and decoding in this process (the "
        "pipeline runs them in a child of each worker); alone on the machine, so a frame "
        "costs less here than with every core busy."
    )
    print_table(result)
    (work / "breakdown.json").write_text(json.dumps(result, indent=1))
    return 0


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workdir", help="corpora and outputs (default: a temporary folder)")
    common.add_argument("--workers", type=int, default=2)
    common.add_argument("--signs", type=int, default=8)
    common.add_argument("--videos-per-sign", type=int, default=10)
    common.add_argument("--frames-per-video", type=int, default=50)
    common.add_argument("--clips", type=int, default=24)
    common.add_argument("--clips-per-sign", type=int, default=6)
    common.add_argument("--clip-size", choices=CLIP_SIZES, default=CLIP_SIZES[0])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("measure", parents=[common], help="whole runs, in rounds")
    run.add_argument("--rounds", type=int, default=2)
    run.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["karsl", "clips", "scale2", "raw", "pose-format"],
        help="methods or corpora left out, all after one --skip",
    )
    run.add_argument(
        "--python",
        help="the interpreter of the install to measure, its videos_to_poses beside it "
        "(default: this one). run_local.sh's is a plain install, without the test extras",
    )
    part = commands.add_parser("breakdown", parents=[common], help="per-frame and fixed costs")
    part.add_argument("--sample-videos", type=int, default=3, help="of each corpus")
    part.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per start-up measurement, rounds of the decoders",
    )
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="signkps-realistic-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = Sizes(args.signs, args.videos_per_sign, args.frames_per_video, args.clips,
                  args.clips_per_sign, args.clip_size)  # fmt: skip
    print(json.dumps({"command": args.command, "workdir": str(work), "workers": args.workers,
                      **dataclasses.asdict(sizes)}), flush=True)  # fmt: skip
    if args.command == "measure":
        return measure(args, work, sizes)
    return breakdown(args, work, sizes)


if __name__ == "__main__":
    sys.exit(main())
