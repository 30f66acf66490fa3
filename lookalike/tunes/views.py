"""The public shape of a tune (Astria's field names plus our per-photo checks)."""

from __future__ import annotations

from datetime import datetime, timezone

from lookalike.catalog.base_models import get_base_model
from lookalike.store.tables import TuneRow


_BRANCHES = {"sd15": "sd15", "sdxl": "sdxl1"}


def family_branch(family: str) -> str:
    """Astria's branch name for a base model family: sd15, sdxl1 (flux1 where Astria has Flux)."""
    return _BRANCHES.get(family, family)


def tune_to_dict(tune: TuneRow) -> dict:
    spec = get_base_model(tune.base_model_id)
    return {
        "id": tune.id,
        "title": tune.title,
        "name": tune.name,
        "token": tune.token,
        "model_type": tune.model_type,
        # Astria's branch names: sd15, sdxl1, flux1; "fast" for a mock tune.
        "branch": tune.branch or family_branch(spec.family),
        "base_model": spec.id,
        "base_tune_id": spec.gallery_id,
        "trained_at": iso_timestamp(tune.trained_at),
        "created_at": iso_timestamp(tune.created_at),
        "updated_at": iso_timestamp(tune.updated_at),
        # Made through the API (an account's), not by the local CLI.
        "is_api": tune.account_id is not None,
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
        "training": training_to_dict(tune.training),
    }


def training_to_dict(training) -> dict | None:
    """A LoRA tune's training as the API shows it (None for a FaceID tune); ``queue_position`` is filled on read."""
    if training is None:
        return None
    plan = training.plan or {}
    return {
        "status": training.status,
        "preset": plan.get("preset"),
        "steps": plan.get("steps"),
        "face_crop": plan.get("face_crop"),
        "training_face_correct": plan.get("training_face_correct"),
        "plan": dict(plan),
        "attempts": training.attempts,
        "progress": dict(training.progress) if training.progress else None,
        "error": dict(training.error) if training.error else None,
        "started_at": iso_timestamp(training.started_at),
        "finished_at": iso_timestamp(training.finished_at),
        "created_at": iso_timestamp(training.created_at),
        "has_lora": bool(training.lora_key),
        "lora_digest": training.lora_digest,
        "queue_position": None,
    }


def iso_timestamp(value: datetime | None) -> str | None:
    """Astria's timestamp form: UTC with milliseconds and a Z, ``2023-10-02T14:32:40.363Z``."""
    if value is None:
        return None
    # SQLite hands back naive datetimes; everything we store is UTC.
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
