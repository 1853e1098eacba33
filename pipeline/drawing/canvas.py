"""Drawing the 184-point skeleton with OpenCV: bones, points, labels and a legend.

Everything works on RGB ``uint8`` images and draws in place. Colours are fixed per part
(pose, face, right hand, left hand) so that a picture can be read without the legend once
it has been read with it; the right hand is drawn last, so that where the hands cross, the
hand a signer usually leads with stays visible.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from keypoints import layout as L
from keypoints.skeleton import BONES_184

Image = npt.NDArray[np.uint8]
Colour = tuple[int, int, int]  # RGB

# Bright colours from the Okabe-Ito palette (told apart with colour-blind eyes too).
PART_COLOURS: dict[str, Colour] = {
    "pose": (240, 228, 66),
    "face": (0, 200, 150),
    "right_hand": (230, 80, 0),
    "left_hand": (60, 160, 255),
}
PART_LABELS = {"pose": "pose", "face": "face", "right_hand": "right hand", "left_hand": "left hand"}
DRAW_ORDER = ("pose", "face", "left_hand", "right_hand")
BACKGROUND: Colour = (40, 40, 40)
PANEL_BACKGROUND: Colour = (24, 24, 24)
TEXT_COLOUR: Colour = (235, 235, 235)
AXIS_COLOUR: Colour = (90, 90, 90)

FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_SCALE = 0.45
LINE_HEIGHT = 22  # pixels per line of TEXT_SCALE text, with its margins
_SHIFT = 4  # fractional bits of the coordinates given to OpenCV, for sub-pixel placement
_LIMIT = 1 << 15  # points far outside any canvas are clipped before OpenCV sees them


def blank_canvas(width: int, height: int, colour: Colour = BACKGROUND) -> Image:
    return np.full((height, width, 3), colour, dtype=np.uint8)


def printable(text: str) -> str:
    """``text`` as OpenCV's fonts can draw it: other characters become '?'."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def text_width(text: str, scale: float = TEXT_SCALE) -> int:
    (width, _), _ = cv2.getTextSize(printable(text), FONT, scale, 1)
    return int(width)


def put_text(
    canvas: Image,
    text: str,
    origin: tuple[int, int],
    colour: Colour = TEXT_COLOUR,
    scale: float = TEXT_SCALE,
    box: Colour | None = None,
) -> None:
    """Text with its top-left corner at ``origin``, on a filled box when ``box`` is given."""
    text = printable(text)
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, 1)
    x, y = origin
    if box is not None:
        cv2.rectangle(canvas, (x, y), (x + width + 6, y + height + baseline + 6), box, -1)
    cv2.putText(canvas, text, (x + 3, y + height + 3), FONT, scale, colour, 1, cv2.LINE_AA)


def _fixed(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    clipped = np.clip(xy, -_LIMIT, _LIMIT)
    fixed: npt.NDArray[np.int32] = np.round(clipped * (1 << _SHIFT)).astype(np.int32)
    return fixed


def draw_bones(
    canvas: Image,
    pixels: npt.NDArray[np.float64],
    bones: Sequence[tuple[int, int]],
    rows: slice,
    colour: Colour,
    thickness: int,
    radius: int,
) -> None:
    """Lines for ``bones`` and a dot on each point of ``rows``; ``pixels`` is (points, 2)."""
    fixed = _fixed(pixels)
    for a, b in bones:
        pa, pb = fixed[a], fixed[b]
        cv2.line(
            canvas,
            (int(pa[0]), int(pa[1])),
            (int(pb[0]), int(pb[1])),
            colour,
            thickness,
            cv2.LINE_AA,
            _SHIFT,
        )
    for x, y in fixed[rows] if radius > 0 else ():
        cv2.circle(canvas, (int(x), int(y)), radius << _SHIFT, colour, -1, cv2.LINE_AA, _SHIFT)


def strokes(width: int) -> dict[str, tuple[int, int]]:
    """Per part, line thickness and dot radius for a picture ``width`` pixels across.

    The face's points are too close together for dots: its contours show as lines only.
    """
    unit = width / 480
    line, dot = max(1, round(unit)), max(1, round(2 * unit))
    return {
        "pose": (max(1, round(2 * unit)), dot),
        "face": (line, 0),
        "right_hand": (line, dot),
        "left_hand": (line, dot),
    }


def draw_part(
    canvas: Image, pixels: npt.NDArray[np.float64], part: str, stroke: tuple[int, int]
) -> None:
    """One part's bones and points; ``pixels`` is (184, 2), where each point goes."""
    block = L.PARTS_184[part]
    draw_bones(canvas, pixels, BONES_184[part], block.slice, PART_COLOURS[part], *stroke)


def draw_skeleton(canvas: Image, points: npt.NDArray[np.float32]) -> None:
    """The 184 points of one frame in image coordinates, drawn over ``canvas``.

    Parts that were not detected in the frame (all zeros) are left out.
    """
    height, width = canvas.shape[:2]
    pixels = points[:, :2].astype(np.float64) * (width, height)
    sizes = strokes(width)
    for part in DRAW_ORDER:
        if L.part_present(points, L.PARTS_184[part]):
            draw_part(canvas, pixels, part, sizes[part])


def legend(width: int) -> Image:
    """A strip naming each part's colour, wrapped onto more lines when narrow."""
    swatch, gap = 22, 18
    items = [(PART_COLOURS[p], PART_LABELS[p]) for p in L.PART_NAMES]
    lines: list[list[tuple[Colour, str]]] = [[]]
    used = 0
    for colour, label in items:
        need = swatch + 6 + text_width(label) + gap
        if lines[-1] and used + need > width:
            lines.append([])
            used = 0
        lines[-1].append((colour, label))
        used += need
    strip = blank_canvas(width, LINE_HEIGHT * len(lines) + 4)
    for row, line in enumerate(lines):
        x, y = 8, 2 + row * LINE_HEIGHT
        for colour, label in line:
            middle = y + LINE_HEIGHT // 2
            cv2.line(strip, (x, middle), (x + swatch, middle), colour, 3, cv2.LINE_AA)
            cv2.circle(strip, (x + swatch // 2, middle), 4, colour, -1, cv2.LINE_AA)
            put_text(strip, label, (x + swatch + 2, y))
            x += swatch + 6 + text_width(label) + gap
    return strip


def caption(width: int, text: str) -> Image:
    """A one-line strip of text, cut to fit ``width``."""
    strip = blank_canvas(width, LINE_HEIGHT + 4)
    while len(text) > 1 and text_width(text) > width - 12:
        text = text[:-2] + "~"
    put_text(strip, text, (4, 2))
    return strip
