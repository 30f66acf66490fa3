"""What the FaceID adapter gets for one pipeline call: embeddings per image and person, scales, masks, PlusV2's CLIP input.

Shapes follow diffusers' IP-Adapter convention for one adapter: the
embeddings are (rows, people, dim), one row per image (negatives first
under classifier-free guidance), one column per person. With one person
(or none) there is one column and no mask, exactly the recipe of diffusers'
FaceID guide; with several, each column has its own mask and scale, which
diffusers' ``IPAdapterAttnProcessor2_0`` applies region by region
(``cross_attention_kwargs={"ip_adapter_masks": [...]}``).

FaceID PlusV2 adds, per person, the CLIP image encoder's penultimate hidden
states of the face crop (``clip_embeds`` on the adapter's projection, as the
diffusers recipe sets it) and the negative rows' states of an all-zero image,
as diffusers' ``encode_image`` makes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lookalike.generation.identity import FacePlan


def ip_embeds(loaded, plans: list[FacePlan], counts: list[int], do_cfg: bool):
    """[tensor of (rows, people, dim)] for ``ip_adapter_image_embeds``; zeros where there is no identity."""
    import torch

    dim = loaded.embedding_dim
    people = max(1, max(len(plan.people) for plan in plans))
    rows = []
    for plan, count in zip(plans, counts, strict=True):
        if plan.active:
            vectors = torch.stack([torch.from_numpy(np.asarray(p.embedding, dtype=np.float32)) for p in plan.people])
        else:
            vectors = torch.zeros(people, dim)
        rows.append(vectors.reshape(1, people, dim).expand(count, people, dim))
    positive = torch.cat(rows)
    embeds = torch.cat([torch.zeros_like(positive), positive]) if do_cfg else positive
    return [embeds.to(device=loaded.device, dtype=loaded.dtype)]


def scale_setting(plan: FacePlan) -> Any:
    """What ``set_ip_adapter_scale`` takes: one number, or one per person when each has a region."""
    if not plan.active:
        return 0.0
    if plan.regions:
        return [[person.scale for person in plan.people]]
    return plan.scale


def attention_masks(plan: FacePlan, width: int, height: int, device, dtype) -> dict[str, Any]:
    """``cross_attention_kwargs`` with one mask per person, at the image's size; {} without regions."""
    if not plan.active or not plan.regions:
        return {}
    import torch

    masks = torch.zeros(1, len(plan.people), height, width)
    for index, person in enumerate(plan.people):
        x0, y0, x1, y1 = person.box or (0.0, 0.0, 1.0, 1.0)
        left, right = round(x0 * width), round(x1 * width)
        top, bottom = round(y0 * height), round(y1 * height)
        masks[0, index, top:bottom, left:right] = 1.0
    return {"ip_adapter_masks": [masks.to(device=device, dtype=dtype)]}


# --- FaceID PlusV2 ----------------------------------------------------------------


def plus_projection(loaded):
    """The PlusV2 projection layer of the loaded adapter, or None for plain FaceID."""
    layer = loaded.pipe.unet.encoder_hid_proj.image_projection_layers[0]
    return layer if hasattr(layer, "clip_embeds") else None


def set_plus_input(loaded, plans: list[FacePlan], counts: list[int], do_cfg: bool, *, shortcut: bool, s_scale: float) -> None:
    """Put PlusV2's CLIP embeds (rows, people, tokens, hidden) and switches on its projection layer."""
    import torch

    layer = plus_projection(loaded)
    if layer is None:
        return
    people = max(1, max(len(plan.people) for plan in plans))
    zero_state, zero_negative = _clip_states(loaded, None)
    positives, negatives = [], []
    for plan, count in zip(plans, counts, strict=True):
        if plan.active:
            states = [_clip_states(loaded, person.face_crop) for person in plan.people]
            positive = torch.stack([s for s, _ in states])
            negative = torch.stack([n for _, n in states])
        else:
            positive = zero_state.unsqueeze(0).expand(people, -1, -1)
            negative = zero_negative.unsqueeze(0).expand(people, -1, -1)
        positives.append(positive.unsqueeze(0).expand(count, -1, -1, -1))
        negatives.append(negative.unsqueeze(0).expand(count, -1, -1, -1))
    clip = torch.cat(positives)
    if do_cfg:
        clip = torch.cat([torch.cat(negatives), clip])
    layer.clip_embeds = clip.to(device=loaded.device, dtype=loaded.dtype)
    layer.shortcut = bool(shortcut)
    layer.shortcut_scale = float(s_scale)


def _clip_states(loaded, face_crop):
    """(hidden states, negative hidden states) of one face crop, each (tokens, hidden); zeros for no face.

    The same calls as diffusers' ``encode_image(..., output_hidden_states=True)``:
    the feature extractor's pixels, the encoder's second-to-last hidden
    states, and for the negative the states of an all-zero input.
    """
    import torch

    pipe = loaded.pipe
    if face_crop is None:
        size = pipe.image_encoder.config.image_size
        image = np.zeros((size, size, 3), dtype=np.uint8)
    else:
        image = np.asarray(face_crop, dtype=np.uint8)
    pixels = pipe.feature_extractor(images=[image], return_tensors="pt").pixel_values
    pixels = pixels.to(device=loaded.device, dtype=next(pipe.image_encoder.parameters()).dtype)
    states = pipe.image_encoder(pixels, output_hidden_states=True).hidden_states[-2][0]
    negative = pipe.image_encoder(torch.zeros_like(pixels), output_hidden_states=True).hidden_states[-2][0]
    if face_crop is None:
        return torch.zeros_like(states), negative
    return states, negative
