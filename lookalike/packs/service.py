"""``POST /p/{id}/tunes``: a tune made with a pack's settings and its prompts queued, or a pack's prompts on tunes that exist.

A new tune goes through ``TuneIntake.create``, the same path as ``POST
/tunes`` (photos or image URLs, the title rule, the tune callback, the
mock branch); the pack's prompts for the tune's class are queued after it,
through ``PromptService.submit`` like any posted prompt. Every prompt is
checked before anything is made, so a bad request leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lookalike.catalog.base_models import get_base_model
from lookalike.errors import InvalidFieldError, LookalikeError, UnknownTuneError
from lookalike.jobs.callbacks import check_callback_url
from lookalike.jobs.intake import TuneIntake
from lookalike.jobs.submit import PromptService
from lookalike.packs.definitions import SAMPLE_TUNE_ID, Pack, PackPrompt
from lookalike.packs.loader import PackCatalog
from lookalike.schemas.packs import PackTuneCreate
from lookalike.schemas.prompts import PromptCreate
from lookalike.tunes.service import TuneService


@dataclass(frozen=True)
class PackTunes:
    """What ``create_tunes`` did: the tunes (one new one, or those of ``tune_ids``) and the prompts it queued."""

    tunes: list[dict]
    prompts: list[Any]  # the queued PromptRows, in order
    # False when a repeated title returned the first tune (nothing was queued again).
    created: bool
    # True for the tune_ids form (the tunes existed before).
    existing: bool


@dataclass
class PackService:
    catalog: PackCatalog
    intake: TuneIntake
    prompts: PromptService
    tunes: TuneService

    def list(self, *, public: bool = False, listed: bool = False) -> list[Pack]:
        return self.catalog.list(public=public, listed=listed)

    def get(self, pack_id: int) -> Pack:
        return self.catalog.get(pack_id)

    def create_tunes(
        self, account_id: int, pack_id: int, request: PackTuneCreate, *, idempotency_key: str | None = None
    ) -> PackTunes:
        pack = self.catalog.get(pack_id)
        callback = self._prompt_callback(request.prompt_callback)
        if request.tune is None:
            return self._on_existing(account_id, pack, request, callback)
        tune = request.tune
        if tune.base_tune_id not in (None, "") and get_base_model(tune.base_tune_id).gallery_id != pack.base_tune_id:
            raise InvalidFieldError(
                f"Pack {pack.id} makes its tunes on base model {pack.base_tune_id}; tune[base_tune_id] cannot change it.",
                field="base_tune_id",
                hint="Leave tune[base_tune_id] out.",
            )
        if tune.model_type != pack.model_type:
            raise InvalidFieldError(
                f"Pack {pack.id} makes {pack.model_type} tunes; tune[model_type] cannot change it.",
                field="model_type",
                hint="Leave tune[model_type] out.",
            )
        chosen = self._choose(pack, {tune.name.strip().lower()}, request.prompt_ids, field="name")
        plan = chosen[tune.name.strip().lower()]
        # Every prompt checked now, with a stand-in id, so a bad one makes no tune.
        for prompt in plan:
            _checked(prompt, SAMPLE_TUNE_ID, request, callback)
        made = self.intake.create(
            account_id,
            tune.model_copy(update={"base_tune_id": pack.base_tune_id, "token": tune.token or pack.token}),
            idempotency_key=idempotency_key,
            extra_prompts=lambda tune_id: [
                prompt.prompt_create(tune_id, request.characteristics, callback) for prompt in plan
            ],
        )
        return PackTunes(tunes=[made.tune], prompts=made.prompts, created=made.created, existing=False)

    def _on_existing(self, account_id: int, pack: Pack, request: PackTuneCreate, callback: str | None) -> PackTunes:
        tunes = []
        for tune_id in request.tune_ids:
            tune = self.tunes.find(tune_id, account_id=account_id)
            if tune is None:
                raise UnknownTuneError(
                    f"tune[tune_ids] names tune {tune_id}, which does not exist or is not yours.",
                    field="tune_ids",
                    details={"tune_id": tune_id},
                )
            tunes.append(tune)
        chosen = self._choose(pack, {(tune["name"] or "").lower() for tune in tunes}, request.prompt_ids, field="tune_ids")
        planned: list[tuple[int, PromptCreate]] = [
            (tune["id"], _checked(prompt, tune["id"], request, callback))
            for tune in tunes
            for prompt in chosen[(tune["name"] or "").lower()]
        ]
        queued = [self.prompts.submit(account_id, tune_id, prompt)[0] for tune_id, prompt in planned]
        return PackTunes(tunes=tunes, prompts=queued, created=True, existing=True)

    def _choose(self, pack: Pack, classes: set[str], prompt_ids: list[int], *, field: str) -> dict[str, list[PackPrompt]]:
        """Per class name, the pack prompts to make; 422 for a class the pack lacks or ids that pick nothing."""
        for name in sorted(classes):
            if name not in pack.prompts:
                raise InvalidFieldError(
                    f"Pack {pack.id} has no prompts for class {name!r}; its classes are {', '.join(pack.classes)}.",
                    field=field,
                    hint=f"Use a tune whose class (tune[name]) is one of: {', '.join(pack.classes)}.",
                    details={"classes": pack.classes},
                )
        unknown = [prompt_id for prompt_id in prompt_ids if prompt_id not in pack.prompt_ids()]
        if unknown:
            raise InvalidFieldError(
                f"Pack {pack.id} has no prompt {', '.join(map(str, unknown))}.",
                field="prompt_ids",
                hint=f"GET /p/{pack.id} lists its prompts per class.",
                details={"unknown": unknown},
            )
        wanted = set(prompt_ids)
        chosen = {
            name: [prompt for prompt in pack.prompts[name] if not wanted or prompt.id in wanted] for name in sorted(classes)
        }
        used = {prompt.id for prompts in chosen.values() for prompt in prompts}
        unused = [prompt_id for prompt_id in prompt_ids if prompt_id not in used]
        empty = [name for name, prompts in chosen.items() if not prompts]
        if unused or empty:
            # Never silently dropped: an id for another class, or a class left with nothing to make.
            which = f"prompt {', '.join(map(str, unused))} is not for class {', '.join(sorted(classes))}" if unused else (
                f"none of tune[prompt_ids] is for class {', '.join(empty)}"
            )
            raise InvalidFieldError(
                f"In pack {pack.id}, {which}.",
                field="prompt_ids",
                hint=f"GET /p/{pack.id} lists its prompts per class.",
                details={"by_class": {name: [prompt.id for prompt in pack.prompts[name]] for name in sorted(classes)}},
            )
        return chosen

    def _prompt_callback(self, url: str | None) -> str | None:
        if not url:
            return None
        return check_callback_url(
            url, allow_private=self.intake.allow_private_callbacks, field="tune[prompt_attributes][callback]"
        )


def _checked(prompt: PackPrompt, tune_id: int, request: PackTuneCreate, callback: str | None) -> PromptCreate:
    """The prompt ``prompt`` makes on ``tune_id``; the file was checked at start, so what fails now is the request's."""
    try:
        return prompt.prompt_create(tune_id, request.characteristics, callback)
    except LookalikeError as exc:
        if exc.field == "text":
            # Only the characteristics change a text after the file's check (one that grew too long, say).
            exc.field = "characteristics"
            exc.message = f"With these characteristics, the pack's prompt {prompt.id}: {exc.message}"
        raise
