"""`make run` runs `lookalike demo`: a tune from the sample photo and two images from it on the tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from lookalike.store.ids import FIRST_USER_TUNE_ID

LOOKALIKE = str(Path(sys.executable).parent / "lookalike")


def test_demo_makes_a_tune_and_generates_with_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
    env["LOOKALIKE_DATA_DIR"] = str(tmp_path)
    done = subprocess.run([LOOKALIKE, "demo"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # The first tune of a fresh data directory: user ids start above every gallery id.
    first = FIRST_USER_TUNE_ID
    assert f"tune {first} ready: 2 photos" in done.stdout
    assert f"<faceid:{first}:1.0>" in done.stdout
    images = sorted((tmp_path / "demo").glob("tiny-*.png"))
    assert len(images) == 2
    for n, path in enumerate(images):
        with Image.open(path) as image:
            assert image.size == (64, 64)
            parameters = image.text["parameters"]
        assert f"Seed: {42 + n}," in parameters and "FaceID scale: 1," in parameters
