"""Bare diffusers fp16 against lookalike's fast path on one GPU, same run, same components' shapes.

What it builds itself (speed does not depend on the weights' values): a
full-size SD1.5 architecture (UNet, VAE, CLIP text encoder, SD1.5's
published configs) with seeded random weights, and a full-size
IP-Adapter-FaceID in the real ``ip-adapter-faceid_sd15.bin`` layout (512-d
input, rank-128 LoRA on every attention processor), written by
``benchmarks/generate.py``'s writer into a scratch folder.

The two sides:

* bare: ``StableDiffusionPipeline.from_pretrained(fp16)`` + ``load_ip_adapter``
  with diffusers' defaults (SDPA attention, the FaceID LoRA through PEFT),
  one identity for the whole batch (all a plain call can take).
* lookalike: ``Engine`` with the fast path (fp16, channels_last, LoRA
  folding, fused self-attention QKV, torch.compile of UNet and VAE decoder
  with ``--compile-mode``), a batch of N prompts each with its own identity
  and seed through ``generate_batch``; compiled at ``Engine.warmup`` (its
  time is reported, not counted in the latencies).

Cases: 512x512 LCM 4 steps without CFG at batch 1 and 8; SD1.5 25 steps
Euler with CFG 7.5 at batch 1 (it/s for comparison with public figures).
Reported per case and side: median latency over ``--repeats`` (after two
untimed runs), min and max, images/s, peak GPU memory, and the fraction of
the FLOP floor: the UNet's and VAE decoder's FLOPs, counted with
``torch.utils.flop_counter`` on one call, divided by ``--peak-tflops``
(800: the design's floor; dense fp16 on an H100 SXM is about 990).

Run on the device machine (its image lacks diffusers, compel and
pydantic-settings: carry them as wheels, see docs/BENCHMARKS.md):

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py --compile-mode max-autotune --out $OUT/gpu.json

``--budget-s`` stops starting new cases once that much time has passed, so
that a 10-minute device call still returns what it measured. ``--device cpu``
runs the same script small and uncompiled, to check it here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import FACEID_DIM, PROMPT, bench_spec, write_full_size_model  # noqa: E402

CASES = {
    # name: (steps, scheduler, cfg, batch)
    "lcm4_b1": (4, "lcm", 1.0, 1),
    "lcm4_b8": (4, "lcm", 1.0, 8),
    "sd25_cfg_b1": (25, "euler", 7.5, 1),
}


def load_bare(root: Path, device: str, dtype):
    """diffusers as its documentation shows it: from_pretrained, to(device), load_ip_adapter."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        str(root / "base"), torch_dtype=dtype, safety_checker=None, requires_safety_checker=False,
        local_files_only=True,
    ).to(device)
    pipe.load_ip_adapter(
        str(root / "adapter"), subfolder="", weight_name="ip-adapter-faceid_sd15.bin",
        image_encoder_folder=None, local_files_only=True,
    )
    pipe.set_ip_adapter_scale(1.0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def count_flops(pipe, size: int, device: str, dtype) -> dict[str, float]:
    """FLOPs of one UNet call and one VAE decode for one image at ``size`` (no CFG)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    latent = size // 8
    sample = torch.randn(1, 4, latent, latent, device=device, dtype=dtype)
    text = torch.randn(1, 77, pipe.unet.config.cross_attention_dim, device=device, dtype=dtype)
    ip = [torch.randn(1, 1, FACEID_DIM, device=device, dtype=dtype)]
    with torch.inference_mode():
        with FlopCounterMode(display=False) as unet_counter:
            pipe.unet(sample, 999, encoder_hidden_states=text, added_cond_kwargs={"image_embeds": ip})
        with FlopCounterMode(display=False) as vae_counter:
            pipe.vae.decode(sample / pipe.vae.config.scaling_factor)
    return {"unet_step": float(unet_counter.get_total_flops()), "vae_decode": float(vae_counter.get_total_flops())}


def floor_flops(flops: dict[str, float], steps: int, cfg: float, batch: int) -> float:
    unet_rows = batch * (2 if cfg > 1.0 else 1)
    return steps * unet_rows * flops["unet_step"] + batch * flops["vae_decode"]


def identities(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(count, FACEID_DIM)).astype(np.float32)
    return list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def timed(fn, repeats: int, sync) -> list[float]:
    for _ in range(2):  # untimed: allocation, kernel choice, graph capture
        fn(0)
    runs = []
    for i in range(repeats):
        sync()
        start = time.perf_counter()
        fn(i + 1)
        sync()
        runs.append(time.perf_counter() - start)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--compile-mode", default="max-autotune")
    parser.add_argument("--no-compile", action="store_true", help="the fast path without torch.compile")
    parser.add_argument("--peak-tflops", type=float, default=800.0)
    parser.add_argument("--budget-s", type=float, default=480.0, help="start no new case after this many seconds")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse a model written here")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    import diffusers
    import torch

    from lookalike.config import Settings
    from lookalike.generation.engine import Engine
    from lookalike.generation.request import GenerationRequest
    from lookalike.prompts.options import GenerationOptions

    on_cuda = args.device.startswith("cuda")
    if on_cuda and not torch.cuda.is_available():
        print("no CUDA device here; run with --device cpu to check the script", file=sys.stderr)
        return 2
    dtype_name = "float16" if on_cuda else "float32"
    dtype = getattr(torch, dtype_name)
    sync = torch.cuda.synchronize if on_cuda else (lambda: None)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="lookalike-gpu-bench-"))
    t0 = time.perf_counter()
    if not (root / "adapter" / "ip-adapter-faceid_sd15.bin").is_file():
        write_full_size_model(root, dtype_name)
    report: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if on_cuda else "cpu",
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "dtype": dtype_name,
        "size": args.size,
        "peak_tflops_assumed": args.peak_tflops,
        "model_written_s": round(time.perf_counter() - t0, 1),
        "cases": {},
        "skipped": [],
    }

    def save() -> None:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")

    bare = load_bare(root, args.device, dtype)
    flops = count_flops(bare, args.size, args.device, dtype)
    report["flops_per_image"] = flops
    print(f"{report['device']}, torch {torch.__version__}, diffusers {diffusers.__version__}, {dtype_name}, "
          f"{args.size}x{args.size}")
    print(f"FLOPs per image: UNet step {flops['unet_step'] / 1e12:.3f} T, VAE decode {flops['vae_decode'] / 1e12:.3f} T")

    spec = bench_spec(root)
    settings = Settings(
        data_dir=root, models_dir=root, device=args.device, dtype=dtype_name, fast_path=True,
        fast_compile=not args.no_compile, compile_mode=args.compile_mode,
        warmup_batch_sizes=",".join(str(CASES[c][3]) for c in args.cases if CASES[c][2] <= 1.0),
    )
    engine = Engine(settings)
    t0 = time.perf_counter()
    engine.warmup(spec)
    report["fast_path"] = engine.pipeline(spec).fast
    report["warmup_compile_s"] = round(time.perf_counter() - t0, 1)
    print(f"fast path: {report['fast_path']}; warm-up {report['warmup_compile_s']}s", flush=True)
    people = identities(8)
    scheduler_config = json.loads((root / "base" / "scheduler" / "scheduler_config.json").read_text())
    save()

    for name in args.cases:
        if time.perf_counter() - started > args.budget_s:
            report["skipped"].append(f"{name}: --budget-s {args.budget_s:g} reached")
            print(f"{name}: skipped, time budget reached", flush=True)
            continue
        steps, scheduler, cfg, batch = CASES[name]

        def run_bare(seed: int, steps=steps, scheduler=scheduler, cfg=cfg, batch=batch) -> None:
            from lookalike.generation.schedulers import make_scheduler

            ip = torch.from_numpy(people[0]).reshape(1, 1, -1)
            if cfg > 1.0:
                ip = torch.cat([torch.zeros_like(ip), ip])
            bare.scheduler = make_scheduler(scheduler, scheduler_config)
            with torch.inference_mode():
                bare(
                    prompt=PROMPT, ip_adapter_image_embeds=[ip.to(args.device, dtype)], num_inference_steps=steps,
                    guidance_scale=cfg, height=args.size, width=args.size, num_images_per_prompt=batch,
                    generator=[torch.Generator().manual_seed(seed + i) for i in range(batch)],
                )

        def run_ours(seed: int, steps=steps, scheduler=scheduler, cfg=cfg, batch=batch) -> None:
            requests = [
                GenerationRequest(
                    prompt=PROMPT, base_model=spec, identities=((people[i], 1.0),),
                    options=GenerationOptions(seed=seed * 100 + i, steps=steps, cfg_scale=cfg, w=args.size,
                                              h=args.size, scheduler=scheduler),
                )
                for i in range(batch)
            ]
            engine.generate_batch(requests)

        case: dict = {"steps": steps, "scheduler": scheduler, "cfg": cfg, "batch": batch}
        floor_s = floor_flops(flops, steps, cfg, batch) / (args.peak_tflops * 1e12)
        case["floor_s"] = floor_s
        for side, fn in (("bare_diffusers", run_bare), ("lookalike", run_ours)):
            resident = 0.0
            if on_cuda:
                torch.cuda.reset_peak_memory_stats()
                resident = torch.cuda.memory_allocated() / 2**30  # both pipelines' weights
            runs = timed(fn, args.repeats, sync)
            median = statistics.median(runs)
            case[side] = {
                "median_s": median,
                "min_s": min(runs),
                "max_s": max(runs),
                "images_per_s": batch / median,
                "it_per_s": steps / median,
                "fraction_of_floor": floor_s / median,
                "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if on_cuda else None,
                # Above what was allocated before this side ran (both models stay loaded).
                "peak_above_resident_gib": torch.cuda.max_memory_allocated() / 2**30 - resident if on_cuda else None,
                "runs_s": [round(r, 5) for r in runs],
            }
        case["speedup"] = case["bare_diffusers"]["median_s"] / case["lookalike"]["median_s"]
        report["cases"][name] = case
        b, o = case["bare_diffusers"], case["lookalike"]
        print(
            f"{name}: bare {b['median_s'] * 1e3:.1f} ms ({b['images_per_s']:.1f} img/s, {b['it_per_s']:.1f} it/s, "
            f"{b['fraction_of_floor']:.1%} of floor) | lookalike {o['median_s'] * 1e3:.1f} ms "
            f"({o['images_per_s']:.1f} img/s, {o['it_per_s']:.1f} it/s, {o['fraction_of_floor']:.1%} of floor) | "
            f"x{case['speedup']:.2f}; floor {floor_s * 1e3:.2f} ms",
            flush=True,
        )
        save()
    report["total_s"] = round(time.perf_counter() - started, 1)
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
