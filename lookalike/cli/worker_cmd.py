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
) -> None:
    """Run queued prompts from the broker: one process per GPU, as many processes as you like.

    The process warms its models before it takes the first message, runs one
    prompt at a time, and can be killed at any moment: its prompt runs again
    on another worker (docs/DEPLOY.md).
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
        from lookalike.jobs.celery_app import make_celery
        from lookalike.services import Services

        services = Services(settings)
        # Files a killed process left without rows (store/orphans.py), in the background.
        services.start_blob_sweep()
        runtime = services.remote_worker(name or None)
        # Models load once, before the first message is taken.
        services.warm()
    app = make_celery(settings, runtime.run)
    try:
        # The solo pool runs jobs in this process, where the models were
        # loaded: no fork after torch/CUDA start, no second copy of the weights.
        app.worker_main(
            [
                "worker",
                "--pool=solo",
                "--concurrency=1",
                f"--loglevel={log_level.upper()}",
                f"--queues={settings.celery_queue}",
                f"--hostname={name or f'lookalike-{os.getpid()}'}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        services.close()
