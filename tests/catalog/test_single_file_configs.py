"""The bundled SD1.5 config folder: SD1.5's real architecture, and CLIP's real tokenizer, offline.

Architecture: each component built from the folder on the meta device
(no memory, no weights) has SD1.5's published parameter count: UNet
859,520,964; VAE 83,653,863, of which the decoder with post_quant_conv is
49,490,199; CLIP ViT-L/14 text model 123,060,480.

Tokenizer: ``vocab.json``/``merges.txt`` built from OpenAI's merges file
must tokenize as OpenAI's own ``SimpleTokenizer`` (the copy open_clip
ships, loaded from its file: open_clip's package needs torchvision), and
``a photo of a cat`` must be CLIP's well-known ids.
"""

from __future__ import annotations

import importlib.util

import pytest

PROMPTS = [
    "a photo of a cat",
    "professional headshot of a woman, business suit, studio lighting, 85mm lens, f/1.8, sharp focus",
    "Golden-hour portrait; bokeh!!  cinematic colour (film grain) -- 35mm, ISO 200",
    "an educator in a warm sweater, soft natural light, clean background, 8k uhd, dslr",
    "photo of a man running in a park, energetic, outdoor natural light, blurred background",
    "naïve café façade, émigré's résumé",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from lookalike.catalog.single_file_configs import config_dir

    models_dir = tmp_path_factory.mktemp("models")
    return config_dir("sd15", models_dir), models_dir


def test_the_bundled_config_builds_sd15s_architecture(folder):
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    path, _ = folder
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(path, subfolder="unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(path, subfolder="vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(path, subfolder="text_encoder", local_files_only=True))

    def count(*modules) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    assert count(unet) == 859_520_964
    assert count(vae) == 83_653_863 and count(vae.decoder, vae.post_quant_conv) == 49_490_199
    assert vae.config.scaling_factor == 0.18215
    assert count(text) == 123_060_480
    index = StableDiffusionPipeline.load_config(str(path))  # what from_single_file(config=...) reads first
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"] and index["safety_checker"] == [None, None]


def _simple_tokenizer():
    """OpenAI's SimpleTokenizer from open_clip's tokenizer.py, imported from its file alone."""
    pytest.importorskip("ftfy", reason="ftfy (test extra) is OpenAI's tokenizer's text cleaner")
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        pytest.skip("open_clip_torch is not installed (make install adds it with --no-deps)")
    location = next(iter(spec.submodule_search_locations))
    module_spec = importlib.util.spec_from_file_location("openai_simple_tokenizer", f"{location}/tokenizer.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.SimpleTokenizer()


def test_the_tokenizer_built_from_clips_merges_equals_openais(folder):
    from transformers import CLIPTokenizer

    path, _ = folder
    ours = CLIPTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True)
    assert len(ours) == 49_408 and (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id) == (49406, 49407, 49407)
    assert ours("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    theirs = _simple_tokenizer()
    for prompt in PROMPTS:
        expected = [theirs.sot_token_id, *theirs.encode(prompt), theirs.eot_token_id]
        assert ours(prompt).input_ids == expected, prompt


def test_the_folder_is_built_once_and_named_by_its_content(folder):
    from lookalike.catalog.single_file_configs import CONFIGS_DIRNAME, config_dir

    path, models_dir = folder
    stamp = (path / "tokenizer" / "vocab.json").stat().st_mtime_ns
    assert config_dir("sd15", models_dir) == path
    assert (path / "tokenizer" / "vocab.json").stat().st_mtime_ns == stamp
    assert [p.name for p in (models_dir / CONFIGS_DIRNAME).iterdir()] == [path.name]  # no staging left behind


def test_without_clips_merges_the_error_names_the_pull(tmp_path, monkeypatch):
    from lookalike.catalog import clip_vocab
    from lookalike.catalog.single_file_configs import config_dir
    from lookalike.errors import ModelUnavailableError

    monkeypatch.setattr(clip_vocab, "_installed_copy", lambda: None)
    with pytest.raises(ModelUnavailableError) as info:
        config_dir("sd15", tmp_path)
    assert "lookalike models pull clip_bpe" in info.value.hint
    assert not (tmp_path / "single_file_configs").exists()


def test_a_wrong_merges_file_is_refused(tmp_path, monkeypatch):
    from lookalike.catalog import clip_vocab
    from lookalike.catalog.single_file_configs import config_dir
    from lookalike.errors import ModelIntegrityError

    pulled = tmp_path / clip_vocab.CLIP_BPE.files[0].path
    pulled.parent.mkdir(parents=True)
    pulled.write_bytes(b"not the merges")
    with pytest.raises(ModelIntegrityError):
        config_dir("sd15", tmp_path)
