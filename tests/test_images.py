"""keypoints.images: the fast JPEG path gives OpenCV's pixels exactly, in every variant.

The default output must stay bit-identical to decoding with OpenCV, so each JPEG variant a
camera, an encoder or an export tool writes is decoded both ways and compared, from the
real signer frames (and their 1080p enlargement, the size of KArSL's Kinect frames).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from keypoints import images
from keypoints.frames import read_frame
from keypoints.layout import POSE_SLICE


def opencv_rgb(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), flags), cv2.COLOR_BGR2RGB)


def read_binary(path: str):
    return open(path, "rb")


def jpeg(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def signer(signer_frames: list[Path]) -> Image.Image:
    return Image.open(signer_frames[3]).convert("RGB")


VARIANTS = {
    "4:2:0 q90": {"quality": 90, "subsampling": 2},
    "4:2:2": {"quality": 90, "subsampling": 1},
    "4:4:4": {"quality": 95, "subsampling": 0},
    "progressive": {"quality": 90, "progressive": True},
    "optimised Huffman": {"quality": 75, "optimize": True},
    "restart markers": {"quality": 90, "restart_marker_blocks": 4},
    "low quality": {"quality": 20},
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("size", [(640, 360), (1920, 1080), (641, 359)])
def test_fast_jpeg_path_gives_opencvs_pixels(signer, variant, size):
    data = jpeg(signer.resize(size, Image.Resampling.BICUBIC), **VARIANTS[variant])
    header = images.read_header(data)
    assert header is not None and header.jpeg and header.upright
    assert np.array_equal(images.decode(data, header), opencv_rgb(data))


def test_grey_jpeg_becomes_the_same_rgb(signer):
    data = jpeg(signer.convert("L"), quality=90)
    assert np.array_equal(images.decode(data, images.read_header(data)), opencv_rgb(data))


def test_cmyk_jpeg_is_left_to_opencv(signer):
    data = jpeg(signer.convert("CMYK"), quality=90)
    assert np.array_equal(images.decode(data, images.read_header(data)), opencv_rgb(data))


def test_exif_orientation_is_applied_as_opencv_does(signer):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown after a quarter turn clockwise
    data = jpeg(signer, quality=90, exif=exif.tobytes())
    header = images.read_header(data)
    assert header is not None and not header.upright
    rgb = images.decode(data, header)
    assert rgb is not None and rgb.shape == (640, 360, 3)  # upright: portrait
    assert np.array_equal(rgb, opencv_rgb(data))


@pytest.mark.parametrize("reduce", [2, 4])
def test_reduced_jpeg_decode_is_the_decoders_own_scaling(signer, reduce):
    data = jpeg(signer.resize((1920, 1080), Image.Resampling.BICUBIC), quality=90)
    rgb = images.decode(data, images.read_header(data), reduce)
    flags = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}[reduce]
    assert rgb is not None and rgb.shape == (1080 // reduce, 1920 // reduce, 3)
    assert np.array_equal(rgb, opencv_rgb(data, flags))


def test_reduction_keeps_the_shorter_side_at_least_360():
    assert images.reduction(1920, 1080, 1) == 1
    assert images.reduction(1920, 1080, 2) == 2
    assert images.reduction(1920, 1080, 8) == 2  # 1080 / 4 = 270 < 360
    assert images.reduction(3840, 2160, 8) == 4
    assert images.reduction(640, 360, 2) == 1  # small frames are decoded whole


def test_a_reduced_frame_keeps_its_full_size(signer, tmp_path):
    path = tmp_path / "00000.jpg"
    path.write_bytes(jpeg(signer.resize((1920, 1080), Image.Resampling.BICUBIC), quality=90))
    frame = read_frame(0, str(path), read_binary, scale=2)
    assert frame.rgb is not None and frame.rgb.shape == (540, 960, 3)
    assert frame.full_size == (1920, 1080)
    whole = read_frame(0, str(path), read_binary)
    assert whole.full_size is None and whole.rgb is not None and whole.rgb.shape == (1080, 1920, 3)


@pytest.fixture(scope="module")
def hd_folder(signer_frames: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three of the signer's frames at 1920x1080, KArSL's size, as JPEG at quality 90."""
    folder = tmp_path_factory.mktemp("hd")
    for i, path in enumerate(signer_frames[:3]):
        image = Image.open(path).convert("RGB").resize((1920, 1080), Image.Resampling.BICUBIC)
        (folder / f"{i:05d}.jpg").write_bytes(jpeg(image, quality=90))
    return folder


def test_decode_scale_decodes_smaller_and_measures_on_the_whole_frame(hd_folder):
    """--decode_scale 2: same video, points near the full decode's, record says so."""
    from keypoints.backends import create_backend
    from keypoints.extract import ExtractionSettings, extract_video
    from keypoints.frames import VideoSource

    frames = tuple(str(p) for p in sorted(hd_folder.glob("*.jpg")))
    source = VideoSource("hd", str(hd_folder), True, frames)
    backend = create_backend("holistic")
    whole = extract_video(source, backend, ExtractionSettings(), read_binary)
    half = extract_video(source, backend, ExtractionSettings(decode_scale=2), read_binary)
    assert (whole.report.decode_scale, half.report.decode_scale) == (1, 2)
    for result in (whole, half):  # points are fractions of the frame as stored
        assert (result.report.width, result.report.height) == (1920, 1080)
    assert whole.points is not None and half.points is not None
    pose = POSE_SLICE
    gap = np.abs(whole.points[:, pose, :2] - half.points[:, pose, :2]) * [1920, 1080]
    assert 0 < np.median(gap) < 10  # pixels of the 1080p frame: near, and not identical
