"""What the routes use: the composition root, the rate limiter and the loop this server runs.

Nothing is built at import time; ``build_context`` runs in the app's lifespan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from lookalike.api.ratelimit import RateLimiter
from lookalike.config import Settings
from lookalike.jobs.engine import PromptEngine
from lookalike.jobs.publisher import Publisher
from lookalike.jobs.worker import Worker
from lookalike.services import Services


@dataclass
class ApiContext:
    services: Services
    # Per-key limits of the CPU-heavy calls: in memory, or in Redis in Celery mode (api/ratelimit.py).
    limiter: RateLimiter
    # The in-process worker, Celery mode's publisher, or none (LOOKALIKE_WORKER_ENABLED=false).
    worker: Worker | Publisher | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def start(self) -> None:
        self.services.callbacks.resume_pending()
        # Files a killed process left without rows (store/orphans.py), in the background.
        self.services.start_blob_sweep()
        if self.worker is not None:
            self.worker.start()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.services.close()


def build_context(settings: Settings, *, engine: PromptEngine | None = None) -> ApiContext:
    services = Services(settings, engine_override=engine)
    worker: Worker | Publisher | None = None
    if settings.queue == "celery":
        # Stateless API: prompts run on `lookalike worker` processes.
        worker = services.publisher_loop()
    elif settings.worker_enabled:
        worker = services.worker_loop()
    return ApiContext(
        services=services,
        limiter=RateLimiter.from_settings(settings),
        worker=worker,
    )


def get_context(request: Request) -> ApiContext:
    return request.app.state.context


Ctx = Annotated[ApiContext, Depends(get_context)]
