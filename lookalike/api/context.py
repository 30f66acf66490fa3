"""Everything the routes use, built once per app from the settings (no import-time state)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from lookalike.accounts.service import AccountService
from lookalike.api.ratelimit import TokenBuckets
from lookalike.config import Settings
from lookalike.jobs.callbacks import CallbackDispatcher, DeliveryPolicy
from lookalike.jobs.engine import PromptEngine, RunnerEngine, load_engine
from lookalike.jobs.prompts import PromptStore
from lookalike.jobs.publisher import Publisher
from lookalike.jobs.queue import JobQueue
from lookalike.jobs.views import prompt_to_dict
from lookalike.jobs.worker import Worker
from lookalike.services import Services
from lookalike.store.tables import PromptRow
from lookalike.tunes.service import TuneService

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class ApiContext:
    settings: Settings
    services: Services
    accounts: AccountService
    prompts: PromptStore
    queue: JobQueue
    engine: PromptEngine
    callbacks: CallbackDispatcher
    limiter: TokenBuckets
    worker: Worker | Publisher | None = None
    _tunes_lock: threading.Lock = field(default_factory=threading.Lock)
    tune_slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(os.cpu_count() or 1))
    # One lock per (account, title): two identical POST /tunes at once make one tune.
    _title_locks: dict[tuple[int, str], threading.Lock] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return (self.settings.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    def tunes(self) -> TuneService:
        # The first use loads the face models; the lock keeps two request
        # threads from loading them twice while the worker is still warming.
        with self._tunes_lock:
            return self.services.tunes

    def title_lock(self, account_id: int, title: str) -> threading.Lock:
        with self._tunes_lock:
            return self._title_locks.setdefault((account_id, title.strip()), threading.Lock())

    def warm(self) -> None:
        self.tunes().analyzer.warmup()
        models = [m.strip() for m in self.settings.warmup_models.split(",") if m.strip()]
        if models:
            self.engine.warmup(models)

    def prompt_done(self, row: PromptRow) -> None:
        if row.callback:
            self.callbacks.enqueue(
                account_id=row.account_id,
                url=row.callback,
                event="prompt",
                object_id=row.id,
                payload={"prompt": prompt_to_dict(row, self.public_url)},
            )

    def start(self) -> None:
        self.callbacks.resume_pending()
        if self.worker is not None:
            self.worker.start()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.callbacks.close()
        self.services.close()


def build_context(settings: Settings, *, engine: PromptEngine | None = None) -> ApiContext:
    services = Services(settings)
    accounts = AccountService(services.sessions)
    if engine is None:
        engine = load_engine(settings.prompt_engine, services) if settings.prompt_engine else RunnerEngine(services)
    ctx = ApiContext(
        settings=settings,
        services=services,
        accounts=accounts,
        prompts=PromptStore(services.sessions, services.blobs),
        queue=JobQueue(services.sessions, services.blobs),
        engine=engine,
        callbacks=CallbackDispatcher(services.sessions, accounts.callback_secret, DeliveryPolicy.from_settings(settings)),
        limiter=TokenBuckets(per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst),
        tune_slots=threading.BoundedSemaphore(settings.max_concurrent_tunes or os.cpu_count() or 1),
    )
    if settings.queue == "celery":
        # Stateless API: prompts run on `lookalike worker` processes.
        from lookalike.jobs.publisher import celery_publisher

        ctx.worker = celery_publisher(settings, ctx.queue, warmup=ctx.warm)
    elif settings.worker_enabled:
        ctx.worker = Worker(
            queue=ctx.queue,
            engine=ctx.engine,
            on_done=ctx.prompt_done,
            warmup=ctx.warm,
            poll_s=settings.worker_poll_s,
        )
    return ctx


def get_context(request: Request) -> ApiContext:
    return request.app.state.context


Ctx = Annotated[ApiContext, Depends(get_context)]
