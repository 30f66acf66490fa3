"""Taking prompts in: resolve the URL's id, replay idempotent repeats, check, choose the seed, queue.

Everything the API used to do in its route lives here, so the route only
parses and answers, and any other front end (a second API, a scheduler)
queues prompts the same way.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lookalike.catalog.base_models import find_gallery_spec, get_base_model
from lookalike.errors import IdempotencyKeyReusedError, TuneNotFoundError, UnknownTuneError
from lookalike.jobs.callbacks import check_callback_url
from lookalike.execution.input_image import InputImageRef
from lookalike.jobs.engine import PromptEngine, PromptSpec
from lookalike.jobs.input_image import InputImageIntake, ReceivedImage
from lookalike.jobs.mock import MOCK_OPTION
from lookalike.jobs.prompts import QUEUED, WAITING, NewPrompt, PromptStore
from lookalike.net.safe_fetch import FetchPolicy
from lookalike.prompts.input_image import sized_like_image, with_image_defaults
from lookalike.prompts.options import MAX_SEED
from lookalike.prompts.syntax import parse_prompt
from lookalike.schemas.prompts import PromptCreate
from lookalike.store.tables import PromptRow
from lookalike.tunes.service import MOCK_BRANCH, TuneService

TUNE, GALLERY = "tune", "gallery"


@dataclass
class PromptService:
    store: PromptStore
    tunes: TuneService
    engine: PromptEngine
    allow_private_callbacks: bool = False
    # Rung after a new prompt is committed: wakes whichever loop runs or publishes prompts.
    on_queued: Callable[[], None] = field(default=lambda: None)
    # The training queue (jobs/trainings.py): a prompt naming a LoRA tune still training waits for it.
    trainings: Any = None
    # Fetches and checks input images (img2img / ControlNet); the settings' limits in Services.
    input_images: InputImageIntake = field(
        default_factory=lambda: InputImageIntake(FetchPolicy(), max_pixels=40_000_000, max_bytes=25 * 1024 * 1024)
    )

    def target(self, account_id: int, tune_id: int) -> tuple[str, str]:
        """(TUNE | GALLERY, base model slug) for the id in the URL; the caller's own tune wins a tie."""
        target, base_model, _ = self._target(account_id, tune_id)
        return target, base_model

    def _target(self, account_id: int, tune_id: int) -> tuple[str, str, bool]:
        tune = self.tunes.find(tune_id, account_id=account_id)
        if tune is not None:
            return TUNE, tune["base_model"], tune["branch"] == MOCK_BRANCH
        spec = find_gallery_spec(tune_id)
        if spec is not None:
            return GALLERY, spec.id, False
        raise TuneNotFoundError(f"There is no tune {tune_id}.", details={"tune_id": tune_id})

    def submit(
        self, account_id: int, tune_id: int, request: PromptCreate, idempotency_key: str | None = None
    ) -> tuple[PromptRow, bool]:
        """Check the prompt and queue it; (row, created). A repeated Idempotency-Key returns the first row."""
        # The input image counts by its digest (a URL by itself), so a replay is known before any fetch.
        request_hash = _request_hash(request.fingerprint(), tune_id)
        if idempotency_key:
            existing = self.store.find_by_idempotency_key(account_id, idempotency_key)
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise IdempotencyKeyReusedError(
                        "This Idempotency-Key was used for a different prompt.", details={"prompt_id": existing.id}
                    )
                return existing, False
        target, base_model, mock = self._target(account_id, tune_id)
        mock = self._named_mock_tunes(account_id, request.text) or mock
        callback = request.callback
        if callback and callback.strip():
            callback = check_callback_url(callback, allow_private=self.allow_private_callbacks, field="callback")
        else:
            callback = None
        source = request.input_source()
        image = self.input_images.receive(source) if source is not None else None
        options = request.options()
        if options.seed is None:
            # Chosen now, not at run time, so the response shows it and a prompt
            # re-run after a restart makes the same images.
            options = options.with_seed(secrets.randbelow(MAX_SEED + 1))
        native_size = get_base_model(base_model).native_size
        if image is not None:
            options = with_image_defaults(sized_like_image(options, (image.width, image.height), native_size))
        resolved = options.resolved(native_size)
        if mock:
            # Astria's mock mode: placeholder images, no model checked or loaded (jobs/mock.py).
            resolved[MOCK_OPTION] = True
        else:
            self.engine.check(
                PromptSpec(
                    account_id=account_id,
                    tune_id=tune_id if target == TUNE else None,
                    base_model=None if target == TUNE else base_model,
                    text=request.text,
                    negative_prompt=options.negative_prompt,
                    options=resolved,
                    input_image=_in_memory(image),
                )
            )
        waits = self._untrained_loras(account_id, request.text, mock)
        row, created = self.store.create(
            NewPrompt(
                account_id=account_id,
                tune_id=tune_id,
                base_model_id=base_model,
                text=request.text,
                negative_prompt=options.negative_prompt,
                options={
                    "target": target,
                    "resolved": resolved,
                    "aspect_ratio": options.aspect_ratio,
                    # What the client set, for Astria's null-when-unset fields.
                    "sent": request.options().model_dump(exclude_unset=True, exclude={"negative_prompt"}),
                    **({"input_image": image.record()} if image is not None else {}),
                    **({"waits_for": waits} if waits else {}),
                },
                callback=callback,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                input_image=None if image is None else (image.data, image.extension),
                status=WAITING if waits else QUEUED,
            )
        )
        if created and waits:
            # Its tune may have finished between the check and the insert: look once more.
            released = self.trainings.release_waiting(account_id)
            if row.id in released:
                row = self.store.get(row.id, account_id=account_id)
        if created:
            self.on_queued()
        return row, created

    def _untrained_loras(self, account_id: int, text: str, mock: bool) -> list[int]:
        """The LoRA tunes the text names that are still queued or training: the prompt waits for them (as Astria's do)."""
        if mock or self.trainings is None:
            return []
        waits = []
        for token in parse_prompt(text).loras:
            tune = self.tunes.find(int(token.tune_id), account_id=account_id) if token.tune_id.isdigit() else None
            training = (tune or {}).get("training") or {}
            if training.get("status") in ("queued", "training") and tune["id"] not in waits:
                waits.append(tune["id"])
        return waits

    def _named_mock_tunes(self, account_id: int, text: str) -> bool:
        """Whether the text names a mock tune of the caller's (a prompt on it is a mock too).

        Every named tune must exist and be the caller's, mock or not, so the
        mock path refuses what the real one would.
        """
        mock = False
        parsed = parse_prompt(text)
        for token in (*parsed.tokens, *parsed.loras):
            tune = self.tunes.find(int(token.tune_id), account_id=account_id) if token.tune_id.isdigit() else None
            if tune is None:
                raise UnknownTuneError(
                    f"The prompt names tune {token.tune_id}, which does not exist or is not yours.",
                    field="text",
                    details={"tune_id": token.tune_id},
                )
            mock = mock or tune["branch"] == MOCK_BRANCH
        return mock

    def list(
        self, account_id: int, *, tune_id: int | None = None, limit: int = 20, offset: int = 0, before_id: int | None = None
    ) -> list[PromptRow]:
        """Newest first; under a tune or gallery id, only that id's prompts (an unknown id is a 404)."""
        if tune_id is not None:
            self.target(account_id, tune_id)
        return self.store.list(account_id=account_id, tune_id=tune_id, limit=limit, offset=offset, before_id=before_id)


def _in_memory(image: ReceivedImage | None) -> InputImageRef | None:
    """The checked image as the prompt check sees it before it is stored."""
    if image is None:
        return None
    return InputImageRef(width=image.width, height=image.height, sha256=image.sha256, data=image.data)


def _request_hash(fields: dict[str, Any], tune_id: int) -> str:
    canonical = json.dumps({"tune_id": tune_id, "fields": fields}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
