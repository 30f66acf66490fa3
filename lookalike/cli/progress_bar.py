"""The bar `lookalike prompts create` shows while a prompt runs: place in line, denoising step of N,
finishing step, elapsed time. On stderr, so stdout keeps only the report; none with --json.

Fed the API's progress dicts (``--server``: the prompt's events) or, for a
local run, the runner's ``on_progress(step, steps, image, images, finishing_step)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class _Bar:
    """One rich bar: a phase word, the bar, a detail and the time elapsed; drawn from its first update."""

    WIDTH = 10  # of the phase word's column
    DONE = "done"  # the phase word once finished

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn(f"{{task.description:<{self.WIDTH}}}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task("starting", total=None, detail="")
        self._started = False
        self.updates = 0

    def stop(self, *, finished: bool) -> None:
        """Leave the bar drawn, full and ``DONE`` if the job finished; nothing if it never moved."""
        if not self._started:
            return
        if finished:
            total = self._progress.tasks[0].total or 1
            self._progress.update(self._task, description=self.DONE, total=total, completed=total, detail="")
        self._progress.stop()

    def _set(self, description: str, total: int | None, completed: int, detail: str) -> None:
        if not self._started:  # drawn from the first progress on, so an early error prints alone
            self._progress.start()
            self._started = True
        # Drawn 10 times a second; a new phase at once, so even a short one is seen.
        changed = self._progress.tasks[0].description != description
        self._progress.update(
            self._task, description=description, total=total, completed=completed, detail=detail, refresh=changed
        )


class PromptBar(_Bar):

    def on_step(
        self, step: int | None, steps: int | None, image: int | None, images: int | None, finishing_step: str | None = None
    ) -> None:
        """The runner's ``on_progress`` (a local run)."""
        phase = "finishing" if finishing_step else "denoising"
        self.update({"phase": phase, "step": step, "steps": steps, "image": image, "images": images,
                     "finishing_step": finishing_step})

    def update(self, progress: dict[str, Any]) -> None:
        """One progress dict, as the API shows it (docs/API.md, "Progress")."""
        self.updates += 1
        phase = progress.get("phase")
        step, steps = progress.get("step"), progress.get("steps")
        image, images = progress.get("image"), progress.get("images")
        if phase == "queued":
            position = progress.get("queue_position")
            self._set("queued", None, 0, f"position {position} in line" if position else "")
        elif phase == "waiting":
            self._set("waiting", None, 0, "for a LoRA tune it names to finish training")
        elif phase == "denoising" and steps:
            self._set("denoising", steps, step or 0, f"step {step or 0}/{steps}" + _images(images))
        elif phase == "denoising":
            self._set("starting", None, 0, "loading the model")
        elif phase == "finishing":
            detail = str(progress.get("finishing_step") or "")
            if image and images:
                detail += f", image {image}/{images}"
            self._set("finishing", images or None, (image or 1) - 1 if images else 0, detail)
        elif phase == "saving":
            self._set("saving", 1, 1, "")


def _images(images: int | None) -> str:
    return f" ({images} images)" if images and images > 1 else ""


def prompt_bar(console: Console, *, enabled: bool = True):
    """A prompt's bar (None when disabled), drawn from its first update, stopped on the way out."""
    return _shown(PromptBar, console, enabled)


def training_bar(console: Console, *, enabled: bool = True):
    """A training bar (None when disabled), drawn from its first update, stopped on the way out."""
    return _shown(TrainingBar, console, enabled)


@contextmanager
def _shown(kind: type[_Bar], console: Console, enabled: bool) -> Iterator[_Bar | None]:
    if not enabled:
        yield None
        return
    bar = kind(console)
    finished = False
    try:
        yield bar
        finished = True
    finally:
        bar.stop(finished=finished)


class TrainingBar(_Bar):
    """The bar `lookalike tunes create --model-type lora --wait` shows: place in line, class images, training
    step of N with its loss and ETA. Fed the tune's progress dicts (docs/API.md, "Tune progress"), from the API
    or, for a local run, straight from the trainer; on stderr, none with --json."""

    WIDTH = 12
    DONE = "trained"

    def update(self, progress: dict[str, Any]) -> None:
        self.updates += 1
        phase = progress.get("phase")
        step, steps = progress.get("step"), progress.get("steps")
        if phase == "queued":
            position = progress.get("queue_position")
            self._set("queued", None, 0, f"position {position} in line" if position else "")
        elif phase == "preparing":
            self._set("preparing", None, 0, "loading the model, encoding the photos")
        elif phase == "class_images":
            done, total = progress.get("class_image") or 0, progress.get("class_images") or None
            self._set("class images", total, done, f"{done}/{total}" if total else "")
        elif phase == "training" and steps:
            loss = progress.get("loss")
            detail = f"step {step or 0}/{steps}" + (f", loss {loss:.4f}" if loss is not None else "")
            if progress.get("resumed_from"):
                detail += f", resumed at {progress['resumed_from']}"
            self._set("training", steps, step or 0, detail)
        elif phase == "saving":
            self._set("saving", steps or 1, steps or 1, "")
