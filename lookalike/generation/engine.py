"""The generation engine: one request in, images with their seeds and metadata out.

    engine = Engine(settings)
    result = engine.generate(GenerationRequest(prompt=..., base_model=spec, options=..., identities=[(emb, 1.0)]))

The engine owns a ``PipelineCache``; everything per request (identity,
weight, scheduler, LoRA switches) is set on the cached pipeline under its
lock, so a new tune or weight never reloads a model.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from importlib import metadata as importlib_metadata

import numpy as np

from lookalike.config import Settings, get_settings
from lookalike.errors import InvalidFieldError
from lookalike.generation.batch import PreparedRequest, group_by_call, resolve_deepcache
from lookalike.generation.identity import IdentityBlend, blend_identities
from lookalike.generation.metadata import a1111_parameters
from lookalike.generation.pipelines import FACEID_ADAPTER_NAME, LoadedPipeline, PipelineCache
from lookalike.generation.request import GeneratedImage, GenerationRequest, GenerationResult, ScoreIdentity
from lookalike.generation.schedulers import make_scheduler
from lookalike.prompts.options import MAX_SEED, GenerationOptions
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
            from lookalike.device import resolve_device

            self._device, self._dtype = resolve_device(self.settings.device, self.settings.dtype)
        return self._device, self._dtype

    def pipeline(self, request_or_spec) -> LoadedPipeline:
        spec = getattr(request_or_spec, "base_model", request_or_spec)
        device, dtype = self.device_and_dtype
        loaded = self.cache.get(spec, device, dtype)
        if loaded.fast is None:
            with loaded.lock:
                if loaded.fast is None:
                    from lookalike.generation.fast import apply_fast_path

                    loaded.fast = apply_fast_path(loaded, self.settings)
        return loaded

    def batch_limit(self) -> int:
        """Images one pipeline call may take: ``Settings.batch_max``, else 8 on CUDA and 1 on the CPU.

        On the CPU a batch of n costs n times one image, so batching there
        only delays the first prompt's answer.
        """
        if self.settings.batch_max is not None:
            return self.settings.batch_max
        device, _ = self.device_and_dtype
        return 8 if device.type == "cuda" else 1

    def warmup(self, spec) -> None:
        """Load a base model now, so that a missing file fails at start, not on the first prompt.

        With torch.compile on, also run the shapes in ``Settings.warmup_batch_sizes``
        at the model's native size, so that no request pays the compile.
        """
        loaded = self.pipeline(spec)
        if not (loaded.fast or {}).get("compile", "").startswith("on"):
            return
        identity = np.ones(loaded.embedding_dim, dtype=np.float32) / np.sqrt(loaded.embedding_dim)
        for size in _batch_sizes(self.settings.warmup_batch_sizes):
            request = GenerationRequest(
                prompt="warm-up",
                base_model=spec,
                # euler: needs no scheduler LoRA on disk; the UNet's shapes are the same.
                options=GenerationOptions(num_images=size, seed=0, steps=3, cfg_scale=1.0, scheduler="euler"),
                identities=((identity, 1.0),),
            )
            self.generate(request)

    def generate(
        self,
        request: GenerationRequest,
        *,
        score_identity: ScoreIdentity | None = None,
        on_progress: OnStep | None = None,
    ) -> GenerationResult:
        reporters = None if on_progress is None else [on_progress]
        return self.generate_batch([request], score_identity=score_identity, on_progress=reporters)[0]

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        *,
        score_identity: ScoreIdentity | None = None,
        on_progress: Sequence[OnStep | None] | None = None,
    ) -> list[GenerationResult]:
        """Several requests, results in the same order; compatible ones share one pipeline call.

        Compatible: the same base model, size, steps, scheduler, guidance,
        FaceID scale and speed-ups (``batch.PreparedRequest.call_key``).
        Each image keeps its own text, identity and seed, so it equals what
        its request gives alone up to batched-matmul rounding.
        ``on_progress``: per request, ``(step, steps, None, images)`` after each
        denoising step (diffusers' ``callback_on_step_end``).
        """
        started = time.perf_counter()
        prepared = [self._prepare(request) for request in requests]
        results: list[GenerationResult | None] = [None] * len(prepared)
        for indices in group_by_call(prepared):
            group = [prepared[i] for i in indices]
            reporters = [on_progress[i] for i in indices] if on_progress is not None else None
            for index, result in zip(indices, self._run_call(group, score_identity, reporters), strict=True):
                results[index] = result
        for result in results:
            result.timings["batch_total"] = time.perf_counter() - started
        return results

    def _prepare(self, request: GenerationRequest) -> PreparedRequest:
        options = request.options
        if options.seed is None:
            options = options.with_seed(secrets.randbelow(MAX_SEED + 1))
        width, height = options.size_for(request.base_model.native_size)
        loaded = self.pipeline(request)
        return PreparedRequest(
            request=request,
            options=options,
            seeds=options.image_seeds(),
            steps=options.resolved_steps(),
            cfg=options.resolved_cfg(),
            width=width,
            height=height,
            blend=blend_identities(request.identities, expected_dim=loaded.embedding_dim),
            deepcache_interval=resolve_deepcache(options.deepcache, self.settings.deepcache_interval),
            tiny_vae=self.settings.tiny_vae if options.tiny_vae is None else options.tiny_vae,
        )

    def _run_call(
        self, group: list[PreparedRequest], score_identity: ScoreIdentity | None, on_progress=None
    ) -> list[GenerationResult]:
        import torch

        first = group[0]
        timings: dict[str, float] = {}
        call_started = t0 = time.perf_counter()
        loaded = self.pipeline(first.request)
        timings["load"] = time.perf_counter() - t0
        tiny_vae = self._tiny_vae(loaded) if first.tiny_vae else None
        do_cfg = first.cfg > 1.0

        with loaded.lock, torch.inference_mode():
            pipe = loaded.pipe
            self._configure(loaded, first.blend, first.options.scheduler)
            t0 = time.perf_counter()
            encoded = [
                _encode_prompts(loaded, p.request.prompt, p.options.negative_prompt, do_cfg) for p in group
            ]
            timings["encode"] = time.perf_counter() - t0
            # Conditioning of different lengths (prompts past 77 tokens) would
            # need padding that changes the images, so each length is its own call.
            calls: dict[int, list[int]] = {}
            for i, (positive, _) in enumerate(encoded):
                calls.setdefault(positive.shape[1], []).append(i)
            images: list[list] = [[] for _ in group]
            t0 = time.perf_counter()
            for members in calls.values():
                batch = [group[i] for i in members]
                counts = [len(p.seeds) for p in batch]
                positive = torch.cat([encoded[i][0].expand(n, -1, -1) for i, n in zip(members, counts, strict=True)])
                negative = (
                    torch.cat([encoded[i][1].expand(n, -1, -1) for i, n in zip(members, counts, strict=True)])
                    if do_cfg
                    else None
                )
                with _deepcache(pipe.unet, first.deepcache_interval):
                    output = pipe(
                        prompt_embeds=positive,
                        negative_prompt_embeds=negative,
                        ip_adapter_image_embeds=[_ip_embeds(loaded, batch, do_cfg)],
                        num_inference_steps=first.steps,
                        guidance_scale=first.cfg,
                        height=first.height,
                        width=first.width,
                        num_images_per_prompt=1,
                        # CPU generators make a seed give the same start noise on any device.
                        generator=[torch.Generator(device="cpu").manual_seed(s) for p in batch for s in p.seeds],
                        output_type="latent" if tiny_vae is not None else "pil",
                        **_step_callback([on_progress[i] for i in members] if on_progress else [], counts),
                    )
                if tiny_vae is not None:
                    from lookalike.generation.tiny_vae import decode_latents

                    out_images = decode_latents(loaded, tiny_vae, output.images)
                else:
                    out_images = output.images
                offset = 0
                for i, n in zip(members, counts, strict=True):
                    images[i] = out_images[offset : offset + n]
                    offset += n
            timings["denoise_decode"] = time.perf_counter() - t0
            timings["batch_images"] = float(sum(len(p.seeds) for p in group))

        return [
            self._result(p, imgs, dict(timings), score_identity, call_started)
            for p, imgs in zip(group, images, strict=True)
        ]

    def _result(self, prepared: PreparedRequest, pil_images, timings, score_identity, started) -> GenerationResult:
        request, options, blend = prepared.request, prepared.options, prepared.blend
        info = get_scheduler_info(options.scheduler)
        scorer = score_identity or self.score_identity
        extra = _extra_parameters(request, blend)
        if prepared.deepcache_interval:
            extra.insert(0, ("DeepCache interval", str(prepared.deepcache_interval)))
        if prepared.tiny_vae:
            extra.insert(0, ("VAE", "taesd (preview)"))
        images = []
        t0 = time.perf_counter()
        for image, seed in zip(pil_images, prepared.seeds, strict=True):
            parameters = a1111_parameters(
                prompt=request.original_prompt if request.original_prompt is not None else request.prompt,
                negative_prompt=options.negative_prompt,
                steps=prepared.steps,
                sampler=info.label,
                cfg_scale=prepared.cfg,
                seed=seed,
                width=prepared.width,
                height=prepared.height,
                model=request.base_model.id,
                extra=extra,
            )
            score = scorer(image) if scorer is not None else None
            images.append(GeneratedImage(image=image, seed=seed, parameters=parameters, identity_score=score))
        timings["score"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started
        return GenerationResult(
            images=images,
            seed=prepared.seeds[0],
            width=prepared.width,
            height=prepared.height,
            steps=prepared.steps,
            cfg_scale=prepared.cfg,
            scheduler=options.scheduler,
            base_model_id=request.base_model.id,
            adapter_scale=blend.scale,
            timings=timings,
        )

    def _tiny_vae(self, loaded: LoadedPipeline):
        if loaded.preview_vae is None:
            from lookalike.generation.tiny_vae import load_tiny_vae

            loaded.preview_vae = load_tiny_vae(self.settings.models_dir, loaded.device, loaded.dtype)
        return loaded.preview_vae

    def _configure(self, loaded: LoadedPipeline, blend: IdentityBlend, scheduler: str) -> None:
        info = get_scheduler_info(scheduler)
        loaded.pipe.scheduler = make_scheduler(scheduler, loaded.scheduler_config)
        loaded.pipe.set_ip_adapter_scale(blend.scale if blend.active else 0.0)
        if loaded.ip_scaler is not None:
            loaded.ip_scaler.set(blend.scale if blend.active else 0.0)
        wanted: list[tuple[str, float]] = []
        if blend.active and FACEID_ADAPTER_NAME in loaded.loaded_loras:
            wanted.append((FACEID_ADAPTER_NAME, blend.lora_scale))
        lora = loaded.spec.scheduler_lora(scheduler) if info.needs_lora else None
        if lora is not None:
            wanted.append((loaded.ensure_scheduler_lora(lora, self.settings.models_dir), 1.0))
        loaded.set_loras(tuple(wanted))


# on_progress(step, steps, image, images): lookalike/jobs/progress.py says what each means.
OnStep = Callable[..., None]


def _step_callback(reporters: list, counts: list[int]) -> dict:
    """diffusers' ``callback_on_step_end`` telling each listening request of a call its step; {} when none listens.

    ``steps`` is the call's own count (``pipe.num_timesteps``: second-order
    schedulers take more than ``num_inference_steps``); ``image`` is None as
    all of a request's images denoise together.
    """
    if not reporters:
        return {}
    listening = [(reporter, count) for reporter, count in zip(reporters, counts, strict=True) if reporter is not None]
    if not listening:
        return {}

    def on_step_end(pipe, index, _timestep, _tensors):
        steps = getattr(pipe, "num_timesteps", None)
        for reporter, count in listening:
            reporter(index + 1, steps, None, count)
        return {}

    return {"callback_on_step_end": on_step_end, "callback_on_step_end_tensor_inputs": []}


def _encode_prompts(loaded: LoadedPipeline, prompt: str, negative: str, do_cfg: bool):
    # compel splits text past CLIP's 77 tokens into windows instead of cutting it.
    positive = loaded.compel.build_conditioning_tensor(prompt)
    if not do_cfg:
        return positive, None
    negative_embeds = loaded.compel.build_conditioning_tensor(negative)
    positive, negative_embeds = loaded.compel.pad_conditioning_tensors_to_same_length([positive, negative_embeds])
    return positive, negative_embeds


def _ip_embeds(loaded: LoadedPipeline, batch: list[PreparedRequest], do_cfg: bool):
    """The adapter input, one row per image: [negatives (zeros); identities] x 1 x D with CFG.

    diffusers splits it in halves under CFG. With no identity the vector is
    zeros and the scale 0, so the adapter's attention is skipped; the UNet
    still needs an input once an adapter is loaded.
    """
    import torch

    dim = loaded.embedding_dim
    rows = []
    for prepared in batch:
        blend = prepared.blend
        vector = torch.from_numpy(blend.embedding) if blend.active else torch.zeros(dim)
        rows.append(vector.reshape(1, 1, dim).expand(len(prepared.seeds), 1, dim))
    positive = torch.cat(rows)
    embeds = torch.cat([torch.zeros_like(positive), positive]) if do_cfg else positive
    return embeds.to(device=loaded.device, dtype=loaded.dtype)


def _deepcache(unet, interval: int):
    if interval < 2:
        return contextlib.nullcontext()
    from lookalike.generation.deepcache import DeepCache

    return DeepCache(unet, interval)


def _batch_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if part:
            try:
                sizes.append(int(part))
            except ValueError:
                raise InvalidFieldError(
                    f"warmup_batch_sizes must be whole numbers separated by commas; got {text!r}.",
                    field="warmup_batch_sizes",
                ) from None
    return sizes


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
