"""Seconds each image feature adds per 512x512 image, as a ratio to the plain generation in the same run.

Full-size SD1.5 architecture with seeded random weights and a full-size
FaceID adapter (``generate.py``'s model), through lookalike's engine, on the
CPU unless told otherwise. Features: img2img (``denoising_strength``),
ControlNet text-to-image and image-to-image (a full-size ControlNet made
from the UNet with ``ControlNetModel.from_unet``, random weights), hires_fix
(first pass at 256, enlarged, img2img at 512) and inpaint_faces (on a real
photo standing for a generated one, since random weights paint no face:
skimage's astronaut, one face).

Speed does not depend on the weights' values. The ControlNet folder is handed
to the engine in place of the catalog's pack (which checks the real file's
digest) by replacing ``catalog.controlnets.controlnet_folder`` in this process.

    python benchmarks/passes.py                 # CPU, 512x512, 4 steps, no CFG
    python benchmarks/passes.py --steps 4 --repeats 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, median  # noqa: E402
from generate import bench_spec, write_full_size_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    header(f"python benchmarks/passes.py --size {args.size} --steps {args.steps} --repeats {args.repeats}")

    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel
    from PIL import Image
    from skimage import data

    import lookalike.catalog.controlnets as catalog
    from lookalike.config import Settings
    from lookalike.execution.hires_fix import apply_hires_fix, first_pass_request
    from lookalike.execution.inpaint_faces import apply_inpaint_faces
    from lookalike.faces.backends.registry import build_analyzer
    from lookalike.generation.engine import Engine
    from lookalike.generation.request import ControlInput, GenerationRequest, GenerationResult, InitImage
    from lookalike.prompts.options import GenerationOptions

    root = Path(tempfile.mkdtemp(prefix="lookalike-passes-"))
    write_full_size_model(root, "float32")
    controlnet_dir = root / "controlnet"
    ControlNetModel.from_unet(UNet2DConditionModel.from_pretrained(str(root / "base" / "unet"))).save_pretrained(
        str(controlnet_dir)
    )
    catalog.controlnet_folder = lambda models_dir, spec, kind: controlnet_dir
    spec = bench_spec(root)
    engine = Engine(Settings(data_dir=root / "data", models_dir=root, device=args.device))
    analyzer = build_analyzer(Settings(data_dir=root / "data"))
    identity = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    identity /= np.linalg.norm(identity)
    size = args.size
    photo = Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.LANCZOS)
    edges = Image.fromarray((np.indices((size, size)).sum(0) % 32 < 3).astype(np.uint8)[..., None].repeat(3, -1) * 255)

    def request(**extra) -> GenerationRequest:
        options = GenerationOptions(seed=1, steps=args.steps, cfg_scale=1.0, scheduler="euler", w=size, h=size,
                                    **extra.pop("options", {}))
        return GenerationRequest(prompt="a portrait photo", base_model=spec, options=options,
                                 identities=((identity, 1.0),), **extra)

    def plain():
        engine.generate(request())

    def img2img():
        engine.generate(request(init=InitImage(photo, 0.8)))

    def controlnet_txt2img():
        engine.generate(request(control=ControlInput("canny", edges, 1.0)))

    def controlnet_img2img():
        engine.generate(request(init=InitImage(photo, 0.8), control=ControlInput("canny", edges, 1.0)))

    def hires_fix():
        target = request(options={"hires_fix": True})
        result = engine.generate(first_pass_request(target))
        apply_hires_fix(engine, target, result)

    def inpaint_faces():
        from lookalike.generation.request import GeneratedImage

        result = GenerationResult(
            images=[GeneratedImage(image=photo.copy(), seed=1, parameters="")], seed=1, width=size, height=size,
            steps=args.steps, cfg_scale=1.0, scheduler="euler", base_model_id=spec.id, adapter_scale=1.0,
        )
        records = apply_inpaint_faces(engine, analyzer, request(), result, background_ratio=0.5, strength=0.45)
        assert records[0], "the astronaut's face was not found"

    runs = {
        "plain txt2img": plain,
        "img2img (strength 0.8)": img2img,
        "ControlNet txt2img": controlnet_txt2img,
        "ControlNet img2img (strength 0.8)": controlnet_img2img,
        "hires_fix (256 -> 512, strength 0.4)": hires_fix,
        "inpaint_faces pass alone (1 face, strength 0.45; after the generation)": inpaint_faces,
    }
    with torch.inference_mode():
        plain()  # loads the model; not timed
        controlnet_txt2img()  # loads the ControlNet and builds its pipeline; not timed
        img2img()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    base = median(times["plain txt2img"])
    print(f"\n{size}x{size}, {args.steps} euler steps, no CFG, FaceID on, device {args.device}, {args.repeats} run(s) each")
    print("| feature | seconds per image | ratio to plain | added seconds |")
    print("|---|---|---|---|")
    for name, values in times.items():
        seconds = median(values)
        # inpaint_faces is a pass after the generation: what it adds is all of it.
        added = seconds if name.startswith("inpaint_faces") else seconds - base
        print(f"| {name} | {seconds:.1f} | {seconds / base:.2f} | {added:+.1f} |")


if __name__ == "__main__":
    main()
