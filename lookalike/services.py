"""The composition root: every long-lived object, built once from the settings.

The API server (``lookalike serve``), the Celery worker (``lookalike worker``)
and the local CLI all build one ``Services`` and differ only in the loop they
start on it: ``worker_loop()`` for the server's in-process mode,
``publisher_loop()`` for the server in Celery mode, ``remote_worker()`` for
``lookalike worker``, none for a CLI command. Heavy parts (face models,
torch) are built on first use, so a command or a GET that needs none of them
never loads them. Tests build the same graph on a temporary directory.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lookalike.accounts.service import AccountService
from lookalike.catalog.base_models import BaseModelSpec, all_base_models, find_gallery_spec
from lookalike.config import Settings
from lookalike.execution.context import RunContext
from lookalike.faces.analyzer import FaceAnalyzer
from lookalike.faces.backends.base import FaceEncoder
from lookalike.jobs.callbacks import CallbackDispatcher, DeliveryPolicy
from lookalike.jobs.engine import PromptEngine, RunnerEngine, load_engine
from lookalike.jobs.execute import PromptExecutor, callback_sender
from lookalike.jobs.input_image import InputImageIntake
from lookalike.jobs.intake import TuneIntake
from lookalike.jobs.prompts import PromptStore
from lookalike.jobs.queue import JobQueue
from lookalike.jobs.submit import PromptService
from lookalike.packs import PackCatalog, PackService, load_catalog
from lookalike.store.blobs import BlobStore, open_blob_store
from lookalike.net.safe_fetch import FetchPolicy
from lookalike.store.database import make_engine, migrate, session_factory
from lookalike.store.signed_urls import UrlSigner
from lookalike.tunes.photo_check import PhotoLimits
from lookalike.tunes.service import TuneService

if TYPE_CHECKING:
    from lookalike.execution.readiness import Readiness
    from lookalike.jobs.training_run import TrainingExecutor, TrainingRunner
    from lookalike.jobs.trainings import FinishedTraining, TrainingQueue
    from lookalike.training.presets import PresetCatalog
    from lookalike.generation.engine import Engine as Generator
    from lookalike.jobs.publisher import Publisher
    from lookalike.jobs.remote_worker import RemoteWorker
    from lookalike.jobs.worker import Worker

log = logging.getLogger(__name__)

# Where callbacks and image links point when LOOKALIKE_PUBLIC_URL is unset.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class Services:
    settings: Settings
    # A prompt engine to use instead of the settings' (tests pass a fake one).
    engine_override: PromptEngine | None = None
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    blobs: BlobStore = field(init=False)
    _encoders: dict[str, FaceEncoder] = field(init=False, default_factory=dict)
    _sweep: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(self.settings.database_url)
        migrate(self.engine)
        self.sessions = session_factory(self.engine)
        self.blobs = open_blob_store(self.settings)

    @property
    def public_url(self) -> str:
        return (self.settings.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    # -- faces and generation (loaded on first use) ---------------------------

    @cached_property
    def analyzer(self) -> FaceAnalyzer:
        from lookalike.faces.backends.registry import cached_analyzer

        return cached_analyzer(self.settings)

    @cached_property
    def generator(self) -> Generator:
        """The generation engine (imports torch when first used, not before)."""
        from lookalike.generation.engine import Engine as Generator

        return Generator(self.settings)

    def face_encoder(self, name: str) -> FaceEncoder:
        """The face encoder called ``name``: the analyzer's own, or buffalo_l for real adapters."""
        if name == self.analyzer.encoder.name:
            return self.analyzer.encoder
        if name not in self._encoders:
            from lookalike.errors import ModelUnavailableError

            if name != "buffalo_l":
                raise ModelUnavailableError(f"No face encoder called {name!r} is known.")
            from lookalike.faces.backends.insightface import load_buffalo_l

            self._encoders[name] = load_buffalo_l(self.settings.models_dir)[1]
        return self._encoders[name]

    # -- the domain's services --------------------------------------------------

    @cached_property
    def tunes(self) -> TuneService:
        return TuneService(
            sessions=self.sessions,
            blobs=self.blobs,
            load_analyzer=lambda: self.analyzer,
            photo_limits=PhotoLimits(
                max_pixels=self.settings.max_image_pixels,
                max_bytes=self.settings.max_upload_bytes,
                background_face_ratio=self.settings.background_face_ratio,
            ),
            max_photos=self.settings.max_photos_per_tune,
            keep_originals=self.settings.keep_originals,
            max_concurrent=self.settings.max_concurrent_tunes or os.cpu_count() or 1,
        )

    @cached_property
    def run_context(self) -> RunContext:
        """The runner's narrow view (lookalike/execution)."""
        return RunContext(
            settings=self.settings,
            tunes=self.tunes,
            analyzer=lambda: self.tunes.analyzer,
            face_encoder=self.face_encoder,
            generator=lambda: self.generator,
            read_blob=self.blobs.get,
        )

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self.sessions)

    @cached_property
    def prompt_store(self) -> PromptStore:
        return PromptStore(self.sessions, self.blobs)

    @cached_property
    def queue(self) -> JobQueue:
        return JobQueue(self.sessions, self.blobs)

    @cached_property
    def prompt_engine(self) -> PromptEngine:
        if self.engine_override is not None:
            return self.engine_override
        reference = self.settings.prompt_engine
        return load_engine(reference, self.run_context) if reference else RunnerEngine(self.run_context)

    @cached_property
    def prompts(self) -> PromptService:
        return PromptService(
            store=self.prompt_store,
            tunes=self.tunes,
            engine=self.prompt_engine,
            allow_private_callbacks=self.settings.callback_allow_private,
            input_images=InputImageIntake(
                fetch_policy=FetchPolicy.from_settings(self.settings),
                max_pixels=self.settings.max_image_pixels,
                max_bytes=self.settings.max_upload_bytes,
            ),
            trainings=self.trainings,
        )

    @cached_property
    def url_signer(self) -> UrlSigner:
        """Signs image and photo links so they open without the key (store/signed_urls.py)."""
        return UrlSigner.from_settings(self.settings, self.sessions)

    def link(self, path: str) -> str:
        """``path`` with a signature that opens it without the API key for the configured lifetime."""
        return self.url_signer.stable_link(path)

    @cached_property
    def intake(self) -> TuneIntake:
        return TuneIntake(
            tunes=self.tunes,
            prompts=self.prompts,
            callbacks=lambda: self.callbacks,
            fetch_policy=FetchPolicy.from_settings(self.settings),
            allow_private_callbacks=self.settings.callback_allow_private,
            title_idempotent=self.settings.tune_title_idempotent,
            public_url=self.public_url,
            link=self.link,
            presets=lambda: self.training_presets,
            settings=self.settings,
        )

    # -- LoRA tunes (issue 15): presets, the training queue and its execution path ------------

    @cached_property
    def training_presets(self) -> PresetCatalog:
        """The built-in training presets and the operator's (LOOKALIKE_TRAINING_PRESETS_DIR); a bad file raises."""
        from lookalike.training.presets import load_presets

        named = self.settings.training_presets_dir
        folder = named.expanduser() if named is not None else self.settings.data_dir / "training-presets"
        return load_presets(folder, required=named is not None, default=self.settings.training_default_preset)

    @cached_property
    def trainings(self) -> TrainingQueue:
        from lookalike.jobs.trainings import TrainingQueue

        return TrainingQueue(self.sessions, self.blobs)

    @cached_property
    def training_executor(self) -> TrainingExecutor:
        from lookalike.jobs.training_run import TrainingExecutor

        return TrainingExecutor(self.trainings, self.tunes, self.settings, on_done=self._training_done)

    def training_runner(self, name: str | None = None) -> TrainingRunner:
        """Claims trainings with a lease (LOOKALIKE_JOB_LEASE_S) and runs them here."""
        import os
        import socket

        from lookalike.jobs.training_run import TrainingRunner

        return TrainingRunner(
            self.trainings,
            self.training_executor,
            lease_s=self.settings.job_lease_s,
            name=name or f"{socket.gethostname()}:{os.getpid()}",
        )

    def _training_done(self, done: FinishedTraining) -> None:
        """A training ended: its tune's callback, and the prompts it released go in line."""
        from lookalike.jobs.training_run import send_tune_callback

        if done.callback and done.account_id is not None:
            send_tune_callback(self.callbacks, self.tunes, done, public_url=self.public_url, link=self.link)
        if done.released:
            self.prompts.on_queued()

    def delete_tune(self, tune_id: int, *, account_id: int | None = None) -> None:
        """Delete a tune; a training of it stops at its next step, and prompts waiting for it fail."""
        self.tunes.delete(tune_id, account_id=account_id)
        if account_id is not None:
            self.trainings.release_waiting(account_id)

    @cached_property
    def pack_catalog(self) -> PackCatalog:
        """The built-in packs and the operator's (LOOKALIKE_PACKS_DIR); a bad file raises PackDefinitionError."""
        named = self.settings.packs_dir
        packs_dir = named.expanduser() if named is not None else self.settings.data_dir / "packs"
        return load_catalog(packs_dir, required=named is not None)

    @cached_property
    def packs(self) -> PackService:
        return PackService(catalog=self.pack_catalog, intake=self.intake, prompts=self.prompts, tunes=self.tunes)

    @cached_property
    def callbacks(self) -> CallbackDispatcher:
        # Its thread pool starts here, so only processes that send callbacks build it.
        return CallbackDispatcher(self.sessions, self.accounts.callback_secret, DeliveryPolicy.from_settings(self.settings))

    @cached_property
    def executor(self) -> PromptExecutor:
        return PromptExecutor(
            self.queue, self.prompt_engine, on_done=callback_sender(self.callbacks, self.public_url, self.link)
        )

    def gallery(self) -> tuple[BaseModelSpec, ...]:
        """The base models (the catalog's and the operator's own checkpoints), shown as Astria's gallery tunes."""
        return all_base_models(self.settings)

    def gallery_model(self, gallery_id: int) -> BaseModelSpec | None:
        return find_gallery_spec(gallery_id)

    def model_readiness(self) -> Readiness:
        """Which base models and finishing steps can run on this server now (files on disk, no loading)."""
        from lookalike.execution.readiness import readiness

        return readiness(self.settings)

    def warm(self) -> None:
        """Load the face analysis and the warm-up base models, once, before taking any job."""
        self.tunes.analyzer.warmup()
        models = [m.strip() for m in self.settings.warmup_models.split(",") if m.strip()]
        if models:
            self.prompt_engine.warmup(models)

    # -- the loops: what a process starts on the graph ----------------------------

    def worker_loop(self) -> Worker:
        """The in-process worker: the server runs its own prompts (the default)."""
        from lookalike.jobs.worker import Worker

        worker = Worker(
            queue=self.queue,
            executor=self.executor,
            warmup=self.warm,
            poll_s=self.settings.worker_poll_s,
            training=self.training_runner(),
        )
        self.prompts.on_queued = worker.wake
        return worker

    def publisher_loop(self) -> Publisher:
        """Celery mode's API side: hand queued prompts to the broker; prompts run on `lookalike worker`."""
        from lookalike.jobs.publisher import celery_publisher

        # The API still warms up: tune creation (face models) runs here.
        publisher = celery_publisher(self.settings, self.queue, warmup=self.warm, trainings=self.trainings)
        self.prompts.on_queued = publisher.wake
        return publisher

    def remote_worker(self, name: str | None = None, *, runs_prompts: bool = True) -> RemoteWorker:
        """``lookalike worker``: runs prompts and trainings by id as the broker delivers them.

        ``runs_prompts``: this worker also takes the prompt queue, so it runs the
        prompts queued meanwhile between two training steps (prompts first).
        """
        from lookalike.jobs.remote_worker import RemoteWorker

        worker = RemoteWorker(queue=self.queue, executor=self.executor, lease_s=self.settings.job_lease_s)
        if name:
            worker.name = name
        worker.training = self.training_runner(worker.name)
        worker.runs_prompts = runs_prompts
        return worker

    # -- files a killed process left behind ------------------------------------------

    def sweep_orphan_blobs(self) -> list[str]:
        """Remove blob folders that no row claims, older than LOOKALIKE_BLOB_SWEEP_GRACE_S (store/orphans.py)."""
        grace_s = self.settings.blob_sweep_grace_s
        removed = self.tunes.sweep_orphan_blobs(grace_s=grace_s) + self.queue.sweep_orphan_blobs(grace_s=grace_s)
        if removed:
            log.info("removed %d blob folders that no row claims: %s", len(removed), ", ".join(removed[:20]))
        return removed

    def start_blob_sweep(self) -> threading.Thread:
        """``sweep_orphan_blobs`` in a background thread (API servers and workers at start).

        In the background so that a large bucket never delays serving; a
        failure (the store unreachable) is logged and the next start tries again.
        """

        def sweep() -> None:
            try:
                self.sweep_orphan_blobs()
            except Exception:  # housekeeping: it must never stop the process
                log.warning("the sweep of orphan blob folders failed; the next start tries again", exc_info=True)

        self._sweep = threading.Thread(target=sweep, name="lookalike-blob-sweep", daemon=True)
        self._sweep.start()
        return self._sweep

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.join(timeout=5)
        if "callbacks" in self.__dict__:
            self.callbacks.close()
        self.engine.dispose()
