from mediapipe.python.solutions import face_mesh_connections, hands, pose

from keypoints import layout as L
from keypoints import skeleton as S


def as_set(edges):
    return {tuple(sorted(edge)) for edge in edges}


def test_edges_are_mediapipes_own_connection_sets():
    arms = {e for e in pose.POSE_CONNECTIONS if all(i in L.POSE_184 for i in e)}
    assert as_set(S.POSE_ARM_EDGES) == as_set(arms)
    assert as_set(S.FACE_CONTOUR_EDGES) == as_set(face_mesh_connections.FACEMESH_CONTOURS)
    assert as_set(S.FACE_IRIS_EDGES) == as_set(face_mesh_connections.FACEMESH_IRISES)
    assert as_set(S.HAND_EDGES) == as_set(hands.HAND_CONNECTIONS)
    assert len(S.FACE_CONTOUR_EDGES) == 124 and len(S.FACE_IRIS_EDGES) == 8


def test_bones_join_rows_of_their_own_part_in_the_184_layout():
    for part, bones in S.BONES_184.items():
        rows = range(L.PARTS_184[part].start, L.PARTS_184[part].stop)
        assert all(a in rows and b in rows for a, b in bones), part
    # every point of every part is on at least one bone: nothing is drawn as a stray dot
    for part, bones in S.BONES_184.items():
        on_bones = {i for bone in bones for i in bone}
        assert on_bones == set(range(L.PARTS_184[part].start, L.PARTS_184[part].stop)), part


def test_bones_name_the_right_points():
    names = {part: {tuple(L.POINT_NAMES_184[i] for i in b) for b in S.BONES_184[part]}
             for part in S.BONES_184}  # fmt: skip
    assert ("pose_left_shoulder", "pose_left_elbow") in names["pose"]
    assert ("pose_right_elbow", "pose_right_wrist") in names["pose"]
    assert ("right_hand_wrist", "right_hand_thumb_cmc") in names["right_hand"]
    assert ("left_hand_index_finger_dip", "left_hand_index_finger_tip") in names["left_hand"]
    assert ("face_469", "face_470") in names["face"]  # round the subject's right iris
    assert len(S.BONES_184["right_hand"]) == len(S.BONES_184["left_hand"]) == 21
