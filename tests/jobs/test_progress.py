"""Live progress on the worker's side: the throttled writer, the conditional write, the execution path, the shown shape."""

from __future__ import annotations

import io
import threading
import time
from datetime import datetime, timezone

from PIL import Image

from lookalike.jobs.engine import OutputImage, takes_progress
from lookalike.jobs.execute import Claimed, PromptExecutor
from lookalike.jobs.progress import ProgressWriter, progress_state
from lookalike.jobs.prompts import NewPrompt
from lookalike.schemas import PromptProgress, PromptPublic


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 80, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def _new(services, text: str = "a photo", num_images: int = 2):
    row, _ = services.prompt_store.create(
        NewPrompt(
            account_id=1,
            tune_id=999,
            base_model_id="tiny",
            text=text,
            negative_prompt="",
            options={"target": "gallery", "resolved": {"num_images": num_images, "seed": 10}},
        )
    )
    return row


# -- the writer -------------------------------------------------------------------------------


def test_writes_are_throttled_and_the_last_step_is_always_written():
    written: list[dict] = []
    writer = ProgressWriter(written.append, images=1, min_interval_s=0.1)
    started = time.monotonic()
    for step in range(1, 201):  # 200 steps in about a second: a fast model
        writer(step, 200, None, 1)
        time.sleep(0.005)
    writer.close()
    seconds = time.monotonic() - started
    assert len(written) <= seconds / 0.1 + 2, len(written)  # at most one write per interval (and the first)
    assert len(written) >= 3
    assert written[-1]["step"] == 200 and written[-1]["steps"] == 200  # the last step, never dropped
    steps = [state["step"] for state in written]
    assert steps == sorted(steps)  # in order, latest wins


def test_the_last_step_survives_a_phase_change_right_after_it():
    written: list[dict] = []
    writer = ProgressWriter(written.append, images=2, min_interval_s=10)  # nothing but the first write passes the throttle
    writer.started()
    writer(1, 3, None, 2)
    writer(2, 3, None, 2)  # replaces step 1 while it waits
    writer(3, 3, None, 2)  # the last step: kept even though the finishing step follows at once
    writer(None, None, 1, 2, finishing_step="face_swap")
    writer(None, None, 2, 2, finishing_step="face_swap")  # replaces image 1's
    writer.close()  # flushes without waiting out the interval
    assert [(s["phase"], s["step"], s["image"], s["finishing_step"]) for s in written] == [
        ("denoising", None, None, None),
        ("denoising", 3, None, None),
        ("finishing", None, 2, "face_swap"),
    ]
    assert all(s["images"] == 2 for s in written)
    assert all(PromptProgress(**state) for state in written)  # the shape the API shows


def test_a_failing_write_never_reaches_the_generation():
    calls = []

    def broken(state):
        calls.append(state)
        raise RuntimeError("database is locked")

    writer = ProgressWriter(broken, min_interval_s=0.01)
    writer(1, 2, None, 1)
    writer(2, 2, None, 1)
    writer.close()
    assert calls and writer.writes == 0


def test_a_slow_database_does_not_slow_the_steps():
    gate = threading.Event()
    writer = ProgressWriter(lambda state: gate.wait(5), min_interval_s=0.01)
    started = time.monotonic()
    for step in range(1, 51):
        writer(step, 50, None, 1)
    assert time.monotonic() - started < 0.5  # the steps never waited for the write
    gate.set()
    writer.close()


def test_elapsed_counts_from_the_writer_on_its_own_clock():
    now = [100.0]
    written: list[dict] = []
    writer = ProgressWriter(written.append, clock=lambda: now[0], min_interval_s=0)
    now[0] = 102.5
    writer(1, 4, None, 1)
    writer.close()
    assert written[-1]["elapsed_s"] == 2.5


# -- the queue's conditional write and the read side -------------------------------------------


def test_progress_is_written_only_while_processing_and_cleared_when_finished(services):
    queue = services.queue
    row = _new(services)
    assert not queue.write_progress(row.id, progress_state("denoising", step=1, steps=2))  # still queued
    claimed = queue.claim_next()
    before = services.prompt_store.find(row.id).updated_at
    assert queue.write_progress(claimed.id, progress_state("denoising", step=1, steps=2))
    stored = services.prompt_store.find(row.id)
    assert stored.progress["step"] == 1
    assert stored.updated_at == before  # the prompt's own time does not move with its progress
    assert not queue.write_progress(claimed.id, progress_state("denoising", step=2, steps=2), attempt=99)  # not this attempt
    done = queue.complete(claimed.id, [OutputImage(_png(), seed=1, width=8, height=8)])
    assert done.progress is None
    # A late write (a writer thread behind) never brings it back.
    assert not queue.write_progress(claimed.id, progress_state("denoising", step=2, steps=2))
    assert services.prompt_store.find(row.id).progress is None
    assert PromptPublic.from_row(done, "http://x").progress is None


def test_queue_positions_are_computed_when_read(services):
    rows = [_new(services, f"p{i}") for i in range(4)]
    store = services.prompt_store
    assert store.queue_positions(rows) == {rows[0].id: 1, rows[1].id: 2, rows[2].id: 3, rows[3].id: 4}
    services.queue.claim_next()  # the first runs now
    current = [store.find(row.id) for row in rows]
    positions = store.queue_positions(current)
    assert positions == {rows[1].id: 1, rows[2].id: 2, rows[3].id: 3}
    shown = PromptPublic.from_row(current[2], "http://x", queue_position=positions[rows[2].id])
    assert shown.progress.phase == "queued" and shown.progress.queue_position == 2 and shown.progress.images == 2
    running = PromptPublic.from_row(current[0], "http://x")
    # Claimed, nothing written yet: it runs, no step known.
    assert (running.progress.phase, running.progress.step, running.progress.images) == ("denoising", None, 2)
    assert shown.events_url == f"http://x/prompts/{rows[2].id}/events"


def test_an_unknown_stored_shape_still_reads_as_running():
    class Row:
        status = "processing"
        progress = {"phase": "warping", "step": "x"}
        options = {"resolved": {"num_images": 1}}
        started_at = updated_at = datetime(2026, 1, 2, tzinfo=timezone.utc)

    assert PromptProgress.of_row(Row()).phase == "denoising"


# -- the execution path -------------------------------------------------------------------------


class SteppingEngine:
    """Reports its steps and checks, from inside run, that the row shows them."""

    def __init__(self, services) -> None:
        self.services = services
        self.seen: list[dict] = []

    def check(self, spec):
        return spec

    def run(self, spec, on_progress=None):
        for step in (1, 2, 3):
            on_progress(step, 3, None, 1)
        on_progress(None, None, 1, 1, finishing_step="face_correct")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rows = self.services.prompt_store.list(account_id=1)
            progress = rows[0].progress
            if progress and progress["phase"] == "finishing":
                self.seen.append(progress)
                break
            time.sleep(0.01)
        return [OutputImage(_png(), seed=spec.options["seed"], width=8, height=8)]

    def warmup(self, base_models):
        pass


def test_the_executor_hands_each_prompt_a_writer_and_clears_it_at_the_end(services):
    engine = SteppingEngine(services)
    executor = PromptExecutor(services.queue, engine, on_done=lambda row: None, progress_interval_s=0.01)
    _new(services, num_images=1)
    row = services.queue.claim_next()
    (done,) = executor.execute([Claimed(row)])
    assert engine.seen and engine.seen[0]["finishing_step"] == "face_correct" and engine.seen[0]["image"] == 1
    assert done.status == "succeeded" and done.progress is None


def test_engines_without_on_progress_still_run():
    class Old:
        def run(self, spec):
            return []

    class New:
        def run(self, spec, on_progress=None):
            return []

    class Loose:
        def run(self, spec, **kwargs):
            return []

    assert not takes_progress(Old().run)
    assert takes_progress(New().run) and takes_progress(Loose().run)


def test_a_batch_gives_each_prompt_its_own_reporter(services):
    class Batching:
        def __init__(self) -> None:
            self.reporters = None

        def check(self, spec):
            return spec

        def run(self, spec, on_progress=None):
            raise AssertionError("a batch of two goes through run_many")

        def run_many(self, specs, on_progress=None):
            self.reporters = on_progress
            for reporter, steps in zip(on_progress, (2, 3), strict=True):
                reporter(steps, steps, None, 1)
            return [[OutputImage(_png(), seed=1, width=8, height=8)] for _ in specs]

        def batch_limit(self) -> int:
            return 8

        def warmup(self, base_models):
            pass

    engine = Batching()
    written: dict[int, list[dict]] = {}
    executor = PromptExecutor(services.queue, engine, on_done=lambda row: None, progress_interval_s=0.01)
    real_write = services.queue.write_progress

    def spy(prompt_id, state, *, attempt=None):
        written.setdefault(prompt_id, []).append(state)
        return real_write(prompt_id, state, attempt=attempt)

    executor.queue.write_progress = spy
    try:
        rows = [_new(services, f"b{i}", num_images=1) for i in range(2)]
        claimed = [services.queue.claim_next() for _ in rows]
        finished = executor.execute([Claimed(row) for row in claimed])
    finally:
        del executor.queue.write_progress
    assert [row.status for row in finished] == ["succeeded", "succeeded"]
    assert len(engine.reporters) == 2 and engine.reporters[0] is not engine.reporters[1]
    for row, steps in zip(rows, (2, 3), strict=True):
        states = written[row.id]
        assert [s["phase"] for s in states] == ["denoising", "denoising", "saving"]
        assert states[1]["step"] == states[1]["steps"] == steps
