"""Compatible requests share one pipeline call; each image equals its request run alone."""

from __future__ import annotations

import numpy as np
from conftest import pixels, unit

from lookalike.generation.batch import PreparedRequest, group_by_call
from lookalike.generation.identity import plan_faces
from lookalike.generation.request import GenerationRequest
from lookalike.prompts.options import GenerationOptions

# Batched matmuls round differently from single ones; another seed or text
# would differ by tens of levels.
TOLERANCE = 2


def request(tiny, prompt, identities=(), **options):
    fields = {"steps": 1, "cfg_scale": 1.0, "scheduler": "euler_a", **options}
    return GenerationRequest(
        prompt=prompt, base_model=tiny, options=GenerationOptions(**fields), identities=tuple(identities)
    )


def assert_same_as_alone(engine, requests, batched):
    for req, result in zip(requests, batched, strict=True):
        alone = engine.generate(req)
        assert result.seeds == alone.seeds
        for a, b in zip(result.images, alone.images, strict=True):
            assert np.abs(pixels(a.image) - pixels(b.image)).max() <= TOLERANCE


def test_compatible_requests_run_as_one_call_with_their_own_text_identity_and_seed(engine, tiny):
    requests = [
        request(tiny, "a photo of a person", [(unit(1), 1.0)], seed=10),
        request(tiny, "an oil painting", [(unit(2), 1.0)], seed=20, num_images=2),
        request(tiny, "a pencil sketch", [(unit(3), 1.0)], seed=30),
    ]
    batched = engine.generate_batch(requests)
    assert [r.timings["batch_images"] for r in batched] == [4.0, 4.0, 4.0]  # one call, four images
    assert [r.seeds for r in batched] == [[10], [20, 21], [30]]
    assert_same_as_alone(engine, requests, batched)
    # And they really differ from each other (text, identity, seed all count).
    firsts = [pixels(r.images[0].image) for r in batched]
    assert np.abs(firsts[0] - firsts[1]).mean() > 1.0 and np.abs(firsts[0] - firsts[2]).mean() > 1.0


def test_incompatible_requests_split_into_calls_and_keep_their_order(engine, tiny):
    requests = [
        request(tiny, "a photo", [(unit(1), 1.0)], seed=1),
        request(tiny, "a photo", [(unit(1), 0.5)], seed=2),  # another adapter scale
        request(tiny, "a photo", [(unit(4), 1.0)], seed=4),  # joins the first
    ]
    batched = engine.generate_batch(requests)
    assert [r.seed for r in batched] == [1, 2, 4]
    assert [r.timings["batch_images"] for r in batched] == [2.0, 1.0, 2.0]
    assert [r.adapter_scale for r in batched] == [1.0, 0.5, 1.0]
    assert_same_as_alone(engine, requests, batched)


def test_cfg_and_a_prompt_past_77_tokens(engine, tiny):
    long_prompt = "portrait photo, " * 8 + "red hat"  # two CLIP windows with the tiny tokenizer
    requests = [
        request(tiny, "short", [(unit(5), 1.0)], seed=5, cfg_scale=3.0, scheduler="euler", negative_prompt="blurry"),
        request(tiny, long_prompt, [(unit(6), 1.0)], seed=6, cfg_scale=3.0, scheduler="euler"),
    ]
    batched = engine.generate_batch(requests)
    assert_same_as_alone(engine, requests, batched)


def prepared(tiny, **options):
    options = GenerationOptions(**{"seed": 1, **options})
    return PreparedRequest(
        request=request(tiny, "x"), options=options, seeds=options.image_seeds(), steps=options.resolved_steps(),
        cfg=options.resolved_cfg(), width=64, height=64, faces=plan_faces([(unit(1), 1.0)]),
        deepcache_interval=0, tiny_vae=False,
    )


def test_group_by_call_keys(tiny):
    items = [
        prepared(tiny),
        prepared(tiny, scheduler="lcm"),
        prepared(tiny, seed=9, num_images=3, negative_prompt="other"),  # per image: same call
        prepared(tiny, cfg_scale=2.0),
    ]
    assert group_by_call(items) == [[0, 2], [1], [3]]
