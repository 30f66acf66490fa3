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
    negative_states = _zero_input_states(loaded)
    positives, negatives = [], []
    for plan, count in zip(plans, counts, strict=True):
        if plan.active:
            # A person given without a face crop gets zeros, as a plan without identity does.
            positive = torch.stack([
                torch.zeros_like(negative_states) if person.face_crop is None else _clip_states(loaded, person.face_crop)
                for person in plan.people
            ])
        else:
            # No identity: the adapter's scale is 0 and its attention skipped; the input only needs its shape.
            positive = torch.zeros_like(negative_states).unsqueeze(0).expand(people, -1, -1)
        negative = negative_states.unsqueeze(0).expand(len(positive), -1, -1)
        positives.append(positive.unsqueeze(0).expand(count, -1, -1, -1))
        negatives.append(negative.unsqueeze(0).expand(count, -1, -1, -1))
    clip = torch.cat(positives)
    if do_cfg:
        clip = torch.cat([torch.cat(negatives), clip])
    layer.clip_embeds = clip.to(device=loaded.device, dtype=loaded.dtype)
    layer.shortcut = bool(shortcut)
    layer.shortcut_scale = float(s_scale)


def _clip_states(loaded, face_crop):
    """The face crop's (tokens, hidden) states: as diffusers' ``encode_image(..., output_hidden_states=True)``,
    the feature extractor's pixels through the encoder, its second-to-last hidden states."""
    pipe = loaded.pipe
    pixels = pipe.feature_extractor(images=[np.asarray(face_crop, dtype=np.uint8)], return_tensors="pt").pixel_values
    pixels = pixels.to(device=loaded.device, dtype=next(pipe.image_encoder.parameters()).dtype)
    return pipe.image_encoder(pixels, output_hidden_states=True).hidden_states[-2][0]


def _zero_input_states(loaded):
    """The negative rows' states: the encoder on an all-zero input (diffusers' ``zeros_like(image)``), the same
    for every face, so computed once per loaded pipeline."""
    if loaded.clip_zero_states is None:
        import torch

        pipe = loaded.pipe
        size = pipe.image_encoder.config.image_size
        dtype = next(pipe.image_encoder.parameters()).dtype
        zeros = torch.zeros(1, 3, size, size, device=loaded.device, dtype=dtype)
        loaded.clip_zero_states = pipe.image_encoder(zeros, output_hidden_states=True).hidden_states[-2][0]
    return loaded.clip_zero_states
