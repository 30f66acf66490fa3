"""The worker takes compatible queued prompts as one batch; failures stay per prompt."""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from lookalike.errors import InvalidFieldError
from lookalike.jobs.batching import batch_key, claim_compatible
from lookalike.jobs.engine import OutputImage
from lookalike.jobs.prompts import NewPrompt, PromptStore
from lookalike.jobs.queue import JobQueue
from lookalike.jobs.execute import PromptExecutor
from lookalike.jobs.worker import Worker


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


class BatchingEngine:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: list[list[str]] = []

    def check(self, spec):
        if "reject" in spec.text:
            raise InvalidFieldError("rejected at run time", field="text")
        return spec

    def _images(self, spec):
        return [OutputImage(_png(), seed=spec.options["seed"] + i, width=8, height=8) for i in range(spec.options["num_images"])]

    def run(self, spec):
        self.calls.append([spec.text])
        return self._images(spec)

    def run_many(self, specs):
        self.calls.append([s.text for s in specs])
        if any("explode" in s.text for s in specs):
            raise RuntimeError("CUDA out of memory")
        return [self._images(s) for s in specs]

    def batch_limit(self):
        return self.limit

    def warmup(self, base_models):
        pass


def _new(text: str, *, seed: int = 7, num_images: int = 2, steps: int = 4) -> NewPrompt:
    resolved = {"num_images": num_images, "seed": seed, "steps": steps, "w": 512, "h": 512, "scheduler": "lcm"}
    return NewPrompt(
        account_id=1, tune_id=999, base_model_id="tiny", text=text, negative_prompt="",
        options={"target": "gallery", "resolved": resolved},
    )


def _run(store, queue, engine, texts_and_kwargs):
    ids = [store.create(_new(text, **kw))[0].id for text, kw in texts_and_kwargs]
    done = []
    worker = Worker(queue=queue, executor=PromptExecutor(queue, engine, on_done=done.append), warmup=lambda: None, poll_s=0.05)
    worker.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (queue.depth() == 0 and worker.state.current_prompt is None and worker.ready):
        time.sleep(0.02)
    worker.stop()
    return ids, done


def test_compatible_prompts_run_as_one_call_up_to_the_limit(services):
    store, queue = PromptStore(services.sessions, services.blobs), JobQueue(services.sessions, services.blobs)
    engine = BatchingEngine(limit=4)
    ids, done = _run(store, queue, engine, [
        ("a", {"seed": 1}), ("b other steps", {"seed": 2, "steps": 8}), ("c", {"seed": 3}), ("d", {"seed": 5}),
    ])
    # a + c fill the 4 images; b has other steps; d is left for the next call.
    assert engine.calls == [["a", "c"], ["b other steps"], ["d"]]
    assert sorted(row.id for row in done) == sorted(ids)
    rows = {i: store.get(i, account_id=1) for i in ids}
    assert all(row.status == "succeeded" for row in rows.values())
    assert [im.seed for im in rows[ids[2]].images] == [3, 4]


def test_a_rejected_prompt_fails_alone_and_a_failed_batch_fails_its_prompts(services):
    store, queue = PromptStore(services.sessions, services.blobs), JobQueue(services.sessions, services.blobs)
    engine = BatchingEngine(limit=8)
    ids, _ = _run(store, queue, engine, [("ok", {}), ("reject me", {}), ("fine", {}), ("explode", {"steps": 2}), ("boom", {"steps": 2})])
    statuses = [store.get(i, account_id=1).status for i in ids]
    assert statuses == ["succeeded", "failed", "succeeded", "failed", "failed"]
    assert store.get(ids[1], account_id=1).error["code"] == "invalid_field"
    assert store.get(ids[3], account_id=1).error["code"] == "generation_failed"
    assert engine.calls == [["ok", "fine"], ["explode", "boom"]]


def test_claim_compatible_skips_prompts_already_taken(services):
    store, queue = PromptStore(services.sessions, services.blobs), JobQueue(services.sessions, services.blobs)
    ids = [store.create(_new(t, num_images=1))[0].id for t in ("x", "y", "z")]
    first = queue.claim_next()
    assert first.id == ids[0]
    other = queue.claim_next()  # another worker took y
    assert other.id == ids[1]
    taken = claim_compatible(queue, first, limit_images=8)
    assert [row.id for row in taken] == [ids[2]]
    assert batch_key(first) == batch_key(taken[0])


def test_runner_batch_equals_each_prompt_alone_on_the_tiny_model(services):
    from lookalike.execution import runner
    from lookalike.jobs.engine import RunnerEngine

    engine = RunnerEngine(services.run_context)
    checked = [
        runner.check_prompt(services.run_context, account_id=None, tune_id=None, text=text, negative_prompt="",
                            options={"seed": seed, "steps": 1, "w": 64, "h": 64, "scheduler": "euler"}, base_model="tiny")
        for text, seed in (("a photo", 3), ("a drawing", 9))
    ]
    batched = engine.run_many(checked)
    alone = [engine.run(c) for c in checked]
    for together, single in zip(batched, alone, strict=True):
        a, b = (np.asarray(Image.open(io.BytesIO(x[0].png)), dtype=np.int16) for x in (together, single))
        assert together[0].seed == single[0].seed
        assert np.abs(a - b).max() <= 2
    assert engine.batch_limit() == 1  # the CPU default: no batching unless batch_max says so
