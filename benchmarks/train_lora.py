"""Training steps per second: lookalike's LoRA loop against diffusers' own DreamBooth LoRA example, same run.

Both train a rank-4 LoRA on the UNet's attention projections of the same
full-size SD1.5 architecture with seeded random weights (UNet, VAE, CLIP
text encoder from SD1.5's published configs: benchmarks/generate.py writes
it), on the same three photos at 256x256, batch 1, learning rate 1e-4,
float32, no prior preservation, text encoder frozen. Speed does not depend
on the weights' values. diffusers' script runs with its own
``--pre_compute_text_embeddings`` (our loop encodes the frozen captions once
too); it still encodes every step's picture with the VAE, where ours encodes
each picture once and samples its latent distribution per step.

Each side runs in a fresh process; a global optimizer post-step hook (the
same for both) stamps each step's end, and the rate is taken over the steps
after the first (which carries one-time costs). The script itself is not in
this repository: fetch huggingface/diffusers and pass
``examples/dreambooth/train_dreambooth_lora.py`` with ``--script``. It
imports torchvision (for its image transforms), which lookalike does not
need; install it aside, not into the environment, and name the folder with
``--torchvision``. PyPI's torchvision wheel is built against CUDA torch, so
its compiled operators do not load beside the CPU build of torch here; the
script uses none of them (only ``transforms``), and the harness skips
torchvision's registration of their fake kernels, which needs them.

    pip install --no-deps --target /tmp/tv torchvision==0.28.0
    python benchmarks/train_lora.py --script /path/to/train_dreambooth_lora.py --torchvision /tmp/tv --steps 6
    # on a GPU: bfloat16 and gradient checkpointing on both sides, 512x512, and each side's peak memory
    python benchmarks/train_lora.py --script ... --device cuda --resolution 512 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import header  # noqa: E402

RANK = 4
LEARNING_RATE = 1e-4
SEED = 0

# The same stamping for both sides: every optimizer step's end, whoever's optimizer it is.
HARNESS = """
import json, os, runpy, sys, time, types
if os.environ.get("BENCH_SKIP_TORCHVISION_META"):
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
from torch.optim.optimizer import register_optimizer_step_post_hook
stamps = []
register_optimizer_step_post_hook(lambda *_: stamps.append(time.perf_counter()))
out, target, *argv = sys.argv[1:]
sys.argv = [target, *argv]
try:
    runpy.run_path(target, run_name="__main__")
finally:
    import torch
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    with open(out, "w") as handle:
        json.dump({"stamps": stamps, "peak_bytes": peak}, handle)
"""


def write_photos(folder: Path) -> list[Path]:
    """Three photos of one person (the astronaut, public domain), as a DreamBooth instance folder."""
    import numpy as np
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    image = data.astronaut()
    paths = []
    for index, (top, left) in enumerate(((0, 0), (0, 40), (20, 20))):
        crop = np.ascontiguousarray(image[top : top + 470, left : left + 470])
        path = folder / f"{index}.png"
        Image.fromarray(crop).save(path)
        paths.append(path)
    return paths


def ours(root: Path, steps: int, device: str, resolution: int) -> None:
    """The child for our side: lookalike's train_lora on the benchmark model (run under HARNESS)."""
    import numpy as np
    from PIL import Image

    from benchmarks.generate import bench_spec
    from lookalike.training.data import TrainingImages
    from lookalike.training.loop import train_lora
    from lookalike.training.plan import make_plan
    from lookalike.training.presets import TrainingPreset

    preset = TrainingPreset(
        id="bench", title="bench", steps_per_photo=1, learning_rate=LEARNING_RATE, rank=RANK,
        checkpoint_every=10_000, resolution=resolution, face_crop=False,
    )
    spec = bench_spec(root)
    plan = make_plan(preset, base_model=spec.id, family="sd15", resolution=512, photos=3, class_name="woman",
                     seed=SEED, steps=steps, token="sks", face_crop=False)
    photos = tuple(np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / "photos").glob("*.png")))

    class Hooks:
        def load_checkpoint(self):
            return None

        def save_checkpoint(self, step, data):
            pass

        def load_class_images(self):
            return None

        def save_class_images(self, images):
            pass

        def report(self, progress):
            pass

        def between_steps(self):
            pass

    from lookalike.config import Settings
    from lookalike.training.loop import training_device

    # On CUDA what the service would pick (bfloat16 where the GPU has it, gradient checkpointing); float32 on the CPU.
    torch_device, dtype = training_device(Settings(data_dir=root / "settings", device=device))
    train_lora(plan, TrainingImages(photos), Hooks(), spec=spec, models_dir=root, device=torch_device, dtype=dtype)


def run_side(command: list[str], out: Path, extra_path: Path | None = None) -> tuple[float, dict]:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if extra_path is not None:
        env.update(PYTHONPATH=f"{REPO}{os.pathsep}{extra_path}", BENCH_SKIP_TORCHVISION_META="1")
    subprocess.run([sys.executable, "-c", HARNESS, str(out), *command], check=True, cwd=REPO, env=env)
    wall = time.perf_counter() - started
    return wall, json.loads(out.read_text())


def rate(stamps: list[float]) -> float:
    """Steps per second after the first step."""
    if len(stamps) < 3:
        raise SystemExit(f"too few steps stamped ({len(stamps)}): use --steps 3 or more")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", type=Path, required=True, help="diffusers' examples/dreambooth/train_dreambooth_lora.py")
    parser.add_argument("--torchvision", type=Path, default=None, help="a folder holding torchvision (the script needs it)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--only", choices=("lookalike", "diffusers"), default=None, help="run one side (debugging)")
    parser.add_argument("--root", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--child-ours", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_ours is not None:
        ours(args.child_ours, args.steps, args.device, args.resolution)
        return 0
    header(
        f"python benchmarks/train_lora.py --script {args.script} --torchvision {args.torchvision} --steps {args.steps} "
        f"--device {args.device} --resolution {args.resolution}"
    )
    root = args.root or Path(tempfile.mkdtemp(prefix="lookalike-train-bench-"))
    if not (root / "base" / "model_index.json").is_file():
        from benchmarks.generate import write_full_size_model

        write_full_size_model(root, "float32")
    write_photos(root / "photos")
    theirs_args = [
        str(args.script),
        f"--pretrained_model_name_or_path={root / 'base'}",
        f"--instance_data_dir={root / 'photos'}",
        "--instance_prompt=sks woman",
        f"--output_dir={root / 'diffusers-out'}",
        f"--resolution={args.resolution}",
        "--center_crop",
        "--train_batch_size=1",
        "--gradient_accumulation_steps=1",
        f"--learning_rate={LEARNING_RATE}",
        "--lr_scheduler=constant",
        "--lr_warmup_steps=0",
        f"--max_train_steps={args.steps}",
        f"--rank={RANK}",
        f"--seed={SEED}",
        # On the GPU as ours: bfloat16 autocast and gradient checkpointing; float32 on the CPU.
        "--mixed_precision=" + ("bf16" if args.device.startswith("cuda") else "no"),
        *(["--gradient_checkpointing"] if args.device.startswith("cuda") else []),
        "--pre_compute_text_embeddings",
        "--dataloader_num_workers=0",
        f"--checkpointing_steps={10 * args.steps}",
    ]
    ours_args = [str(Path(__file__).resolve()), "--script", str(args.script), "--steps", str(args.steps),
                 "--device", args.device, "--resolution", str(args.resolution), "--child-ours", str(root)]
    results = {}
    for name, command in (("lookalike", ours_args), ("diffusers", theirs_args)):
        if args.only and name != args.only:
            continue
        wall, measured = run_side(command, root / f"{name}-stamps.json", args.torchvision if name == "diffusers" else None)
        stamps, peak = measured["stamps"], measured["peak_bytes"]
        results[name] = (rate(stamps), wall, len(stamps))
        memory = f"; peak GPU memory {peak / 2**30:.2f} GiB" if peak else ""
        print(f"{name:>10}: {results[name][0]:.4f} steps/s over {len(stamps) - 1} steps after the first; "
              f"process {wall:.1f} s{memory}")
    if len(results) == 2:
        ratio = results["lookalike"][0] / results["diffusers"][0]
        print(f"ratio lookalike/diffusers steps per second: {ratio:.2f} (1.00 = as fast; target: no slower)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
