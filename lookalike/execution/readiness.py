"""Which models this server can run now: each base model and finishing step, installed or not.

The same file checks a prompt meets when it is queued (``runner._require_models``
and each finishing step's ``check``), asked ahead of any prompt, so a client
(the studio) can offer only what will run and say what the operator must
pull. Nothing is loaded: these are file and package look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass

from lookalike.catalog.base_models import (
    DEFAULT_BASE_MODEL_ID,
    BaseModelSpec,
    all_base_models,
)
from lookalike.catalog.files import ModelPack, locate
from lookalike.config import Settings
from lookalike.errors import LookalikeError, ModelUnavailableError
from lookalike.prompts.schedulers import SCHEDULERS

# The finishing steps, in the order they run, with words for people.
FINISHING_STEPS: tuple[tuple[str, str, str], ...] = (
    ("face_swap", "Face swap", "Puts the tune's face onto each realistic face in the picture."),
    ("face_correct", "Face correct", "Restores faces: cleaner eyes, skin and teeth (GFPGAN)."),
    ("super_resolution", "Super resolution x4", "Makes the picture four times wider and taller (Real-ESRGAN)."),
    ("color_grading", "Colour grading", "A film look: Film Velvia, Film Portra or Ektar."),
    ("film_grain", "Film grain", "Fine grain sized to the picture, strongest in the mid-tones."),
)
# The value a readiness check asks a step for, where true is not one (colour grading takes a look's name).
_PROBE_VALUES = {"color_grading": "Film Portra"}


@dataclass(frozen=True)
class SchedulerReadiness:
    name: str
    label: str
    default_steps: int
    default_cfg: float
    installed: bool
    pull_command: str | None = None


@dataclass(frozen=True)
class BaseModelReadiness:
    spec: BaseModelSpec
    installed: bool
    missing: tuple[str, ...]
    schedulers: tuple[SchedulerReadiness, ...]

    @property
    def pull_commands(self) -> list[str]:
        return [f"lookalike models pull {pack_id}" for pack_id in self.missing]


@dataclass(frozen=True)
class StepReadiness:
    name: str
    title: str
    description: str
    installed: bool
    message: str | None = None  # why not, as the error a prompt would get says it
    hint: str | None = None  # what the operator runs or installs
    pull_command: str | None = None


@dataclass(frozen=True)
class ControlNetReadiness:
    """One ControlNet type on one family: whether a prompt asking for it would run here, and what to pull."""

    kind: str
    family: str
    pack_id: str
    title: str
    license: str
    preprocessor: str
    installed: bool
    missing: tuple[str, ...] = ()

    @property
    def pull_commands(self) -> list[str]:
        return [f"lookalike models pull {pack_id}" for pack_id in self.missing]


@dataclass(frozen=True)
class Readiness:
    base_models: tuple[BaseModelReadiness, ...]
    finishing_steps: tuple[StepReadiness, ...]
    default_base_model: BaseModelSpec | None = None
    controlnets: tuple[ControlNetReadiness, ...] = ()


def _present(pack: ModelPack, settings: Settings) -> bool:
    from lookalike.catalog.clip_vocab import CLIP_BPE, bpe_available

    if pack.id == CLIP_BPE.id:  # an installed open_clip package's copy serves as well as a pulled one
        return bpe_available(settings.models_dir)
    try:
        locate(pack, settings.models_dir, check=False)
    except ModelUnavailableError:
        return False
    return True


def needed_packs(
    spec: BaseModelSpec, *, scheduler: str | None, adapter_encoder: bool, tiny_vae: bool
) -> list[ModelPack]:
    """The packs a prompt on ``spec`` reads: the checkpoint, the scheduler's LoRA, the adapter's face encoder, TAESD.

    ``adapter_encoder``: the prompt has an identity whose encoder is not
    the face analysis' own (which is loaded anyway).
    """
    packs: list[ModelPack] = []
    if spec.source.kind != "builtin":
        packs.append(spec.pack)
        if spec.source.kind == "single_file" and not spec.source.config:
            from lookalike.catalog.clip_vocab import CLIP_BPE

            packs.append(CLIP_BPE)  # the bundled config's tokenizer is built from it
        lora = spec.scheduler_lora(scheduler) if scheduler else None
        if lora is not None:
            packs.append(lora.pack)
    if adapter_encoder:
        from lookalike.faces.backends.insightface import BUFFALO_L

        if spec.adapter.encoder == BUFFALO_L.id:
            packs.append(BUFFALO_L)
    if tiny_vae:
        from lookalike.catalog.base_models import TAESD_PACK

        packs.append(TAESD_PACK)
    return packs


def missing_packs(packs: list[ModelPack], settings: Settings) -> tuple[str, ...]:
    """The ids of ``packs`` whose files are not on disk (a file look-up, nothing loaded)."""
    return tuple(pack.id for pack in packs if not _present(pack, settings))


def base_model_readiness(settings: Settings, spec: BaseModelSpec) -> BaseModelReadiness:
    """What a FaceID prompt on ``spec`` needs on disk (the check ``runner._require_models`` makes)."""
    packs = needed_packs(spec, scheduler=None, adapter_encoder=True, tiny_vae=settings.tiny_vae)
    missing = missing_packs(packs, settings)
    schedulers = []
    for info in SCHEDULERS.values():
        lora = spec.scheduler_lora(info.name)
        ready = lora is None or _present(lora.pack, settings)
        schedulers.append(
            SchedulerReadiness(
                name=info.name,
                label=info.label,
                default_steps=info.default_steps,
                default_cfg=info.default_cfg,
                installed=ready,
                pull_command=None if ready else f"lookalike models pull {lora.pack.id}",
            )
        )
    # A checkpoint added by the operator cannot be pulled: without its file the model is not installed,
    # and nothing is listed to pull for it.
    own_file_missing = spec.source.kind == "single_file" and not _own_checkpoint_present(spec, settings)
    return BaseModelReadiness(
        spec=spec, installed=not missing and not own_file_missing, missing=missing, schedulers=tuple(schedulers)
    )


def _own_checkpoint_present(spec: BaseModelSpec, settings: Settings) -> bool:
    from pathlib import Path

    path = Path(spec.source.path or "").expanduser()
    return (path if path.is_absolute() else settings.models_dir / path).is_file()


def step_readiness(settings: Settings, name: str) -> StepReadiness:
    """Whether the finishing step ``name`` can run here: its own ``check``, with a stand-in tune."""
    from lookalike.postprocess import PostprocessContext, PostprocessFlags, TuneFaces
    from lookalike.postprocess.pipeline import build_steps

    title, description = next((t, d) for n, t, d in FINISHING_STEPS if n == name)
    context = PostprocessContext(
        settings=settings,
        analyzer=_no_analyzer,
        # A stand-in, so face swap's "needs a tune" does not hide what it is really missing.
        tune=TuneFaces(crops=(None,), identity=lambda encoder: None),
    )
    try:
        for step in build_steps(PostprocessFlags(**{name: _PROBE_VALUES.get(name, True)}), settings):
            step.check(context)
    except LookalikeError as exc:
        model = exc.details.get("model")
        return StepReadiness(
            name=name,
            title=title,
            description=description,
            installed=False,
            message=exc.message,
            hint=exc.hint,
            pull_command=f"lookalike models pull {model}" if model else None,
        )
    return StepReadiness(name=name, title=title, description=description, installed=True)


def readiness(settings: Settings) -> Readiness:
    """Every base model and finishing step; the default base model is the catalog's if it runs, else the first that does."""
    models = tuple(base_model_readiness(settings, spec) for spec in all_base_models(settings))
    runnable = [m.spec for m in models if m.installed and m.spec.engine_supported]
    default = next((s for s in runnable if s.id == DEFAULT_BASE_MODEL_ID), runnable[0] if runnable else None)
    steps = tuple(step_readiness(settings, name) for name, _, _ in FINISHING_STEPS)
    return Readiness(
        base_models=models, finishing_steps=steps, default_base_model=default, controlnets=controlnet_readiness(settings)
    )


def controlnet_readiness(settings: Settings) -> tuple[ControlNetReadiness, ...]:
    """Each catalogued ControlNet: its pack on disk, and for pose MediaPipe's pose models too (the POST-time check)."""
    from lookalike.catalog.controlnets import CONTROLNETS
    from lookalike.control import check_preprocessor, preprocessor_name

    out = []
    for spec in CONTROLNETS:
        missing = [] if _present(spec.pack, settings) else [spec.id]
        try:
            check_preprocessor(spec.kind, settings.models_dir)
        except ModelUnavailableError as exc:
            missing.append(exc.details.get("model") or spec.kind)
        out.append(
            ControlNetReadiness(
                kind=spec.kind, family=spec.family, pack_id=spec.id, title=spec.title, license=spec.license,
                preprocessor=preprocessor_name(spec.kind), installed=not missing, missing=tuple(missing),
            )
        )
    return tuple(out)


def _no_analyzer():
    raise RuntimeError("a readiness check must not load the face models")
