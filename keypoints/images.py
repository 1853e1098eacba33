"""One frame file's bytes to RGB pixels: header first, then the fastest exact decoder.

A frame's header is read before its pixels (Pillow's format readers parse just the
header), so that a frame too large for MediaPipe is refused undecoded and a reduced decode
knows its target size. JPEG, the format of nearly every frame folder, is decoded by
libjpeg-turbo through simplejpeg, straight to RGB: the same library, settings and pixels
as OpenCV's decoder (tests/test_images.py compares them bit for bit over JPEG's variants),
in less time, with no colour conversion after it (benchmarks/RESULTS.md). What simplejpeg
does not take (an EXIF orientation to apply, CMYK, 12-bit, damage it warns about) goes to
OpenCV, as does every other format, so nothing is decoded differently than before.

A reduced decode (``reduction`` > 1, the run's ``--decode_scale``) uses the JPEG decoder's
own DCT scaling, which skips most of the work; other formats are decoded whole and shrunk.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import simplejpeg
from PIL import BmpImagePlugin, ImageFile, JpegImagePlugin, PngImagePlugin

# Pillow's header readers, for the formats frame folders hold
_HEADER_READERS: tuple[type[ImageFile.ImageFile], ...] = (
    JpegImagePlugin.JpegImageFile,
    PngImagePlugin.PngImageFile,
    BmpImagePlugin.BmpImageFile,
)
_EXIF_ORIENTATION = 0x0112  # the tag; 1 (or none) means stored upright
REDUCTIONS = (1, 2, 4, 8)  # what JPEG's DCT scaling does exactly
# A reduced decode never makes the shorter side smaller than this: MediaPipe finds the
# person in the whole frame, and a small frame has no pixels to spare.
MIN_REDUCED_SIDE = 360
_OPENCV_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


@dataclass(frozen=True)
class Header:
    """What an encoded image says about itself before it is decoded."""

    width: int
    height: int
    jpeg: bool
    upright: bool  # no EXIF orientation asks for a turn


def read_header(data: bytes) -> Header | None:
    """The image's header, without decoding its pixels; None for bytes no reader knows.

    The readers are used directly: ``Image.open`` refuses very large images before it
    tells their size, and the size is what the user needs to see.
    """
    for reader in _HEADER_READERS:
        try:
            with reader(io.BytesIO(data)) as image:
                width, height = image.size
                jpeg = reader is JpegImagePlugin.JpegImageFile
                upright = not jpeg or image.getexif().get(_EXIF_ORIENTATION, 1) == 1
                return Header(width, height, jpeg, upright)
        except Exception:  # not this format, or a damaged header: the decoder will say
            continue
    return None


def reduction(width: int, height: int, scale: int) -> int:
    """The reduction used for a frame: at most ``scale``, keeping MIN_REDUCED_SIDE."""
    used = 1
    for factor in REDUCTIONS:
        if factor <= scale and min(width, height) // factor >= MIN_REDUCED_SIDE:
            used = factor
    return used


def decode(data: bytes, header: Header | None, reduce: int = 1) -> npt.NDArray[np.uint8] | None:
    """RGB pixels, reduced ``reduce`` times (1, 2, 4, 8); None for bytes that do not decode.

    Grey, grey+alpha, 16-bit and RGBA images all become 8-bit RGB.
    """
    if header is not None and header.jpeg and header.upright:
        try:
            return _jpeg(data, header, reduce)
        except ValueError:  # what libjpeg-turbo warns about, or a variant it leaves to OpenCV
            pass
    return _opencv(data, reduce)


def _jpeg(data: bytes, header: Header, reduce: int) -> npt.NDArray[np.uint8]:
    if reduce == 1:
        return simplejpeg.decode_jpeg(data, colorspace="RGB")  # type: ignore[no-any-return]
    return simplejpeg.decode_jpeg(  # type: ignore[no-any-return]
        data,
        colorspace="RGB",
        min_width=-(-header.width // reduce),
        min_height=-(-header.height // reduce),
        min_factor=reduce,
    )


def _opencv(data: bytes, reduce: int) -> npt.NDArray[np.uint8] | None:
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _OPENCV_REDUCED[reduce])
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # type: ignore[return-value]
