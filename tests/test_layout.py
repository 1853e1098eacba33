import numpy as np
from mediapipe.python.solutions import face_mesh_connections, hands, pose

from keypoints import layout as L


def test_184_layout_order_and_sizes():
    assert L.POINTS_184 == 184 and L.FULL_POINTS == 553
    assert [L.PARTS_184[p].slice for p in L.PART_NAMES] == [
        slice(0, 6),
        slice(6, 142),
        slice(142, 163),
        slice(163, 184),
    ]
    assert (slice(0, 6), slice(6, 142)) == (L.POSE_SLICE, L.FACE_SLICE)
    assert (slice(142, 163), slice(163, 184)) == (L.RIGHT_HAND_SLICE, L.LEFT_HAND_SLICE)
    assert L.POINT_NAMES_184[:6] == (
        "pose_left_shoulder",
        "pose_right_shoulder",
        "pose_left_elbow",
        "pose_right_elbow",
        "pose_left_wrist",
        "pose_right_wrist",
    )
    assert L.POINT_NAMES_184[142] == "right_hand_wrist"
    assert L.POINT_NAMES_184[163 + 9] == "left_hand_middle_finger_mcp"
    assert len(set(L.POINT_NAMES_184)) == 184 and len(set(L.FULL_POINT_NAMES)) == 553


def test_face_points_are_mediapipe_contours_and_irises():
    union = face_mesh_connections.FACEMESH_CONTOURS | face_mesh_connections.FACEMESH_IRISES
    assert tuple(sorted({i for edge in union for i in edge})) == L.FACE_184
    assert len(L.FACE_184) == 136


def test_names_match_mediapipe_enums():
    assert tuple(m.name.lower() for m in pose.PoseLandmark) == L.POSE_LANDMARKS
    assert tuple(m.name.lower() for m in hands.HandLandmark) == L.HAND_LANDMARKS


def test_select_184_picks_the_named_points():
    full = np.arange(553 * 4, dtype=np.float32).reshape(553, 4)
    subset = L.select_184(full)
    assert subset.shape == (184, 4)
    for i, name in enumerate(L.POINT_NAMES_184):
        assert L.FULL_POINT_NAMES.index(name) == L.FULL_TO_184[i]
        np.testing.assert_array_equal(subset[i], full[L.FULL_TO_184[i]])
    video = np.stack([full, full + 1])
    assert L.select_184(video).shape == (2, 184, 4)
