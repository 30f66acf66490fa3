"""Operator pack files for the packs tests: two packs on the tiny base model."""

from __future__ import annotations

import json
from pathlib import Path

NEGATIVE = "blurry, low resolution, bad lighting"

# Two operator packs beside the built-in ones: one public and listed, one neither, with a {{key}}.
OPERATOR_PACKS = {
    "tiny-portraits.json": {
        "id": 100,
        "slug": "tiny-portraits",
        "title": "Tiny portraits",
        "base_tune_id": 999,
        "prompts": {
            "woman": [
                {"id": 1, "text": "studio portrait of <faceid:{tune_id}:1> woman", "negative_prompt": NEGATIVE, "num_images": 2},
                # No token: <faceid:{tune_id}:1> is put in front.
                {"id": 2, "text": "woman reading in a library", "cfg_scale": 3, "aspect_ratio": "4:5"},
            ],
            "man": [{"id": 3, "text": "portrait of <faceid:{tune_id}:0.8> man in a park", "num_images": 1}],
        },
    },
    "tiny-characteristics.json": {
        "id": 101,
        "slug": "tiny-characteristics",
        "title": "Tiny with characteristics",
        "base_tune_id": "tiny",
        "public": False,
        "listed": False,
        "prompts": {"woman": [{"id": 7, "text": "close-up of <faceid:{tune_id}:1> woman with {{eye_color}}, {{ hair }}"}]},
    },
}


def write_packs(folder: Path, packs: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, pack in packs.items():
        (folder / name).write_text(json.dumps(pack))
    return folder
