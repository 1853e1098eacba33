import numpy as np

from keypoints import layout as L
from keypoints.backends import create_backend
from keypoints.extract import extract_frames
from keypoints.normalise import REFERENCES, adjust
from tests.conftest import read_rgb


def _real_full(signer_frames):
    backend = create_backend("holistic")
    try:
        rgb = read_rgb(signer_frames[:3])
        return extract_frames(rgb, backend)
    finally:
        backend.close()


def test_each_part_has_its_origin_at_zero_and_unit_scale(signer_frames):
    full = _real_full(signer_frames)
    adjusted = adjust(full, 640, 360)
    for name, (origin, a, b) in REFERENCES.items():
        part = adjusted[:, L.FULL_PARTS[name].slice]
        np.testing.assert_allclose(part[:, origin, :3], 0, atol=1e-6)
        scale = np.linalg.norm(part[:, a, :2] - part[:, b, :2], axis=-1)
        np.testing.assert_allclose(scale, 1, rtol=1e-5)
    np.testing.assert_array_equal(adjusted[..., 3], full[..., 3])


def test_adjusting_makes_one_unit_one_image_height(signer_frames):
    full = _real_full(signer_frames)[:1]
    adjusted = adjust(full, 640, 360)
    pose = L.FULL_PARTS["pose"]
    raw = full[0, pose.slice]
    dx = (raw[L.POSE_LEFT_SHOULDER, 0] - raw[L.POSE_NOSE, 0]) * 640 / 360
    dy = raw[L.POSE_LEFT_SHOULDER, 1] - raw[L.POSE_NOSE, 1]
    scale = np.hypot(
        (raw[L.POSE_LEFT_SHOULDER, 0] - raw[L.POSE_RIGHT_SHOULDER, 0]) * 640 / 360,
        raw[L.POSE_LEFT_SHOULDER, 1] - raw[L.POSE_RIGHT_SHOULDER, 1],
    )
    got = adjusted[0, pose.start + L.POSE_LEFT_SHOULDER, :2]
    np.testing.assert_allclose(got, [dx / scale, dy / scale], rtol=1e-5)


def test_missing_or_degenerate_part_stays_zero():
    frame = L.empty_frame()
    hand = L.FULL_PARTS["right_hand"]
    frame[hand.slice] = [0.5, 0.5, 0.0, 1.0]  # every point at one place: zero scale
    adjusted = adjust(frame, 640, 480)
    assert not adjusted.any()
