"""MediaPipe's 33 body points as OpenPose's 18, drawn the way OpenPose ControlNets were trained on.

OpenPose ControlNets (lllyasviel's control_v11p_sd15_openpose, the SDXL
ones) learnt from OpenPose's COCO-18 body skeletons as the ControlNet
annotator of ControlNet 1.1 draws them (``annotator/openpose/util.py:
draw_bodypose``): on black, 17 limbs as filled ellipses of half-width 4 at
512 px, each in its fixed colour at 60%, then the 18 joints on top as dots of
radius 4 in full colour. The colours are the annotator's list, read as RGB,
which is how the annotator's canvas reaches the model. Sizes scale with the output's shorter
side (4 px at 512).

OpenPose's neck (point 1) is not a MediaPipe point: it is the middle of the
shoulders, drawn when both are. A point is drawn when MediaPipe's
visibility is at least ``MIN_VISIBILITY`` and it lies in the picture; a
limb when both its ends are.
"""

from __future__ import annotations

import math

import numpy as np

from lookalike.control.pose.landmarks import BodyPoints

MIN_VISIBILITY = 0.5
REFERENCE_SIDE = 512
STICK_WIDTH = 4
JOINT_RADIUS = 4

# OpenPose COCO-18 order -> MediaPipe index (None: the neck, made from both shoulders).
OPENPOSE_FROM_MEDIAPIPE: tuple[int | None, ...] = (
    0,  # 0 nose
    None,  # 1 neck
    12, 14, 16,  # 2-4 right shoulder, elbow, wrist
    11, 13, 15,  # 5-7 left shoulder, elbow, wrist
    24, 26, 28,  # 8-10 right hip, knee, ankle
    23, 25, 27,  # 11-13 left hip, knee, ankle
    5, 2,  # 14 right eye, 15 left eye
    8, 7,  # 16 right ear, 17 left ear
)  # fmt: skip

# The annotator's limbs (pairs of OpenPose points, 0-based), the 17 it draws.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip

COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip


def openpose_points(body: BodyPoints) -> list[tuple[float, float] | None]:
    """The 18 OpenPose points in the same pixels as ``body``; None where not seen well enough."""
    seen = body.visibility >= MIN_VISIBILITY
    out: list[tuple[float, float] | None] = []
    for index in OPENPOSE_FROM_MEDIAPIPE:
        if index is None:
            if seen[11] and seen[12]:
                x, y = (body.xy[11] + body.xy[12]) / 2
                out.append((float(x), float(y)))
            else:
                out.append(None)
        elif seen[index]:
            out.append((float(body.xy[index][0]), float(body.xy[index][1])))
        else:
            out.append(None)
    return out


def draw_skeletons(people: list[list[tuple[float, float] | None]], size: tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) uint8 control image of everyone's skeleton; ``size`` is (width, height)."""
    import cv2

    width, height = size
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    unit = min(width, height) / REFERENCE_SIDE
    stick, radius = max(1, round(STICK_WIDTH * unit)), max(1, round(JOINT_RADIUS * unit))
    inside = [[p if p is not None and 0 <= p[0] < width and 0 <= p[1] < height else None for p in person]
              for person in people]
    for person in inside:
        for limb, (a, b) in enumerate(LIMBS):
            if person[a] is None or person[b] is None:
                continue
            (xa, ya), (xb, yb) = person[a], person[b]
            length = math.hypot(xb - xa, yb - ya)
            angle = math.degrees(math.atan2(yb - ya, xb - xa))
            polygon = cv2.ellipse2Poly(
                (round((xa + xb) / 2), round((ya + yb) / 2)), (round(length / 2), stick), round(angle), 0, 360, 1
            )
            cv2.fillConvexPoly(canvas, polygon, tuple(int(c * 0.6) for c in COLORS[limb]))
    for person in inside:
        for joint, point in enumerate(person):
            if point is not None:
                cv2.circle(canvas, (round(point[0]), round(point[1])), radius, COLORS[joint], thickness=-1)
    return canvas
