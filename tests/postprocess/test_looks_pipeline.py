"""Style, colour grading and grain through the runner: what the engine is asked, what the PNG and record say.

The generator is a stand-in that records each request and paints flat grey
(the engine itself has its own tests): what is checked here is the runner's
part, the style applied before the engine and the looks after it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from lookalike.config import Settings
from lookalike.execution import runner
from lookalike.execution.context import RunContext
from lookalike.generation.metadata import a1111_parameters
from lookalike.generation.request import GeneratedImage, GenerationResult
from lookalike.jobs.engine import PromptSpec, RunnerEngine
from lookalike.postprocess import ORDER, PostprocessFlags, build_steps
from lookalike.postprocess.film_grain import STRENGTH

TUNE = 5


@dataclass
class RecordingGenerator:
    requests: list = field(default_factory=list)

    def generate_batch(self, requests, on_progress=None):
        results = []
        for request in requests:
            self.requests.append(request)
            seeds = request.options.image_seeds()
            width, height = request.options.size_for(64)
            images = [
                GeneratedImage(
                    Image.new("RGB", (width, height), (120, 110, 100)),
                    seed,
                    a1111_parameters(
                        prompt=request.original_prompt, negative_prompt=request.options.negative_prompt, steps=1,
                        sampler="Euler", cfg_scale=1.0, seed=seed, width=width, height=height, model="tiny",
                    ),
                )
                for seed in seeds
            ]
            results.append(GenerationResult(images, seeds[0], width, height, 1, 1.0, "euler", "tiny", 1.0))
        return results


class Tunes:
    def get(self, tune_id, account_id=None):
        return {"id": tune_id, "base_model": "tiny"}

    def identity(self, tune_id, encoder, account_id=None):
        return np.ones(4, dtype=np.float32) / 2


@pytest.fixture
def context(tmp_path):
    generator = RecordingGenerator()
    analyzer = SimpleNamespace(encoder=SimpleNamespace(name="offline"), detect=lambda pixels: [])
    ctx = RunContext(
        settings=Settings(data_dir=tmp_path), tunes=Tunes(), analyzer=lambda: analyzer,
        face_encoder=lambda name: analyzer.encoder, generator=lambda: generator,
    )
    return ctx, generator


def check(ctx, text, **options):
    base = {"seed": 11, "w": 64, "h": 64, "steps": 1}
    return runner.check_prompt(ctx, account_id=None, tune_id=None, text=text, negative_prompt="blurry",
                               options={**base, **options}, base_model="tiny")


def test_the_style_reaches_the_engine_and_the_looks_run_last_in_order(context):
    ctx, generator = context
    text = f"a headshot of <faceid:{TUNE}:0.8> woman"
    resolved = check(ctx, text, style="cinematic", color_grading="Film Velvia", film_grain="true", num_images=2)
    heard = []
    result = runner.run_prompt(ctx, resolved, on_progress=lambda *a, **k: heard.append((a[2], k.get("finishing_step"))))

    request = generator.requests[0]
    assert "a headshot of" in request.prompt and "a frame from a feature film" in request.prompt
    assert "<faceid" not in request.prompt  # the token was taken out of the styled text...
    assert [weight for _, weight in request.identities] == [0.8]  # ...and still steers the image
    assert request.options.negative_prompt.startswith("blurry, snapshot")

    summary = f"color_grading applied (Film Velvia); film_grain applied (size 0.5 px, strength {STRENGTH:g})"
    for image in result.images:
        lines = image.parameters.split("\n")
        assert lines[0].startswith(f"a headshot of <faceid:{TUNE}:0.8> woman, a frame from a feature film")
        assert lines[1].startswith("Negative prompt: blurry, snapshot")
        assert lines[2].endswith(f'Style: Cinematic, Postprocess: "{summary}"')
    # Live progress names each step, per image, in the order they ran.
    steps = [(n, s) for n, s in heard if s in ("color_grading", "film_grain")]
    assert steps == [(1, "color_grading"), (1, "film_grain"), (2, "color_grading"), (2, "film_grain")]

    # Grain from each image's own seed: the two flat images differ, and a re-run repeats them.
    first = [np.asarray(image.image) for image in result.images]
    assert (first[0] != first[1]).mean() > 0.5
    again = runner.run_prompt(ctx, check(ctx, text, style="Cinematic", color_grading="Film Velvia", film_grain=True,
                                         num_images=2))
    assert all((np.asarray(a.image) == b).all() for a, b in zip(again.images, first, strict=True))


def test_the_record_reaches_the_png_and_image_details(context):
    ctx, _ = context
    engine = RunnerEngine(ctx)
    outputs = engine.run(engine.check(PromptSpec(
        account_id=1, tune_id=None, base_model="tiny", text="a lighthouse", negative_prompt="",
        options={"seed": 3, "w": 64, "h": 64, "steps": 1, "color_grading": "Ektar", "film_grain": True},
    )))
    summary = f"color_grading applied (Ektar); film_grain applied (size 0.5 px, strength {STRENGTH:g})"
    assert outputs[0].postprocess == summary
    with Image.open(io.BytesIO(outputs[0].png)) as png:
        assert png.text["parameters"].endswith(f'Postprocess: "{summary}"')
        assert "Style:" not in png.text["parameters"]


def test_face_swap_is_recorded_as_skipped_under_an_illustration_style(context):
    ctx, _ = context
    resolved = check(ctx, "a knight on a hill", style="Comic book", face_swap=True)  # no tune needed: nothing to swap
    result = runner.run_prompt(ctx, resolved)
    assert result.images[0].parameters.endswith(
        'Style: Comic book, Postprocess: "face_swap skipped (style Comic book is not photographic)"'
    )


def test_the_steps_run_in_the_documented_order(tmp_path):
    flags = PostprocessFlags(face_swap=True, face_correct=True, super_resolution=True, color_grading="Ektar",
                             film_grain=True, face_swap_skipped="style Lowpoly is not photographic")
    assert [step.name for step in build_steps(flags, Settings(data_dir=tmp_path))] == list(ORDER)
    assert ORDER[-3:] == ("super_resolution", "color_grading", "film_grain")
    assert PostprocessFlags.from_options({"color_grading": "Ektar"}).any
    assert not PostprocessFlags.from_options({"color_grading": None, "film_grain": False}).any
