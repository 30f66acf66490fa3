"""The public shape of a tune (Astria's field names plus our per-photo checks)."""

from __future__ import annotations

from datetime import datetime, timezone

from lookalike.catalog.base_models import get_base_model
from lookalike.store.tables import TuneRow


def tune_to_dict(tune: TuneRow) -> dict:
    spec = get_base_model(tune.base_model_id)
    return {
        "id": tune.id,
        "title": tune.title,
        "name": tune.name,
        "token": tune.token,
        "model_type": tune.model_type,
        "base_model": spec.id,
        "base_tune_id": spec.gallery_id,
        "trained_at": _iso(tune.trained_at),
        "created_at": _iso(tune.created_at),
        "updated_at": _iso(tune.updated_at),
        "expires_at": None,
        "orig_images": [],
        "images": [
            {
                "index": p.position,
                "filename": p.filename,
                "width": p.width,
                "height": p.height,
                "box": p.box,
                "landmarks": p.landmarks,
                "quality": p.quality,
                "ignored_faces": p.ignored_faces,
            }
            for p in tune.photos
        ],
        "identity": [
            {"encoder": i.encoder, "dim": i.dim, "min_similarity": round(i.min_similarity, 4)} for i in tune.identities
        ],
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; everything we store is UTC.
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
