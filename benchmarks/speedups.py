"""What the optional speed-ups buy and cost: DeepCache-style reuse and the TAESD preview decoder.

Same engine, same seeds, same prompt; each variant against the plain path:
median time per image, and PSNR / SSIM of its images against the plain
path's (skimage.metrics, 8-bit RGB). Runs on the full-size SD1.5
architecture with random weights (benchmarks/generate.py writes it) plus a
TAESD with its published architecture and random weights.

Read the quality columns with care: with random weights the UNet is not a
denoiser, so how far a cached step lands from a full one is not how far it
would land with trained weights, and a random TAESD does not try to
reproduce the full VAE at all. The times hold for real weights; the
quality numbers are a check that the code path works, not a measure of
image quality (that needs real weights: owed).

    python benchmarks/speedups.py --workdir /tmp/x/bench --size 256 --steps 8
    python benchmarks/speedups.py --workdir /tmp/x/bench --size 256 --flops-only

``--flops-only`` counts FLOPs instead (torch.utils.flop_counter): a full
UNet call against a DeepCache-reused one, the full VAE decoder against
TAESD's. FLOPs do not depend on weights or on the machine's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import FACEID_DIM, PROMPT, bench_spec, write_full_size_model  # noqa: E402

VARIANTS = {
    "plain": {},
    "deepcache 2": {"deepcache": 2},
    "deepcache 3": {"deepcache": 3},
    "taesd": {"tiny_vae": True},
    "deepcache 2 + taesd": {"deepcache": 2, "tiny_vae": True},
}


def write_random_taesd(models_dir: Path) -> None:
    import torch
    from diffusers import AutoencoderTiny

    from lookalike.generation.tiny_vae import tiny_vae_dir

    if (tiny_vae_dir(models_dir) / "config.json").is_file():
        return
    torch.manual_seed(0)
    AutoencoderTiny().save_pretrained(tiny_vae_dir(models_dir), safe_serialization=True)  # taesd's own config


def count_flops(root: Path, size: int) -> None:
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    from lookalike.generation.deepcache import DeepCache

    def count(fn) -> float:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            fn()
        return float(counter.get_total_flops())

    base = root / "base"
    unet = UNet2DConditionModel.from_pretrained(str(base), subfolder="unet", local_files_only=True).eval()
    latents = torch.randn(1, 4, size // 8, size // 8)
    text = torch.randn(1, 77, unet.config.cross_attention_dim)
    full = count(lambda: unet(latents, 500, encoder_hidden_states=text))
    with DeepCache(unet, 2), torch.inference_mode():
        unet(latents, 500, encoder_hidden_states=text)  # the full call whose features are kept
        reused = count(lambda: unet(latents, 500, encoder_hidden_states=text))
    vae = AutoencoderKL.from_pretrained(str(base), subfolder="vae", local_files_only=True).eval()
    vae_flops = count(lambda: vae.decode(latents))
    taesd_flops = count(lambda: AutoencoderTiny().eval().decode(latents))
    print(f"{size}x{size}: UNet full call {full / 1e12:.4f} TFLOP, DeepCache-reused call {reused / 1e12:.4f} TFLOP "
          f"({reused / full:.3f} of full); VAE decode {vae_flops / 1e12:.4f} TFLOP, TAESD decode "
          f"{taesd_flops / 1e12:.4f} TFLOP ({taesd_flops / vae_flops:.3f} of the VAE)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--scheduler", default="euler")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--flops-only", action="store_true")
    args = parser.parse_args(argv)
    if args.flops_only:
        root = args.workdir or Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
        if not (root / "adapter" / "ip-adapter-faceid_sd15.bin").is_file():
            write_full_size_model(root, "float32")
        count_flops(root, args.size)
        return 0

    import torch
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from lookalike.config import Settings
    from lookalike.generation.engine import Engine
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.options import GenerationOptions

    root = args.workdir or Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
    if not (root / "adapter" / "ip-adapter-faceid_sd15.bin").is_file():
        write_full_size_model(root, "float32")
    write_random_taesd(root)
    engine = Engine(Settings(data_dir=root, models_dir=root, device="cpu"))
    spec = bench_spec(root)
    identity = np.random.default_rng(0).normal(size=FACEID_DIM).astype(np.float32)
    identity /= np.linalg.norm(identity)

    def run(seed: int, extra: dict):
        request = GenerationRequest(
            prompt=PROMPT, base_model=spec, identities=((identity, 1.0),),
            options=GenerationOptions(seed=seed, steps=args.steps, cfg_scale=1.0, w=args.size, h=args.size,
                                      scheduler=args.scheduler, **extra),
        )
        start = time.perf_counter()
        result = engine.generate(request)
        return time.perf_counter() - start, np.asarray(result.images[0].image)

    print(f"date: {dt.datetime.now().isoformat(timespec='seconds')}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"cpu, {torch.get_num_threads()} torch threads, torch {torch.__version__}; full-size SD1.5 + FaceID, "
          f"random weights; {args.size}x{args.size}, {args.steps} {args.scheduler} steps, cfg 1, seeds 1..{args.seeds}")
    run(0, {})  # warm-up
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    images: dict[str, list[np.ndarray]] = {name: [] for name in VARIANTS}
    for seed in range(1, args.seeds + 1):
        names = list(VARIANTS)
        # Interleaved, and in a rotated order each seed, so load drift on a
        # shared machine does not always hit the same variant first.
        for name in names[seed % len(names):] + names[: seed % len(names)]:
            elapsed, image = run(seed, VARIANTS[name])
            times[name].append(elapsed)
            images[name].append(image)
    plain_time = statistics.median(times["plain"])
    print("| variant | median s/image | vs plain | PSNR dB vs plain | SSIM vs plain |")
    print("|---|---|---|---|---|")
    for name in VARIANTS:
        t = statistics.median(times[name])
        if name == "plain":
            psnr, ssim = "-", "-"
        else:
            pairs = list(zip(images["plain"], images[name], strict=True))
            psnr = f"{np.mean([peak_signal_noise_ratio(a, b, data_range=255) for a, b in pairs]):.1f}"
            ssim = f"{np.mean([structural_similarity(a, b, channel_axis=2, data_range=255) for a, b in pairs]):.3f}"
        print(f"| {name} | {t:.2f} | x{plain_time / t:.2f} | {psnr} | {ssim} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
