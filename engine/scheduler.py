"""The in-process scheduler of the embedded default (`make run` → `crm serve`): one daemon thread that runs
the background jobs on a fixed schedule. Production runs Celery beat + workers instead (engine/celery_app.py,
docs/deploy.md) and turns this off on the web nodes with CRM_SCHEDULER=off.

Two app processes on one database do not run the same job at once: before a run the scheduler takes the
job's lease (models.job_lease) for the job's interval; the other process finds it taken and skips. The jobs
themselves are safe with several workers anyway (SKIP LOCKED / conditional updates); the lease only saves
the duplicate work.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from engine import jobs
from models import clock, job_lease

log = logging.getLogger(__name__)

# job name -> interval in seconds (Celery beat uses the same table)
SCHEDULE: dict[str, float] = {
    "timers": 30,
    "task-deadlines": 5 * 60,
    "public-pool": 24 * 3600,
    "activity-flags": 24 * 3600,
    "closure-flags": 3600,  # F2: closures past their one-working-day limit
    "monthly-stats": 24 * 3600,  # A2/A3: the closed month's snapshot (once per month, skips when done)
    "monthly-ranking": 24 * 3600,  # P1/P2/P4: close the previous month's ranking once
    "login-watch": 24 * 3600,  # U1: users not logging in, to their managers and sales management
    "manager-digest": 24 * 3600,  # U2: department managers' daily digest (working days)
}
OFF_VALUES = ("0", "off", "false", "no", "disabled")


def enabled(value: str | None) -> bool:
    """CRM_SCHEDULER=off (or 0/false/no) turns the in-process scheduler off; anything else, or unset, is on."""
    return (value or "on").strip().lower() not in OFF_VALUES


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


class Scheduler:
    """Runs each job of `schedule` every interval (the first run right after start), in one thread.

    `session_factory` gives a fresh session per job run. `stop()` ends the thread cleanly: it waits for the
    job that is running, never interrupts it.
    """

    def __init__(self, session_factory: Callable[[], Session], schedule: dict[str, float] | None = None,
                 *, tick: float = 1.0, holder: str | None = None) -> None:
        self.session_factory = session_factory
        self.schedule = dict(SCHEDULE if schedule is None else schedule)
        self.tick = tick
        self.holder = holder or holder_id()
        self.next_run: dict[str, float] = dict.fromkeys(self.schedule, 0.0)
        self.runs: dict[str, int] = dict.fromkeys(self.schedule, 0)
        self.last_result: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Scheduler:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="crm-scheduler", daemon=True)
        self._thread.start()
        log.info("scheduler started (%s)", ", ".join(f"{n} every {s:g}s" for n, s in self.schedule.items()))
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("scheduler thread did not stop within %ss", timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_pending()
            self._stop.wait(self.tick)

    def run_pending(self) -> list[str]:
        """Run every job whose time has come (and whose lease this process gets); the names run."""
        ran = []
        for name, interval in self.schedule.items():
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now < self.next_run[name]:
                continue
            self.next_run[name] = now + interval
            if self.run_job(name, interval):
                ran.append(name)
        return ran

    def run_job(self, name: str, interval: float) -> bool:
        session = self.session_factory()
        try:
            # Hold the lease for the interval (minus a little slack for timing jitter between ticks):
            # another process starting the same job within it finds the lease taken.
            ttl = timedelta(seconds=max(interval - self.tick, 1))
            if not job_lease.acquire(session, name, self.holder, ttl):
                return False
            result = jobs.run(session, name, clock.now())
            session.commit()
            self.runs[name] += 1
            self.last_result[name] = result
            return True
        except Exception:  # a failing job is logged and retried at its next interval, never kills the thread
            session.rollback()
            log.exception("scheduled job %s failed", name)
            return False
        finally:
            session.close()
