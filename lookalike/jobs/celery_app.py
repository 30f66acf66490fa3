"""The Celery application: broker settings and the two tasks, ``lookalike.run_prompt(prompt_id)`` and
``lookalike.train_tune(tune_id)`` (on its own queue, ``LOOKALIKE_CELERY_TRAIN_QUEUE``).

The message carries only the prompt id; the database row is the truth (what
to run, whether it already ran). Imported only in Celery mode: the default
install path never loads celery.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from lookalike.config import Settings

TASK_NAME = "lookalike.run_prompt"
TRAIN_TASK_NAME = "lookalike.train_tune"


def make_celery(
    settings: Settings,
    run_prompt: Callable[[int], str] | None = None,
    train_tune: Callable[[int], str] | None = None,
) -> Celery:
    """The app for publishing (API servers) or, given ``run_prompt`` / ``train_tune``, for consuming (workers)."""
    app = Celery("lookalike", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        # Trainings take minutes: their own queue, so workers can be given to them alone.
        task_routes={TRAIN_TASK_NAME: {"queue": settings.celery_train_queue}},
        # Acknowledge after the run, not before: a worker killed mid-job
        # leaves the message unacknowledged, and Redis hands it out again.
        task_acks_late=True,
        # Same for a pool child that dies (prefork pools).
        task_reject_on_worker_lost=True,
        # One message at a time per worker, so a busy worker holds no other
        # prompt hostage while a free worker waits.
        worker_prefetch_multiplier=1,
        # Results live in the database; no result backend.
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        broker_transport_options={
            # An unacknowledged message is delivered again after this. It
            # must outlast the longest job, else it runs twice (still stored
            # once: see jobs/queue.py).
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "socket_connect_timeout": 2,
        },
        broker_connection_retry_on_startup=True,
        # Workers ride out a broker restart, however long, instead of exiting.
        broker_connection_max_retries=None,
        # Keep running a job when the broker connection drops: its result
        # goes to the database, and a lost ack only means a no-op redelivery.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )
    if run_prompt is not None or train_tune is not None:
        from lookalike.jobs.celery_watchdog import StalledConsumerWatchdog

        app.steps["consumer"].add(StalledConsumerWatchdog)
    if run_prompt is not None:
        app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(run_prompt)
    if train_tune is not None:
        app.task(name=TRAIN_TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(train_tune)
    return app


def publish_training(app: Celery, tune_id: int) -> None:
    """Hand one LoRA training to the broker's train queue (routed there by ``task_routes``)."""
    app.send_task(
        TRAIN_TASK_NAME,
        args=[tune_id],
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
    )


def publish(app: Celery, prompt_id: int) -> None:
    """Hand one prompt to the broker; fails fast (about half a second) when it is down."""
    app.send_task(
        TASK_NAME,
        args=[prompt_id],
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
    )
