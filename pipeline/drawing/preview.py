"""Previews of one video's keypoints: a grid of sampled frames (PNG) or an animation.

Image-coordinate output is drawn over the video's own frames when they are given, else
over a blank canvas of the recorded frame size. Adjusted output has no place on the image
(each part has its own origin and unit), so each frame becomes four labelled panels, one
per part, each scaled to what that part spans over the whole video so that its motion
shows and the panels do not jump from frame to frame.

Encoders are OpenCV's (PNG, MP4) and Pillow's (GIF).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from keypoints import layout as L
from keypoints.frames import IMAGE_EXTENSIONS, VideoSource, extension, natural_order
from pipeline.drawing import canvas as draw
from pipeline.drawing.canvas import Image

PREVIEW_FORMATS = (".png", ".gif", ".mp4")
DEFAULT_SAMPLES = 6
DEFAULT_COLUMNS = 3
DEFAULT_TILE_WIDTH = 480  # a grid tile
DEFAULT_ANIMATION_WIDTH = 640
GAP = 8  # pixels between grid tiles
PANEL_MARGIN = 0.12  # of a panel's half-width, kept free round a part's extent
GIF_MIN_DELAY_MS = 20  # browsers slow down GIFs that ask for less
MIN_EXTENT = 1e-3  # half-width of a part's panel when it never moves


class PreviewError(ValueError):
    """Inputs that cannot make a preview; the message names the input and the problem."""


@dataclass(frozen=True)
class VideoPoints:
    """One video's keypoints as a run wrote them, with what drawing them needs.

    ``points`` is (frames, 184, 4) in the 184 layout; ``width`` and ``height`` are the
    recorded frame size (needed for a blank canvas in image coordinates only).
    """

    label: str
    points: npt.NDArray[np.float32]
    width: int | None
    height: int | None
    fps: float
    adjusted: bool

    @property
    def frames(self) -> int:
        return int(self.points.shape[0])


def as_184(points: npt.NDArray[np.float32], name: str) -> npt.NDArray[np.float32]:
    """A video's array in the 184 layout, from either layout a run writes."""
    if points.ndim == 3 and points.shape[2] == L.NUM_CHANNELS:
        if points.shape[1] == L.POINTS_184:
            return points
        if points.shape[1] == L.FULL_POINTS:
            return L.select_184(points)
    raise PreviewError(
        f"{name}: array of shape {points.shape} is not keypoints "
        f"(expected (frames, {L.POINTS_184} or {L.FULL_POINTS}, {L.NUM_CHANNELS}))"
    )


def looks_adjusted(points: npt.NDArray[np.float32]) -> bool:
    """Whether 184-layout points seem to be adjusted rather than image coordinates.

    Only a guess, for output whose run record is missing: an adjusted hand has its wrist
    exactly at the origin, and adjusted parts span several units where image coordinates
    stay near [0, 1].
    """
    for part in ("right_hand", "left_hand"):
        block = L.PARTS_184[part]
        present = L.part_present(points, block)
        if present.any():
            wrists = points[present, block.start + L.HAND_WRIST, :3]
            return bool(np.all(wrists == 0))
    found = points[..., :2][np.any(points != 0, axis=-1)]
    return bool(found.size) and bool(np.any(found < -0.5) or np.any(found > 1.5))


def sample_indices(frames: int, samples: int) -> list[int]:
    """Up to ``samples`` frame indices spread evenly from the first frame to the last."""
    if frames <= 0 or samples <= 0:
        return []
    spread = np.linspace(0, frames - 1, min(samples, frames))
    return sorted({int(i) for i in spread.round()})


def local_source(path: str) -> VideoSource:
    """A local frame folder or video file as the frame source of a preview."""
    name = os.path.basename(path.rstrip("/"))
    if os.path.isdir(path):
        frames = [
            os.path.join(path, entry)
            for entry in os.listdir(path)
            if extension(entry) in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(path, entry))
        ]
        if not frames:
            raise PreviewError(f"{path}: folder holds no image frames")
        return VideoSource(name, path, True, tuple(natural_order(frames)))
    if os.path.isfile(path):
        return VideoSource(os.path.splitext(name)[0], path, False, (path,))
    raise PreviewError(f"{path}: no such frame folder or video file")


# --- one tile per frame ------------------------------------------------------------


@dataclass(frozen=True)
class PartView:
    """Where a part's adjusted coordinates go inside its panel: centre and half-width."""

    centre: tuple[float, float]
    half: float


def part_views(points: npt.NDArray[np.float32]) -> dict[str, PartView]:
    """Per part, a square view holding everything the part does over the video."""
    views = {}
    for part in L.PART_NAMES:
        block = L.PARTS_184[part]
        present = L.part_present(points, block)
        xy = points[present][:, block.slice, :2].reshape(-1, 2).astype(np.float64)
        if not len(xy):
            views[part] = PartView((0.0, 0.0), 1.0)
            continue
        low, high = xy.min(axis=0), xy.max(axis=0)
        half = max(float((high - low).max()) / 2, MIN_EXTENT) * (1 + PANEL_MARGIN)
        views[part] = PartView((float(low[0] + high[0]) / 2, float(low[1] + high[1]) / 2), half)
    return views


def adjusted_tile(points: npt.NDArray[np.float32], views: dict[str, PartView], width: int) -> Image:
    """One frame of adjusted output: a 2x2 grid of panels, one per part, labelled."""
    side = width // 2
    tile = draw.blank_canvas(2 * side, 2 * side, draw.BACKGROUND)
    sizes = draw.strokes(side * 2)
    for i, part in enumerate(L.PART_NAMES):
        panel = draw.blank_canvas(side - 2, side - 2, draw.PANEL_BACKGROUND)
        block, view = L.PARTS_184[part], views[part]
        scale = (side - 2) / 2 / view.half
        pixels = (points[:, :2].astype(np.float64) - view.centre) * scale + (side - 2) / 2
        origin = (-np.array(view.centre) * scale + (side - 2) / 2).round().astype(int)
        cv2.line(panel, (int(origin[0]), 0), (int(origin[0]), side), draw.AXIS_COLOUR, 1)
        cv2.line(panel, (0, int(origin[1])), (side, int(origin[1])), draw.AXIS_COLOUR, 1)
        label = draw.PART_LABELS[part]
        if L.part_present(points, block):
            draw.draw_part(panel, pixels, part, sizes[part])
        else:
            label += " (not found)"
        draw.put_text(panel, label, (2, 2), draw.PART_COLOURS[part], box=draw.PANEL_BACKGROUND)
        y, x = divmod(i, 2)
        tile[y * side + 1 : (y + 1) * side - 1, x * side + 1 : (x + 1) * side - 1] = panel
    return tile


def image_tile(points: npt.NDArray[np.float32], rgb: Image | None, size: tuple[int, int]) -> Image:
    """One frame in image coordinates, drawn over ``rgb`` scaled to ``size`` (w, h)."""
    width, height = size
    if rgb is None:
        canvas = draw.blank_canvas(width, height)
    else:
        canvas = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
    draw.draw_skeleton(canvas, points)
    return canvas


def tile_size(video: VideoPoints, width: int, rgb: Image | None) -> tuple[int, int]:
    """(width, height) of one tile: the recorded frame's aspect, or the frame's own."""
    if video.width and video.height:
        aspect = video.height / video.width
    elif rgb is not None:
        aspect = rgb.shape[0] / rgb.shape[1]
    else:
        raise PreviewError(
            f"{video.label}: the recorded frame size is unknown (no report record): "
            "give the video's frames to draw on"
        )
    return width, max(1, round(width * aspect))


def readable_frames(frames: Iterable[Image | None]) -> Iterator[Image]:
    """The frames the extractor kept: it skips unreadable ones, so rows match these."""
    return (rgb for rgb in frames if rgb is not None)


def render_tiles(
    video: VideoPoints, indices: list[int], frames: Iterable[Image] | None, width: int
) -> list[Image]:
    """Tiles of the frames at ``indices``, each with its frame number.

    ``frames`` are the video's readable frames in order; their count must match the
    keypoints, or they are not the frames these keypoints came from. Adjusted output is
    not drawn on them (it has no place there), but the count is still checked.
    """
    wanted = set(indices)
    views = part_views(video.points) if video.adjusted else {}
    tiles: dict[int, Image] = {}
    source = iter(frames) if frames is not None else None
    for index in range(video.frames):
        rgb = next(source, None) if source is not None else None
        if source is not None and rgb is None:
            raise PreviewError(
                f"{video.label}: the frames given end after {index} frames, "
                f"but the keypoints have {video.frames}"
            )
        if index not in wanted:
            continue
        points = video.points[index]
        if video.adjusted:
            tile = adjusted_tile(points, views, width)
        else:
            tile = image_tile(points, rgb, tile_size(video, width, rgb))
        bottom_left = (4, tile.shape[0] - draw.LINE_HEIGHT - 2)
        draw.put_text(tile, f"frame {index + 1}/{video.frames}", bottom_left, box=draw.BACKGROUND)
        tiles[index] = tile
    if source is not None and next(source, None) is not None:
        raise PreviewError(
            f"{video.label}: the frames given have more than the {video.frames} frames "
            "of the keypoints: they are not this video's frames"
        )
    return [tiles[i] for i in indices]


# --- grids and animations ----------------------------------------------------------


@dataclass(frozen=True)
class GridLayout:
    """Where each tile of a preview grid sits: a caption line, tiles in rows, a legend."""

    tile_width: int
    tile_height: int
    columns: int
    count: int

    @property
    def top(self) -> int:
        return draw.LINE_HEIGHT + 4  # the caption strip

    @property
    def rows(self) -> int:
        return -(-self.count // self.columns)

    @property
    def width(self) -> int:
        return self.columns * self.tile_width + (self.columns - 1) * GAP

    def origin(self, i: int) -> tuple[int, int]:
        """(x, y) of tile ``i``'s top-left corner."""
        row, column = divmod(i, self.columns)
        return column * (self.tile_width + GAP), self.top + row * (self.tile_height + GAP)


def grid_layout(tiles: list[Image], columns: int) -> GridLayout:
    height, width = tiles[0].shape[:2]
    return GridLayout(width, height, max(1, min(columns, len(tiles))), len(tiles))


def grid_image(tiles: list[Image], columns: int, title: str) -> Image:
    """The tiles in a grid under ``title``, with the legend below."""
    layout = grid_layout(tiles, columns)
    body_height = layout.rows * layout.tile_height + (layout.rows - 1) * GAP
    body = draw.blank_canvas(layout.width, layout.top + body_height)
    body[: layout.top] = draw.caption(layout.width, title)
    for i, tile in enumerate(tiles):
        x, y = layout.origin(i)
        body[y : y + layout.tile_height, x : x + layout.tile_width] = tile
    return np.vstack([body, draw.legend(layout.width)])


def animation_frame(tile: Image, title: str) -> Image:
    """One frame of an animation: the same caption above and legend below as a grid."""
    width = tile.shape[1]
    return np.vstack([draw.caption(width, title), tile, draw.legend(width)])


def title(video: VideoPoints) -> str:
    kind = "adjusted, per part" if video.adjusted else "image coordinates"
    size = f", {video.width}x{video.height}" if video.width and video.height else ""
    return f"{video.label}: {video.frames} frames{size}, {video.fps:g} fps, {kind}"


def encode_png(rgb: Image) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise PreviewError("OpenCV could not encode the PNG")
    return bytes(data.tobytes())


def write_png(path: str, rgb: Image) -> None:
    with open(path, "wb") as f:
        f.write(encode_png(rgb))


def write_gif(path: str, frames: list[Image], fps: float) -> None:
    """An endless GIF; its frame delays come in steps of 10 ms (24 fps plays at 25)."""
    images = [PILImage.fromarray(frame) for frame in frames]
    delay = max(GIF_MIN_DELAY_MS, round(100 / fps) * 10)
    images[0].save(path, save_all=True, append_images=images[1:], loop=0, duration=delay)


def write_mp4(path: str, frames: list[Image], fps: float) -> None:
    """MPEG-4 (``mp4v``) through OpenCV; sizes are made even, as the codec wants."""
    height, width = (d // 2 * 2 for d in frames[0].shape[:2])
    writer = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise PreviewError(f"{path}: OpenCV cannot write an MP4 video here")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame[:height, :width], cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def preview_grid(
    video: VideoPoints,
    frames: Iterable[Image] | None,
    samples: int = DEFAULT_SAMPLES,
    columns: int = DEFAULT_COLUMNS,
    width: int = DEFAULT_TILE_WIDTH,
) -> Image:
    """A grid of ``samples`` frames spread over the video."""
    tiles = render_tiles(video, sample_indices(video.frames, samples), frames, width)
    return grid_image(tiles, columns, title(video))


def preview_animation(
    video: VideoPoints, frames: Iterable[Image] | None, width: int = DEFAULT_ANIMATION_WIDTH
) -> list[Image]:
    """Every frame of the video, captioned, with the legend."""
    tiles = render_tiles(video, list(range(video.frames)), frames, width)
    return [animation_frame(tile, title(video)) for tile in tiles]


def write_preview(
    out: str,
    video: VideoPoints,
    frames: Iterable[Image] | None,
    samples: int = DEFAULT_SAMPLES,
    columns: int = DEFAULT_COLUMNS,
    width: int | None = None,
) -> None:
    """Write a PNG grid, or a GIF or MP4 animation, as the extension of ``out`` says.

    An animation holds all its frames in memory while it is encoded (sign videos are short).
    """
    kind = extension(out)
    if kind not in PREVIEW_FORMATS:
        formats = ", ".join(PREVIEW_FORMATS)
        raise PreviewError(f"{out}: unknown preview format, use one of {formats}")
    if video.frames == 0:
        raise PreviewError(f"{video.label}: has no frames to draw")
    if kind == ".png":
        write_png(out, preview_grid(video, frames, samples, columns, width or DEFAULT_TILE_WIDTH))
        return
    animation = preview_animation(video, frames, width or DEFAULT_ANIMATION_WIDTH)
    if kind == ".gif":
        write_gif(out, animation, video.fps)
    else:
        write_mp4(out, animation, video.fps)
