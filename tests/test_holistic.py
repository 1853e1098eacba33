"""The Holistic backend on real footage of a signer."""

import numpy as np
import pytest

from keypoints import layout as L
from keypoints.backends import create_backend
from keypoints.extract import extract_frames


@pytest.fixture(scope="module")
def holistic():
    backend = create_backend("holistic")
    yield backend
    backend.close()


def test_finds_every_part_of_the_signer(holistic, signer_rgb):
    full = extract_frames(signer_rgb, holistic)
    assert full.shape == (9, 553, 4) and full.dtype == np.float32
    for name, part in L.FULL_PARTS.items():
        assert L.part_present(full, part).all(), f"{name} missing in some frame"
    face = full[:, L.FULL_PARTS["face"].slice]
    hands = full[:, L.FULL_PARTS["right_hand"].start : L.FULL_POINTS]
    assert (face[..., 3] == 1.0).all() and (hands[..., 3] == 1.0).all()
    pose_visibility = full[:, L.POSE_LEFT_SHOULDER, 3]
    assert ((pose_visibility > 0.5) & (pose_visibility < 1.0)).all()  # the model's own values


def test_left_hand_slot_holds_the_signers_left_hand(holistic, signer_rgb):
    full = extract_frames(signer_rgb, holistic)
    pose = full[:, L.FULL_PARTS["pose"].slice, :2]
    left_wrist = full[:, L.FULL_PARTS["left_hand"].start + L.HAND_WRIST, :2]
    right_wrist = full[:, L.FULL_PARTS["right_hand"].start + L.HAND_WRIST, :2]
    to_pose_left = np.linalg.norm(left_wrist - pose[:, L.POSE_LEFT_WRIST], axis=-1)
    to_pose_right = np.linalg.norm(left_wrist - pose[:, L.POSE_RIGHT_WRIST], axis=-1)
    assert (to_pose_left < to_pose_right).all()
    right_to_right = np.linalg.norm(right_wrist - pose[:, L.POSE_RIGHT_WRIST], axis=-1)
    right_to_left = np.linalg.norm(right_wrist - pose[:, L.POSE_LEFT_WRIST], axis=-1)
    assert (right_to_right < right_to_left).all()


def test_every_video_starts_from_fresh_tracking_state(holistic, signer_rgb):
    alone = extract_frames(signer_rgb, holistic)
    extract_frames(signer_rgb[::-1], holistic)  # leaves tracking state behind
    after_other = extract_frames(signer_rgb, holistic)
    np.testing.assert_array_equal(alone, after_other)
    fresh = create_backend("holistic")
    try:
        np.testing.assert_array_equal(alone, extract_frames(signer_rgb, fresh))
    finally:
        fresh.close()
