"""One LoRA training run: prepare, train step by step, checkpoint, resume, export.

The recipe is DreamBooth LoRA as diffusers' ``train_dreambooth_lora.py``
teaches it: LoRA layers on the UNet's attention projections (``to_q``,
``to_k``, ``to_v``, ``to_out.0``; optionally the text encoder's ``q/k/v/out
_proj``), captions ``"<token> <class>"``, noise added by the model's own
DDPM schedule at uniform timesteps, an MSE loss on the model's prediction
target, AdamW (weight decay 1e-2), gradient norm clipped, and optionally
prior preservation with class images. What differs is where it saves time
without changing the result: the VAE encodes each training picture (and its
mirror image) once, and each step samples from the stored latent
distribution; with the text encoder frozen, the two captions are encoded
once. On CUDA the frozen weights run in float16/bfloat16 under autocast
(LoRA weights and optimizer in float32) with gradient checkpointing; on the
CPU everything is float32.

Every random draw of a step (which picture, mirrored or not, the latent
sample, the noise, the timestep) comes from one ``torch.Generator`` seeded by
the plan, on the CPU, whatever the device. A checkpoint holds the LoRA
weights, the optimizer, that generator's state and the step, so a run
resumed from step k draws exactly what the uninterrupted run drew after k:
on the CPU the final weights are equal (tests/training), on CUDA equal
within the non-determinism of its kernels.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lookalike.catalog.base_models import BaseModelSpec
from lookalike.training.data import TrainingImages, to_tensor
from lookalike.training.export import TEXT_TARGETS, UNET_TARGETS, digest, kohya_state_dict, lora_file
from lookalike.training.models import TrainingModels, load_training_models
from lookalike.training.plan import TrainingPlan

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
PREPARING, CLASS_IMAGES, TRAINING, SAVING = "preparing", "class_images", "training", "saving"
# Loss shown in progress: the mean of the last steps (one step's loss jumps with its timestep).
LOSS_WINDOW = 20


class TrainingStopped(Exception):
    """Raised through the loop by a hook: the tune was deleted, another worker took it, or the process stops."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TrainingProgress:
    phase: str  # preparing, class_images, training, saving
    step: int | None = None
    steps: int | None = None
    loss: float | None = None
    class_image: int | None = None
    class_images: int | None = None
    # Seconds per step over this run's steps so far (None before the second step): the ETA's basis.
    seconds_per_step: float | None = None
    resumed_from: int | None = None


class TrainingHooks(Protocol):
    """What the loop asks of its caller. Any of them may raise ``TrainingStopped``."""

    def load_checkpoint(self) -> bytes | None: ...

    def save_checkpoint(self, step: int, data: bytes) -> None: ...

    def load_class_images(self) -> list[bytes] | None: ...

    def save_class_images(self, images: list[bytes]) -> None: ...

    def report(self, progress: TrainingProgress) -> None: ...

    def between_steps(self) -> None: ...


@dataclass
class TrainedLora:
    data: bytes  # the .safetensors file (kohya layout)
    digest: str
    steps: int
    losses: list[float]
    resumed_from: int | None
    seconds: float
    state: dict[str, Any] = field(default_factory=dict, repr=False)  # the exported tensors

    @property
    def final_loss(self) -> float | None:
        window = self.losses[-LOSS_WINDOW:]
        return float(np.mean(window)) if window else None


def train_lora(
    plan: TrainingPlan,
    images: TrainingImages,
    hooks: TrainingHooks,
    *,
    spec: BaseModelSpec,
    models_dir: Path,
    device,
    dtype,
    models: TrainingModels | None = None,
    stop_after: int | None = None,
) -> TrainedLora:
    """Train (or resume) the LoRA the plan describes; the kohya file and what the run saw.

    ``models``: components already loaded (benchmarks); they are changed
    (adapters added). ``stop_after``: end after this step as if stopped
    (tests of resume); the result is then not a finished LoRA.
    """
    import torch

    started = time.perf_counter()
    hooks.report(TrainingProgress(PREPARING, steps=plan.steps))
    cuda = torch.device(device).type == "cuda"
    weight_dtype = dtype if cuda else torch.float32
    if models is None:
        models = load_training_models(spec, models_dir, weight_dtype)
    # Loaded in weight_dtype already (casting again with .to() would undo diffusers' float32 exceptions).
    models.vae.to(device)
    models.unet.to(device)
    for encoder in models.text_encoders:
        encoder.to(device)

    class_pixels = _class_images(models, plan, hooks, device) if plan.prior_preservation else []
    examples = images.examples(plan.resolution, face_crop=plan.face_crop)
    instance = _latent_distributions(models, examples, device)
    prior = _latent_distributions(models, class_pixels, device) if class_pixels else None
    # Only the cached latents are needed from here on.
    models.vae.to("cpu")

    if not plan.text_encoder:
        with torch.no_grad():
            captions = _captions(models, plan, device, prior is not None)
        for encoder in models.text_encoders:
            encoder.to("cpu")
    trainer = _Trainer(models, plan, device, weight_dtype, cuda)
    resumed_from = trainer.restore(hooks.load_checkpoint())
    if resumed_from is not None:
        log.info("training resumes at step %d of %d", resumed_from, plan.steps)
    last = plan.steps if stop_after is None else min(plan.steps, stop_after)
    run_started, run_first = time.perf_counter(), trainer.step
    for step in range(trainer.step + 1, last + 1):
        if plan.text_encoder:
            captions = _captions(models, plan, device, prior is not None)
        loss = trainer.train_step(step, instance, prior, captions)
        done_here = step - run_first
        rate = (time.perf_counter() - run_started) / done_here if done_here >= 2 else None
        hooks.report(
            TrainingProgress(
                TRAINING,
                step=step,
                steps=plan.steps,
                loss=float(np.mean(trainer.losses[-LOSS_WINDOW:])),
                seconds_per_step=rate,
                resumed_from=resumed_from,
            )
        )
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {step}; lower the preset's learning rate")
        if step % plan.checkpoint_every == 0 and step < plan.steps:
            hooks.save_checkpoint(step, trainer.checkpoint())
        if step < plan.steps:
            hooks.between_steps()
    hooks.report(TrainingProgress(SAVING, step=last, steps=plan.steps, loss=trainer.mean_loss()))
    state = kohya_state_dict(models.unet, trainer.trained_encoders, family=plan.family, alpha=plan.alpha)
    data = lora_file(
        state,
        family=plan.family,
        rank=plan.rank,
        alpha=plan.alpha,
        extra={"base_model": plan.base_model, "steps": last, "token": plan.token, "class": plan.class_name},
    )
    return TrainedLora(
        data=data,
        digest=digest(data),
        steps=last,
        losses=list(trainer.losses),
        resumed_from=resumed_from,
        seconds=time.perf_counter() - started,
        state=state,
    )


# -- preparation -------------------------------------------------------------------------


def _class_images(models: TrainingModels, plan: TrainingPlan, hooks: TrainingHooks, device) -> list[np.ndarray]:
    from PIL import Image

    from lookalike.training.class_images import draw_class_images

    stored = hooks.load_class_images() or []
    pixels = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for data in stored[: plan.class_images]]
    if len(pixels) < plan.class_images:

        def on_image(index: int) -> None:
            hooks.report(
                TrainingProgress(CLASS_IMAGES, steps=plan.steps, class_image=index + 1, class_images=plan.class_images)
            )
            hooks.between_steps()

        pixels += draw_class_images(
            models, plan, device, count=plan.class_images - len(pixels), start=len(pixels), on_image=on_image
        )
        hooks.save_class_images([_png(image) for image in pixels])
    return pixels


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@dataclass
class _Latents:
    """Each picture's latent distribution, as is and mirrored: (N, 2, C, H, W) mean and std, on the CPU."""

    mean: Any
    std: Any

    @property
    def count(self) -> int:
        return int(self.mean.shape[0])

    def sample(self, indices, flips, generator, scale: float):
        import torch

        mean = self.mean[indices, flips]
        std = self.std[indices, flips]
        return (mean + std * torch.randn(mean.shape, generator=generator)) * scale


def _latent_distributions(models: TrainingModels, pictures: list[np.ndarray], device) -> _Latents:
    import torch

    means, stds = [], []
    with torch.no_grad():
        for picture in pictures:
            pixels = to_tensor([picture, np.ascontiguousarray(picture[:, ::-1])]).to(device, torch.float32)
            dist = models.vae.encode(pixels).latent_dist
            means.append(dist.mean.float().cpu())
            stds.append(dist.std.float().cpu())
    return _Latents(torch.stack(means), torch.stack(stds))


@dataclass
class _Captions:
    embeds: Any  # (1 or 2, L, D): the instance caption, then the class prompt with prior preservation
    pooled: Any = None


def _captions(models: TrainingModels, plan: TrainingPlan, device, with_class: bool) -> _Captions:
    texts = [plan.instance_prompt] + ([plan.class_prompt] if with_class else [])
    embeds, pooled = models.encode_text(texts, device)
    return _Captions(embeds, pooled)


# -- the step -------------------------------------------------------------------------------


class _Trainer:
    def __init__(self, models: TrainingModels, plan: TrainingPlan, device, weight_dtype, cuda: bool) -> None:
        import torch
        from peft import LoraConfig, inject_adapter_in_model

        self.models, self.plan, self.device, self.weight_dtype, self.cuda = models, plan, device, weight_dtype, cuda
        # PEFT draws the initial lora_A from the global generator: seed it without disturbing anyone else's.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(plan.seed)
            models.unet.add_adapter(_lora_config(LoraConfig, plan, UNET_TARGETS))
            self.trained_encoders = []
            if plan.text_encoder:
                for encoder in models.text_encoders:
                    # PEFT itself, not transformers' add_adapter (which wants a newer PEFT than diffusers needs).
                    inject_adapter_in_model(_lora_config(LoraConfig, plan, TEXT_TARGETS), encoder)
                    self.trained_encoders.append(encoder)
        modules = [("unet", models.unet)] + [(f"text_encoder_{i}", e) for i, e in enumerate(self.trained_encoders)]
        self.params: dict[str, Any] = {}
        groups = []
        for name, module in modules:
            trainable = [(f"{name}.{n}", p) for n, p in module.named_parameters() if p.requires_grad]
            for key, param in trainable:
                # LoRA weights train in float32 even when the frozen ones are half precision.
                param.data = param.data.float()
                self.params[key] = param
            rate = plan.learning_rate if name == "unet" else plan.text_encoder_learning_rate
            groups.append({"params": [p for _, p in trainable], "lr": rate, "initial_lr": rate})
            if cuda:
                # Activations are recomputed in the backward pass: memory for time, CUDA only (the CPU has the memory).
                if name == "unet":
                    module.enable_gradient_checkpointing()
                else:
                    module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            module.train()
        self.optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
        autocast_dtype = weight_dtype if cuda and weight_dtype != torch.float32 else None
        self.autocast_dtype = autocast_dtype
        self.scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 else None
        self.generator = torch.Generator("cpu").manual_seed(plan.seed)
        self.step = 0
        self.losses: list[float] = []
        scheduler = models.noise_scheduler
        self.timesteps = int(scheduler.config.num_train_timesteps)
        self.prediction_type = scheduler.config.prediction_type

    def mean_loss(self) -> float | None:
        window = self.losses[-LOSS_WINDOW:]
        return float(np.mean(window)) if window else None

    def train_step(self, step: int, instance: _Latents, prior: _Latents | None, captions: _Captions) -> float:
        import contextlib

        import torch
        import torch.nn.functional as F

        plan, g = self.plan, self.generator
        bs = plan.batch_size
        for group in self.optimizer.param_groups:
            warm = min(1.0, step / plan.warmup_steps) if plan.warmup_steps else 1.0
            group["lr"] = group["initial_lr"] * warm
        latents = instance.sample(
            torch.randint(instance.count, (bs,), generator=g), torch.randint(2, (bs,), generator=g), g, self.models.vae_scale
        )
        if prior is not None:
            latents = torch.cat(
                [
                    latents,
                    prior.sample(
                        torch.randint(prior.count, (bs,), generator=g),
                        torch.randint(2, (bs,), generator=g),
                        g,
                        self.models.vae_scale,
                    ),
                ]
            )
        noise = torch.randn(latents.shape, generator=g)
        if plan.noise_offset:
            noise = noise + plan.noise_offset * torch.randn((*latents.shape[:2], 1, 1), generator=g)
        timesteps = torch.randint(self.timesteps, (latents.shape[0],), generator=g)
        latents, noise, timesteps = latents.to(self.device), noise.to(self.device), timesteps.to(self.device)
        noisy = self.models.noise_scheduler.add_noise(latents, noise, timesteps)
        if self.prediction_type == "v_prediction":
            target = self.models.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        # Caption rows: bs instance rows, then bs class rows.
        rows = torch.tensor([0] * bs + ([1] * bs if prior is not None else []), device=self.device)
        embeds = captions.embeds.index_select(0, rows).to(self.device, self.weight_dtype)
        added = None
        if captions.pooled is not None:
            added = self.models.added_conditions(
                captions.pooled.index_select(0, rows), plan.resolution, len(rows), self.device, self.weight_dtype
            )
        autocast = (
            torch.autocast(device_type="cuda", dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            prediction = self.models.unet(
                noisy.to(self.weight_dtype), timesteps, embeds, added_cond_kwargs=added, return_dict=False
            )[0]
        prediction, target = prediction.float(), target.float()
        if prior is not None:
            mine, theirs = prediction.chunk(2)
            target_mine, target_theirs = target.chunk(2)
            loss = F.mse_loss(mine, target_mine) + plan.prior_loss_weight * F.mse_loss(theirs, target_theirs)
        else:
            loss = F.mse_loss(prediction, target)
        params = list(self.params.values())
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, plan.max_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, plan.max_grad_norm)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step = step
        value = float(loss.detach().cpu())
        self.losses.append(value)
        return value

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self) -> bytes:
        import torch

        state = {
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "lora": {key: param.detach().cpu().clone() for key, param in self.params.items()},
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "losses": torch.tensor(self.losses, dtype=torch.float64),
            "plan_steps": self.plan.steps,
            "plan_seed": self.plan.seed,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def restore(self, data: bytes | None) -> int | None:
        """Continue from a checkpoint; the step it was taken at, or None when there is none."""
        if not data:
            return None
        import torch

        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if state.get("version") != CHECKPOINT_VERSION or state.get("plan_seed") != self.plan.seed:
            # Not this plan's (or an older format): start over rather than mix two runs.
            log.warning("checkpoint ignored: version %s, seed %s", state.get("version"), state.get("plan_seed"))
            return None
        missing = set(self.params) ^ set(state["lora"])
        if missing:
            log.warning("checkpoint ignored: its LoRA layers differ from this model's (%d names)", len(missing))
            return None
        with torch.no_grad():
            for key, param in self.params.items():
                param.copy_(state["lora"][key].to(param.device, param.dtype))
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.losses = [float(x) for x in state["losses"].tolist()]
        self.step = int(state["step"])
        return self.step


def training_device(settings):
    """(device, dtype) for training: the settings' device; on CUDA bfloat16 where the GPU has it, else float16."""
    import torch

    from lookalike.device import resolve_device

    device, dtype = resolve_device(settings.device, settings.training_dtype or settings.dtype)
    if device.type == "cuda" and settings.training_dtype is None and settings.dtype is None:
        # bfloat16 keeps float32's range: no loss scaling, no overflow in the attention of a long training.
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, dtype


def _lora_config(config_class: Callable[..., Any], plan: TrainingPlan, targets: tuple[str, ...]):
    return config_class(r=plan.rank, lora_alpha=plan.alpha, init_lora_weights="gaussian", target_modules=list(targets))
