"""Time per image through lookalike's engine against a bare diffusers call, same run.

Full-size SD1.5 architecture (UNet, VAE, CLIP text encoder from SD1.5's
published configs) with seeded random weights, plus a full-size
IP-Adapter-FaceID (512-d input, rank-128 LoRA, in the real .bin layout).
Speed does not depend on the weights' values, so the figures stand for real
weights. The model is written to a scratch models directory and loaded by
the engine's own loader; the bare call is a StableDiffusionPipeline over the
same component modules with the same adapter embeddings.

    python benchmarks/generate.py                      # CPU, 256x256, 4 LCM steps
    python benchmarks/generate.py --device cuda --batch 1 8 --size 512 --repeats 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

# Under 77 tokens even for the benchmark's one-character-per-token tokenizer,
# so that both sides encode one CLIP window (compel would use two past 77).
PROMPT = "headshot, business suit, studio light, 85mm lens"

# SD1.5's published component configs (stable-diffusion-v1-5, */config.json).
SD15_UNET = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD15_VAE = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
SD15_TEXT = {
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "max_position_embeddings": 77,
    "projection_dim": 768,
    "vocab_size": 49408,
    "layer_norm_eps": 1e-05,
}
FACEID_DIM = 512
FACEID_LORA_RANK = 128


def write_full_size_model(root: Path, dtype_name: str) -> None:
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from lookalike.catalog.tiny import (
        SD15_SCHEDULER_CONFIG,
        faceid_adapter_state_dict,
        load_clip_tokenizer,
        write_byte_level_tokenizer,
    )

    # Only the tokenizer's vocabulary is small; the text encoder runs on 77
    # positions either way, so its cost is the real one.
    write_byte_level_tokenizer(root / "base" / "tokenizer")
    tokenizer = load_clip_tokenizer(root / "base" / "tokenizer")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD15_UNET)
    vae = AutoencoderKL(**SD15_VAE)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            **SD15_TEXT,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    # Written at the run's dtype: half the disk and time for a CUDA fp16 run.
    pipe.to(getattr(torch, dtype_name))
    pipe.save_pretrained(root / "base", safe_serialization=True)
    adapter = faceid_adapter_state_dict(unet, embedding_dim=FACEID_DIM, lora_rank=FACEID_LORA_RANK, seed=0)
    (root / "adapter").mkdir(parents=True, exist_ok=True)
    torch.save(adapter, root / "adapter" / "ip-adapter-faceid_sd15.bin")


def bench_spec(root: Path):
    from dataclasses import replace

    from lookalike.catalog.base_models import FACEID_SD15, BaseModelSpec, ModelSource

    adapter = replace(FACEID_SD15, id="bench-faceid", source=ModelSource(kind="local", local_dir="adapter"))
    return BaseModelSpec(
        id="bench-sd15-random",
        gallery_id=-1,
        name="SD1.5 architecture, random weights",
        family="sd15",
        source=ModelSource(kind="local", path=str(root / "base")),
        adapter=adapter,
        license="n/a",
        native_size=512,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda runs in float16)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--scheduler", default="lcm")
    parser.add_argument("--cfg", type=float, default=1.0, help="1.0 turns CFG off, as LCM is used")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--workdir", type=Path, default=None, help="reuse a written model here")
    args = parser.parse_args(argv)

    import torch
    from diffusers import StableDiffusionPipeline

    from lookalike.config import Settings
    from lookalike.generation.engine import Engine
    from lookalike.generation.request import GenerationRequest
    from lookalike.generation.schedulers import make_scheduler
    from lookalike.prompts.options import GenerationOptions

    dtype_name = "float16" if args.device.startswith("cuda") else "float32"
    root = args.workdir or Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
    t0 = time.perf_counter()
    if not (root / "adapter" / "ip-adapter-faceid_sd15.bin").is_file():
        write_full_size_model(root, dtype_name)
    written = time.perf_counter() - t0

    settings = Settings(data_dir=root, models_dir=root, device=args.device, dtype=dtype_name)
    engine = Engine(settings)
    spec = bench_spec(root)
    t0 = time.perf_counter()
    loaded = engine.pipeline(spec)
    load_s = time.perf_counter() - t0
    params = sum(p.numel() for p in loaded.pipe.unet.parameters()) / 1e6

    embedding = np.random.default_rng(0).normal(size=FACEID_DIM).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    # Same modules, a plain diffusers pipeline around them.
    bare = StableDiffusionPipeline(
        **{k: v for k, v in loaded.pipe.components.items() if k not in ("safety_checker", "feature_extractor", "image_encoder")},
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    bare.set_progress_bar_config(disable=True)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def run_engine(batch: int, seed: int) -> float:
        request = GenerationRequest(
            prompt=PROMPT,
            base_model=spec,
            options=GenerationOptions(
                num_images=batch, seed=seed, steps=args.steps, cfg_scale=args.cfg,
                w=args.size, h=args.size, scheduler=args.scheduler,
            ),
            identities=((embedding, 1.0),),
        )
        sync()
        start, cpu = time.perf_counter(), time.process_time()
        engine.generate(request)
        sync()
        return time.perf_counter() - start, time.process_time() - cpu

    def run_bare(batch: int, seed: int) -> float:
        ip = torch.from_numpy(embedding).reshape(1, 1, -1)
        if args.cfg > 1.0:
            ip = torch.cat([torch.zeros_like(ip), ip])
        sync()
        start, cpu = time.perf_counter(), time.process_time()
        bare.scheduler = make_scheduler(args.scheduler, loaded.scheduler_config)
        bare.set_ip_adapter_scale(1.0)
        bare(
            prompt=PROMPT,
            ip_adapter_image_embeds=[ip.to(loaded.device, loaded.dtype)],
            num_inference_steps=args.steps,
            guidance_scale=args.cfg,
            height=args.size,
            width=args.size,
            num_images_per_prompt=batch,
            generator=[torch.Generator().manual_seed(seed + i) for i in range(batch)],
        )
        sync()
        return time.perf_counter() - start, time.process_time() - cpu

    print(f"date: {dt.datetime.now().isoformat(timespec='seconds')}; load average {_load()}", flush=True)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"device {args.device} ({torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}), "
          f"{dtype_name}; torch {torch.__version__}")
    print(f"model: SD1.5 architecture, UNet {params:.0f}M params, random weights; FaceID adapter "
          f"{FACEID_DIM}-d, LoRA rank {FACEID_LORA_RANK}; written in {written:.1f}s, loaded in {load_s:.1f}s")
    print(f"run: {args.size}x{args.size}, {args.steps} {args.scheduler} steps, cfg {args.cfg:g}, "
          f"{args.repeats} repeats (median), 1 warm-up each")
    for batch in args.batch:
        # Warm-up: first calls allocate and pick kernels.
        run_engine(batch, 0)
        run_bare(batch, 0)
        ours, theirs = [], []
        for i in range(args.repeats):  # interleaved so that drift hits both alike
            ours.append(run_engine(batch, i + 1))
            theirs.append(run_bare(batch, i + 1))
        o, b = statistics.median(w for w, _ in ours), statistics.median(w for w, _ in theirs)
        oc, bc = statistics.median(c for _, c in ours), statistics.median(c for _, c in theirs)
        print(
            f"batch {batch}: lookalike {o:.3f}s ({o / batch:.3f}s/image), bare diffusers {b:.3f}s "
            f"({b / batch:.3f}s/image), ratio {o / b:.3f} (target <= 1.05)"
        )
        # Process CPU time is less swayed by other load on a shared machine.
        print(f"  cpu time: lookalike {oc:.3f}s, bare {bc:.3f}s, ratio {oc / bc:.3f}")
        print(f"  wall runs lookalike {[round(w, 3) for w, _ in ours]}, bare {[round(w, 3) for w, _ in theirs]}",
              flush=True)
        # Pairwise: each of ours against the bare run right after it, so that a
        # burst of load on the shared machine hits both sides of one pair.
        pairs = sorted(w / b for (w, _), (b, _) in zip(ours, theirs, strict=True))
        print(f"  pairwise wall ratios: median {statistics.median(pairs):.3f}, min {pairs[0]:.3f}, "
              f"max {pairs[-1]:.3f}; load average now {_load()}", flush=True)
    return 0


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    raise SystemExit(main())
