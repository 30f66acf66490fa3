"""lookalike: training-free FaceID portraits from a few photos."""

__version__ = "0.1.0"
