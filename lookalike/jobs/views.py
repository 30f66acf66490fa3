"""The public shape of a prompt (Astria's field names plus our result details)."""

from __future__ import annotations

from datetime import datetime, timezone

from lookalike.store.tables import PromptRow


def image_path(prompt_id: int, position: int) -> str:
    return f"/prompts/{prompt_id}/images/{position}.png"


def prompt_to_dict(row: PromptRow, base_url: str) -> dict:
    base = base_url.rstrip("/")
    options = row.options or {}
    resolved = options.get("resolved", {})
    out = {
        "id": row.id,
        "tune_id": row.tune_id,
        "base_model": row.base_model_id,
        "text": row.text,
        "negative_prompt": row.negative_prompt,
        "status": row.status,
        "error": row.error,
        "images": [base + image_path(row.id, image.position) for image in row.images],
        "image_details": [
            {
                "url": base + image_path(row.id, image.position),
                "seed": image.seed,
                "width": image.width,
                "height": image.height,
                "identity_score": None if image.identity_score is None else round(image.identity_score, 4),
                "postprocess": image.postprocess,
            }
            for image in row.images
        ],
        "num_images": resolved.get("num_images"),
        "seed": resolved.get("seed"),
        "steps": resolved.get("steps"),
        "cfg_scale": resolved.get("cfg_scale"),
        "w": resolved.get("w"),
        "h": resolved.get("h"),
        "aspect_ratio": options.get("aspect_ratio"),
        "scheduler": resolved.get("scheduler"),
        "super_resolution": bool(resolved.get("super_resolution", False)),
        "face_correct": bool(resolved.get("face_correct", False)),
        "face_swap": bool(resolved.get("face_swap", False)),
        "deepcache": resolved.get("deepcache"),
        "tiny_vae": bool(resolved.get("tiny_vae", False)),
        "callback": row.callback,
        "trained_at": iso(row.trained_at),
        "started_at": iso(row.started_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "url": f"{base}/tunes/{row.tune_id}/prompts/{row.id}",
    }
    return out


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; everything we store is UTC.
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
