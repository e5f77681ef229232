#!/usr/bin/env python
"""Engine throughput: SpiffWorkflow in memory vs. the persisted engine on PostgreSQL vs. the HTTP API.

    .venv/bin/python bench/engine_throughput.py [--chains N] [--database-url URL] [--quick]

One "chain" is a full quote approval at discount 0.44 (4.4折): the rep submits, then the department
manager, the president's assistant and a vice-president each approve (4 steps, 3 manual tasks).

The script creates its own database (crm_bench_<pid>_<random>) on the PostgreSQL server named by
--database-url (default: the local server, as the tests use it), migrates it, loads roles, diagrams
and demo data, and always drops it at the end. It is a script that prints figures, not a test.
See bench/README.md for what each figure means.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import logging
import math
import os
import secrets
import signal
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import requests
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine, make_url

from engine import definitions, operations, runtime
from engine.sandbox import SandboxScriptEngine
from engine.state import dump_state
from models.crm import Customer, Quote
from models.demo import DEMO_PASSWORD
from models.org import User
from models.process import HumanTask, InstanceEvent, ProcessInstance

ROOT = Path(__file__).resolve().parent.parent
BPMN_FILE = ROOT / "workflows" / "quote_approval.bpmn"
PROCESS_KEY = "quote_approval"
DEFAULT_ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
LIST_AMOUNT, QUOTE_AMOUNT = Decimal("10000.00"), Decimal("4400.00")  # discount 0.44: three approvals
DISCOUNT = 0.44
APPROVERS = ("mgr1", "pa1", "vp1")
STEP_NAMES = ("submit", "mgr_approve", "pa_approve", "vp_approve")
TARGET_RATIO = 0.6
MAX_ENGINE_ROUNDS = 50  # bound for the in-memory driver loops
STOP = threading.Event()  # set on SIGTERM


def check_stop() -> None:
    if STOP.is_set():
        raise SystemExit("interrupted")


# --- helpers ------------------------------------------------------------------------------------

def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def hr(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 86 - len(title)))


class Profile:
    """Exclusive wall time per named region: nested regions are subtracted from their parent."""

    def __init__(self) -> None:
        self.excl: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.sql_by_step: dict[str, int] = defaultdict(int)
        self.state_bytes: dict[str, list[int]] = defaultdict(list)
        self.step = ""
        self._stack: list[list[Any]] = []

    def push(self, name: str) -> None:
        self._stack.append([name, time.perf_counter(), 0.0])

    def pop(self) -> None:
        name, started, child = self._stack.pop()
        elapsed = time.perf_counter() - started
        self.excl[name] += elapsed - child
        self.calls[name] += 1
        if self._stack:
            self._stack[-1][2] += elapsed

    @contextlib.contextmanager
    def region(self, name: str) -> Iterator[None]:
        self.push(name)
        try:
            yield
        finally:
            self.pop()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.region(name):
                return fn(*args, **kwargs)
        return wrapper



@contextlib.contextmanager
def instrumented(engine: Engine, prof: Profile) -> Iterator[None]:
    """Patch the engine's seams (module attributes only, restored afterwards) and time SQL via events."""
    originals = {
        (runtime, "load_state"): runtime.load_state,
        (runtime, "_run"): runtime._run,
        (definitions, "parsed_spec"): definitions.parsed_spec,
    }
    orig_dump = runtime.dump_state

    def timed_dump(workflow: BpmnWorkflow) -> str:
        with prof.region("dump_state"):
            out = orig_dump(workflow)
        prof.state_bytes[prof.step].append(len(out.encode("utf-8")))
        return out

    def before(*_args: Any) -> None:
        prof.sql_by_step[prof.step] += 1
        prof.push("sql")

    def after(*_args: Any) -> None:
        prof.pop()

    def failed(_ctx: Any) -> None:
        if prof._stack and prof._stack[-1][0] == "sql":
            prof.pop()

    runtime.load_state = prof.wrap("load_state", runtime.load_state)
    runtime._run = prof.wrap("spiff_run", runtime._run)
    definitions.parsed_spec = prof.wrap("parsed_spec", definitions.parsed_spec)
    runtime.dump_state = timed_dump
    listeners = [("before_cursor_execute", before), ("after_cursor_execute", after), ("handle_error", failed)]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        yield
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)
        for (module, attr), fn in originals.items():
            setattr(module, attr, fn)
        runtime.dump_state = orig_dump


# --- database lifecycle ---------------------------------------------------------------------------

def admin_engine(admin_url: str) -> Engine:
    if admin_url.startswith("postgresql://"):
        admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(admin_url, isolation_level="AUTOCOMMIT")


def create_database(admin: Engine) -> tuple[str, str]:
    name = f"crm_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


# --- 1. in-memory baseline --------------------------------------------------------------------------

def parse_spec() -> tuple[Any, dict]:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BPMN_FILE))
    return parser.get_spec(PROCESS_KEY), parser.get_subprocess_specs(PROCESS_KEY)


def _engine_steps(workflow: BpmnWorkflow) -> None:
    for _ in range(MAX_ENGINE_ROUNDS):
        if not workflow.get_tasks(state=TaskState.READY, manual=False):
            return
        workflow.do_engine_steps()
    raise RuntimeError("in-memory chain: engine steps did not settle")


def memory_chain(spec: Any, subs: dict) -> BpmnWorkflow:
    """The same data and task data updates as operations.submit_quote / runtime.complete_task."""
    engine = SandboxScriptEngine(connector_caller=lambda _task, _name, params: {"quote_id": 1, "status": "x"})
    workflow = BpmnWorkflow(spec, subs, script_engine=engine)
    workflow.get_tasks(state=TaskState.READY)[0].data.update({
        "quote_id": 1, "customer_name": "北京华信科技有限公司", "requester": "rep1",
        "list_amount": float(LIST_AMOUNT), "quote_amount": float(QUOTE_AMOUNT), "discount": DISCOUNT,
    })
    _engine_steps(workflow)
    approvals = 0
    for approver in APPROVERS:
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if len(ready) != 1:
            raise RuntimeError(f"in-memory chain: expected one ready task, got {len(ready)}")
        task = ready[0]
        bpmn_id = task.task_spec.bpmn_id
        task.set_data(decision="approve", comment=None,
                      **{f"{bpmn_id}_decision": "approve", f"{bpmn_id}_by": approver})
        task.run()
        _engine_steps(workflow)
        approvals += 1
    if not workflow.is_completed() or approvals != 3:
        raise RuntimeError("in-memory chain did not complete after three approvals")
    return workflow


def bench_memory(chains: int, warmup: int) -> dict:
    spec, subs = parse_spec()
    for _ in range(warmup):
        memory_chain(spec, subs)
    gc.collect()
    started = time.perf_counter()
    for _ in range(chains):
        check_stop()
        workflow = memory_chain(spec, subs)
    elapsed = time.perf_counter() - started
    state = dump_state(workflow)
    full = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(dict(SPIFF_CONFIG))).serialize_json(workflow)
    return {"chains": chains, "seconds": elapsed, "cps": chains / elapsed,
            "final_state_bytes": len(state.encode()), "final_full_bytes": len(full.encode())}


# --- 2. persisted engine --------------------------------------------------------------------------

def _track_new_tasks(session, obj) -> None:
    """pending_to_persistent hook: keep the task rows a step inserts (the identity map is weak)."""
    if isinstance(obj, HumanTask):
        session.info.setdefault("bench_new_tasks", []).append(obj)


def _open_task_of(session, instance_id: int) -> int | None:
    """The task row the step just opened, from the insert hook (no extra SQL)."""
    rows = [t for t in session.info.get("bench_new_tasks", [])
            if t.instance_id == instance_id and t.status == "open"]
    if len(rows) > 1:
        raise RuntimeError(f"instance {instance_id}: {len(rows)} open tasks, expected one")
    return rows[0].id if rows else None


def persisted_chain(factory, user_ids: dict[str, int], customer_id: int,
                    step_times: list[list[float]] | None, prof: Profile | None) -> None:
    """submit + three approvals, each in its own session and transaction, as the web layer runs them."""
    region = prof.region if prof else (lambda _name: contextlib.nullcontext())
    check_stop()
    t0 = time.perf_counter()
    if prof:
        prof.step = "submit"
    with region("step"), factory() as session:
        rep = session.get(User, user_ids["rep1"])
        quote = operations.submit_quote(session, rep, customer_id=customer_id, list_amount=LIST_AMOUNT,
                                        quote_amount=QUOTE_AMOUNT, title="bench")
        instance_id = quote.process_instance_id
        task_id = _open_task_of(session, instance_id)
        with region("commit"):
            session.commit()
    t1 = time.perf_counter()
    times = [t1 - t0]
    for approver, step in zip(APPROVERS, STEP_NAMES[1:], strict=True):
        if task_id is None:
            raise RuntimeError(f"instance {instance_id}: no open task before step {step}")
        if prof:
            prof.step = step
        with region("step"), factory() as session:
            user = session.get(User, user_ids[approver])
            task = runtime.complete_task(session, task_id, user, {"decision": "approve"})
            if task.bpmn_id != step:
                raise RuntimeError(f"instance {instance_id}: expected {step}, got {task.bpmn_id}")
            task_id = _open_task_of(session, instance_id)
            with region("commit"):
                session.commit()
        t2 = time.perf_counter()
        times.append(t2 - t1)
        t1 = t2
    if task_id is not None:
        raise RuntimeError(f"instance {instance_id}: a task is still open after the vice-president approved")
    if step_times is not None:
        step_times.append(times)


def _persisted_passes(factory, engine: Engine, user_ids: dict[str, int], customer_id: int, chains: int,
                      warmup: int, breakdown_chains: int) -> tuple[list[list[float]], float, Profile]:
    for _ in range(warmup):
        persisted_chain(factory, user_ids, customer_id, None, None)
    gc.collect()
    step_times: list[list[float]] = []
    started = time.perf_counter()
    for _ in range(chains):
        persisted_chain(factory, user_ids, customer_id, step_times, None)
    elapsed = time.perf_counter() - started
    prof = Profile()
    if breakdown_chains:
        with instrumented(engine, prof):
            for _ in range(breakdown_chains):
                persisted_chain(factory, user_ids, customer_id, None, prof)
    return step_times, elapsed, prof


def bench_persisted(app, chains: int, warmup: int, breakdown_chains: int) -> dict:
    factory = app.extensions["session_factory"]
    engine = app.extensions["db_engine"]
    with factory() as session:
        user_ids = {u.username: u.id for u in session.scalars(select(User))}
        rep = session.get(User, user_ids["rep1"])
        customer_id = session.scalar(select(Customer.id).where(Customer.owner_id == rep.id,
                                                               Customer.status == "approved").order_by(Customer.id))
        quotes_before = session.scalar(select(func.count()).select_from(Quote))
    event.listen(factory, "pending_to_persistent", _track_new_tasks)
    try:
        step_times, elapsed, prof = _persisted_passes(factory, engine, user_ids, customer_id, chains, warmup,
                                                      breakdown_chains)
    finally:
        event.remove(factory, "pending_to_persistent", _track_new_tasks)

    with factory() as session:  # every chain must have ended approved
        total = warmup + chains + breakdown_chains
        approved = session.scalar(select(func.count()).select_from(Quote).where(
            Quote.status == "approved", Quote.title == "bench"))
        done = session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.status == "completed"))
        quotes_after = session.scalar(select(func.count()).select_from(Quote))
    if approved != total or done != total or quotes_after - quotes_before != total:
        raise RuntimeError(f"persisted: {approved} approved / {done} completed of {total} chains")
    return {"chains": chains, "seconds": elapsed, "cps": chains / elapsed, "step_times": step_times,
            "prof": prof, "breakdown_chains": breakdown_chains}


# --- 3. HTTP ------------------------------------------------------------------------------------------

class HttpServer:
    def __init__(self, app, threads: int) -> None:
        from waitress.server import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.base = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, name="bench-waitress", daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        # Let the worker threads finish first: closing the trigger under a running task logs EBADF.
        self.server.task_dispatcher.shutdown(timeout=10)
        self.server.close()
        self.thread.join(timeout=10)  # the loop ends once the clients' keep-alive sockets are closed


def _token(base: str, username: str) -> str:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD},
                      timeout=30)
    r.raise_for_status()
    return r.json()["token"]


def run_clients(work: list[list[Any]], call: Callable[[requests.Session, Any], requests.Response],
                token: str) -> tuple[list[float], list[Any], float]:
    """One thread per partition; each calls `call` once per item. Returns latencies (s), results, wall."""
    latencies: list[list[float]] = [[] for _ in work]
    results: list[list[Any]] = [[] for _ in work]
    errors: list[str] = []
    barrier = threading.Barrier(len(work) + 1)

    def client(idx: int) -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {token}"
            barrier.wait()
            for item in work[idx]:  # bounded: each item exactly once
                if STOP.is_set():
                    return
                t0 = time.perf_counter()
                try:
                    resp = call(http, item)
                except requests.RequestException as exc:
                    errors.append(f"{item}: {exc}")
                    continue
                latencies[idx].append(time.perf_counter() - t0)
                if resp.status_code not in (200, 201):
                    errors.append(f"{item}: HTTP {resp.status_code} {resp.text[:200]}")
                else:
                    results[idx].append(resp.json())

    threads = [threading.Thread(target=client, args=(i,), name=f"bench-client-{i}") for i in range(len(work))]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join(timeout=600)
    wall = time.perf_counter() - started
    if any(t.is_alive() for t in threads):
        raise RuntimeError("HTTP clients did not finish within 600 s")
    if errors:
        raise RuntimeError(f"{len(errors)} HTTP errors, first: {errors[0]}")
    return [x for part in latencies for x in part], [x for part in results for x in part], wall


def partition(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def bench_http(app, quotes: int, warmup: int, clients: int, server_threads: int) -> dict:
    factory = app.extensions["session_factory"]
    out: dict[str, Any] = {}
    with HttpServer(app, server_threads) as srv:
        rep_token, mgr_token = _token(srv.base, "rep1"), _token(srv.base, "mgr1")
        customers = requests.get(f"{srv.base}/api/v1/customers", headers={"Authorization": f"Bearer {rep_token}"},
                                 timeout=30).json()["items"]
        customer_id = next(c["id"] for c in customers if c["status"] == "approved")
        body = {"customer_id": customer_id, "list_amount": str(LIST_AMOUNT), "quote_amount": str(QUOTE_AMOUNT),
                "title": "bench-http"}

        def create(http: requests.Session, _n: int) -> requests.Response:
            return http.post(f"{srv.base}/api/v1/quotes", json=body, timeout=60)

        lat, created, wall = run_clients(partition(list(range(quotes + warmup)), clients), create, rep_token)
        out["create"] = {"n": len(lat), "lat": lat, "wall": wall}
        instance_ids = {q["process_instance_id"] for q in created}
        if len(instance_ids) != quotes + warmup:
            raise RuntimeError(f"created {len(instance_ids)} instances, expected {quotes + warmup}")

        # The manager's task ids, read through the API as a client would (bounded pagination).
        task_ids: list[int] = []
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {mgr_token}"
            for page in range(math.ceil((quotes + warmup) / 200) + 5):
                items = http.get(f"{srv.base}/api/v1/tasks", params={"scope": "mine", "limit": 200,
                                                                      "offset": page * 200}, timeout=60).json()["items"]
                task_ids += [t["id"] for t in items
                             if t["process_instance_id"] in instance_ids and t["step"] == "mgr_approve"]
                if len(items) < 200:
                    break
        if len(task_ids) != quotes + warmup or len(set(task_ids)) != len(task_ids):
            raise RuntimeError(f"found {len(task_ids)} manager tasks, expected {quotes + warmup}")

        def complete(http: requests.Session, task_id: int) -> requests.Response:
            return http.post(f"{srv.base}/api/v1/tasks/{task_id}/complete",
                             json={"data": {"decision": "approve"}}, timeout=60)

        warm, measured = task_ids[:warmup], task_ids[warmup:]
        if warm:
            run_clients(partition(warm, clients), complete, mgr_token)
        gc.collect()
        lat, done, wall = run_clients(partition(measured, clients), complete, mgr_token)
        if sorted(t["id"] for t in done) != sorted(measured) or any(t["status"] != "completed" for t in done):
            raise RuntimeError("not every manager task was completed exactly once")
        out["complete"] = {"n": len(lat), "lat": lat, "wall": wall}

    with factory() as session:  # each task completed exactly once, and each chain moved on to the assistant
        completions = session.scalar(select(func.count()).select_from(InstanceEvent).where(
            InstanceEvent.task_id.in_(task_ids), InstanceEvent.kind == "task_completed"))
        pa_open = session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id.in_(instance_ids), HumanTask.bpmn_id == "pa_approve", HumanTask.status == "open"))
    if completions != len(task_ids) or pa_open != len(task_ids):
        raise RuntimeError(f"HTTP: {completions} completion events and {pa_open} assistant tasks "
                           f"for {len(task_ids)} manager tasks")
    return out


# --- report ---------------------------------------------------------------------------------------------

def report_engine(mem: dict, per: dict) -> None:
    ratio = per["cps"] / mem["cps"]
    hr(f"full chains: submit + 3 approvals (discount {DISCOUNT}), {per['chains']} chains each")
    print(f"{'':34}{'chains/s':>10}{'ms/chain':>10}{'steps/s':>10}")
    print(f"{'in-memory (SpiffWorkflow only)':34}{mem['cps']:10.1f}{1000 / mem['cps']:10.3f}{4 * mem['cps']:10.0f}")
    print(f"{'persisted (PostgreSQL, 4 tx)':34}{per['cps']:10.1f}{1000 / per['cps']:10.3f}{4 * per['cps']:10.0f}")
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(f"{'ratio persisted / in-memory':34}{ratio:10.3f}   ({verdict} the {TARGET_RATIO} target)")

    hr("persisted steps (one session + transaction each; unprofiled pass)")
    prof: Profile = per["prof"]
    print(f"{'step':14}{'mean ms':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'SQL stmts':>11}{'state bytes':>13}")
    bc = per["breakdown_chains"] or 1
    for i, name in enumerate(STEP_NAMES):
        xs = [t[i] * 1000 for t in per["step_times"]]
        sizes = prof.state_bytes.get(name) or [0]
        print(f"{name:14}{statistics.fmean(xs):9.2f}{percentile(xs, 50):8.2f}{percentile(xs, 95):8.2f}"
              f"{percentile(xs, 99):8.2f}{prof.sql_by_step.get(name, 0) / bc:11.1f}{statistics.fmean(sizes):13.0f}")
    all_sizes = [s for v in prof.state_bytes.values() for s in v]
    if all_sizes:
        print(f"mean serialized state: {statistics.fmean(all_sizes):.0f} bytes per write "
              f"(final: {mem['final_state_bytes']} bytes; SpiffWorkflow's default serializer with the spec "
              f"embedded: {mem['final_full_bytes']} bytes)")

    if per["breakdown_chains"]:
        hr(f"where a persisted chain spends its time (profiled pass, {per['breakdown_chains']} chains, exclusive)")
        labels = {
            "sql": "SQL execute (psycopg round trips, incl. BEGIN)",
            "commit": "commit (COMMIT round trip + WAL flush + ORM flush)",
            "spiff_run": "SpiffWorkflow run (task.run + engine steps)",
            "load_state": "load_state (JSON -> workflow)",
            "dump_state": "dump_state (workflow -> JSON)",
            "parsed_spec": "parsed_spec (per-thread cache lookup)",
            "step": "other Python (ORM, forms, audit, session)",
        }
        total = sum(prof.excl.values())
        print(f"{'bucket':52}{'ms/chain':>10}{'share':>8}{'calls/chain':>13}")
        for key, label in sorted(labels.items(), key=lambda kv: -prof.excl.get(kv[0], 0.0)):
            ms = prof.excl.get(key, 0.0) * 1000 / bc
            print(f"{label:52}{ms:10.3f}{prof.excl.get(key, 0.0) / total:8.1%}{prof.calls.get(key, 0) / bc:13.1f}")
        print(f"{'total (profiled, includes instrumentation)':52}{total * 1000 / bc:10.3f}")


def report_http(http: dict, clients: int, server_threads: int) -> None:
    hr(f"HTTP API: waitress threads={server_threads}, {clients} client threads, keep-alive, loopback")
    print(f"{'request':38}{'n':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, key in (("POST /api/v1/quotes (rep1)", "create"),
                       ("POST /api/v1/tasks/{id}/complete (mgr1)", "complete")):
        r = http[key]
        ms = [x * 1000 for x in r["lat"]]
        print(f"{label:38}{r['n']:6d}{r['n'] / r['wall']:9.1f}{percentile(ms, 50):9.1f}{percentile(ms, 95):9.1f}"
              f"{percentile(ms, 99):9.1f}{max(ms):9.1f}")


# --- 4. contract countersign (K1) -------------------------------------------------------------------------
# A contract of 300,000.00 at 6折 on the custom template: sales management's first opinion, then the R&D VP,
# the implementation-service VP and the president countersign in parallel (5 steps, 4 manual tasks, two
# service tasks, a parallel fork and join). The persisted pass runs engine.contract_flows.submit_contract and
# runtime.complete_task, one session and commit per step, like the quote chains above.

CONTRACT_FILE = ROOT / "workflows" / "contract_approval.bpmn"
CONTRACT_KEY = "contract_approval"
CONTRACT_TERMS = {"list_amount": Decimal("500000.00"), "amount": Decimal("300000.00"), "template": "custom",
                  "title": "bench-countersign"}
COUNTERSIGN = (("sm_opinion", "salesmgmt1"), ("rnd_sign", "rndvp"), ("impl_sign", "implvp"),
               ("pres_sign", "president"))
COUNTERSIGN_STEPS = ("submit", *(step for step, _user in COUNTERSIGN))


def _contract_terms_stub(_task, _name, params) -> dict:
    status = params["status"]["value"] if isinstance(params.get("status"), dict) else params.get("status")
    return {"contract_id": 1, "status": status, "amount": 300000.0, "list_amount": 500000.0, "discount": 0.6,
            "template": "custom", "kind": "product"}


def countersign_memory_chain(spec: Any, subs: dict) -> BpmnWorkflow:
    engine = SandboxScriptEngine(connector_caller=_contract_terms_stub)
    workflow = BpmnWorkflow(spec, subs, script_engine=engine)
    workflow.get_tasks(state=TaskState.READY)[0].data.update({
        "contract_id": 1, "customer_name": "北京华信科技有限公司", "requester": "rep1", "requester_id": 1,
        "contract": _contract_terms_stub(None, None, {"status": "pending"})})
    _engine_steps(workflow)
    users = dict(COUNTERSIGN)
    signed = 0
    for _ in range(MAX_ENGINE_ROUNDS):
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            break
        task = ready[0]
        bpmn_id = task.task_spec.bpmn_id
        task.set_data(decision="approve", comment=None,
                      **{f"{bpmn_id}_decision": "approve", f"{bpmn_id}_by": users[bpmn_id]})
        task.run()
        _engine_steps(workflow)
        signed += 1
    if not workflow.is_completed() or signed != len(COUNTERSIGN):
        raise RuntimeError(f"in-memory countersign did not complete ({signed} tasks done)")
    if workflow.data.get("contract", {}).get("status") != "approved":
        raise RuntimeError("in-memory countersign did not end approved")
    return workflow


def bench_countersign_memory(chains: int, warmup: int) -> dict:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(CONTRACT_FILE))
    spec, subs = parser.get_spec(CONTRACT_KEY), parser.get_subprocess_specs(CONTRACT_KEY)
    for _ in range(warmup):
        countersign_memory_chain(spec, subs)
    gc.collect()
    started = time.perf_counter()
    for _ in range(chains):
        check_stop()
        workflow = countersign_memory_chain(spec, subs)
    elapsed = time.perf_counter() - started
    return {"chains": chains, "seconds": elapsed, "cps": chains / elapsed,
            "final_state_bytes": len(dump_state(workflow).encode())}


def _new_open_tasks(session, instance_id: int) -> dict[str, int]:
    return {t.bpmn_id: t.id for t in session.info.get("bench_new_tasks", [])
            if t.instance_id == instance_id and t.status == "open"}


def countersign_persisted_chain(factory, user_ids: dict[str, int], customer_id: int,
                                step_times: list[list[float]] | None) -> None:
    from engine import contract_flows

    check_stop()
    t0 = time.perf_counter()
    with factory() as session:
        rep = session.get(User, user_ids["rep1"])
        contract = contract_flows.submit_contract(session, rep, {"customer_id": customer_id, **CONTRACT_TERMS})
        instance_id = contract.process_instance_id
        open_tasks = _new_open_tasks(session, instance_id)
        session.commit()
    t1 = time.perf_counter()
    times = [t1 - t0]
    for step, username in COUNTERSIGN:
        task_id = open_tasks.pop(step, None)
        if task_id is None:
            raise RuntimeError(f"contract instance {instance_id}: no open {step} task")
        with factory() as session:
            user = session.get(User, user_ids[username])
            runtime.complete_task(session, task_id, user, {"decision": "approve"})
            open_tasks.update(_new_open_tasks(session, instance_id))
            session.commit()
        t2 = time.perf_counter()
        times.append(t2 - t1)
        t1 = t2
    if open_tasks:
        raise RuntimeError(f"contract instance {instance_id}: tasks still open: {sorted(open_tasks)}")
    if step_times is not None:
        step_times.append(times)


def bench_countersign_persisted(app, chains: int, warmup: int) -> dict:
    from models.contracts import Contract

    factory = app.extensions["session_factory"]
    with factory() as session:
        user_ids = {u.username: u.id for u in session.scalars(select(User))}
        customer_id = session.scalar(select(Customer.id).where(Customer.owner_id == user_ids["rep1"],
                                                               Customer.status == "approved").order_by(Customer.id))
    event.listen(factory, "pending_to_persistent", _track_new_tasks)
    try:
        for _ in range(warmup):
            countersign_persisted_chain(factory, user_ids, customer_id, None)
        gc.collect()
        step_times: list[list[float]] = []
        started = time.perf_counter()
        for _ in range(chains):
            countersign_persisted_chain(factory, user_ids, customer_id, step_times)
        elapsed = time.perf_counter() - started
    finally:
        event.remove(factory, "pending_to_persistent", _track_new_tasks)
    with factory() as session:
        approved = session.scalar(select(func.count()).select_from(Contract).where(
            Contract.status == "approved", Contract.title == CONTRACT_TERMS["title"]))
        state_bytes = session.scalar(select(func.avg(func.length(ProcessInstance.state))).where(
            ProcessInstance.process_key == CONTRACT_KEY))
    if approved != warmup + chains:
        raise RuntimeError(f"countersign: {approved} approved of {warmup + chains} contracts")
    return {"chains": chains, "seconds": elapsed, "cps": chains / elapsed, "step_times": step_times,
            "state_bytes": float(state_bytes or 0)}


def report_countersign(mem: dict, per: dict) -> None:
    hr("contract countersign (K1): submit → sales management → R&D VP ∥ implementation VP ∥ president → approved")
    steps = len(COUNTERSIGN_STEPS)
    print(f"{'':34}{'chains/s':>10}{'steps/s':>10}{'ms/chain':>10}")
    print(f"{'in-memory (SpiffWorkflow only)':34}{mem['cps']:>10.1f}{mem['cps'] * steps:>10.1f}"
          f"{1000 / mem['cps']:>10.2f}")
    print(f"{'persisted (PostgreSQL, 5 tx)':34}{per['cps']:>10.1f}{per['cps'] * steps:>10.1f}"
          f"{1000 / per['cps']:>10.2f}")
    print(f"{'ratio persisted / in-memory':34}{per['cps'] / mem['cps']:>10.3f}")
    print(f"\n{'step (persisted)':16}{'mean ms':>9}{'p50':>8}{'p95':>8}{'p99':>8}")
    for i, name in enumerate(COUNTERSIGN_STEPS):
        values = [t[i] * 1000 for t in per["step_times"]]
        print(f"{name:16}{statistics.fmean(values):>9.2f}{percentile(values, 50):>8.2f}"
              f"{percentile(values, 95):>8.2f}{percentile(values, 99):>8.2f}")
    print(f"state at the end: {mem['final_state_bytes']:,} bytes in memory; mean stored state "
          f"{per['state_bytes']:,.0f} bytes; every chain checked approved")


# --- main -----------------------------------------------------------------------------------------------

def _terminate(signum: int, _frame: object) -> None:
    STOP.set()  # an exception raised inside a weakref callback is swallowed: the loops check this too
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=None, help="full chains per measured pass (default 300)")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL,
                        help="a PostgreSQL server URL to connect to for CREATE/DROP DATABASE "
                             "(default: $BENCH_DATABASE_URL or the local server)")
    parser.add_argument("--http-quotes", type=int, default=None, help="manager tasks completed over HTTP (400)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP client threads (8)")
    parser.add_argument("--breakdown-chains", type=int, default=None, help="chains in the profiled pass (100)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few chains and requests")
    args = parser.parse_args(argv)
    chains = args.chains or (10 if args.quick else 300)
    http_quotes = args.http_quotes or (24 if args.quick else 400)
    breakdown = args.breakdown_chains if args.breakdown_chains is not None else (5 if args.quick else 100)
    warm = 3 if args.quick else 20
    if chains < 1 or http_quotes < 1 or args.clients < 1 or breakdown < 0:
        parser.error("counts must be positive")

    from web import create_app
    from web.cli import setup, upgrade

    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, _terminate)  # so that `finally` still drops the database
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is N" under load
    t_start = time.perf_counter()
    admin = admin_engine(args.database_url)
    name, url = create_database(admin)
    app = None
    try:
        print(f"database {name} on {make_url(url).host}:{make_url(url).port}")
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
        setup(app)
        print(f"migrated and loaded in {time.perf_counter() - t_start:.1f} s; {chains} chains, "
              f"{http_quotes} HTTP completions; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

        mem = bench_memory(chains, warmup=warm)
        per = bench_persisted(app, chains, warmup=warm, breakdown_chains=breakdown)
        report_engine(mem, per)
        http = bench_http(app, http_quotes, warmup=min(16, http_quotes), clients=args.clients, server_threads=8)
        report_http(http, args.clients, 8)
        report_countersign(bench_countersign_memory(chains, warmup=warm),
                           bench_countersign_persisted(app, chains, warmup=warm))
        load = os.getloadavg()
        print(f"\ntotal run time {time.perf_counter() - t_start:.1f} s; load average now "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
              + ("  (busy machine: figures are pessimistic)" if load[1] > (os.cpu_count() or 1) else ""))
    finally:
        if app is not None:
            app.extensions["db_engine"].dispose()
        drop_database(admin, name)
        admin.dispose()
        print(f"dropped database {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
