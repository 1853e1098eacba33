"""The Holistic backend on real footage of a signer."""

import cv2
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


@pytest.fixture(scope="module")
def rgb_frames(signer_frames):
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in signer_frames]


def test_finds_every_part_of_the_signer(holistic, rgb_frames):
    full = extract_frames(rgb_frames, holistic)
    assert full.shape == (9, 553, 4) and full.dtype == np.float32
    for name, part in L.FULL_PARTS.items():
        assert L.part_present(full, part).all(), f"{name} missing in some frame"
    face = full[:, L.FULL_PARTS["face"].slice]
    hands = full[:, L.FULL_PARTS["right_hand"].start : L.FULL_POINTS]
    assert (face[..., 3] == 1.0).all() and (hands[..., 3] == 1.0).all()
    pose_visibility = full[:, L.POSE_LEFT_SHOULDER, 3]
    assert ((pose_visibility > 0.5) & (pose_visibility < 1.0)).all()  # the model's own values


def test_left_hand_slot_holds_the_signers_left_hand(holistic, rgb_frames):
    full = extract_frames(rgb_frames, holistic)
    pose = full[:, L.FULL_PARTS["pose"].slice, :2]
    left_wrist = full[:, L.FULL_PARTS["left_hand"].start + L.HAND_WRIST, :2]
    right_wrist = full[:, L.FULL_PARTS["right_hand"].start + L.HAND_WRIST, :2]
    to_pose_left = np.linalg.norm(left_wrist - pose[:, L.POSE_LEFT_WRIST], axis=-1)
    to_pose_right = np.linalg.norm(left_wrist - pose[:, L.POSE_RIGHT_WRIST], axis=-1)
    assert (to_pose_left < to_pose_right).all()
    right_to_right = np.linalg.norm(right_wrist - pose[:, L.POSE_RIGHT_WRIST], axis=-1)
    right_to_left = np.linalg.norm(right_wrist - pose[:, L.POSE_LEFT_WRIST], axis=-1)
    assert (right_to_right < right_to_left).all()


def test_every_video_starts_from_fresh_tracking_state(holistic, rgb_frames):
    alone = extract_frames(rgb_frames, holistic)
    extract_frames(rgb_frames[::-1], holistic)  # leaves tracking state behind
    after_other = extract_frames(rgb_frames, holistic)
    np.testing.assert_array_equal(alone, after_other)
    fresh = create_backend("holistic")
    try:
        np.testing.assert_array_equal(alone, extract_frames(rgb_frames, fresh))
    finally:
        fresh.close()
