"""A consumer step that restarts the broker connection when the consumer silently stops taking messages.

Why: when Redis goes away just as a job ends, kombu's acknowledgement fails
half-way (its Redis QoS raises before it frees the prefetch slot), Celery
logs "Couldn't ack" and carries on. With a prefetch of 1 the worker then
believes a message is still in flight, never asks Redis for another, and
never notices that anything is wrong: it idles forever. We watch for exactly
that state (the prefetch window full while no task runs) and raise a
connection error from the event loop, which makes Celery's consumer
reconnect with a fresh channel, the same path as any broker outage.
"""

from __future__ import annotations

import logging

from celery import bootsteps
from celery.worker import state as worker_state

log = logging.getLogger(__name__)


class StalledConsumerWatchdog(bootsteps.StartStopStep):
    requires = {"celery.worker.consumer.tasks:Tasks"}
    interval_s = 2.0
    # Two checks in a row, so a message between delivery and execution is not mistaken for a stall.
    strikes_to_restart = 2

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self._timer_entry = None
        self._strikes = 0

    def start(self, consumer) -> None:
        self._strikes = 0
        self._timer_entry = consumer.timer.call_repeatedly(self.interval_s, self._check, (consumer,), priority=10)

    def stop(self, consumer) -> None:
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None

    shutdown = stop

    def _check(self, consumer) -> None:
        task_consumer = getattr(consumer, "task_consumer", None)
        channel = getattr(task_consumer, "channel", None)
        qos = getattr(channel, "qos", None)
        if qos is None or worker_state.active_requests or worker_state.reserved_requests:
            self._strikes = 0
            return
        if qos.can_consume():
            self._strikes = 0
            return
        self._strikes += 1
        if self._strikes >= self.strikes_to_restart:
            self._strikes = 0
            log.warning("consumer holds a prefetch slot with no task running (a lost ack); reconnecting")
            # OSError is a connection error for every kombu transport: the
            # event loop lets it out and the consumer restarts its connection.
            raise ConnectionResetError("consumer stalled after a failed acknowledgement")
