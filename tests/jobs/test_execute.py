"""The one execution path (jobs/execute.py) and the one submit path (jobs/submit.py), on a fake engine."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lookalike.errors import IdempotencyKeyReusedError, InvalidFieldError, TuneNotFoundError
from lookalike.jobs.engine import OutputImage
from lookalike.jobs.execute import Claimed, PromptExecutor, error_of
from lookalike.jobs.prompts import FAILED, SUCCEEDED, NewPrompt
from lookalike.schemas import PromptCreate


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 80, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


class BatchingEngine:
    """Records how it was called: one prompt at a time (run) or as one batch (run_many)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def check(self, spec):
        if "reject" in spec.text:
            raise InvalidFieldError("rejected", field="text")
        return spec

    def _images(self, spec):
        if "crash" in spec.text:
            raise RuntimeError("out of memory")
        return [OutputImage(_png(), seed=spec.options["seed"], width=8, height=8)]

    def run(self, spec):
        self.calls.append(("run", 1))
        return self._images(spec)

    def run_many(self, specs):
        self.calls.append(("run_many", len(specs)))
        out = []
        for spec in specs:
            try:
                out.append(self._images(spec))
            except RuntimeError as exc:
                out.append(exc)
        return out

    def batch_limit(self) -> int:
        return 8

    def warmup(self, base_models):
        pass


def _queued(services, *texts: str) -> list:
    rows = []
    for n, text in enumerate(texts):
        row, _ = services.prompt_store.create(
            NewPrompt(
                account_id=1,
                tune_id=999,
                base_model_id="tiny",
                text=text,
                negative_prompt="",
                options={"target": "gallery", "resolved": {"num_images": 1, "seed": 10 + n}},
                callback=None,
            )
        )
        rows.append(row)
    return [services.queue.claim_next() for _ in rows]


def test_one_engine_call_for_a_batch_and_each_prompt_keeps_its_own_outcome(services):
    engine, done = BatchingEngine(), []
    executor = PromptExecutor(services.queue, engine, on_done=done.append)
    rows = _queued(services, "a photo", "reject me", "crash now", "a drawing")
    finished = executor.execute([Claimed(row) for row in rows])
    assert engine.calls == [("run_many", 3)]  # the rejected one never reached the engine
    assert [row.status for row in finished] == [SUCCEEDED, FAILED, FAILED, SUCCEEDED]
    assert finished[1].error["code"] == "invalid_field"
    assert finished[2].error == {"code": "generation_failed", "message": "RuntimeError: out of memory"}
    assert [len(row.images) for row in finished] == [1, 0, 0, 1]
    assert [row.id for row in done] == [row.id for row in rows]


def test_a_single_prompt_runs_alone_and_the_first_attempt_to_finish_wins(services):
    engine, done = BatchingEngine(), []
    executor = PromptExecutor(services.queue, engine, on_done=done.append)
    (row,) = _queued(services, "a photo")
    (first,) = executor.execute([Claimed(row, attempt=row.attempts)])
    assert engine.calls == [("run", 1)] and first.status == SUCCEEDED
    # A slower duplicate delivery of the same prompt finishes nothing and sends no second callback.
    (late,) = executor.execute([Claimed(row, attempt=row.attempts)])
    assert late is None and [r.id for r in done] == [row.id]
    assert len(services.prompt_store.get(row.id, account_id=1).images) == 1


def test_error_of_keeps_our_codes_and_names_anything_else():
    assert error_of(InvalidFieldError("bad", field="w"))["field"] == "w"
    assert error_of(KeyError("x"))["code"] == "generation_failed"


def test_submit_wakes_the_loop_replays_keys_and_refuses_a_changed_body(services):
    woken = []
    prompts = services.prompts
    prompts.engine = BatchingEngine()
    prompts.on_queued = lambda: woken.append(1)
    first, created = prompts.submit(7, 999, PromptCreate.parse({"text": "hi", "steps": "3"}), "key-1")
    assert created and woken == [1]
    # The same request again, even spelled as JSON numbers, is the same prompt.
    again, created = prompts.submit(7, 999, PromptCreate.parse({"text": "hi", "steps": 3}), "key-1")
    assert (again.id, created, woken) == (first.id, False, [1])
    with pytest.raises(IdempotencyKeyReusedError):
        prompts.submit(7, 999, PromptCreate.parse({"text": "hi", "steps": 4}), "key-1")
    resolved = first.options["resolved"]
    assert resolved["steps"] == 3 and 0 <= resolved["seed"] <= 2**32 - 1
    assert first.options["target"] == "gallery" and first.base_model_id == "tiny"


def test_submit_refuses_an_id_that_is_neither_a_tune_nor_a_gallery_model(services):
    services.prompts.engine = BatchingEngine()
    with pytest.raises(TuneNotFoundError):
        services.prompts.submit(7, 424242, PromptCreate.parse({"text": "hi"}))
