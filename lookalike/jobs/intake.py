"""Taking tunes in: photos (uploaded or fetched by URL), the title rule, the callback, and queued prompts.

``POST /tunes`` and a pack's ``POST /p/{id}/tunes`` both end here, so they
behave alike. Nothing is written before every photo has passed its check;
the callback and the prompts are queued only after the tune exists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lookalike.errors import InvalidFieldError, LookalikeError
from lookalike.jobs.callbacks import CallbackDispatcher, check_callback_url
from lookalike.jobs.submit import PromptService
from lookalike.net.safe_fetch import FetchPolicy, fetch_images
from lookalike.schemas import PromptCreate, TuneCreate, TunePublic, Upload
from lookalike.store.tables import PromptRow
from lookalike.tunes.service import TuneService

@dataclass(frozen=True)
class NewTune:
    tune: dict[str, Any]
    created: bool
    prompts: list[PromptRow]


@dataclass
class TuneIntake:
    tunes: TuneService
    prompts: PromptService
    callbacks: Callable[[], CallbackDispatcher]  # built on first use: its threads start then
    fetch_policy: FetchPolicy
    allow_private_callbacks: bool
    title_idempotent: bool
    public_url: str
    link: Callable[[str], str]

    def create(
        self,
        account_id: int,
        request: TuneCreate,
        *,
        idempotency_key: str | None = None,
        prompt_defaults: dict[str, Any] | None = None,
        extra_prompts: Callable[[int], list[PromptCreate]] | None = None,
    ) -> NewTune:
        """Make the tune, send its callback, queue its prompts (``prompts_attributes``).

        With an ``idempotency_key``, a retry of the same request returns the
        first tune and queues nothing again.

        ``extra_prompts(tune_id)`` gives more prompts to queue on the new tune
        after those (a pack's, whose texts name the tune); the caller checks
        them before, so that a bad one makes no tune.
        """
        callback = self._callback(request.callback, "callback")
        prompt_requests = [self._prompt(i, fields, prompt_defaults) for i, fields in enumerate(request.prompts_attributes)]
        photos = list(request.images) or self._fetch(request.image_urls)
        create = dict(
            name=request.name,
            photos=photos,
            base_model=request.base_tune_id,
            account_id=account_id,
            token=request.token,
            branch=self._branch(request),
        )
        if idempotency_key:
            tune, created = self.tunes.create_keyed(
                title=request.title,
                idempotency_key=idempotency_key,
                request_hash=_request_hash(request, photos),
                **create,
            )
        elif self.title_idempotent:
            tune, created = self.tunes.create_once(title=request.title, **create)
        else:
            tune, created = self.tunes.create(title=request.title, **create), True
        if not created:
            return NewTune(tune, False, [])
        if extra_prompts is not None:
            prompt_requests += extra_prompts(tune["id"])
        queued = self._queue_all(account_id, tune["id"], prompt_requests)
        if callback:
            self.callbacks().enqueue(
                account_id=account_id,
                url=callback,
                event="tune",
                object_id=tune["id"],
                payload={"tune": TunePublic.from_tune(tune, self.public_url, self.link).model_dump(mode="json")},
            )
        return NewTune(tune, True, queued)

    def _queue_all(self, account_id: int, tune_id: int, requests: list[PromptCreate]) -> list[PromptRow]:
        """Queue every prompt, or none: one refused (a model missing, say) takes back the others and the tune."""
        queued: list[PromptRow] = []
        try:
            for prompt in requests:
                queued.append(self.prompts.submit(account_id, tune_id, prompt)[0])
        except BaseException:
            for row in queued:
                self.prompts.store.delete(row.id, account_id=account_id)
            self.tunes.delete(tune_id, account_id=account_id)
            raise
        return queued

    def _callback(self, url: str | None, field: str) -> str | None:
        if not url or not url.strip():
            return None
        return check_callback_url(url, allow_private=self.allow_private_callbacks, field=field)

    def _prompt(self, index: int, fields: dict[str, Any], defaults: dict[str, Any] | None) -> PromptCreate:
        """One of ``prompts_attributes``, checked before the tune is made so a bad one makes nothing."""
        try:
            return PromptCreate.parse({**(defaults or {}), **fields})
        except LookalikeError as exc:
            # Named as sent, in full: fields_named_as_sent leaves a bracketed name alone.
            exc.field = f"tune[prompts_attributes][{index}][{exc.field or 'text'}]"
            raise

    def _fetch(self, urls: list[str]) -> list[Upload]:
        fetched = fetch_images(urls, self.fetch_policy)
        return [Upload(item.data, item.url.rsplit("/", 1)[-1][:255] or None) for item in fetched]

    def _branch(self, request: TuneCreate) -> str | None:
        if request.branch in (None, "fast"):
            return request.branch
        # sd15/sdxl1 name the base model's family, which the base model already fixes: they must agree.
        from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, get_base_model

        spec = get_base_model(request.base_tune_id if request.base_tune_id not in (None, "") else DEFAULT_BASE_MODEL_ID)
        family = {"sd15": "sd15", "sdxl": "sdxl1"}.get(spec.family, spec.family)
        if request.branch != family:
            raise InvalidFieldError(
                f"tune[branch] {request.branch!r} does not match the base model {spec.id} ({family}).",
                field="branch",
                hint="Leave branch out (it follows the base model), or use fast for a mock tune.",
            )
        return None


def _request_hash(request: TuneCreate, photos: list[Upload]) -> str:
    """What makes two creates the same request: every field, and the photos' bytes (not their names)."""
    fields = request.model_dump(exclude={"images"}, mode="json")
    fields["photos"] = [hashlib.sha256(photo.data).hexdigest() for photo in photos] if request.images else []
    canonical = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _request_hash(request: TuneCreate, photos: list[Upload]) -> str:
    """What makes two creates the same request: every field, and the photos' bytes (not their names)."""
    fields = request.model_dump(exclude={"images"}, mode="json")
    fields["photos"] = [hashlib.sha256(photo.data).hexdigest() for photo in photos] if request.images else []
    canonical = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
