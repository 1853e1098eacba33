"""The lines that join the 184 points into a skeleton, for drawing.

They are MediaPipe's own connection sets, kept where both ends are among the 184 points:
the arms of ``POSE_CONNECTIONS`` (pose 11-16), ``FACEMESH_CONTOURS`` and
``FACEMESH_IRISES`` (all of whose points are in the face subset), and ``HAND_CONNECTIONS``
for each hand. They are written out in MediaPipe's own indices, so that importing this
needs no MediaPipe and a reader can compare them with MediaPipe's source; tests check
them against MediaPipe's sets. ``BONES_184`` gives them as rows of the 184 layout.
"""

from __future__ import annotations

from keypoints import layout as L

Edge = tuple[int, int]

# Pose connections among shoulders, elbows and wrists (pose landmark indices).
POSE_ARM_EDGES: tuple[Edge, ...] = ((11, 12), (11, 13), (12, 14), (13, 15), (14, 16))

# FACEMESH_CONTOURS (face oval, lips, eyes, eyebrows), face mesh indices.
FACE_CONTOUR_EDGES: tuple[Edge, ...] = (
    (0, 267), (7, 163), (10, 338), (13, 312), (14, 317), (17, 314), (21, 54), (33, 7),
    (33, 246), (37, 0), (39, 37), (40, 39), (46, 53), (52, 65), (53, 52), (54, 103),
    (58, 132), (61, 146), (61, 185), (63, 105), (65, 55), (66, 107), (67, 109), (70, 63),
    (78, 95), (78, 191), (80, 81), (81, 82), (82, 13), (84, 17), (87, 14), (88, 178),
    (91, 181), (93, 234), (95, 88), (103, 67), (105, 66), (109, 10), (127, 162), (132, 93),
    (136, 172), (144, 145), (145, 153), (146, 91), (148, 176), (149, 150), (150, 136),
    (152, 148), (153, 154), (154, 155), (155, 133), (157, 173), (158, 157), (159, 158),
    (160, 159), (161, 160), (162, 21), (163, 144), (172, 58), (173, 133), (176, 149),
    (178, 87), (181, 84), (185, 40), (191, 80), (234, 127), (246, 161), (249, 390),
    (251, 389), (263, 249), (263, 466), (267, 269), (269, 270), (270, 409), (276, 283),
    (282, 295), (283, 282), (284, 251), (288, 397), (293, 334), (295, 285), (296, 336),
    (297, 332), (300, 293), (310, 415), (311, 310), (312, 311), (314, 405), (317, 402),
    (318, 324), (321, 375), (323, 361), (324, 308), (332, 284), (334, 296), (338, 297),
    (356, 454), (361, 288), (365, 379), (373, 374), (374, 380), (375, 291), (377, 152),
    (378, 400), (379, 378), (380, 381), (381, 382), (382, 362), (384, 398), (385, 384),
    (386, 385), (387, 386), (388, 387), (389, 356), (390, 373), (397, 365), (398, 362),
    (400, 377), (402, 318), (405, 321), (409, 291), (415, 308), (454, 323), (466, 388),
)  # fmt: skip

# FACEMESH_IRISES: a ring of four points round each iris centre, face mesh indices.
FACE_IRIS_EDGES: tuple[Edge, ...] = (
    (469, 470), (470, 471), (471, 472), (472, 469),
    (474, 475), (475, 476), (476, 477), (477, 474),
)  # fmt: skip

# HAND_CONNECTIONS: palm and the five fingers, hand landmark indices.
HAND_EDGES: tuple[Edge, ...] = (
    (0, 1), (0, 5), (0, 17), (1, 2), (2, 3), (3, 4), (5, 6), (5, 9), (6, 7), (7, 8),
    (9, 10), (9, 13), (10, 11), (11, 12), (13, 14), (13, 17), (14, 15), (15, 16), (17, 18),
    (18, 19), (19, 20),
)  # fmt: skip


def _rows(part: str, subset: tuple[int, ...], edges: tuple[Edge, ...]) -> tuple[Edge, ...]:
    """``edges`` in a part's own indices, as rows of the 184 layout."""
    start = L.PARTS_184[part].start
    return tuple((start + subset.index(a), start + subset.index(b)) for a, b in edges)


# part name -> its bones as pairs of rows of the 184 layout.
BONES_184: dict[str, tuple[Edge, ...]] = {
    "pose": _rows("pose", L.POSE_184, POSE_ARM_EDGES),
    "face": _rows("face", L.FACE_184, FACE_CONTOUR_EDGES + FACE_IRIS_EDGES),
    "right_hand": _rows("right_hand", L.HAND_184, HAND_EDGES),
    "left_hand": _rows("left_hand", L.HAND_184, HAND_EDGES),
}
