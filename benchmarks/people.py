"""Two people in one picture: time against one person, and the per-region likeness scoring.

1. Time per image with one ``<faceid>`` identity and with two in their own
   regions (``faceid_layout=columns``: per-person attention masks), on the
   tiny model and on the full-size SD1.5 architecture with random weights
   (``generate.py``'s model), same run, as a ratio. Random weights paint no
   face, so the identity scores of these pictures are null: they show the
   plumbing, not likeness.
2. The per-region scoring itself (``execution.runner.people_scores``) on a
   real photo of two people (../shared/data/faces/group/kit_with_rose.jpg)
   against tunes made from each person's other photos: each region's face
   should match its own person and not the other (skipped without the
   shared photos).

    python benchmarks/people.py
    python benchmarks/people.py --size 512 --steps 4 --repeats 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHARED_FACES, header, median  # noqa: E402
from generate import bench_spec, write_full_size_model  # noqa: E402


def unit(seed: int, dim: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def timing(engine, spec, dim: int, width: int, height: int, steps: int, repeats: int) -> tuple[float, float]:
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.options import GenerationOptions

    def run(identities):
        options = GenerationOptions(seed=3, steps=steps, cfg_scale=3.0, scheduler="euler", w=width, h=height)
        request = GenerationRequest(prompt="two friends, portrait", base_model=spec, options=options, identities=identities)
        started = time.perf_counter()
        engine.generate(request)
        return time.perf_counter() - started

    one = ((unit(1, dim), 1.0),)
    two = ((unit(1, dim), 1.0), (unit(2, dim), 1.0))
    run(one)  # load
    ones, twos = [], []
    for _ in range(repeats):
        ones.append(run(one))
        twos.append(run(two))
    return median(ones), median(twos)


def scoring() -> None:
    group = SHARED_FACES / "group" / "kit_with_rose.jpg"
    if not group.is_file():
        print(f"\nscoring: skipped, {group} is absent")
        return
    from PIL import Image

    from lookalike.config import Settings
    from lookalike.execution.runner import people_scores
    from lookalike.faces.backends.registry import build_analyzer
    from lookalike.faces.compare import mean_identity
    from lookalike.prompts.options import GenerationOptions

    analyzer = build_analyzer(Settings())

    def identity_of(folder: str) -> np.ndarray:
        vectors = []
        for path in sorted((SHARED_FACES / folder).iterdir()):
            pixels = np.asarray(Image.open(path).convert("RGB"))
            faces = analyzer.analyse(pixels)
            vectors.append(max(faces, key=lambda f: f.detection.size).embeddings[analyzer.encoder.name])
        return mean_identity(vectors)

    tunes = {1: identity_of("kit_harington"), 2: identity_of("rose_leslie")}
    ctx = SimpleNamespace(
        analyzer=lambda: analyzer,
        tunes=SimpleNamespace(identity=lambda tune, encoder, account_id=None: tunes[tune]),
    )
    image = Image.open(group).convert("RGB")
    print(f"\nscoring on {group.name} ({image.width}x{image.height}), offline encoder, columns layout")
    print("| token order | region 1 (left) | region 2 (right) |")
    print("|---|---|---|")
    for order in ((1, 2), (2, 1)):
        resolved = SimpleNamespace(identities=tuple((t, 1.0) for t in order), account_id=None)
        request = SimpleNamespace(options=GenerationOptions())
        scores = people_scores(ctx, resolved, request, image)
        names = {1: "Kit", 2: "Rose"}
        cells = [f"{names[s['tune_id']]}: {s['score']}" for s in scores]
        print(f"| {', '.join(names[t] for t in order)} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    header(f"python benchmarks/people.py --size {args.size} --steps {args.steps} --repeats {args.repeats}")

    import torch

    from lookalike.catalog.base_models import get_base_model
    from lookalike.config import Settings
    from lookalike.generation.engine import Engine

    root = Path(tempfile.mkdtemp(prefix="lookalike-people-"))
    with torch.inference_mode():
        tiny_engine = Engine(Settings(data_dir=root / "tiny", models_dir=root / "tiny" / "models", device="cpu"))
        tiny = timing(tiny_engine, get_base_model("tiny"), 128, 128, 64, args.steps, args.repeats * 3)
        write_full_size_model(root / "full", "float32")
        full_engine = Engine(Settings(data_dir=root / "full" / "data", models_dir=root / "full", device="cpu"))
        full = timing(full_engine, bench_spec(root / "full"), 512, args.size, args.size, args.steps, args.repeats)
    print(f"\n{args.steps} euler steps, CFG 3, CPU; median of the runs")
    print("| model | size | one person (s) | two people in columns (s) | ratio |")
    print("|---|---|---|---|---|")
    print(f"| tiny | 128x64 | {tiny[0]:.3f} | {tiny[1]:.3f} | {tiny[1] / tiny[0]:.2f} |")
    print(f"| SD1.5 architecture, random weights | {args.size}x{args.size} | {full[0]:.1f} | {full[1]:.1f} | {full[1] / full[0]:.2f} |")
    scoring()


if __name__ == "__main__":
    main()
