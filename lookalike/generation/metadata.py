"""Generation parameters as A1111 writes them into a PNG's "parameters" text chunk.

Tools that read A1111 PNGs (civitai, A1111's PNG Info tab, ComfyUI loaders)
parse this exact shape: the prompt, a "Negative prompt: " line, then one
line of comma-separated "Key: value" pairs.
"""

from __future__ import annotations

from collections.abc import Iterable


def a1111_parameters(
    *,
    prompt: str,
    negative_prompt: str,
    steps: int,
    sampler: str,
    cfg_scale: float,
    seed: int,
    width: int,
    height: int,
    model: str,
    extra: Iterable[tuple[str, str]] = (),
) -> str:
    pairs = [
        ("Steps", str(steps)),
        ("Sampler", sampler),
        ("CFG scale", f"{cfg_scale:g}"),
        ("Seed", str(seed)),
        ("Size", f"{width}x{height}"),
        ("Model", model),
        *extra,
    ]
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
    return "\n".join(lines)


def _quote(value: str) -> str:
    # A1111 quotes values that contain its separators.
    if any(ch in value for ch in ',:\n"'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value
