"""Load a ControlNet for a cached pipeline, once per type.

The folder comes from the catalog (``catalog.controlnets.controlnet_folder``:
a pulled pack, located and checked, or a tiny model's seeded one), and is
read with diffusers' ``ControlNetModel.from_pretrained`` as its model card
says. It is kept on the ``LoadedPipeline`` beside the pipelines of other
modes, on the same device and dtype.
"""

from __future__ import annotations

from pathlib import Path


def load_controlnet(loaded, kind: str, models_dir: Path):
    cached = loaded.controlnets.get(kind)
    if cached is not None:
        return cached
    from diffusers import ControlNetModel

    from lookalike.catalog.controlnets import controlnet_folder

    folder = controlnet_folder(Path(models_dir), loaded.spec, kind)
    model = ControlNetModel.from_pretrained(str(folder), torch_dtype=loaded.dtype, local_files_only=True)
    model = model.to(loaded.device).eval()
    if loaded.fast and str(loaded.fast.get("channels_last", "")).startswith("on"):
        import torch

        model.to(memory_format=torch.channels_last)
    loaded.controlnets[kind] = model
    return model
