"""The trained LoRA as a ``.safetensors`` in the kohya layout that A1111, ComfyUI and diffusers all load.

Keys are ``lora_unet_<module path with underscores>.lora_down.weight`` /
``.lora_up.weight`` / ``.alpha`` (and ``lora_te_...`` for SD1.5's text
encoder, ``lora_te1_``/``lora_te2_`` for SDXL's two). diffusers' own
``convert_state_dict_to_kohya`` does the renaming from PEFT's names; two
things are fixed after it: SD1.5's text encoder prefix (diffusers writes
SDXL's ``lora_te1_``, A1111 and ComfyUI read ``lora_te_`` on SD1.5), and
``alpha``, which diffusers sets to the rank while ours is the preset's.
Weights are stored in float16, as LoRAs are shared; the metadata carries
kohya's ``ss_*`` fields that A1111's extra-networks page shows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

UNET_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
_BASE_VERSIONS = {"sd15": "sd_v1", "sdxl": "sdxl_base_v1-0"}


def kohya_state_dict(unet, text_encoders: list[Any], *, family: str, alpha: float) -> dict[str, Any]:
    """The PEFT adapters of ``unet`` (and of each trained text encoder) renamed to kohya's keys, float16."""
    import torch
    from diffusers.utils.state_dict_utils import convert_state_dict_to_kohya
    from peft.utils import get_peft_model_state_dict

    state = {f"unet.{k}": v for k, v in get_peft_model_state_dict(unet).items()}
    for index, encoder in enumerate(text_encoders):
        prefix = "text_encoder" if index == 0 else "text_encoder_2"
        for key, value in get_peft_model_state_dict(encoder).items():
            # transformers 5 dropped CLIPTextModel's text_model level; kohya's names (and A1111's) keep it.
            if not key.startswith("text_model."):
                key = f"text_model.{key}"
            state[f"{prefix}.{key}"] = value
    kohya = convert_state_dict_to_kohya(state)
    out: dict[str, Any] = {}
    for key, value in kohya.items():
        if family != "sdxl" and key.startswith("lora_te1_"):
            key = "lora_te_" + key[len("lora_te1_") :]
        if key.endswith(".alpha"):
            out[key] = torch.tensor(float(alpha), dtype=torch.float32)
        else:
            out[key] = value.detach().to("cpu", torch.float16).contiguous()
    return out


def lora_file(state: dict[str, Any], *, family: str, rank: int, alpha: float, extra: dict[str, Any] | None = None) -> bytes:
    """The ``.safetensors`` bytes of ``state`` with kohya's metadata (and ours under ``lookalike_*``)."""
    from safetensors.torch import save

    metadata = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha),
        "ss_base_model_version": _BASE_VERSIONS.get(family, family),
        "ss_v2": "False",
        "format": "pt",
    }
    for key, value in (extra or {}).items():
        metadata[f"lookalike_{key}"] = value if isinstance(value, str) else json.dumps(value)
    return save(state, metadata=metadata)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
