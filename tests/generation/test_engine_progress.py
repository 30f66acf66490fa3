"""The engine reports each denoising step through diffusers' callback_on_step_end (tiny model, CPU)."""

from __future__ import annotations

from types import SimpleNamespace

from tests.generation.conftest import pixels, unit

from lookalike.generation.request import GenerationRequest
from lookalike.prompts.options import GenerationOptions


def request(tiny, seed=3, num_images=1, steps=3, scheduler="euler"):
    return GenerationRequest(
        prompt="a photo of a person",
        base_model=tiny,
        options=GenerationOptions(steps=steps, cfg_scale=3.0, scheduler=scheduler, seed=seed, num_images=num_images),
        identities=((unit(3), 1.0),),
    )


def test_each_step_is_reported_with_the_calls_step_count_and_the_images_stay_the_same(engine, tiny):
    heard = []
    with_progress = engine.generate(request(tiny, num_images=2), on_progress=lambda *args: heard.append(args))
    assert heard == [(1, 3, None, 2), (2, 3, None, 2), (3, 3, None, 2)]
    without = engine.generate(request(tiny, num_images=2))
    assert (pixels(with_progress.images[1].image) == pixels(without.images[1].image)).all()


def test_a_batch_tells_each_request_its_own_steps(engine, tiny):
    a, b = [], []
    engine.generate_batch(
        [request(tiny, seed=1), request(tiny, seed=2, num_images=2), request(tiny, seed=5, steps=2)],
        on_progress=[lambda *args: a.append(args), lambda *args: b.append(args), None],
    )
    assert a == [(1, 3, None, 1), (2, 3, None, 1), (3, 3, None, 1)]
    assert b == [(1, 3, None, 2), (2, 3, None, 2), (3, 3, None, 2)]


def test_the_runner_reports_finishing_steps_per_image():
    from lookalike.execution.runner import apply_postprocess

    class Finisher:
        def __call__(self, image, seed, on_step=None):
            for name in ("face_swap", "super_resolution"):
                if on_step is not None:
                    on_step(name)
            return image, [{"step": "face_swap", "status": "applied"}]

    result = SimpleNamespace(images=[SimpleNamespace(image=None, seed=s, parameters="Steps: 2") for s in (1, 2)])
    heard = []
    apply_postprocess(Finisher(), result, lambda *args, **kwargs: heard.append((args, kwargs["finishing_step"])))
    assert heard == [
        ((None, None, 1, 2), "face_swap"),
        ((None, None, 1, 2), "super_resolution"),
        ((None, None, 2, 2), "face_swap"),
        ((None, None, 2, 2), "super_resolution"),
    ]
    apply_postprocess(Finisher(), result)  # nobody listening: the finisher is called as before
