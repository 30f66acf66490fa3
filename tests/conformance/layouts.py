"""Random weights in the published layouts, built the way their authors' code builds them.

Nothing here comes from lookalike: the FaceID ``.bin`` is the state dict of
the modules upstream IP-Adapter creates (tencent-ailab/IP-Adapter at
62e4af9, ``ip_adapter/ip_adapter_faceid.py`` ``IPAdapterFaceID.set_ip_adapter``
and ``init_proj``; ``ip_adapter/attention_processor_faceid.py``; the LoRA
layer is diffusers' ``models/lora.py`` ``LoRALinearLayer``, which upstream
imports), saved as upstream's converter saves it: ``{"image_proj": ...,
"ip_adapter": ...}`` with the ``ip_adapter`` keys numbered by the position
of each processor in ``unet.attn_processors`` (a ``torch.nn.ModuleList``),
in fp16 as published. So a key our own builder (``catalog.tiny``) or loader
spelled differently from upstream would fail these tests.

The ONNX graphs have the published models' signatures (names, shapes,
output order) with small random bodies: SCRFD with keypoints as in
buffalo_l's ``det_10g.onnx`` (input ``input.1`` [1, 3, ?, ?], 9 outputs:
scores, boxes, keypoints at strides 8, 16, 32, two anchors per location),
ArcFace as ``w600k_r50.onnx`` (``input.1`` [N, 3, 112, 112] -> [N, 512]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FACEID_SD15_WEIGHT = "ip-adapter-faceid_sd15.bin"
FACEID_LORA_RANK = 128  # IPAdapterFaceID(lora_rank=128), as h94's model card loads it
FACEID_TOKENS = 4
FACEID_ID_DIM = 512


def faceid_sd15_state_dict(unet, *, seed: int = 0, lora_std: float = 0.05) -> dict:
    """``ip-adapter-faceid_sd15.bin`` for ``unet``: upstream's modules, seeded, fp16.

    Upstream initialises a LoRA's ``up`` to zero; trained weights are not,
    so every LoRA matrix gets ``N(0, lora_std)`` (large enough that the LoRA
    visibly moves the image, which is what the weight tests need).
    """
    import torch
    from torch import nn

    class LoRALinearLayer(nn.Module):  # diffusers.models.lora.LoRALinearLayer's parameters
        def __init__(self, in_features: int, out_features: int, rank: int) -> None:
            super().__init__()
            self.down = nn.Linear(in_features, rank, bias=False)
            self.up = nn.Linear(rank, out_features, bias=False)

    class LoRAAttnProcessor(nn.Module):  # attention_processor_faceid.LoRAAttnProcessor
        def __init__(self, hidden_size: int, cross_attention_dim: int | None, rank: int) -> None:
            super().__init__()
            self.to_q_lora = LoRALinearLayer(hidden_size, hidden_size, rank)
            self.to_k_lora = LoRALinearLayer(cross_attention_dim or hidden_size, hidden_size, rank)
            self.to_v_lora = LoRALinearLayer(cross_attention_dim or hidden_size, hidden_size, rank)
            self.to_out_lora = LoRALinearLayer(hidden_size, hidden_size, rank)

    class LoRAIPAttnProcessor(LoRAAttnProcessor):  # attention_processor_faceid.LoRAIPAttnProcessor
        def __init__(self, hidden_size: int, cross_attention_dim: int | None, rank: int) -> None:
            super().__init__(hidden_size, cross_attention_dim, rank)
            self.to_k_ip = nn.Linear(cross_attention_dim or hidden_size, hidden_size, bias=False)
            self.to_v_ip = nn.Linear(cross_attention_dim or hidden_size, hidden_size, bias=False)

    class MLPProjModel(nn.Module):  # ip_adapter_faceid.MLPProjModel
        def __init__(self, cross_attention_dim: int, id_embeddings_dim: int, num_tokens: int) -> None:
            super().__init__()
            self.proj = nn.Sequential(
                nn.Linear(id_embeddings_dim, id_embeddings_dim * 2),
                nn.GELU(),
                nn.Linear(id_embeddings_dim * 2, cross_attention_dim * num_tokens),
            )
            self.norm = nn.LayerNorm(cross_attention_dim)

    torch.manual_seed(seed)
    config = unet.config
    processors = []
    # IPAdapterFaceID.set_ip_adapter, line for line.
    for name in unet.attn_processors.keys():
        cross_attention_dim = None if name.endswith("attn1.processor") else config.cross_attention_dim
        if name.startswith("mid_block"):
            hidden_size = config.block_out_channels[-1]
        elif name.startswith("up_blocks"):
            block_id = int(name[len("up_blocks.")])
            hidden_size = list(reversed(config.block_out_channels))[block_id]
        elif name.startswith("down_blocks"):
            block_id = int(name[len("down_blocks.")])
            hidden_size = config.block_out_channels[block_id]
        if cross_attention_dim is None:
            processors.append(LoRAAttnProcessor(hidden_size, cross_attention_dim, FACEID_LORA_RANK))
        else:
            processors.append(LoRAIPAttnProcessor(hidden_size, cross_attention_dim, FACEID_LORA_RANK))
    adapter_modules = nn.ModuleList(processors)
    for module in adapter_modules.modules():
        if isinstance(module, LoRALinearLayer):
            nn.init.normal_(module.down.weight, std=lora_std)
            nn.init.normal_(module.up.weight, std=lora_std)
    image_proj = MLPProjModel(config.cross_attention_dim, FACEID_ID_DIM, FACEID_TOKENS)
    return {
        "image_proj": {k: v.detach().half() for k, v in image_proj.state_dict().items()},
        "ip_adapter": {k: v.detach().half() for k, v in adapter_modules.state_dict().items()},
    }


def write_sd15_with_faceid(root: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """A small SD1.5 folder (real cross-attention width 768, few blocks) and a FaceID ``.bin`` beside it.

    Returns (base folder, adapter folder).
    """
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from lookalike.catalog.tiny import SD15_SCHEDULER_CONFIG, load_clip_tokenizer, write_byte_level_tokenizer

    base, adapter = root / "base", root / "adapter"
    write_byte_level_tokenizer(root / "tokenizer")
    tokenizer = load_clip_tokenizer(root / "tokenizer")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768,  # SD1.5's: the adapter's projection and to_k_ip/to_v_ip have their real shapes
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=768,
            intermediate_size=64,
            num_attention_heads=12,
            num_hidden_layers=1,
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
        )
    )
    StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(base, safe_serialization=True)
    adapter.mkdir(parents=True, exist_ok=True)
    torch.save(faceid_sd15_state_dict(unet, seed=seed), adapter / FACEID_SD15_WEIGHT)
    return base, adapter


# --- ONNX graphs with the buffalo_l signatures ------------------------------------------------


def _save(model, path: Path) -> Path:
    import onnx

    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def scrfd_kps_graph(path: Path, *, seed: int = 0) -> Path:
    """det_10g.onnx's signature with a random body: one conv per stride and output kind.

    Each stride s has a stride-s convolution of the input; its channels are
    the two anchors' values (scores through a sigmoid), transposed to the
    (1, H*W*2, C) rows SCRFD exports. Scores spread around 0.5, so a
    threshold of 0.7 or 0.8 keeps thousands of small overlapping boxes:
    decoding, the threshold and NMS (where the +1 matters) all have work.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "?", "?"])
    nodes, inits, outputs = [], [], []
    widths = {"score": 1, "bbox": 4, "kps": 10}
    for kind in ("score", "bbox", "kps"):  # SCRFD's export order: all scores, all boxes, all keypoints
        for stride in (8, 16, 32):
            name = f"{kind}_{stride}"
            channels = 2 * widths[kind]
            weight = rng.standard_normal((channels, 3, stride, stride)).astype(np.float32) / stride
            bias = np.full(channels, 1.0 if kind == "bbox" else 0.0, dtype=np.float32)
            inits += [numpy_helper.from_array(weight, f"{name}_w"), numpy_helper.from_array(bias, f"{name}_b")]
            conv = f"{name}_conv"
            nodes.append(
                helper.make_node("Conv", ["input.1", f"{name}_w", f"{name}_b"], [conv], strides=[stride, stride])
            )
            if kind == "bbox":  # distances are positive, in strides
                nodes.append(helper.make_node("Softplus", [conv], [conv + "_act"]))
                conv += "_act"
            elif kind == "score":
                nodes.append(helper.make_node("Sigmoid", [conv], [conv + "_act"]))
                conv += "_act"
            # (1, 2C, H, W) -> (1, H, W, 2C) -> (1, H*W*2, C): two anchors per location, consecutive rows.
            nodes.append(helper.make_node("Transpose", [conv], [name + "_t"], perm=[0, 2, 3, 1]))
            shape = numpy_helper.from_array(np.array([1, -1, widths[kind]], dtype=np.int64), f"{name}_shape")
            inits.append(shape)
            nodes.append(helper.make_node("Reshape", [name + "_t", f"{name}_shape"], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, "?", widths[kind]]))
    graph = helper.make_graph(nodes, "scrfd_kps_random", [x], outputs, initializer=inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def arcface_graph(path: Path, *, seed: int = 0, mxnet_style: bool = False, dim: int = 512) -> Path:
    """w600k_r50.onnx's signature (``input.1`` [N, 3, 112, 112] -> [N, dim]) with a random body.

    ``mxnet_style`` starts the graph with nodes named ``_minus0``/``_mul0``,
    as MXNet conversions do, the mark by which insightface feeds such a
    model raw pixels.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    channels, kernel = 8, 8
    cells = (112 // kernel) ** 2
    conv_w = rng.standard_normal((channels, 3, kernel, kernel)).astype(np.float32) * 0.1
    proj = rng.standard_normal((channels * cells, dim)).astype(np.float32) * 0.05
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])
    y = helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", dim])
    inits = [numpy_helper.from_array(conv_w, "conv_w"), numpy_helper.from_array(proj, "proj")]
    nodes = []
    first = "input.1"
    if mxnet_style:
        inits += [
            numpy_helper.from_array(np.array(127.5, dtype=np.float32), "mean"),
            numpy_helper.from_array(np.array(1 / 128, dtype=np.float32), "scale"),
        ]
        nodes += [
            helper.make_node("Sub", ["input.1", "mean"], ["centred"], name="_minus0"),
            helper.make_node("Mul", ["centred", "scale"], ["scaled"], name="_mul0"),
        ]
        first = "scaled"
    nodes += [
        helper.make_node("Conv", [first, "conv_w"], ["c"], kernel_shape=[kernel, kernel], strides=[kernel, kernel]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "proj"], ["683"]),
    ]
    graph = helper.make_graph(nodes, "arcface_random", [x], [y], initializer=inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


# --- SDXL FaceID and FaceID PlusV2 -------------------------------------------------------------

FACEID_SDXL_WEIGHT = "ip-adapter-faceid_sdxl.bin"
FACEID_PLUSV2_SD15_WEIGHT = "ip-adapter-faceid-plusv2_sd15.bin"
CLIP_VIT_H_WIDTH = 1280  # laion/CLIP-ViT-H-14's hidden size: PlusV2's clip_embeddings_dim


def faceid_plus_state_dict(unet, *, clip_embeddings_dim: int = CLIP_VIT_H_WIDTH, seed: int = 0, std: float = 0.05) -> dict:
    """``ip-adapter-faceid-plusv2_*.bin`` for ``unet``: upstream's modules, seeded, fp16.

    Upstream ``IPAdapterFaceIDPlus.init_proj`` builds ``ProjPlusModel``
    (ip_adapter/resampler.py's ``FacePerceiverResampler`` with
    ``PerceiverAttention`` and ``FeedForward``); ``set_ip_adapter`` is the same
    as FaceID's (LoRA on every processor, ``to_k_ip``/``to_v_ip`` on the cross ones).
    """
    import torch
    from torch import nn

    class PerceiverAttention(nn.Module):  # ip_adapter/resampler.py
        def __init__(self, *, dim: int, dim_head: int = 64, heads: int = 8) -> None:
            super().__init__()
            inner = dim_head * heads
            self.norm1 = nn.LayerNorm(dim)
            self.norm2 = nn.LayerNorm(dim)
            self.to_q = nn.Linear(dim, inner, bias=False)
            self.to_kv = nn.Linear(dim, inner * 2, bias=False)
            self.to_out = nn.Linear(inner, dim, bias=False)

    def feed_forward(dim: int, mult: int = 4) -> nn.Sequential:  # ip_adapter/resampler.py FeedForward
        inner = int(dim * mult)
        return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, inner, bias=False), nn.GELU(), nn.Linear(inner, dim, bias=False))

    class FacePerceiverResampler(nn.Module):  # ip_adapter/ip_adapter_faceid.py
        def __init__(self, *, dim, depth, dim_head, heads, embedding_dim, output_dim, ff_mult) -> None:
            super().__init__()
            self.proj_in = nn.Linear(embedding_dim, dim)
            self.proj_out = nn.Linear(dim, output_dim)
            self.norm_out = nn.LayerNorm(output_dim)
            self.layers = nn.ModuleList(
                [
                    nn.ModuleList([PerceiverAttention(dim=dim, dim_head=dim_head, heads=heads), feed_forward(dim, ff_mult)])
                    for _ in range(depth)
                ]
            )

    class ProjPlusModel(nn.Module):  # ip_adapter/ip_adapter_faceid.py
        def __init__(self, cross_attention_dim, id_embeddings_dim, clip_embeddings_dim, num_tokens) -> None:
            super().__init__()
            self.proj = nn.Sequential(
                nn.Linear(id_embeddings_dim, id_embeddings_dim * 2),
                nn.GELU(),
                nn.Linear(id_embeddings_dim * 2, cross_attention_dim * num_tokens),
            )
            self.norm = nn.LayerNorm(cross_attention_dim)
            self.perceiver_resampler = FacePerceiverResampler(
                dim=cross_attention_dim,
                depth=4,
                dim_head=64,
                heads=cross_attention_dim // 64,
                embedding_dim=clip_embeddings_dim,
                output_dim=cross_attention_dim,
                ff_mult=4,
            )

    torch.manual_seed(seed)
    state = faceid_sd15_state_dict(unet, seed=seed)  # the attention processors are the same set
    image_proj = ProjPlusModel(unet.config.cross_attention_dim, FACEID_ID_DIM, clip_embeddings_dim, FACEID_TOKENS)
    for name, parameter in image_proj.named_parameters():
        if parameter.ndim == 2:  # trained weights are not upstream's init; keep the signal visible
            nn.init.normal_(parameter, std=std)
    state["image_proj"] = {k: v.detach().half() for k, v in image_proj.state_dict().items()}
    return state


def write_clip_vision(folder: Path, *, seed: int = 0) -> Path:
    """A CLIPVisionModelWithProjection with ViT-H/14's width and patch (1280, 14 px), two layers, 56 px input.

    56 px gives 17 tokens where ViT-H's 224 gives 257; PlusV2's resampler takes
    any count, and the smaller input keeps the test fast.
    """
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=CLIP_VIT_H_WIDTH,
        intermediate_size=64,
        projection_dim=1024,
        num_hidden_layers=2,
        num_attention_heads=16,
        image_size=56,
        patch_size=14,
    )
    CLIPVisionModelWithProjection(config).save_pretrained(folder, safe_serialization=True)
    return folder


def write_sdxl_with_faceid(root: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """A small SDXL folder with SDXL's real text widths (768 + 1280 = 2048 cross-attention) and a FaceID SDXL ``.bin``."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from lookalike.catalog.tiny import SDXL_SCHEDULER_CONFIG, load_clip_tokenizer, write_byte_level_tokenizer

    base, adapter = root / "base", root / "adapter"
    write_byte_level_tokenizer(root / "tokenizer")
    tokenizer = load_clip_tokenizer(root / "tokenizer")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,  # SDXL's
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 256 + 1280,  # SDXL's 2816
        cross_attention_dim=2048,  # SDXL's: the adapter's to_k_ip/to_v_ip and projection have their real shapes
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )

    def text(hidden: int, heads: int) -> CLIPTextConfig:
        return CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=hidden,
            intermediate_size=64,
            num_attention_heads=heads,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            projection_dim=1280,
            max_position_embeddings=77,
        )

    StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text(768, 12)),
        text_encoder_2=CLIPTextModelWithProjection(text(1280, 20)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(SDXL_SCHEDULER_CONFIG),
        add_watermarker=False,
    ).save_pretrained(base, safe_serialization=True)
    adapter.mkdir(parents=True, exist_ok=True)
    torch.save(faceid_sd15_state_dict(unet, seed=seed), adapter / FACEID_SDXL_WEIGHT)
    return base, adapter


def local_faceid_spec(spec_id: str, base: Path, adapter: Path, models_dir: Path, *, family: str = "sd15",
                      weight_name: str = FACEID_SD15_WEIGHT, native_size: int = 32, plus_encoder: Path | None = None):
    """A catalog entry for folders written here: the base (a diffusers folder) and its FaceID ``.bin``.

    ``plus_encoder`` adds FaceID PlusV2 (``ip-adapter-faceid-plusv2_sd15.bin`` beside the
    FaceID one, that CLIP image encoder folder) as the entry's adapter option.
    The adapter folder must lie under ``models_dir``, as the engine finds it there.
    """
    from lookalike.catalog.base_models import BUFFALO_L, AdapterSpec, BaseModelSpec, ModelSource

    def adapter_spec(kind: str, weight: str, encoder: Path | None = None) -> AdapterSpec:
        return AdapterSpec(
            id=f"conformance-{kind}",
            kind=kind,
            source=ModelSource(kind="local", local_dir=str(adapter.relative_to(models_dir))),
            weight_name=weight,
            lora_name=None,
            encoder=BUFFALO_L,
            embedding_dim=FACEID_ID_DIM,
            license="random weights",
            image_encoder=None if encoder is None else ModelSource(kind="local", local_dir=str(encoder.relative_to(models_dir))),
        )

    options = () if plus_encoder is None else (adapter_spec("faceid_plusv2", FACEID_PLUSV2_SD15_WEIGHT, plus_encoder),)
    return BaseModelSpec(
        id=spec_id,
        gallery_id=99900,
        name="small layout, random weights",
        family=family,
        source=ModelSource(kind="local", path=str(base)),
        adapter=adapter_spec("faceid", weight_name),
        adapter_options=options,
        license="random weights",
        native_size=native_size,
    )
