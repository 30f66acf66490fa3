"""A single ``.safetensors`` checkpoint (A1111/CompVis layout) loaded offline through diffusers' own converter.

diffusers documents ``Pipeline.from_single_file(path, config=folder)`` for
exactly this: the components' configs come from a local diffusers folder
and the checkpoint's original keys are converted onto them by diffusers'
own code (``loaders/single_file_utils.py``). Without ``config`` diffusers
fetches that folder from the Hub, which fails offline; we always pass one
(the model entry's own, or the family's bundled folder built by
``catalog.single_file_configs``) with ``local_files_only``, so nothing is
fetched.

The scheduler's noise schedule is read from that folder's raw
``scheduler_config.json``, as for a diffusers folder (``pipelines.py``):
the dict of the instantiated PNDM scheduler would carry PNDM's defaults
(``timestep_spacing`` "leading") into every other scheduler, which take
their own when the file says nothing (Euler's is "linspace"), so the same
weights would give other images as a single file than as a folder.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.catalog.base_models import BaseModelSpec
from lookalike.errors import InvalidFieldError, ModelIntegrityError, ModelUnavailableError


def checkpoint_config_dir(spec: BaseModelSpec, models_dir: Path) -> Path:
    """The config folder ``spec``'s checkpoint is loaded with: its own, or the family's bundled one."""
    from lookalike.catalog.single_file_configs import config_dir

    if spec.source.config:
        folder = Path(spec.source.config).expanduser()
        if not (folder / "model_index.json").is_file():
            raise ModelUnavailableError(
                f"Base model '{spec.id}' names the config folder {folder}, which has no model_index.json.",
                hint="Fix the model's entry (`lookalike models remove` and `add --config` again).",
                details={"model": spec.id, "missing": str(folder / "model_index.json")},
            )
        return folder
    return config_dir(spec.family, models_dir)


def load_single_file(pipeline_class, spec: BaseModelSpec, checkpoint: Path, models_dir: Path, dtype):
    """(pipeline, config folder): ``checkpoint`` as ``pipeline_class`` with no network access."""
    from lookalike.catalog.checkpoints import inspect_checkpoint

    config = checkpoint_config_dir(spec, models_dir)
    try:
        info = inspect_checkpoint(checkpoint)
    except InvalidFieldError as exc:
        raise ModelIntegrityError(exc.message, hint=exc.hint, details={"model": spec.id}) from exc
    if info.family != spec.family:
        raise ModelIntegrityError(
            f"{checkpoint} is an {info.family} checkpoint, but base model '{spec.id}' is {spec.family}.",
            hint="Add the file again with the right `--family`.",
            details={"model": spec.id},
        )
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    try:
        pipe = pipeline_class.from_single_file(
            str(checkpoint),
            config=str(config),
            local_files_only=True,
            torch_dtype=dtype,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    except (SingleFileComponentError, ValueError, KeyError, RuntimeError) as exc:
        # diffusers' converter meeting tensors that do not fit the config (size
        # mismatches, missing keys): the file and the config disagree.
        raise ModelIntegrityError(
            f"{checkpoint} does not load as base model '{spec.id}' with the config in {config}: {exc}",
            hint="Check that the file is a complete checkpoint of this family, or give `--config` "
            "a diffusers folder with its architecture.",
            details={"model": spec.id},
        ) from exc
    return pipe, config
