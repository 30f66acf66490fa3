"""The fast path's switches on the CPU: same pixels as the plain path, GPU-only parts skipped with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pixels, unit
from pydantic import ValidationError

from lookalike.config import Settings
from lookalike.generation.request import GenerationRequest
from lookalike.prompts.options import GenerationOptions


def request(tiny, identities=(), **options):
    fields = {"steps": 1, "cfg_scale": 3.0, "scheduler": "euler", "seed": 21, **options}
    return GenerationRequest(
        prompt="a photo of a person", base_model=tiny, options=GenerationOptions(**fields), identities=tuple(identities)
    )


@pytest.fixture(scope="module")
def fast_engine(gen_settings):
    from lookalike.generation.engine import Engine
    from lookalike.generation.pipelines import PipelineCache

    settings = Settings(data_dir=gen_settings.data_dir, models_dir=gen_settings.models_dir, device="cpu", fast_path=True)
    # Its own cache: the fast path rewrites the loaded pipeline's weights.
    return Engine(settings, cache=PipelineCache(settings.models_dir))


def test_plain_path_is_the_cpu_default_and_says_so(engine, tiny):
    report = engine.pipeline(tiny).fast
    assert report == {"fast_path": "off: the CPU runs the plain path"}
    loaded = engine.pipeline(tiny)
    assert loaded.folder is None and loaded.fuser is None


def test_forced_on_the_cpu_reports_each_switch(fast_engine, tiny):
    report = fast_engine.pipeline(tiny).fast
    assert report["fast_path"] == "on"
    assert report["dtype"] == "float32"
    assert report["channels_last"] == "on"
    assert report["merge_lora"] == "on"
    assert report["fuse_qkv"].startswith("on (")
    assert report["compile"] == "skipped: torch.compile is used on CUDA only"
    assert report["sdpa"].startswith("on")


def test_fast_path_gives_the_plain_paths_pixels(engine, fast_engine, tiny):
    # Weight changes in both directions, and back to none: the folded weights
    # must follow every change and never drift.
    cases = [[(unit(1), 1.0)], [(unit(1), 0.5)], [], [(unit(2), 1.0)]]
    for identities in cases:
        plain = pixels(engine.generate(request(tiny, identities)).images[0].image)
        fast = pixels(fast_engine.generate(request(tiny, identities)).images[0].image)
        assert np.abs(plain - fast).max() <= 2, identities


def test_loras_are_folded_and_restored_exactly(fast_engine, tiny):
    import torch

    fast_engine.generate(request(tiny, [(unit(3), 1.0)]))
    loaded = fast_engine.pipeline(tiny)
    layers = dict(loaded.folder.layers())
    name, layer = next(iter(layers.items()))
    original = loaded.folder.originals[name]
    assert layer.disable_adapters  # PEFT off: the delta lives in the weight
    assert not torch.equal(layer.base_layer.weight, original)
    fast_engine.generate(request(tiny))  # no identity: LoRA off
    assert torch.equal(layer.base_layer.weight, original)


def test_fused_qkv_on_self_attention_and_the_adapter_on_cross_attention(fast_engine, tiny):
    from lookalike.generation.fusion import FusedSelfAttnProcessor
    from lookalike.generation.ip_scale import TensorScaleIPProcessor

    processors = fast_engine.pipeline(tiny).pipe.unet.attn_processors
    fused = [n for n, p in processors.items() if isinstance(p, FusedSelfAttnProcessor)]
    ip = [n for n, p in processors.items() if isinstance(p, TensorScaleIPProcessor)]
    assert fused and all(n.endswith("attn1.processor") for n in fused)
    assert ip and all(n.endswith("attn2.processor") for n in ip)


def test_switches_can_be_turned_off_one_by_one(gen_settings, tiny):
    from lookalike.generation.engine import Engine
    from lookalike.generation.pipelines import PipelineCache

    settings = Settings(
        data_dir=gen_settings.data_dir, models_dir=gen_settings.models_dir, device="cpu", fast_path=True,
        fast_channels_last=False, fast_merge_lora=False, fast_fuse_qkv=False, fast_compile=False,
    )
    report = Engine(settings, cache=PipelineCache(settings.models_dir)).pipeline(tiny).fast
    assert {k: report[k] for k in ("channels_last", "merge_lora", "fuse_qkv", "compile")} == {
        "channels_last": "off", "merge_lora": "off", "fuse_qkv": "off", "compile": "off",
    }


def test_compile_decision_on_cuda_and_cpu():
    from lookalike.generation.fast import compile_decision

    assert compile_decision(Settings(compile_mode="reduce-overhead"), on_cuda=True) == "on"
    assert compile_decision(Settings(), on_cuda=False) == "skipped: torch.compile is used on CUDA only"
    assert compile_decision(Settings(fast_compile=False), on_cuda=True) == "off"
    with pytest.raises(ValidationError):
        Settings(compile_mode="warp-speed")
    # A mode that got past the settings (model_copy skips validation) is still refused here.
    assert compile_decision(Settings().model_copy(update={"compile_mode": "warp-speed"}), on_cuda=True).startswith(
        "skipped: unknown compile_mode 'warp-speed'"
    )


def test_one_compiled_graph_serves_every_faceid_weight(gen_settings, tiny):
    """With the scale in a tensor, new weights do not recompile (diffusers' float scale did: 5 weights, 5 graphs).

    Dynamo's "eager" backend traces without inductor, so this runs on the CPU.
    """
    from torch._dynamo.utils import counters

    from lookalike.generation.engine import Engine
    from lookalike.generation.pipelines import PipelineCache

    settings = Settings(data_dir=gen_settings.data_dir, models_dir=gen_settings.models_dir, device="cpu", fast_path=True)
    engine = Engine(settings, cache=PipelineCache(settings.models_dir))
    loaded = engine.pipeline(tiny)
    assert loaded.fast["ip_scale"].startswith("on (")
    loaded.pipe.unet.compile(backend="eager", dynamic=False)
    engine.generate(request(tiny, [(unit(1), 1.0)], cfg_scale=1.0))
    graphs = counters["stats"]["unique_graphs"]
    for weight in (0.5, 1.3, 0.0):
        engine.generate(request(tiny, [(unit(1), weight)], cfg_scale=1.0))
    assert counters["stats"]["unique_graphs"] == graphs
