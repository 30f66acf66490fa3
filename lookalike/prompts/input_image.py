"""The rules of Astria's input-image fields: which need an image, which need each other, their defaults.

``check_image_options`` runs inside ``GenerationOptions`` (ranges, the
ControlNet type), ``require_input_image`` wherever it is known whether the
prompt has an image (the request schema, the runner's check), and
``with_image_defaults`` fills in what an image prompt runs with. A field we
accept is never dropped in silence: a strength that nothing would use
(text-to-image) is refused, not ignored.
"""

from __future__ import annotations

from typing import Any

from lookalike.errors import InputImageRequiredError, InvalidFieldError, UnsupportedFieldError

DEFAULT_DENOISING_STRENGTH = 0.8  # Astria's documented default
DEFAULT_CONDITIONING_SCALE = 1.0  # diffusers' and A1111's; Astria documents none
INPUT_FIELDS = ("input_image", "input_image_url", "input_image_base64")


def check_image_options(options: Any) -> None:
    """Ranges and the ControlNet type, normalised in place (a frozen ``GenerationOptions`` being validated)."""
    from lookalike.catalog.controlnets import ASTRIA_CONTROLNETS, NOT_OFFERED, offered_kinds

    for name in ("denoising_strength", "controlnet_conditioning_scale"):
        value = getattr(options, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidFieldError(
                f"{name} must be from 0 to 1; got {value:g}.", field=name, details={"min": 0, "max": 1, "got": value}
            )
    if options.controlnet is None:
        return
    kind = options.controlnet.strip().lower()
    offered = offered_kinds()
    details = {"offered": list(offered), "not_offered": dict(NOT_OFFERED)}
    if kind in NOT_OFFERED:
        raise UnsupportedFieldError(
            f"controlnet={kind} is one of Astria's types, but not offered here: {NOT_OFFERED[kind]}. "
            f"Offered: {', '.join(offered)}.",
            field="controlnet",
            hint=f"Use one of {', '.join(offered)}.",
            details=details,
        )
    if kind not in ASTRIA_CONTROLNETS:
        raise InvalidFieldError(
            f"Unknown controlnet {options.controlnet!r}. Offered here: {', '.join(offered)}; "
            f"Astria's others ({', '.join(NOT_OFFERED)}) are not.",
            field="controlnet",
            details=details,
        )
    object.__setattr__(options, "controlnet", kind)


def given_fields(options: Any) -> list[str]:
    """The image fields the client set (a false controlnet_txt2img counts as not set: it is the default)."""
    names = ("denoising_strength", "controlnet", "controlnet_conditioning_scale")
    found = [name for name in names if getattr(options, name) is not None]
    if options.controlnet_txt2img:
        found.append("controlnet_txt2img")
    return found


def require_input_image(options: Any, *, has_image: bool) -> None:
    """Refuse image fields without an image, and combinations that would leave one of them unused."""
    fields = given_fields(options)
    if fields and not has_image:
        raise InputImageRequiredError(
            f"{fields[0]} needs an input image, and the prompt has none.", field=fields[0], details={"fields": fields}
        )
    if options.controlnet is None:
        for name in ("controlnet_conditioning_scale", "controlnet_txt2img"):
            if name in fields:
                raise InvalidFieldError(f"{name} is a ControlNet setting; set controlnet with it.", field=name)
    if options.controlnet_txt2img and options.denoising_strength is not None:
        raise InvalidFieldError(
            "denoising_strength has nothing to act on with controlnet_txt2img=true: text-to-image does not start "
            "from the input image.",
            field="denoising_strength",
            hint="Leave denoising_strength out, or set controlnet_txt2img=false for image-to-image with the ControlNet.",
        )


def with_image_defaults(options: Any) -> Any:
    """The options an image prompt runs with: strength, ControlNet scale and mode filled in."""
    update: dict[str, Any] = {}
    txt2img = bool(options.controlnet_txt2img) and options.controlnet is not None
    if options.denoising_strength is None and not txt2img:
        update["denoising_strength"] = DEFAULT_DENOISING_STRENGTH
    if options.controlnet is not None:
        if options.controlnet_conditioning_scale is None:
            update["controlnet_conditioning_scale"] = DEFAULT_CONDITIONING_SCALE
        update["controlnet_txt2img"] = txt2img
    return options.model_copy(update=update) if update else options


def sized_like_image(options: Any, image_size: tuple[int, int], native_size: int) -> Any:
    """With no w, h, aspect_ratio or ar given, the output takes the image's shape at about the native pixel count."""
    from lookalike.prompts.options import ratio_size

    if options.w is not None or options.aspect_ratio is not None or getattr(options, "ar", None) is not None:
        return options
    width, height = ratio_size(image_size[0] / image_size[1], native_size)
    return options.model_copy(update={"w": width, "h": height})
