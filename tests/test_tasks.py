"""The Tasks backend on real footage of a signer, and how it places hands."""

from __future__ import annotations

import numpy as np
import pytest

from keypoints import layout as L
from keypoints.backends import BackendConfig, backend_settings, create_backend
from keypoints.backends.tasks import REBUILD, DetectedHand, TasksBackend, place_hands
from keypoints.extract import extract_frames
from keypoints.models import ModelError, ModelStore


@pytest.fixture(scope="module")
def config(assets) -> BackendConfig:
    return BackendConfig(model_dir=str(assets / "models"))


@pytest.fixture(scope="module")
def tasks(config):
    backend = create_backend("tasks", config)
    yield backend
    backend.close()


def test_finds_the_signer_with_presence_in_channel_4(tasks, signer_rgb):
    full = extract_frames(signer_rgb, tasks)
    assert full.shape == (9, 553, 4) and full.dtype == np.float32
    present = {name: L.part_present(full, part) for name, part in L.FULL_PARTS.items()}
    assert present["pose"].all() and present["face"].all() and present["left_hand"].all()
    assert present["right_hand"].sum() == 8  # VIDEO mode loses the right hand in frame 4
    for name in ("face", "right_hand", "left_hand"):
        channel = full[present[name]][:, L.FULL_PARTS[name].slice, 3]
        assert (channel == 1.0).all(), name
    assert (full[~present["right_hand"]][:, L.FULL_PARTS["right_hand"].slice] == 0).all()
    pose_visibility = full[:, L.POSE_LEFT_SHOULDER, 3]
    assert ((pose_visibility > 0.5) & (pose_visibility < 1.0)).all()  # the model's own values


def test_hand_slots_are_the_signers_own_hands(tasks, signer_rgb):
    full = extract_frames(signer_rgb, tasks)
    pose = full[:, L.FULL_PARTS["pose"].slice, :2]
    for slot, own, other in (
        ("left_hand", L.POSE_LEFT_WRIST, L.POSE_RIGHT_WRIST),
        ("right_hand", L.POSE_RIGHT_WRIST, L.POSE_LEFT_WRIST),
    ):
        found = L.part_present(full, L.FULL_PARTS[slot])
        wrist = full[found, L.FULL_PARTS[slot].start + L.HAND_WRIST, :2]
        to_own = np.linalg.norm(wrist - pose[found, own], axis=-1)
        to_other = np.linalg.norm(wrist - pose[found, other], axis=-1)
        assert (to_own < to_other).all(), slot
    # MediaPipe's handedness labels name the signer's own hands on this unmirrored footage
    assert tasks.hand_label_disagreements == 0


def test_every_video_starts_from_fresh_tracking_state(tasks, config, signer_rgb):
    alone = extract_frames(signer_rgb, tasks)
    extract_frames(signer_rgb[::-1], tasks)  # leaves tracking state behind
    np.testing.assert_array_equal(alone, extract_frames(signer_rgb, tasks))
    rebuilt = TasksBackend(config, reset=REBUILD)  # what start_video() saves building
    try:
        extract_frames(signer_rgb[::-1], rebuilt)
        np.testing.assert_array_equal(alone, extract_frames(signer_rgb, rebuilt))
    finally:
        rebuilt.close()


def test_settings_pin_every_model_file(config):
    settings = backend_settings("tasks", config)
    assert settings["running_mode"] == "VIDEO" and settings["num_hands"] == 2
    assert settings["models"]["pose"] == {
        "file": "pose_landmarker_full.task",
        "sha256": "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad",
    }
    assert set(settings["models"]) == {"pose", "face", "hand"}
    lite = backend_settings("tasks", BackendConfig(pose_model="lite"))
    assert lite["models"]["pose"]["file"] == "pose_landmarker_lite.task"


def test_a_model_folder_without_the_chosen_pose_model_is_refused(assets, tmp_path):
    config = BackendConfig(model_dir=str(assets / "models"), pose_model="heavy")
    with pytest.raises(ModelError, match=r"pose_landmarker_heavy\.task: not found"):
        TasksBackend(config, ModelStore(config.model_dir, cache_dir=tmp_path))


LEFT_WRIST, RIGHT_WRIST = (400.0, 300.0), (200.0, 300.0)  # pixels, a signer facing the camera
POSE_WRISTS = {"left_hand": LEFT_WRIST, "right_hand": RIGHT_WRIST}


def test_hands_go_to_the_nearest_pose_wrist_whatever_their_label():
    near_left = DetectedHand((390.0, 310.0), "Left", 0.9)
    near_right = DetectedHand((210.0, 290.0), "Left", 0.8)  # mislabelled
    assert place_hands([near_left, near_right], POSE_WRISTS) == (
        ["left_hand", "right_hand"],
        True,
    )
    assert place_hands([near_right], POSE_WRISTS) == (["right_hand"], True)
    assert place_hands([near_left], POSE_WRISTS) == (["left_hand"], False)


def test_two_hands_never_share_a_slot():
    # both nearer the left wrist: the pairing with the smaller total distance wins
    a = DetectedHand((420.0, 300.0), "Left", 0.9)
    b = DetectedHand((330.0, 300.0), "Right", 0.9)
    assert place_hands([a, b], POSE_WRISTS) == (["left_hand", "right_hand"], False)
    assert place_hands([b, a], POSE_WRISTS) == (["right_hand", "left_hand"], False)


def test_without_a_pose_the_label_decides():
    left = DetectedHand((10.0, 10.0), "Left", 0.7)
    right = DetectedHand((20.0, 20.0), "Right", 0.9)
    assert place_hands([left, right], None) == (["left_hand", "right_hand"], False)
    also_left = DetectedHand((30.0, 30.0), "Left", 0.95)
    assert place_hands([left, also_left], None) == (["right_hand", "left_hand"], False)
    assert place_hands([], None) == ([], False)
