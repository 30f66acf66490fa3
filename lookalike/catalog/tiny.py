"""The built-in tiny base models: SD1.5's and SDXL's component classes with seeded random weights.

Each is written once into ``<models_dir>/<its local dir>/`` in the same
layout as a real model (a diffusers folder plus ``ip-adapter/<adapter>.bin``)
and then loaded by the same code that loads a real one, so tests exercise the
real loading path offline. Sizes follow diffusers' own ``get_dummy_components``
for Stable Diffusion and Stable Diffusion XL (two text encoders, pooled
embeddings, ``text_time`` added conditioning). Their adapters take 128-d
vectors, the size of the offline dlib encoder's embeddings.

The ``faceid_adapter_state_dict`` builder is shared with the benchmark, which
makes a full-size adapter the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lookalike.catalog.base_models import TINY, TINY_XL, BaseModelSpec
from lookalike.fileio import write_folder_once

# Bump when anything written here changes; an older folder is rewritten.
TINY_VERSION = 3
MARKER = "lookalike-tiny.json"
SEED = 0
TINY_LORA_RANK = 4

# SD1.5's published scheduler config (PNDM with the scaled-linear betas).
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "clip_sample": False,
    "prediction_type": "epsilon",
}


# SDXL base's published scheduler config (Euler with SD's betas, "leading" spacing).
SDXL_SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "interpolation_type": "linear",
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}


def tiny_model_dir(models_dir: Path, spec: BaseModelSpec = TINY) -> Path:
    return Path(models_dir) / spec.source.local_dir


def ensure_tiny_model(models_dir: Path, spec: BaseModelSpec = TINY) -> Path:
    """The tiny model's folder (``spec``: ``TINY`` or ``TINY_XL``), written first if missing or older."""
    if spec.source.kind != "builtin":
        raise ValueError(f"{spec.id} is not a built-in tiny model")
    writer = write_tiny_xl_model if spec.family == "sdxl" else write_tiny_model
    return write_folder_once(tiny_model_dir(models_dir, spec), _is_current, writer)


def _is_current(root: Path) -> bool:
    marker = root / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("version") == TINY_VERSION
    except (OSError, ValueError):
        return False


def write_tiny_model(root: Path) -> None:
    import torch
    from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    root.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = root / "tokenizer"
    write_byte_level_tokenizer(tokenizer_dir)
    tokenizer = load_clip_tokenizer(tokenizer_dir)

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        # 64 rather than diffusers' dummy 32: FaceID PlusV2's perceiver has one
        # head per 64 channels of cross-attention, so 32 would give it none.
        cross_attention_dim=64,
        norm_num_groups=2,
    )
    vae = _tiny_vae(norm_num_groups=2)
    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=64,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
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
    pipe.save_pretrained(root, safe_serialization=True)
    _write_adapter(root, TINY, unet)
    _write_inpaint_unet(root, TINY, unet)


def write_tiny_xl_model(root: Path) -> None:
    """SDXL's classes at diffusers' ``StableDiffusionXLPipelineFastTests`` sizes, plus a FaceID SDXL ``.bin``."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    root.mkdir(parents=True, exist_ok=True)
    for folder in ("tokenizer", "tokenizer_2"):
        write_byte_level_tokenizer(root / folder)
    tokenizer = load_clip_tokenizer(root / "tokenizer")
    tokenizer_2 = load_clip_tokenizer(root / "tokenizer_2")

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        # 6 time ids x 8 + the second encoder's pooled projection (32)
        projection_class_embeddings_input_dim=80,
        # both encoders' hidden states side by side: 32 + 32
        cross_attention_dim=64,
        norm_num_groups=1,
    )
    vae = _tiny_vae(norm_num_groups=32)

    def text_config(tok) -> CLIPTextConfig:
        return CLIPTextConfig(
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            vocab_size=len(tok),
            hidden_act="gelu",
            projection_dim=32,
            max_position_embeddings=77,
        )

    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(text_config(tokenizer))
    torch.manual_seed(SEED + 1)
    text_encoder_2 = CLIPTextModelWithProjection(text_config(tokenizer_2))
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(SDXL_SCHEDULER_CONFIG),
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(root, safe_serialization=True)
    _write_adapter(root, TINY_XL, unet)


def _write_inpaint_unet(root: Path, spec: BaseModelSpec, unet) -> None:
    """An inpainting UNet beside the model (``spec.inpaint_unet``): the same UNet with 9 input channels.

    Latents (4), the mask (1) and the masked picture's latents (4), as
    runwayml's inpainting checkpoint takes them; seeded, in a ``unet/`` folder.
    """
    import torch
    from diffusers import UNet2DConditionModel

    config = dict(unet.config)
    config["in_channels"] = 9
    torch.manual_seed(SEED + 2)
    inpaint = UNet2DConditionModel.from_config(config)
    folder = root / Path(spec.inpaint_unet.local_dir).relative_to(spec.source.local_dir) / "unet"
    inpaint.save_pretrained(folder, safe_serialization=True)


def _tiny_vae(*, norm_num_groups: int):
    """diffusers' dummy VAE (two blocks, 32/64 channels: latents at half the image side)."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(SEED)
    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=norm_num_groups,
        sample_size=64,
    )


def _write_adapter(root: Path, spec: BaseModelSpec, unet) -> None:
    """The FaceID ``.bin`` and, for each PlusV2 option, its ``.bin`` and a small CLIP image encoder."""
    import torch

    for adapter in (spec.adapter, *spec.adapter_options):
        adapter_dir = root / Path(adapter.source.local_dir).relative_to(spec.source.local_dir)
        adapter_dir.mkdir(parents=True, exist_ok=True)
        if adapter.kind == "faceid_plusv2":
            encoder_dir = root / Path(adapter.image_encoder.local_dir).relative_to(spec.source.local_dir)
            hidden = write_tiny_image_encoder(encoder_dir)
            state = faceid_plus_adapter_state_dict(
                unet, embedding_dim=adapter.embedding_dim, clip_hidden=hidden, lora_rank=TINY_LORA_RANK, seed=SEED + 1
            )
        else:
            state = faceid_adapter_state_dict(unet, embedding_dim=adapter.embedding_dim, lora_rank=TINY_LORA_RANK, seed=SEED)
        torch.save(state, adapter_dir / adapter.weight_name)
    (root / MARKER).write_text(json.dumps({"version": TINY_VERSION, "seed": SEED}) + "\n")


def write_tiny_image_encoder(folder: Path) -> int:
    """A small ``CLIPVisionModelWithProjection`` in the layout of laion's ViT-H/14 folder; returns its width.

    32 px images in 8 px patches: 16 patch tokens and the class token, where
    ViT-H/14 at 224 px has 256 and one (the PlusV2 resampler takes any count).
    """
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text())["hidden_size"]
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(SEED)
    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        projection_dim=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )
    CLIPVisionModelWithProjection(config).save_pretrained(folder, safe_serialization=True)
    return config.hidden_size


def faceid_plus_adapter_state_dict(
    unet,
    *,
    embedding_dim: int,
    clip_hidden: int,
    lora_rank: int,
    num_tokens: int = 4,
    depth: int = 4,
    seed: int = 0,
    std: float = 0.02,
) -> dict[str, dict[str, Any]]:
    """Random weights in the layout of h94's ``ip-adapter-faceid-plusv2_sd15.bin`` (and ``_sdxl``).

    ``image_proj`` is upstream IP-Adapter's ``ProjPlusModel``: the FaceID MLP
    (``proj``, ``norm``) and a ``FacePerceiverResampler`` whose ``depth``
    layers are each [PerceiverAttention (norm1, norm2, to_q, to_kv, to_out;
    64-channel heads), FeedForward (LayerNorm, Linear x4, GELU, Linear)].
    ``ip_adapter`` is the same LoRA and ``to_k_ip``/``to_v_ip`` set as FaceID's.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    dim = unet.config.cross_attention_dim
    inner = 64 * (dim // 64)
    image_proj: dict[str, torch.Tensor] = {
        "proj.0.weight": rand(embedding_dim * 2, embedding_dim),
        "proj.0.bias": torch.zeros(embedding_dim * 2),
        "proj.2.weight": rand(dim * num_tokens, embedding_dim * 2),
        "proj.2.bias": torch.zeros(dim * num_tokens),
        "norm.weight": torch.ones(dim),
        "norm.bias": torch.zeros(dim),
        "perceiver_resampler.proj_in.weight": rand(dim, clip_hidden),
        "perceiver_resampler.proj_in.bias": torch.zeros(dim),
        "perceiver_resampler.proj_out.weight": rand(dim, dim),
        "perceiver_resampler.proj_out.bias": torch.zeros(dim),
        "perceiver_resampler.norm_out.weight": torch.ones(dim),
        "perceiver_resampler.norm_out.bias": torch.zeros(dim),
    }
    for i in range(depth):
        prefix = f"perceiver_resampler.layers.{i}"
        for norm in ("norm1", "norm2"):
            image_proj[f"{prefix}.0.{norm}.weight"] = torch.ones(dim)
            image_proj[f"{prefix}.0.{norm}.bias"] = torch.zeros(dim)
        image_proj[f"{prefix}.0.to_q.weight"] = rand(inner, dim)
        image_proj[f"{prefix}.0.to_kv.weight"] = rand(inner * 2, dim)
        image_proj[f"{prefix}.0.to_out.weight"] = rand(dim, inner)
        image_proj[f"{prefix}.1.0.weight"] = torch.ones(dim)
        image_proj[f"{prefix}.1.0.bias"] = torch.zeros(dim)
        image_proj[f"{prefix}.1.1.weight"] = rand(dim * 4, dim)
        image_proj[f"{prefix}.1.3.weight"] = rand(dim, dim * 4)
    ip_adapter = faceid_adapter_state_dict(
        unet, embedding_dim=embedding_dim, lora_rank=lora_rank, num_tokens=num_tokens, seed=seed, std=std
    )["ip_adapter"]
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def faceid_adapter_state_dict(
    unet,
    *,
    embedding_dim: int,
    lora_rank: int,
    num_tokens: int = 4,
    seed: int = 0,
    std: float = 0.02,
) -> dict[str, dict[str, Any]]:
    """Random weights in the layout of h94's ``ip-adapter-faceid_sd15.bin``.

    ``image_proj`` is IP-Adapter's MLPProjModel (Linear(d, 2d), GELU,
    Linear(2d, tokens * cross_dim), LayerNorm). ``ip_adapter`` numbers every
    attention processor of the UNet in order: each has a LoRA on q, k, v and
    out, and each cross-attention one also ``to_k_ip``/``to_v_ip``.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    cross_dim = unet.config.cross_attention_dim
    image_proj = {
        "proj.0.weight": rand(embedding_dim * 2, embedding_dim),
        "proj.0.bias": torch.zeros(embedding_dim * 2),
        "proj.2.weight": rand(cross_dim * num_tokens, embedding_dim * 2),
        "proj.2.bias": torch.zeros(cross_dim * num_tokens),
        "norm.weight": torch.ones(cross_dim),
        "norm.bias": torch.zeros(cross_dim),
    }
    ip_adapter: dict[str, torch.Tensor] = {}
    for index, name in enumerate(unet.attn_processors.keys()):
        hidden = _hidden_size(unet, name)
        is_cross = not name.endswith("attn1.processor")
        kv_in = cross_dim if is_cross else hidden
        for proj, fan_in in (("to_q", hidden), ("to_k", kv_in), ("to_v", kv_in), ("to_out", hidden)):
            ip_adapter[f"{index}.{proj}_lora.down.weight"] = rand(lora_rank, fan_in)
            ip_adapter[f"{index}.{proj}_lora.up.weight"] = rand(hidden, lora_rank)
        if is_cross:
            ip_adapter[f"{index}.to_k_ip.weight"] = rand(hidden, cross_dim) * 10
            ip_adapter[f"{index}.to_v_ip.weight"] = rand(hidden, cross_dim) * 10
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def _hidden_size(unet, processor_name: str) -> int:
    channels = list(unet.config.block_out_channels)
    if processor_name.startswith("mid_block"):
        return channels[-1]
    block_id = int(processor_name.split(".")[1])
    if processor_name.startswith("up_blocks"):
        return list(reversed(channels))[block_id]
    return channels[block_id]


# --- an offline CLIP tokenizer -------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    # GPT-2/CLIP's reversible byte -> printable character table.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def write_byte_level_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer with no merges: every character is a token.

    It tokenizes any text the way CLIP's does (lower-cased, byte-level, words
    ending in ``</w>``), only into more, shorter tokens, which makes prompts
    longer than 77 tokens easy to produce in tests.
    """
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(special), encoding="utf-8")
    config = {**special, "model_max_length": 77, "tokenizer_class": "CLIPTokenizer", "do_lower_case": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


def load_clip_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
