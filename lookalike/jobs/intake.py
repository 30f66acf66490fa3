"""Taking tunes in: photos (uploaded or fetched by URL), the title rule, the callback, and queued prompts.

``POST /tunes`` and a pack's ``POST /p/{id}/tunes`` both end here, so they
behave alike. Every check that can fail runs before anything is written
(fields, prompts, photo count; a replay is recognised before any URL is
fetched); the prompts are queued all or none, and the tune's callback goes
out only once they are.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lookalike.errors import InvalidFieldError, LookalikeError, UnsupportedFieldError
from lookalike.jobs.callbacks import CallbackDispatcher, check_callback_url
from lookalike.jobs.submit import PromptService
from lookalike.net.safe_fetch import FetchPolicy, fetch_images
from lookalike.prompts.syntax import parse_prompt
from lookalike.schemas import PromptCreate, TuneCreate, TunePublic, Upload
from lookalike.store.ids import FIRST_USER_TUNE_ID
from lookalike.store.tables import PromptRow
from lookalike.tunes.service import TuneService
from lookalike.tunes.views import family_branch

if TYPE_CHECKING:
    from lookalike.config import Settings
    from lookalike.training.presets import PresetCatalog

# In a prompts_attributes text, where the new tune's id goes.
TUNE_ID_PLACEHOLDER = "{tune_id}"


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
    # LoRA tunes: the training presets (read at start) and the settings that bound a training.
    presets: Callable[[], PresetCatalog] | None = None
    settings: Settings | None = None

    def create(
        self,
        account_id: int,
        request: TuneCreate,
        *,
        idempotency_key: str | None = None,
        extra_prompts: Callable[[int], list[PromptCreate]] | None = None,
    ) -> NewTune:
        """Make the tune, queue its prompts, send its callback; (tune, created, prompts).

        ``prompts_attributes`` texts may name the new tune as ``{tune_id}``;
        one with no ``<faceid>`` token gets ``<faceid:{tune_id}:1>`` in front
        (a prompt queued with a FaceID tune is for that face), or on a LoRA
        tune ``<lora:{tune_id}:W>`` (W: its ``lora_scale``, else 1), and waits
        for the training. A LoRA tune's callback goes out when its training
        ends, not now. With an
        ``idempotency_key``, a retry of the same request returns the first
        tune and queues nothing again. ``extra_prompts(tune_id)`` gives more
        prompts to queue after those (a pack's); the caller checks them first.
        """
        callback = self._callback(request.callback, "callback")
        lora = request.model_type == "lora"
        for index, fields in enumerate(request.prompts_attributes):
            self._prompt(index, fields, FIRST_USER_TUNE_ID, lora=lora)  # checked now: a bad one makes nothing
        self.tunes.check_count(len(request.images) or len(request.image_urls))
        plan = self._training_plan(request) if lora else None
        request_hash = _request_hash(request)
        replay = self._replay(account_id, request, idempotency_key, request_hash)
        if replay is not None:
            return NewTune(replay, False, [])
        photos = list(request.images) or self._fetch(request.image_urls)
        create = dict(
            name=request.name,
            photos=photos,
            base_model=request.base_tune_id,
            account_id=account_id,
            token=request.token,
            branch=self._branch(request),
        )
        if plan is not None:
            create.update(model_type="lora", training_plan=plan, training_callback=callback)
        if idempotency_key:
            tune, created = self.tunes.create_keyed(
                title=request.title, idempotency_key=idempotency_key, request_hash=request_hash, **create
            )
        elif self.title_idempotent:
            tune, created = self.tunes.create_once(title=request.title, **create)
        else:
            tune, created = self.tunes.create(title=request.title, **create), True
        if not created:
            return NewTune(tune, False, [])
        planned = [
            (index, self._prompt(index, fields, tune["id"], lora=lora))
            for index, fields in enumerate(request.prompts_attributes)
        ]
        if extra_prompts is not None:
            planned += [(None, prompt) for prompt in extra_prompts(tune["id"])]
        queued = self._queue_all(account_id, tune["id"], planned)
        if plan is not None:
            # A training was queued: wake whichever loop runs or publishes work, as a new prompt does.
            self.prompts.on_queued()
        if callback and (plan is None or tune["trained_at"] is not None):
            self.callbacks().enqueue(
                account_id=account_id,
                url=callback,
                event="tune",
                object_id=tune["id"],
                payload={"tune": TunePublic.from_tune(tune, self.public_url, self.link).model_dump(mode="json")},
            )
        return NewTune(tune, True, queued)

    def _replay(self, account_id: int, request: TuneCreate, key: str | None, request_hash: str) -> dict | None:
        """The earlier tune this request repeats, found before any photo is fetched or checked."""
        if key:
            return self.tunes.find_replay(account_id=account_id, key=key, request_hash=request_hash)
        if self.title_idempotent:
            return self.tunes.find_by_title(account_id=account_id, title=request.title)
        return None

    def _queue_all(self, account_id: int, tune_id: int, planned: list[tuple[int | None, PromptCreate]]) -> list[PromptRow]:
        """Queue every prompt, or none: one refused (a model missing, say) takes back the others and the tune."""
        queued: list[PromptRow] = []
        try:
            for index, prompt in planned:
                try:
                    queued.append(self.prompts.submit(account_id, tune_id, prompt)[0])
                except LookalikeError as exc:
                    if index is not None:
                        exc.field = _attribute_field(index, exc.field)
                    raise
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

    def _prompt(self, index: int, fields: dict[str, Any], tune_id: int, *, lora: bool = False) -> PromptCreate:
        """One of ``prompts_attributes`` for tune ``tune_id``, its errors named as sent."""
        text = fields.get("text")
        scale = fields.get("lora_scale")
        if scale not in (None, ""):
            if not lora:
                raise UnsupportedFieldError(
                    "lora_scale is the weight of a LoRA tune's <lora> token; this tune is a FaceID tune.",
                    field=_attribute_field(index, "lora_scale"),
                )
            scale = _lora_scale(index, scale)
        fields = {k: v for k, v in fields.items() if k != "lora_scale"}
        if isinstance(text, str):
            text = text.replace(TUNE_ID_PLACEHOLDER, str(tune_id))
            try:
                parsed = parse_prompt(text)
                if lora and not parsed.loras:
                    text = f"<lora:{tune_id}:{scale if scale is not None else 1:g}> {text}"
                elif not lora and not parsed.tokens:
                    text = f"<faceid:{tune_id}:1> {text}"
            except LookalikeError as exc:
                exc.field = _attribute_field(index, exc.field)
                raise
            fields = {**fields, "text": text}
        try:
            return PromptCreate.parse(fields)
        except LookalikeError as exc:
            exc.field = _attribute_field(index, exc.field)
            raise

    def _training_plan(self, request: TuneCreate) -> dict[str, Any]:
        """The LoRA tune's training plan (training/plan.py), checked now: preset, steps, token, base model, files."""
        from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, get_base_model
        from lookalike.errors import ModelUnavailableError, UnsupportedBaseModelError
        from lookalike.execution.readiness import missing_packs, needed_packs
        from lookalike.training.plan import make_plan

        if self.presets is None or self.settings is None:
            raise UnsupportedFieldError("This server does not train LoRA tunes.", field="model_type")
        spec = get_base_model(request.base_tune_id if request.base_tune_id not in (None, "") else DEFAULT_BASE_MODEL_ID)
        if not spec.engine_supported:
            raise UnsupportedBaseModelError(
                f"Base model {spec.id} is catalogued but the engine cannot run it yet, so a LoRA on it could not be used.",
                field="base_tune_id",
            )
        if request.branch != "fast":
            missing = list(
                missing_packs(needed_packs(spec, scheduler=None, adapter_encoder=False, tiny_vae=False), self.settings)
            )
            if missing:
                commands = " and ".join(f"`lookalike models pull {m}`" for m in missing)
                raise ModelUnavailableError(
                    f"Training on {spec.id} needs models that are not in {self.settings.models_dir}: {', '.join(missing)}.",
                    hint=f"Run {commands} on a machine with internet access.",
                    details={"missing": missing},
                )
        photos = len(request.images) or len(request.image_urls)
        plan = make_plan(
            self.presets().get(request.preset),
            base_model=spec.id,
            family=spec.family,
            resolution=spec.native_size,
            photos=photos,
            class_name=(request.name or "").strip().lower(),
            # Chosen now and kept, so a resumed training draws what the first run would have.
            seed=secrets.randbelow(2**31),
            token=request.token,
            steps=request.steps,
            face_crop=request.face_crop,
            max_steps=self.settings.training_max_steps,
        )
        return plan.to_dict()

    def _fetch(self, urls: list[str]) -> list[Upload]:
        fetched = fetch_images(urls, self.fetch_policy)
        return [Upload(item.data, item.url.rsplit("/", 1)[-1][:255] or None) for item in fetched]

    def _branch(self, request: TuneCreate) -> str | None:
        if request.branch in (None, "fast"):
            return request.branch
        # sd15/sdxl1 name the base model's family, which the base model already fixes: they must agree.
        from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, get_base_model

        spec = get_base_model(request.base_tune_id if request.base_tune_id not in (None, "") else DEFAULT_BASE_MODEL_ID)
        family = family_branch(spec.family)
        if request.branch != family:
            raise InvalidFieldError(
                f"tune[branch] {request.branch!r} does not match the base model {spec.id} ({family}).",
                field="branch",
                hint="Leave branch out (it follows the base model), or use fast for a mock tune.",
            )
        return None


def _lora_scale(index: int, value: Any) -> float:
    from lookalike.prompts.numbers import parse_decimal
    from lookalike.prompts.syntax import MAX_LORA_WEIGHT, MIN_LORA_WEIGHT

    try:
        scale = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else parse_decimal(str(value))
    except ValueError:
        scale = float("nan")
    if not (MIN_LORA_WEIGHT <= scale <= MAX_LORA_WEIGHT):
        raise InvalidFieldError(
            f"lora_scale {value!r} is not a number from {MIN_LORA_WEIGHT:g} to {MAX_LORA_WEIGHT:g}.",
            field=_attribute_field(index, "lora_scale"),
        )
    return scale


def _attribute_field(index: int, field: str | None) -> str:
    # Named as sent, in full: fields_named_as_sent leaves a bracketed name alone.
    name = (field or "text").removeprefix("prompt[").removesuffix("]")
    return f"tune[prompts_attributes][{index}][{name}]"


def _request_hash(request: TuneCreate) -> str:
    """What makes two creates the same request: every field, and uploaded photos by their bytes (not names)."""
    from pydantic import TypeAdapter

    fields = request.model_dump(exclude={"images", "prompts_attributes"}, mode="json")
    # A prompt's input image, like the photos, counts by its bytes (raw bytes are not JSON).
    fields["prompts_attributes"] = TypeAdapter(list[dict[str, Any]]).dump_python(
        [
            {k: {"sha256": hashlib.sha256(v.data).hexdigest()} if isinstance(v, Upload) else v for k, v in item.items()}
            for item in request.prompts_attributes
        ],
        mode="json",
    )
    fields["photos"] = [hashlib.sha256(photo.data).hexdigest() for photo in request.images]
    canonical = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
