"""Control images for ControlNets, and the input image brought to the output size.

``make_control_image(kind, pixels, size, models_dir=...)`` turns an input
photo into what a ControlNet of that type reads: canny edges (``canny.py``),
an OpenPose skeleton from MediaPipe's pose models (``pose/``), or the image
as given. ``fit_image`` is the one mapping from the input's pixels to the
output's, used for the img2img start image and every control image alike.
Heavy libraries (OpenCV, LiteRT) are imported inside the functions that use
them.
"""

from lookalike.control.fit import Fit, fit_image
from lookalike.control.make import ControlImage, check_preprocessor, make_control_image, preprocessor_name

__all__ = ["ControlImage", "Fit", "check_preprocessor", "fit_image", "make_control_image", "preprocessor_name"]
