"""Which request fields exist: ours, Astria's that we do not offer (yet), and everything else.

A field we accept is never silently ignored: it works, or it is a 422 that
names it. Astria fields not offered are ``unsupported_field`` when given a
value (an empty form field, ``false`` or null means "not given" and
passes, so a client sending Astria's defaults still works); fields nobody
defines are ``unknown_field``, because a typo dropped in silence is the
worst answer. docs/ASTRIA.md says, field by field, what is offered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lookalike.errors import UnknownFieldError, UnsupportedFieldError

ASTRIA_PROMPT_FIELDS_NOT_OFFERED = frozenset(
    {
        "workspace_id", "community", "resolution", "prompt_expansion", "theme", "mask_image", "mask_image_url",
        "lora_scale", "pack_id", "base_pack_id", "video_model", "video_prompt", "image_references",
        "image_reference_urls", "video_duration", "video_first_frame", "video_first_frame_url", "video_last_frame",
        "video_last_frame_url", "source_image_url", "input_video", "input_video_url", "audio_reference",
        "audio_reference_url", "video_audio", "video_upscale_model", "video_upscale_target_resolution",
        "video_fps_model",
    }
)  # fmt: skip

# steps, preset and face_crop are offered for LoRA tunes (schemas/tunes.py refuses them on a FaceID tune).
ASTRIA_TUNE_FIELDS_NOT_OFFERED = frozenset(
    {"training_face_correct", "auto_extend", "characteristics", "prompt_attributes"}
)

# Why a prompt field is not offered, where more than "not yet" is worth saying.
_PROMPT_REASONS = {
    "mask_image": "inpainting with a mask of your own is not offered yet (input_image with denoising_strength is)",
    "mask_image_url": "inpainting with a mask of your own is not offered yet (input_image_url with denoising_strength is)",
}

# Why a tune field is not offered, where more than "not yet" is worth saying.
_TUNE_REASONS = {
    # Astria warns it "may result in over-smoothing"; a LoRA learns that smoothing as part of the face, and a
    # FaceID tune is not trained at all (docs/TRAINING.md, "Fields").
    "training_face_correct": "GFPGAN on the training photos teaches a LoRA their smoothed skin, and a FaceID tune "
    "is not trained; use prompt[face_correct] on the images instead",
}


def given(value: Any) -> bool:
    """Whether a client set ``value``: not null, not an empty form field, not false, not an empty list."""
    if value is None or value is False or value == [] or value == {}:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off")
    return True


def refuse_unknown(
    fields: Mapping[str, Any], *, known: Iterable[str], not_offered: frozenset[str], group: str
) -> None:
    """Raise for the first field that is Astria's but not offered (with a value), or nobody's."""
    known = set(known)
    for name, value in fields.items():
        if name in known:
            continue
        if name in not_offered:
            if not given(value):
                continue
            reasons = _TUNE_REASONS if group == "tune" else _PROMPT_REASONS if group == "prompt" else {}
            reason = reasons.get(name) or "this server does not offer it yet"
            raise UnsupportedFieldError(f"{group}[{name}] is one of Astria's fields, but {reason}.", field=name)
        raise UnknownFieldError(f"{group}[{name}] is not a field of a {group}.", field=name)
