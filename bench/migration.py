#!/usr/bin/env python
"""Bulk migration at scale: the dry run over N running quote instances, then the real run over some of them.

    .venv/bin/python bench/migration.py [--instances 10000] [--move 1000] [--database-url URL]

Without --database-url it uses a temporary SQLite file; with a PostgreSQL server URL it creates a database
crm_bench_mig_<pid>_<random> there and drops it at the end. Half the instances wait for the manager
(they can move to version 2, which changes the manager's limit), half wait for the president's assistant
after the manager's gateway (they cannot). The instances are cloned from two real ones with set-based SQL,
so set-up takes seconds. Prints figures; passes or fails nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import definitions, migration, runtime
from models.org import User
from models.process import HumanTask, ProcessInstance

QUOTE_BPMN = (ROOT / "workflows" / "quote_approval.bpmn").read_bytes()
V2 = QUOTE_BPMN.replace(b"discount &lt; 0.5<", b"discount &lt; 0.6<")


@contextlib.contextmanager
def database(admin_url: str | None):
    if admin_url is None:
        with tempfile.TemporaryDirectory(prefix="crm-bench-mig-") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"crm_bench_mig_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                              "AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def clone(session, template_id: int, copies: int, title: str) -> None:
    """`copies` instances with the template's state and its open task row, inserted in chunks."""
    inst = session.get(ProcessInstance, template_id)
    row = session.scalar(select(HumanTask).where(HumanTask.instance_id == template_id, HumanTask.status == "open"))
    cols = {c: getattr(inst, c) for c in ("definition_id", "process_key", "status", "state", "sector_id",
                                          "department_id", "started_by", "started_at")}
    for start in range(0, copies, 1000):
        n = min(1000, copies - start)
        session.execute(insert(ProcessInstance), [{**cols, "title": title, "version": 1} for _ in range(n)])
    ids = list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.title == title)))
    task_cols = {c: getattr(row, c) for c in ("spiff_task_id", "bpmn_id", "name", "form", "role_code", "sector_id",
                                              "department_id", "status", "created_at", "due_at", "kind")}
    for start in range(0, len(ids), 1000):
        session.execute(insert(HumanTask), [{**task_cols, "instance_id": i} for i in ids[start:start + 1000]])
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--move", type=int, default=1000, help="instances moved by the measured real run")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()

    from web import create_app
    from web.cli import setup, upgrade

    with database(args.database_url) as url:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "bench"})
        setup(app)
        factory = app.extensions["session_factory"]
        session = factory()
        rep1 = session.scalar(select(User).where(User.username == "rep1"))
        designer1 = session.scalar(select(User).where(User.username == "designer1"))
        templates = {}
        for label, discount in (("at_mgr", 0.55), ("at_pa", 0.40)):
            instance = runtime.start_instance(session, "quote_approval", actor=rep1, title=f"bench {label}",
                                              data={"discount": discount, "by_manager": False},
                                              sector_id=rep1.sector_id, department_id=rep1.department_id)
            session.commit()
            templates[label] = instance.id
        mgr1 = session.scalar(select(User).where(User.username == "mgr1"))
        task = session.scalar(select(HumanTask).where(HumanTask.instance_id == templates["at_pa"]))
        runtime.complete_task(session, task.id, mgr1, {"decision": "approve"})
        session.commit()
        t = time.perf_counter()
        clone(session, templates["at_mgr"], args.instances // 2, "bench clone at_mgr")
        clone(session, templates["at_pa"], args.instances - args.instances // 2, "bench clone at_pa")
        print(f"set-up: {args.instances} instances cloned in {time.perf_counter() - t:.1f} s ({url.split(':')[0]})")
        definitions.deploy(session, V2, filename="quote_approval.bpmn", actor_id=None)
        session.commit()

        statements = []
        event.listen(app.extensions["db_engine"], "before_cursor_execute",
                     lambda *a, **_k: statements.append(1))
        t = time.perf_counter()
        result = migration.plan(session, designer1, "quote_approval", limit=migration.MAX_LIMIT)
        elapsed = time.perf_counter() - t
        session.rollback()
        n = len(result.items)
        print(f"dry run: {n} instances in {elapsed:.2f} s ({elapsed / max(n, 1) * 1e6:.0f} µs each), "
              f"{result.movable} can move, {result.skipped} cannot, {len(statements)} SQL statements")

        statements.clear()
        t = time.perf_counter()
        moved = migration.migrate(session, designer1, "quote_approval", limit=args.move)
        elapsed = time.perf_counter() - t
        print(f"real run: {len(moved.items)} listed, {moved.moved} moved, {moved.failed} failed in {elapsed:.2f} s "
              f"({elapsed / max(moved.moved, 1) * 1e3:.1f} ms per moved instance, one transaction each), "
              f"{len(statements)} SQL statements")
        session.close()
        app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
