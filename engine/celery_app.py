"""Production background work: Celery workers (`crm worker`) take the jobs from Redis; Celery beat
(`crm beat`, exactly one per installation) sends them on the same schedule as the in-process scheduler.

One Celery task per job of `engine.jobs.JOBS`, named `crm.job.<name>` (e.g. `crm.job.timers`), each calling
the same job function with a fresh database session and committing. Jobs are safe with several workers
(a timer fires once: engine/timers.py), so a late or duplicated beat message does no harm.

Configuration (environment): DATABASE_URL, CELERY_BROKER_URL (default redis://127.0.0.1:6379/0),
CELERY_RESULT_BACKEND (default: the broker), CELERY_QUEUE (default "crm").
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from celery import Celery

import engine  # noqa: F401  (registers the jobs and connectors)
from engine import jobs
from engine.scheduler import SCHEDULE
from models import clock

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def _config() -> dict[str, Any]:
    broker = os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER)
    queue = os.environ.get("CELERY_QUEUE", "crm")
    return {
        "broker_url": broker,
        "result_backend": os.environ.get("CELERY_RESULT_BACKEND", broker),
        "task_default_queue": queue,
        "task_serializer": "json", "result_serializer": "json", "accept_content": ["json"],
        "timezone": "UTC", "enable_utc": True,
        # A job message is acknowledged after the job ran: a worker killed mid-job leaves it for another.
        "task_acks_late": True, "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "result_expires": 3600,
        "beat_schedule": {f"crm-{name}": {"task": f"crm.job.{name}", "schedule": float(seconds)}
                          for name, seconds in SCHEDULE.items()},
    }


app = Celery("crm")
app.conf.update(_config())

_session_factory = None


def session_factory():
    """One engine per worker process, made on first use (after the prefork pool has forked)."""
    global _session_factory
    if _session_factory is None:
        from web import create_app

        _session_factory = create_app().extensions["session_factory"]
    return _session_factory


def run_job(name: str, as_of: str | None = None) -> dict[str, Any]:
    """Run one job now (or as of the ISO date-time `as_of`) in a fresh session; its summary (JSON-safe)."""
    when = datetime.fromisoformat(as_of) if as_of else clock.now()
    session = session_factory()()
    try:
        summary = jobs.run(session, name, when)
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
    return json.loads(json.dumps(summary, default=str))


def _register(name: str) -> None:
    def job_task(as_of: str | None = None) -> dict[str, Any]:
        return run_job(name, as_of)

    job_task.__name__ = job_task.__qualname__ = f"job_{name.replace('-', '_')}"
    app.task(name=f"crm.job.{name}")(job_task)


for _name in sorted(jobs.JOBS):
    _register(_name)
