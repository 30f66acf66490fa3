"""`lookalike worker`: a Celery worker that loads the models once and runs prompts (LOOKALIKE_QUEUE=celery)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from lookalike.cli.output import reporting_errors


def worker(
    name: Annotated[str, typer.Option(help="Worker name in logs and in prompts' claimed_by; default host:pid.")] = "",
    log_level: Annotated[str, typer.Option(help="Log level (debug, info, warning, error).")] = "info",
    queues: Annotated[
        str,
        typer.Option(
            help="Comma-separated Celery queues to take: the prompt queue (LOOKALIKE_CELERY_QUEUE) and/or the "
            "training queue (LOOKALIKE_CELERY_TRAIN_QUEUE, `train`); default both.",
        ),
    ] = "",
) -> None:
    """Run queued prompts and LoRA trainings from the broker: one process per GPU, as many as you like.

    The process warms its models before it takes the first message, runs one
    job at a time, and can be killed at any moment: its prompt runs again on
    another worker, its training resumes there from the last checkpoint
    (docs/DEPLOY.md). `--queues train` makes a worker that only trains.
    """
    from lookalike.config import get_settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if settings.queue != "celery":
        # Still useful (another server may publish), but most likely a mistake.
        logging.getLogger(__name__).warning(
            "LOOKALIKE_QUEUE is %r: API servers on these settings run prompts themselves and publish nothing; "
            "set LOOKALIKE_QUEUE=celery on them (docs/DEPLOY.md)",
            settings.queue,
        )
    with reporting_errors(False):
        from lookalike.errors import InvalidFieldError
        from lookalike.jobs.celery_app import make_celery
        from lookalike.services import Services

        taken = [q.strip() for q in (queues or f"{settings.celery_queue},{settings.celery_train_queue}").split(",") if q.strip()]
        known = {settings.celery_queue, settings.celery_train_queue}
        if not taken or set(taken) - known:
            raise InvalidFieldError(
                f"--queues {queues!r}: take {settings.celery_queue} (prompts), {settings.celery_train_queue} "
                "(trainings) or both.",
                field="queues",
            )
        services = Services(settings)
        # Files a killed process left without rows (store/orphans.py), in the background.
        services.start_blob_sweep()
        runtime = services.remote_worker(name or None, runs_prompts=settings.celery_queue in taken)
        # Preset files are read now: a bad one stops the worker, naming its file.
        services.training_presets  # noqa: B018 - read for its check
        # Models load once, before the first message is taken.
        services.warm()
    app = make_celery(
        settings,
        runtime.run if settings.celery_queue in taken else None,
        runtime.train if settings.celery_train_queue in taken else None,
    )
    try:
        # The solo pool runs jobs in this process, where the models were
        # loaded: no fork after torch/CUDA start, no second copy of the weights.
        app.worker_main(
            [
                "worker",
                "--pool=solo",
                "--concurrency=1",
                f"--loglevel={log_level.upper()}",
                f"--queues={','.join(taken)}",
                f"--hostname={name or f'lookalike-{os.getpid()}'}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        services.close()
