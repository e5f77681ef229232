#!/usr/bin/env python
"""CRM at scale on PostgreSQL: customer list + search, the public-pool sweep, Excel import of 100k rows.

    .venv/bin/python bench/crm_queries.py [--customers N] [--quick] [--requests N] [--import-rows N]
                                          [--database-url URL]

The script creates its own database (crm_bench_<pid>_<random>) on the PostgreSQL server named by
--database-url (default: $BENCH_DATABASE_URL or the local server), migrates it, loads roles,
diagrams and demo data (`crm setup`), generates N customers with `crm demo --scale`'s generator
(default 1,000,000; --quick: 50,000), runs ANALYZE, then measures:

(a) the customer list + search through the list API's own query (models.customers.list_customers:
    models.access.customer_filter, search by name / pinyin initials / phone, ORDER BY, LIMIT 50) for
    a rep (rep1), a department manager (mgr1) and a sector-wide reader (president): p50/p95/max
    over --requests requests each, and EXPLAIN ANALYZE of the slowest;
(b) the public-pool sweep, `engine.jobs.run(session, "public-pool", now)`, if that job is registered;
(c) an Excel import of --import-rows rows (default 100,000; --quick 10,000): the workbook is written
    with openpyxl's write-only mode first, then checked and imported through models.data_import
    (check_upload, check_headers, run_import) as rep2.

It prints a table with the aims (list+search p95 ≤ 50 ms, sweep ≤ 10 s, import 100k ≤ 60 s) and
always drops its database at the end. See bench/README.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import random
import signal
import sys
import time
from pathlib import Path

from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AIM_LIST_P95_MS = 50.0
AIM_SWEEP_S = 10.0
AIM_IMPORT_S = 60.0
AIM_IMPORT_ROWS = 100_000


def _throughput_module():
    """bench/engine_throughput.py's database lifecycle (create, drop) and helpers, reused as is."""
    spec = importlib.util.spec_from_file_location("engine_throughput", ROOT / "bench" / "engine_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


et = _throughput_module()
percentile, hr = et.percentile, et.hr


# --- (a) list + search ------------------------------------------------------------------------------------

def search_terms(session, rng: random.Random, n: int) -> list[tuple[str, str | None]]:
    """(kind, q) pairs drawn from the data: a name fragment, pinyin initials, phone digits, or no search."""
    from models.crm import Customer

    sample = list(session.execute(select(Customer.name, Customer.pinyin_initials, Customer.phone)
                                  .where(Customer.id % 997 == 0).limit(2000)))
    terms: list[tuple[str, str | None]] = []
    for i in range(n):
        name, initials, phone = rng.choice(sample)
        kind = ("list", "name2", "name4", "pinyin", "phone")[i % 5]
        if kind == "name2":
            q = name[2:4]  # the 字号 alone ("华信"): 2 characters, too short for a trigram index
        elif kind == "name4":
            q = name[:4]  # city + 字号 ("北京华信")
        elif kind == "pinyin":
            q = (initials or "bj")[:4]
        elif kind == "phone":
            digits = "".join(ch for ch in (phone or "010-12345678") if ch.isdigit())
            start = rng.randrange(0, max(1, len(digits) - 6))
            q = digits[start:start + 6]
        else:
            q = None
        terms.append((kind, q))
    return terms


class Capture:
    """The SQL and parameters of the statements run while `on` is set (for EXPLAIN ANALYZE)."""

    def __init__(self, engine) -> None:
        self.on, self.statements = False, []
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _conn, _cursor, statement, parameters, _context, _executemany):
        if self.on and statement.lstrip().upper().startswith("SELECT") and "FROM customer" in statement:
            self.statements.append((statement, parameters))


def bench_list(app, requests: int, seed: int = 7) -> dict:
    from models.customers import ListQuery, list_customers
    from models.org import User

    factory = app.extensions["session_factory"]
    capture = Capture(app.extensions["db_engine"])
    rng = random.Random(seed)
    results: dict[str, dict] = {}
    session = factory()
    terms = search_terms(session, rng, requests)
    session.rollback()
    for username in ("rep1", "mgr1", "president"):
        user = session.scalar(select(User).where(User.username == username))
        for kind, q in terms[:8]:  # warm-up: plans, caches
            list_customers(session, user, ListQuery(q=q, limit=50))
            session.rollback()
        timings: list[tuple[float, str, str | None, int]] = []
        for kind, q in terms:
            started = time.perf_counter()
            rows = list_customers(session, user, ListQuery(q=q, limit=50))
            timings.append(((time.perf_counter() - started) * 1000, kind, q, len(rows)))
            session.rollback()
        results[username] = {"timings": timings}
    # EXPLAIN ANALYZE of the slowest request overall
    slow_user, slow = max(((u, max(r["timings"])) for u, r in results.items()), key=lambda x: x[1][0])
    user = session.scalar(select(User).where(User.username == slow_user))
    capture.statements.clear()
    capture.on = True
    list_customers(session, user, ListQuery(q=slow[2], limit=50))
    capture.on = False
    session.rollback()
    plan = []
    if capture.statements:
        statement, params = capture.statements[-1]
        conn = session.connection()
        plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)]
    session.rollback()
    session.close()
    return {"by_user": results, "slowest": (slow_user, *slow), "plan": plan}


def report_list(res: dict) -> float:
    hr("(a) customer list + search: models.customers.list_customers, LIMIT 50")
    print(f"{'user':<10} {'kind':<7} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'avg rows':>9}")
    every: list[float] = []
    for username, r in res["by_user"].items():
        timings = r["timings"]
        every += [t for t, *_ in timings]
        for kind in ("list", "name2", "name4", "pinyin", "phone", "all"):
            rows = [x for x in timings if kind == "all" or x[1] == kind]
            ms = [t for t, *_ in rows]
            print(f"{username:<10} {kind:<7} {len(rows):>4} {percentile(ms, 50):>8.1f} {percentile(ms, 95):>8.1f} "
                  f"{max(ms):>8.1f} {sum(x[3] for x in rows) / len(rows):>9.1f}")
    user, ms, kind, q, n = res["slowest"]
    print(f"\nslowest: {user}, {kind} search q={q!r}: {ms:.1f} ms, {n} rows. EXPLAIN (ANALYZE, BUFFERS):")
    for line in res["plan"]:
        print("   ", line)
    return percentile(every, 95)


# --- (b) public-pool sweep --------------------------------------------------------------------------------

def bench_sweep(app) -> tuple[float | None, dict | str]:
    from engine import jobs
    from models import clock

    if "public-pool" not in jobs.JOBS:
        return None, "the public-pool job is not registered"
    session = app.extensions["session_factory"]()
    try:
        started = time.perf_counter()
        summary = jobs.run(session, "public-pool", clock.now())
        session.commit()
        return time.perf_counter() - started, summary
    finally:
        session.close()


# --- (c) Excel import -----------------------------------------------------------------------------------

def write_workbook(rows: int, path: str) -> None:
    from openpyxl import Workbook

    from models.customer_rules import with_check_character
    from models.data_import import TEMPLATE_HEADERS

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(TEMPLATE_HEADERS)
    rng = random.Random(11)
    for i in range(rows):
        code = with_check_character(f"92440300B{i:08d}") if i % 2 == 0 else None
        ws.append([f"基准导入{i:06d}号{rng.choice('华信达通恒泰瑞丰')}科技有限公司", code,
                   f"0755-{rng.randrange(10**7, 10**8)}", "华南", "软件", f"深圳市南山区科技园{i % 500}号", "直销客户",
                   "2026-11-20", rng.choice("王李张刘陈") + rng.choice("伟芳娜敏静"), f"139{rng.randrange(10**8):08d}"])
    wb.save(path)
    _add_dimension(path, f"A1:J{rows + 1}")


def _add_dimension(path: str, ref: str) -> None:
    """Give the sheet the <dimension> element Excel, WPS and LibreOffice write (openpyxl's write-only mode
    does not; without it openpyxl's reader parses the whole sheet once more just to size it)."""
    import shutil
    import zipfile

    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetPr>", f'</sheetPr><dimension ref="{ref}"/>'.encode(), 1)
            dst.writestr(info, data)
    shutil.move(tmp, path)


def bench_import(app, rows: int, tmpdir: str) -> dict:
    from models import data_import
    from models.org import User

    path = os.path.join(tmpdir, "bench-import.xlsx")
    started = time.perf_counter()
    write_workbook(rows, path)
    written = time.perf_counter() - started
    size = os.path.getsize(path)
    factory = app.extensions["session_factory"]
    session = factory()
    rep = session.scalar(select(User).where(User.username == "rep2"))
    marks: dict[str, float] = {}
    started = time.perf_counter()
    with open(path, "rb") as fh:
        data = fh.read()
    data_import.check_upload("bench-import.xlsx", data)
    data_import.check_headers(path)
    job = data_import.create_job(session, rep, filename="bench-import.xlsx")
    session.commit()
    marks["checked"] = time.perf_counter()
    job = data_import.run_import(factory, job.id, path, remove_file=False,
                                 before_write=lambda: marks.setdefault("validated", time.perf_counter()))
    total = time.perf_counter() - started
    session.close()
    return {"rows": rows, "bytes": size, "write_s": written, "total_s": total, "status": job.status,
            "imported": job.imported_rows, "report": (job.report or [])[:3],
            "check_s": marks["checked"] - started,
            "validate_s": marks.get("validated", marks["checked"]) - marks["checked"]}


def report_import(res: dict) -> None:
    hr(f"(c) Excel import of {res['rows']:,} rows through models.data_import")
    print(f"workbook written in {res['write_s']:.1f} s ({res['bytes'] / 1024 / 1024:.1f} MiB, openpyxl write-only)")
    print(f"status {res['status']}, imported {res['imported']:,}; total {res['total_s']:.1f} s = "
          f"upload checks {res['check_s']:.1f} s + read & validate {res['validate_s']:.1f} s + "
          f"insert & commit {res['total_s'] - res['check_s'] - res['validate_s']:.1f} s "
          f"({res['rows'] / res['total_s']:,.0f} rows/s)")
    if res["report"]:
        print("report:", res["report"])


# --- main -----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=None, help="customers to generate (1,000,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 customers, 10,000 import rows, 80 requests")
    parser.add_argument("--requests", type=int, default=None, help="list/search requests per user (200)")
    parser.add_argument("--import-rows", type=int, default=None, help="rows in the imported workbook (100,000)")
    parser.add_argument("--database-url", default=et.DEFAULT_ADMIN_URL,
                        help="a PostgreSQL server URL for CREATE/DROP DATABASE (default: $BENCH_DATABASE_URL or "
                             "the local server)")
    args = parser.parse_args(argv)
    customers = args.customers or (50_000 if args.quick else 1_000_000)
    requests = args.requests or (80 if args.quick else 200)
    import_rows = args.import_rows or (10_000 if args.quick else AIM_IMPORT_ROWS)
    if customers < 1 or requests < 4 or import_rows < 1:
        parser.error("counts must be positive (at least 4 requests)")

    import tempfile

    from models.scale_demo import generate
    from web import create_app
    from web.cli import setup, upgrade

    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, et._terminate)  # so that `finally` still drops the database
    t_start = time.perf_counter()
    admin = et.admin_engine(args.database_url)
    name, url = et.create_database(admin)
    app = None
    try:
        print(f"database {name} on {make_url(url).host}:{make_url(url).port}; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": False})
        with io.StringIO() as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                setup(app)
            finally:
                sys.stdout = stdout
        hr(f"generating {customers:,} customers (crm demo --scale)")
        session = app.extensions["session_factory"]()
        started = time.perf_counter()
        last = [started]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 15 or done == total:
                last[0] = time.perf_counter()
                print(f"  {done:>10,}/{total:,} customers, {done / (last[0] - started):,.0f}/s")

        totals = generate(session, customers, progress)
        gen_s = time.perf_counter() - started
        session.close()
        print(f"generated {totals} in {gen_s:.1f} s ({totals['customers'] / gen_s:,.0f} customers/s, "
              f"{sum(totals.values()) / gen_s:,.0f} rows/s)")
        with app.extensions["db_engine"].connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
            size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
        print(f"ANALYZE done; database size {size}")

        lst = bench_list(app, requests)
        p95 = report_list(lst)

        hr("(b) public-pool sweep: engine.jobs.run(session, 'public-pool', now)")
        sweep_s, summary = bench_sweep(app)
        print(summary if sweep_s is None else f"{sweep_s:.2f} s: {summary}")

        with tempfile.TemporaryDirectory() as tmpdir:
            imp = bench_import(app, import_rows, tmpdir)
        report_import(imp)

        hr(f"summary: {customers:,} customers")
        import_scaled = imp["total_s"] * AIM_IMPORT_ROWS / import_rows
        print(f"{'measure':<44} {'result':>12} {'aim':>10} {'result/aim':>11}")
        print(f"{'list + search p95 (3 users, ' + str(requests) + ' requests each)':<44} {p95:>9.1f} ms "
              f"{AIM_LIST_P95_MS:>7.0f} ms {p95 / AIM_LIST_P95_MS:>11.2f}")
        if sweep_s is None:
            print(f"{'public-pool sweep':<44} {'n/a':>12} {AIM_SWEEP_S:>8.0f} s {'—':>11}")
        else:
            print(f"{'public-pool sweep':<44} {sweep_s:>10.2f} s {AIM_SWEEP_S:>8.0f} s {sweep_s / AIM_SWEEP_S:>11.2f}")
        label = f"Excel import {import_rows:,} rows" + (" (scaled to 100k)" if import_rows != AIM_IMPORT_ROWS else "")
        print(f"{label:<44} {import_scaled:>10.1f} s {AIM_IMPORT_S:>8.0f} s {import_scaled / AIM_IMPORT_S:>11.2f}")
        print(f"{'generation (crm demo --scale)':<44} {gen_s:>10.1f} s {'':>10} "
              f"{totals['customers'] / gen_s:>8,.0f}/s")
        load = os.getloadavg()
        print(f"\ntotal run time {time.perf_counter() - t_start:.1f} s; load average now "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
              + ("  (busy machine: figures are pessimistic)" if load[1] > (os.cpu_count() or 1) else ""))
    finally:
        if app is not None:
            app.extensions["db_engine"].dispose()
        et.drop_database(admin, name)
        admin.dispose()
        print(f"dropped database {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
