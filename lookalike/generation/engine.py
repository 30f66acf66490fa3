"""The generation engine: one request in, images with their seeds and metadata out.

    engine = Engine(settings)
    result = engine.generate(GenerationRequest(prompt=..., base_model=spec, options=..., identities=[(emb, 1.0)]))

The engine owns a ``PipelineCache``; everything per request (identity,
weight, scheduler, LoRA switches) is set on the cached pipeline under its
lock, so a new tune or weight never reloads a model.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Callable, Sequence
from importlib import metadata as importlib_metadata

import numpy as np

from lookalike.config import Settings, get_settings
from lookalike.errors import InvalidFieldError
from lookalike.generation.adapter_input import attention_masks, ip_embeds, scale_setting, set_plus_input
from lookalike.generation.batch import PreparedRequest, group_by_call, resolve_deepcache
from lookalike.generation.families import batch_text_kwargs
from lookalike.generation.identity import plan_faces
from lookalike.generation.metadata import a1111_parameters
from lookalike.generation.modes import fitted, mode_kwargs, unchanged
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
        """The loaded pipeline for a request (its base model and FaceID adapter), or for a base model's spec."""
        spec = getattr(request_or_spec, "base_model", request_or_spec)
        options = getattr(request_or_spec, "options", None)
        adapter = spec.adapter_for(getattr(options, "faceid_adapter", None))
        device, dtype = self.device_and_dtype
        loaded = self.cache.get(spec, device, dtype, adapter)
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
            faces=plan_faces(request.identities, options.faceid_layout, expected_dim=loaded.embedding_dim),
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
        if unchanged(first.request):
            # Strength 0: the input is the answer (diffusers would refuse a call with no step).
            images = [[fitted(p.request.init.image, p.width, p.height) for _ in p.seeds] for p in group]
            timings["denoise_decode"] = 0.0
            return [
                self._result(p, imgs, dict(timings), score_identity, call_started)
                for p, imgs in zip(group, images, strict=True)
            ]
        tiny_vae = self._tiny_vae(loaded) if first.tiny_vae else None
        do_cfg = first.cfg > 1.0

        with loaded.lock, torch.inference_mode():
            controlnet = self._controlnet(loaded, first.request.control)
            self._configure(loaded, first)
            pipe = self._inpainting(loaded, first, controlnet) or loaded.pipeline_for(first.mode, controlnet)
            notes = [("Inpaint UNet", loaded.spec.inpaint_pack.id if loaded.spec.inpaint_pack else "inpainting")] if (
                pipe is loaded.inpainting
            ) else []
            pipe.scheduler = loaded.pipe.scheduler
            t0 = time.perf_counter()
            encoded = [
                loaded.family.encode(loaded.compel, pipe, p.request.prompt, p.options.negative_prompt, do_cfg)
                for p in group
            ]
            timings["encode"] = time.perf_counter() - t0
            # Conditioning of different lengths (prompts past 77 tokens) would
            # need padding that changes the images, so each length is its own call.
            calls: dict[int, list[int]] = {}
            for i, conditioning in enumerate(encoded):
                calls.setdefault(conditioning.length, []).append(i)
            images: list[list] = [[] for _ in group]
            t0 = time.perf_counter()
            for members in calls.values():
                batch = [group[i] for i in members]
                counts = [len(p.seeds) for p in batch]
                plans = [p.faces for p in batch]
                set_plus_input(
                    loaded,
                    plans,
                    counts,
                    do_cfg,
                    shortcut=first.options.resolved_faceid_shortcut(),
                    s_scale=first.options.resolved_faceid_s_scale(),
                )
                with _deepcache(pipe.unet, first.deepcache_interval):
                    output = pipe(
                        **batch_text_kwargs([encoded[i] for i in members], counts, do_cfg),
                        ip_adapter_image_embeds=ip_embeds(loaded, plans, counts, do_cfg),
                        cross_attention_kwargs=attention_masks(
                            first.faces, first.width, first.height, loaded.device, loaded.dtype
                        )
                        or None,
                        num_inference_steps=_call_steps(first),
                        guidance_scale=first.cfg,
                        height=first.height,
                        width=first.width,
                        num_images_per_prompt=1,
                        # CPU generators make a seed give the same start noise on any device.
                        generator=[torch.Generator(device="cpu").manual_seed(s) for p in batch for s in p.seeds],
                        output_type="latent" if tiny_vae is not None else "pil",
                        **mode_kwargs(first.request, first.width, first.height),
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
            self._result(p, imgs, dict(timings), score_identity, call_started, notes)
            for p, imgs in zip(group, images, strict=True)
        ]

    def _result(
        self, prepared: PreparedRequest, pil_images, timings, score_identity, started, notes=()
    ) -> GenerationResult:
        request, options, faces = prepared.request, prepared.options, prepared.faces
        info = get_scheduler_info(options.scheduler)
        scorer = score_identity or self.score_identity
        extra = _extra_parameters(request, prepared)
        extra[-1:-1] = list(notes)
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
            adapter_scale=faces.scale,
            timings=timings,
            people=len(faces.people) if faces.regions else (1 if faces.active else 0),
        )

    def _tiny_vae(self, loaded: LoadedPipeline):
        if loaded.preview_vae is None:
            from lookalike.generation.tiny_vae import load_tiny_vae

            loaded.preview_vae = load_tiny_vae(self.settings.models_dir, loaded.device, loaded.dtype)
        return loaded.preview_vae

    def _controlnet(self, loaded: LoadedPipeline, control):
        """The ControlNet a request names, loaded once per pipeline (None without one)."""
        if control is None:
            return None
        from lookalike.generation.controlnet import load_controlnet

        return load_controlnet(loaded, control.kind, self.settings.models_dir)

    def _inpainting(self, loaded: LoadedPipeline, prepared: PreparedRequest, controlnet):
        """The model's inpainting-UNet pipeline for an inpainting call it can serve, configured; else None.

        It serves the plain FaceID adapter with no ControlNet, no user LoRA and
        no scheduler LoRA (those live on the main UNet); anything else, or a
        model with no inpainting UNet on disk, inpaints with the main UNet.
        """
        if prepared.mode != "inpaint" or controlnet is not None or prepared.request.loras:
            return None
        if (loaded.adapter or loaded.spec.adapter).kind != "faceid":
            return None
        if get_scheduler_info(prepared.options.scheduler).needs_lora and loaded.spec.scheduler_lora(prepared.options.scheduler):
            return None
        pipe = loaded.inpainting_pipeline(self.settings.models_dir)
        if pipe is None:
            return None
        faces = prepared.faces
        pipe.set_ip_adapter_scale(scale_setting(faces))
        if FACEID_ADAPTER_NAME in getattr(pipe.unet, "peft_config", {}):
            if faces.active:
                pipe.enable_lora()
                pipe.set_adapters([FACEID_ADAPTER_NAME], adapter_weights=[faces.lora_scale])
            else:
                pipe.disable_lora()
        return pipe

    def _configure(self, loaded: LoadedPipeline, prepared: PreparedRequest) -> None:
        faces, scheduler = prepared.faces, prepared.options.scheduler
        info = get_scheduler_info(scheduler)
        loaded.pipe.scheduler = make_scheduler(scheduler, loaded.scheduler_config)
        loaded.pipe.set_ip_adapter_scale(scale_setting(faces))
        if loaded.ip_scaler is not None:
            loaded.ip_scaler.set(faces.scale if faces.active else 0.0, per_person=scale_setting(faces))
        wanted: list[tuple[str, float]] = []
        if faces.active and FACEID_ADAPTER_NAME in loaded.loaded_loras:
            wanted.append((FACEID_ADAPTER_NAME, faces.lora_scale))
        lora = loaded.spec.scheduler_lora(scheduler) if info.needs_lora else None
        if lora is not None:
            wanted.append((loaded.ensure_scheduler_lora(lora, self.settings.models_dir), 1.0))
        users = prepared.request.loras
        in_use = {user.name for user in users}
        for user in users:
            name = loaded.ensure_user_lora(user.name, user.path, keep=self.settings.max_loaded_loras, in_use=in_use)
            wanted.append((name, float(user.weight)))
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


def _extra_parameters(request: GenerationRequest, prepared: PreparedRequest) -> list[tuple[str, str]]:
    faces = prepared.faces
    extra = []
    if faces.active:
        adapter = request.base_model.adapter_for(prepared.options.faceid_adapter)
        extra.append(("FaceID adapter", adapter.id))
        extra.append(("FaceID scale", f"{faces.scale:g}"))
        extra.append(("FaceID encoder", adapter.encoder))
        if faces.regions:
            extra.append(("FaceID layout", faces.layout))
            extra.append(("FaceID people", str(len(faces.people))))
        if adapter.kind == "faceid_plusv2":
            extra.append(("FaceID shortcut", str(prepared.options.resolved_faceid_shortcut()).lower()))
            extra.append(("FaceID s_scale", f"{prepared.options.resolved_faceid_s_scale():g}"))
    for lora in request.loras:
        extra.append(("LoRA", f"{lora.name}:{lora.weight:g}"))
    init = request.init
    if init is not None:
        extra.append(("Denoising strength", f"{init.strength:g}"))
        if init.mask is not None:
            extra.append(("Inpaint", "mask"))
    if request.control is not None:
        extra.append(("ControlNet", request.control.kind))
        extra.append(("ControlNet scale", f"{request.control.scale:g}"))
    extra.append(("Version", f"lookalike {_version()}"))
    return extra


def _call_steps(prepared: PreparedRequest) -> int:
    """Steps to ask diffusers for: img2img runs ``steps x strength`` of them, and at least one."""
    init = prepared.request.init
    steps = prepared.steps
    if init is None or init.strength <= 0:
        return steps
    if int(steps * init.strength) >= 1:
        return steps
    return math.ceil(1.0 / init.strength)


def _version() -> str:
    try:
        return importlib_metadata.version("lookalike")
    except importlib_metadata.PackageNotFoundError:
        return "dev"
