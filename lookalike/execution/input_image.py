"""A prompt's input image in the execution path: checked with the prompt, turned into the engine's inputs.

``check_input_image`` runs inside ``runner.check_prompt`` (no torch, no model
loaded): the image fields against the image's presence, the output size from
the image's shape, the ControlNet type against the base model's family.
``engine_inputs`` runs when the prompt runs: it reads the stored image (the
blob store, so a worker on another machine or after a restart reads what
was checked), brings it to the output size and makes the control image:
``InitImage`` for image-to-image, ``ControlInput`` for a ControlNet, as
``generation/request.py`` defines them. ``input_parameters`` is what the PNG
parameters say about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lookalike.catalog.base_models import BaseModelSpec
from lookalike.errors import InvalidFieldError

if TYPE_CHECKING:
    from lookalike.execution.context import RunContext
    from lookalike.prompts.options import GenerationOptions


@dataclass(frozen=True)
class InputImageRef:
    """The input image: its bytes in memory (at POST, a local CLI run) or its blob key (once stored)."""

    width: int  # upright, as decoded
    height: int
    sha256: str
    key: str | None = None
    data: bytes | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> InputImageRef | None:
        """From what a prompt row keeps (``options["input_image"]``); None when it has none."""
        if not record or not record.get("key"):
            return None
        return cls(width=int(record["width"]), height=int(record["height"]), sha256=record["sha256"], key=record["key"])


@dataclass(frozen=True)
class EngineInputs:
    init: Any = None  # generation.request.InitImage
    control: Any = None  # generation.request.ControlInput


def check_input_image(options: GenerationOptions, spec: BaseModelSpec, image: InputImageRef | None) -> GenerationOptions:
    """The options as an image prompt runs them; raises what the image fields cannot do on ``spec``."""
    from lookalike.prompts.input_image import require_input_image, sized_like_image, with_image_defaults

    require_input_image(options, has_image=image is not None)
    if image is None:
        return options
    options = with_image_defaults(sized_like_image(options, (image.width, image.height), spec.native_size))
    if options.controlnet is not None:
        from lookalike.catalog.controlnets import controlnet_for, offered_kinds

        if controlnet_for(spec, options.controlnet) is None:
            offered = offered_kinds(spec.family)
            raise InvalidFieldError(
                f"controlnet={options.controlnet} has no ControlNet for {spec.id} ({spec.family}); "
                f"offered on {spec.family}: {', '.join(offered)}.",
                field="controlnet",
                hint="Use one of those, or post to a base model of another family.",
                details={"offered": list(offered), "family": spec.family},
            )
    return options


def missing_for_image(options: GenerationOptions, spec: BaseModelSpec, settings) -> list[str]:
    """Pack ids an image prompt needs that are not here: its ControlNet, and the pose models for pose."""
    if options.controlnet is None:
        return []
    from lookalike.catalog.controlnets import controlnet_for
    from lookalike.catalog.files import locate
    from lookalike.control import check_preprocessor
    from lookalike.errors import ModelUnavailableError

    missing = []
    controlnet = controlnet_for(spec, options.controlnet)
    if controlnet is not None and not controlnet.builtin:
        try:
            locate(controlnet.pack, settings.models_dir, check=False)
        except ModelUnavailableError:
            missing.append(controlnet.id)
    try:
        check_preprocessor(options.controlnet, settings.models_dir)
    except ModelUnavailableError as exc:
        missing.append(exc.details.get("model") or options.controlnet)
    return missing


def read_input(ctx: RunContext, image: InputImageRef) -> bytes:
    if image.data is not None:
        return image.data
    if ctx.read_blob is None:
        raise RuntimeError("this RunContext cannot read stored input images")
    return ctx.read_blob(image.key)


def engine_inputs(ctx: RunContext, options: GenerationOptions, spec: BaseModelSpec, image: InputImageRef | None) -> EngineInputs:
    """``InitImage`` / ``ControlInput`` for the engine, both at the output size.

    ``controlnet_txt2img`` leaves ``init`` out (text-to-image steered by the
    control image); otherwise the input, covered and centred, is the start.
    """
    if image is None:
        return EngineInputs()
    from lookalike.control import fit_image, make_control_image
    from lookalike.faces.decode import decode_image
    from lookalike.generation.request import ControlInput, InitImage

    settings = ctx.settings
    # The limits it was checked against at POST: decoding the same bytes again cannot fail on them.
    pixels = decode_image(read_input(ctx, image), max_pixels=settings.max_image_pixels)
    size = options.size_for(spec.native_size)
    init = None
    if not (options.controlnet is not None and options.controlnet_txt2img):
        init = InitImage(image=fit_image(pixels, size), strength=float(options.denoising_strength))
    control = None
    if options.controlnet is not None:
        made = make_control_image(options.controlnet, pixels, size, models_dir=settings.models_dir)
        control = ControlInput(kind=options.controlnet, image=made.image, scale=float(options.controlnet_conditioning_scale))
    return EngineInputs(init=init, control=control)


def input_summary(options: GenerationOptions, image: InputImageRef | None) -> tuple[tuple[str, str], ...]:
    """What the PNG parameters say about the input (the engine adds its strength and ControlNet scale)."""
    if image is None:
        return ()
    entries = [("Input image", f"{image.width}x{image.height}, sha256 {image.sha256[:12]}")]
    if options.controlnet is not None:
        from lookalike.control import preprocessor_name

        mode = "txt2img" if options.controlnet_txt2img else "img2img"
        entries.append(("ControlNet preprocessor", f"{preprocessor_name(options.controlnet)}, {mode}"))
    return tuple(entries)


def input_parameters(parameters: str, entries: tuple[tuple[str, str], ...]) -> str:
    """``parameters`` (A1111 text) with ``entries`` appended to its last line, quoted as A1111 quotes."""
    if not entries:
        return parameters
    return parameters + "".join(f", {key}: {_quote(value)}" for key, value in entries)


def _quote(value: str) -> str:
    # A1111's rule (generation/metadata.py writes the rest of the line the same way).
    if any(ch in value for ch in ',:\n"'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value
