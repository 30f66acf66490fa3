"""The generation engine: one request in, images with their seeds and metadata out.

    engine = Engine(settings)
    result = engine.generate(GenerationRequest(prompt=..., base_model=spec, options=..., identities=[(emb, 1.0)]))

The engine owns a ``PipelineCache``; everything per request (identity,
weight, scheduler, LoRA switches) is set on the cached pipeline under its
lock, so a new tune or weight never reloads a model.
"""

from __future__ import annotations

import secrets
import time
from importlib import metadata as importlib_metadata

from lookalike.config import Settings, get_settings
from lookalike.generation.identity import IdentityBlend, blend_identities
from lookalike.generation.metadata import a1111_parameters
from lookalike.generation.pipelines import FACEID_ADAPTER_NAME, LoadedPipeline, PipelineCache
from lookalike.generation.request import GeneratedImage, GenerationRequest, GenerationResult, ScoreIdentity
from lookalike.generation.schedulers import make_scheduler
from lookalike.prompts.options import MAX_SEED
from lookalike.prompts.schedulers import get_scheduler_info


class Engine:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        score_identity: ScoreIdentity | None = None,
        cache: PipelineCache | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.score_identity = score_identity
        self.cache = cache or PipelineCache(
            self.settings.models_dir, max_entries=self.settings.max_cached_pipelines
        )
        self._device = None
        self._dtype = None

    @property
    def device_and_dtype(self):
        if self._device is None:
            from lookalike.generation.device import resolve_device

            self._device, self._dtype = resolve_device(self.settings.device, self.settings.dtype)
        return self._device, self._dtype

    def pipeline(self, request_or_spec) -> LoadedPipeline:
        spec = getattr(request_or_spec, "base_model", request_or_spec)
        device, dtype = self.device_and_dtype
        return self.cache.get(spec, device, dtype)

    def warmup(self, spec) -> None:
        """Load a base model now, so that a missing file fails at start, not on the first prompt."""
        self.pipeline(spec)

    def generate(
        self,
        request: GenerationRequest,
        *,
        score_identity: ScoreIdentity | None = None,
    ) -> GenerationResult:
        import torch

        timings: dict[str, float] = {}
        started = time.perf_counter()
        options = request.options
        if options.seed is None:
            options = options.with_seed(secrets.randbelow(MAX_SEED + 1))
        info = get_scheduler_info(options.scheduler)
        steps, cfg = options.resolved_steps(), options.resolved_cfg()
        width, height = options.size_for(request.base_model.native_size)

        loaded = self.pipeline(request)
        timings["load"] = time.perf_counter() - started
        blend = blend_identities(request.identities, expected_dim=loaded.embedding_dim)
        seeds = options.image_seeds()

        with loaded.lock, torch.inference_mode():
            pipe = loaded.pipe
            self._configure(loaded, blend, options.scheduler)
            do_cfg = cfg > 1.0
            t0 = time.perf_counter()
            prompt_embeds, negative_embeds = _encode_prompts(loaded, request.prompt, options.negative_prompt, do_cfg)
            timings["encode"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            output = pipe(
                prompt_embeds=prompt_embeds,
                negative_prompt_embeds=negative_embeds,
                ip_adapter_image_embeds=[_ip_embeds(loaded, blend, do_cfg)],
                num_inference_steps=steps,
                guidance_scale=cfg,
                height=height,
                width=width,
                num_images_per_prompt=options.num_images,
                # CPU generators make a seed give the same start noise on any device.
                generator=[torch.Generator(device="cpu").manual_seed(s) for s in seeds],
                output_type="pil",
            )
            timings["denoise_decode"] = time.perf_counter() - t0

        scorer = score_identity or self.score_identity
        extra = _extra_parameters(request, blend)
        images = []
        t0 = time.perf_counter()
        for image, seed in zip(output.images, seeds, strict=True):
            parameters = a1111_parameters(
                prompt=request.original_prompt if request.original_prompt is not None else request.prompt,
                negative_prompt=options.negative_prompt,
                steps=steps,
                sampler=info.label,
                cfg_scale=cfg,
                seed=seed,
                width=width,
                height=height,
                model=request.base_model.id,
                extra=extra,
            )
            score = scorer(image) if scorer is not None else None
            images.append(GeneratedImage(image=image, seed=seed, parameters=parameters, identity_score=score))
        timings["score"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started
        return GenerationResult(
            images=images,
            seed=seeds[0],
            width=width,
            height=height,
            steps=steps,
            cfg_scale=cfg,
            scheduler=options.scheduler,
            base_model_id=request.base_model.id,
            adapter_scale=blend.scale,
            timings=timings,
        )

    def _configure(self, loaded: LoadedPipeline, blend: IdentityBlend, scheduler: str) -> None:
        info = get_scheduler_info(scheduler)
        loaded.pipe.scheduler = make_scheduler(scheduler, loaded.scheduler_config)
        loaded.pipe.set_ip_adapter_scale(blend.scale if blend.active else 0.0)
        wanted: list[tuple[str, float]] = []
        if blend.active and FACEID_ADAPTER_NAME in loaded.loaded_loras:
            wanted.append((FACEID_ADAPTER_NAME, blend.lora_scale))
        lora = loaded.spec.scheduler_lora(scheduler) if info.needs_lora else None
        if lora is not None:
            wanted.append((loaded.ensure_scheduler_lora(lora, self.settings.models_dir), 1.0))
        loaded.set_loras(tuple(wanted))


def _encode_prompts(loaded: LoadedPipeline, prompt: str, negative: str, do_cfg: bool):
    # compel splits text past CLIP's 77 tokens into windows instead of cutting it.
    positive = loaded.compel.build_conditioning_tensor(prompt)
    if not do_cfg:
        return positive, None
    negative_embeds = loaded.compel.build_conditioning_tensor(negative)
    positive, negative_embeds = loaded.compel.pad_conditioning_tensors_to_same_length([positive, negative_embeds])
    return positive, negative_embeds


def _ip_embeds(loaded: LoadedPipeline, blend: IdentityBlend, do_cfg: bool):
    """The adapter input: [negative (zeros), positive] x 1 identity x D, as diffusers expects.

    With no identity the vector is zeros and the scale 0, so the adapter's
    attention is skipped; the UNet still needs an input once an adapter is loaded.
    """
    import torch

    dim = loaded.embedding_dim
    if blend.active:
        positive = torch.from_numpy(blend.embedding).reshape(1, 1, dim)
    else:
        positive = torch.zeros(1, 1, dim)
    embeds = torch.cat([torch.zeros_like(positive), positive]) if do_cfg else positive
    return embeds.to(device=loaded.device, dtype=loaded.dtype)


def _extra_parameters(request: GenerationRequest, blend: IdentityBlend) -> list[tuple[str, str]]:
    extra = []
    if blend.active:
        extra.append(("FaceID adapter", request.base_model.adapter.id))
        extra.append(("FaceID scale", f"{blend.scale:g}"))
        extra.append(("FaceID encoder", request.base_model.adapter_encoder))
    extra.append(("Version", f"lookalike {_version()}"))
    return extra


def _version() -> str:
    try:
        return importlib_metadata.version("lookalike")
    except importlib_metadata.PackageNotFoundError:
        return "dev"
