import cv2
import numpy as np

from lookalike.faces.quality import pose, sharpness


def test_blur_lowers_sharpness(astronaut):
    crop = cv2.resize(astronaut[60:200, 160:290], (112, 112))
    blurred = cv2.GaussianBlur(crop, (0, 0), 3)
    assert sharpness(blurred) < sharpness(crop) / 5


def test_pose_frontal_and_turned():
    frontal = np.array([[40, 50], [72, 50], [56, 70], [42, 90], [70, 90]], dtype=np.float32)
    yaw, roll = pose(frontal)
    assert abs(yaw) < 0.01 and abs(roll) < 0.01
    turned = frontal.copy()
    turned[2, 0] = 72  # nose under the right eye: a three-quarter view
    assert pose(turned)[0] > 0.45
    tilted = frontal.copy()
    tilted[1, 1] = 60
    assert pose(tilted)[1] > 10
