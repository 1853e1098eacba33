"""The Holistic backend on real footage of a signer."""

import itertools
import os

import numpy as np
import pytest

from keypoints import layout as L
from keypoints.backends import BackendConfig, create_backend
from keypoints.backends.holistic import (
    BLANK_FRAME,
    SETTINGS,
    HolisticBackend,
    set_graph_threads,
)
from keypoints.extract import extract_frames
from tests.conftest import read_rgb
from tests.support import results_frame


@pytest.fixture(scope="module")
def holistic():
    """The backend as pipelines build it: one graph thread (BackendConfig.graph_threads)."""
    backend = create_backend("holistic", BackendConfig(graph_threads=1))
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


@pytest.fixture(scope="module")
def videos(signer_rgb, assets):
    """Short real videos: the signer, mirrored, and gesture stills drifting sideways."""
    found = {
        "signer": signer_rgb,
        "mirrored": [np.ascontiguousarray(f[:, ::-1]) for f in signer_rgb],
    }
    stills = sorted((assets / "media").glob("gesture_*.jpg"))[:2]
    for path, still in zip(stills, read_rgb(stills), strict=True):
        found[path.stem] = [np.ascontiguousarray(np.roll(still, 6 * i, axis=1)) for i in range(5)]
    return found


def stock_holistic_frames(frames, holistic=None):
    """What an unmodified mediapipe Holistic gives; a new instance unless one is passed."""
    from mediapipe.python.solutions import holistic as mp_holistic

    own = holistic is None
    holistic = holistic or mp_holistic.Holistic(**SETTINGS)
    try:
        return np.stack([results_frame(holistic.process(f)) for f in frames])
    finally:
        if own:
            holistic.close()


def test_each_video_equals_a_new_stock_holistic_whatever_came_before(holistic, videos):
    """The blank-frame reset, with pose visibility filtered in Python, is exactly fresh state."""
    fresh = {name: stock_holistic_frames(frames) for name, frames in videos.items()}
    for before, name in itertools.permutations(videos, 2):
        extract_frames(videos[before], holistic)
        np.testing.assert_array_equal(
            extract_frames(videos[name], holistic), fresh[name], err_msg=f"{name} after {before}"
        )


def test_graph_threads_size_the_default_executor_and_leave_named_ones_alone():
    from mediapipe.framework import calculator_pb2
    from mediapipe.framework import thread_pool_executor_pb2 as tpe

    config = calculator_pb2.CalculatorGraphConfig()
    config.executor.add(name="gpu_io", type="ThreadPoolExecutor")
    config.executor.add()  # what Holistic's expanded graph holds: the default, unset
    set_graph_threads(config, 1)
    named, default = config.executor
    assert (default.name, default.type) == ("", "ThreadPoolExecutor")
    assert default.options.Extensions[tpe.ThreadPoolExecutorOptions.ext].num_threads == 1
    assert not named.options.HasExtension(tpe.ThreadPoolExecutorOptions.ext)
    empty = calculator_pb2.CalculatorGraphConfig()
    set_graph_threads(empty, 3)
    assert empty.executor[0].options.Extensions[tpe.ThreadPoolExecutorOptions.ext].num_threads == 3


def threads_started_by(build):
    """How many threads a new backend adds to this process once it has run a frame.

    Counted as thread ids that were not there before, so that a thread of an earlier test
    ending meanwhile does not hide one the backend started.
    """
    before = set(os.listdir("/proc/self/task"))
    backend = build()
    try:
        backend.start_video()
        backend.process(BLANK_FRAME, 0)
        return len(set(os.listdir("/proc/self/task")) - before)
    finally:
        backend.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_graph_threads_reach_the_running_graph():
    for threads in (1, 3):
        config = BackendConfig(graph_threads=threads)
        assert threads_started_by(lambda c=config: create_backend("holistic", c)) == threads


def test_restarting_backend_feeds_no_blank_frame():
    """The restart variant (compare_backends) must cost a restart only, not a blank frame too."""
    for restart, frames_fed in ((True, 0), (False, 1)):
        backend = HolisticBackend(restart_graph=restart)
        try:
            before = backend._holistic._simulated_timestamp
            backend.start_video()
            fed = (backend._holistic._simulated_timestamp - before) // 33333
        finally:
            backend.close()
        assert fed == frames_fed


def test_a_blank_frame_alone_leaves_the_pose_visibility_of_the_last_video(videos):
    """Why the backend filters visibility itself: MediaPipe's own filter skips pose-less frames.

    If a MediaPipe release fixes this, the Python filter becomes unnecessary (still exact).
    """
    from mediapipe.python.solutions import holistic as mp_holistic

    fresh = stock_holistic_frames(videos["gesture_call_0e022ee9"])
    reused = mp_holistic.Holistic(**SETTINGS)
    try:
        stock_holistic_frames(videos["signer"], reused)
        reused.process(BLANK_FRAME)
        after_blank = stock_holistic_frames(videos["gesture_call_0e022ee9"], reused)
    finally:
        reused.close()
    np.testing.assert_array_equal(after_blank[..., :3], fresh[..., :3])  # positions: fresh
    pose_visibility = L.FULL_PARTS["pose"].slice
    leak = np.abs(after_blank[:, pose_visibility, 3] - fresh[:, pose_visibility, 3]).max()
    assert leak > 0.1
