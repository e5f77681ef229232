"""A real Celery worker (`crm worker` in a subprocess, prefork pool of 2) against the local Redis fires a BPMN
timer, once.

The worker gets the test's database URL and its own queue on a Redis database of its own; the keys it
made are deleted afterwards. Without Redis on 127.0.0.1:6379 the test is skipped loudly, or fails when
REQUIRE_REDIS=1 (CI).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from models import clock
from models.process import HumanTask, InstanceEvent, ProcessInstance
from tests.conftest import _loud_skip
from tests.test_timers import T0, deploy, start

ROOT = Path(__file__).resolve().parent.parent
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "13"))  # not the default 0 of a development `crm worker`


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        _loud_skip(f"Redis on {REDIS_HOST}:{REDIS_PORT}", "REQUIRE_REDIS")
    yield client
    client.close()


@pytest.fixture
def celery_worker(migrated, redis_client, tmp_path):
    """`crm worker` (= `celery -A engine.celery_app worker`) on a queue of its own; yields (client, queue, sent)."""
    from celery import Celery

    queue = f"crm-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    env = {**os.environ, "DATABASE_URL": migrated, "CELERY_BROKER_URL": broker, "CELERY_QUEUE": queue,
           "SECRET_KEY": "test-secret", "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "worker", "-Q", queue, "--concurrency=2", "--pool=prefork",
         f"--hostname={queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = Celery("crm-test", broker=broker, backend=broker)
    client.conf.update(task_default_queue=queue, result_expires=600)
    sent: list[str] = []
    try:
        yield client, queue, sent
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: finishes the running task
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        log.close()
        client.close()
        keys = [queue, f"_kombu.binding.{queue}", *(f"celery-task-meta-{t}" for t in sent)]
        keys += [k for k in redis_client.scan_iter(match=f"*{queue}*")]
        redis_client.delete(*keys)
        print((tmp_path / "worker.log").read_text()[-3000:])


def _send(client, queue: str, sent: list[str], name: str, **kwargs):
    result = client.send_task(name, kwargs=kwargs, queue=queue)
    sent.append(result.id)
    return result


def test_a_real_celery_worker_fires_the_timer_once(app, session, celery_worker):
    client, queue, sent = celery_worker
    clock.freeze(T0)
    deploy(session, "timer_escalation")
    iid = start(session, "timer_escalation")
    later = start(session, "timer_escalation", starter="rep2")
    # Before the deadline the worker fires nothing (the worker's clock is the job's as_of).
    early = _send(client, queue, sent, "crm.job.timers", as_of=(T0 + timedelta(days=1)).isoformat())
    mine = {iid, later}  # the demo data has processes (and timers) of its own
    assert [i for i in early.get(timeout=120)["fired"] if i in mine] == []

    # Three timer jobs at once on a worker with two processes: each timer fires exactly once.
    as_of = (T0 + timedelta(days=2, hours=1)).isoformat()
    results = [_send(client, queue, sent, "crm.job.timers", as_of=as_of) for _ in range(3)]
    summaries = [r.get(timeout=120) for r in results]
    assert sorted(i for s in summaries for i in s["fired"] if i in mine) == sorted(mine)
    assert not [i for s in summaries for i in s["errors"] if int(i) in mine]

    session.rollback()
    session.expire_all()
    for instance_id in (iid, later):
        assert session.get(ProcessInstance, instance_id).next_timer_at is None
        assert list(session.scalars(select(HumanTask.bpmn_id).where(
            HumanTask.instance_id == instance_id, HumanTask.status == "open"))) == ["escalated"]
        assert len(session.scalars(select(InstanceEvent.id).where(
            InstanceEvent.instance_id == instance_id, InstanceEvent.kind == "timer_fired")).all()) == 1


def test_every_job_is_a_celery_task_on_the_beat_schedule():
    from engine import jobs
    from engine.celery_app import app as celery_app
    from engine.scheduler import SCHEDULE

    for name in jobs.JOBS:
        assert f"crm.job.{name}" in celery_app.tasks
    beat = {entry["task"]: entry["schedule"] for entry in celery_app.conf.beat_schedule.values()}
    assert beat == {f"crm.job.{name}": float(seconds) for name, seconds in SCHEDULE.items()}
    assert beat["crm.job.timers"] == 30.0
