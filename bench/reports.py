#!/usr/bin/env python
"""Report queries at scale on PostgreSQL: every registered report × scope level × month, against 1 s.

    .venv/bin/python bench/reports.py [--customers N] [--quick] [--runs N] [--keep] [--reuse DBNAME]
                                      [--database-url URL]

The script creates its own database (crm_bench_<pid>_<random>, as bench/crm_queries.py does), migrates it,
loads roles, diagrams and demo data (`crm setup`), generates N customers (default 1,000,000; --quick: 50,000)
with `crm demo --scale`'s generator at 1.0 opportunities and 5.0 activities per customer (with their stage
moves, contracts, collections and a year of logins), runs VACUUM ANALYZE, builds the previous month's snapshot
(`models.reports.monthly.build_snapshot`), runs the report jobs that are registered, then times:

- `monthly.user_month_stats` (the per-person figures every report builds on), and
- every report in `models.reports.tables.REPORTS` (the dashboard, ranking and usage modules are imported when
  they exist),

for each scope level (me = rep1, department = D1, sector = S1, group) and for the current month (live) and the
previous month (closed: read from the snapshot where the report does), `--runs` runs each after one warm-up:
median and max ms, and the ratio of the median to a baseline measured in the same process (`SELECT count(*)
FROM customer WHERE sector_id = S1`, index-only). A report above 1 s is flagged, and the slowest statement of
each report slower than --explain ms is printed with EXPLAIN (ANALYZE, BUFFERS).

The database is dropped at the end unless --keep; --reuse DBNAME times an existing (kept) database again
without generating. See bench/README.md.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
import os
import signal
import statistics
import sys
import time
import traceback
from pathlib import Path

from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AIM_MS = 1000.0
REPORT_MODULES = ("dashboard", "ranking", "usage")
JOB_MODULES = ("engine.report_jobs", "engine.usage_jobs")
SCOPE_USERS = {"me": "rep1", "department": "mgr1", "sector": "president", "group": "grouplead"}
COUNTED = ("customer", "contact", "opportunity", "activity", "opportunity_stage_change", "contract", "collection",
           "login_event", "report_month_stat", "rep_ranking")


def _throughput_module():
    spec = importlib.util.spec_from_file_location("engine_throughput", ROOT / "bench" / "engine_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


et = _throughput_module()
hr = et.hr


class Statements:
    """Times every statement while `on`: the slowest one of a run is what EXPLAIN looks at."""

    def __init__(self, engine) -> None:
        self.on, self.items = False, []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, _cursor, _statement, _parameters, _context, _executemany):
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn, _cursor, statement, parameters, _context, _executemany):
        if self.on:
            self.items.append(((time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())) * 1000,
                               statement, parameters))


def import_reports() -> list[str]:
    loaded = []
    for name in REPORT_MODULES:
        try:
            importlib.import_module(f"models.reports.{name}")
            loaded.append(name)
        except ModuleNotFoundError as exc:
            if exc.name != f"models.reports.{name}":
                raise
            print(f"models/reports/{name}.py does not exist yet: its reports are skipped")
    return loaded


def scopes(session) -> dict[str, object]:
    from models.org import User
    from models.reports.scope import scopes_for

    out = {}
    for level, username in SCOPE_USERS.items():
        user = session.scalar(select(User).where(User.username == username))
        picks = [s for s in scopes_for(session, user) if s.level == level]
        if level == "sector":
            picks = [s for s in picks if s.sector_ids == (user.sector_id,)]
        out[level] = picks[0]
    return out


def timed(session, call, runs: int, stmts: Statements) -> dict:
    """One warm-up, then `runs` timed calls (each rolled back); the slowest statement of the slowest run."""
    result = call()
    session.rollback()
    times, slowest, count = [], (0.0, None, None), 0
    for _ in range(runs):
        stmts.items.clear()
        stmts.on = True
        started = time.perf_counter()
        result = call()
        ms = (time.perf_counter() - started) * 1000
        stmts.on = False
        session.rollback()
        times.append(ms)
        if stmts.items and ms >= max(times):
            slowest, count = max(stmts.items, key=lambda x: x[0]), len(stmts.items)
    return {"median": statistics.median(times), "max": max(times), "result": result, "slowest": slowest,
            "statements": count}


def explain(session, statement: str, parameters) -> list[str]:
    conn = session.connection()
    try:
        return [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
    finally:
        session.rollback()


def run_jobs(app) -> None:
    """The report jobs (monthly snapshot and ranking, login watch, digest) once, timed: the ranking reports read
    what the monthly-ranking job writes."""
    from engine import jobs
    from models import clock

    for module in JOB_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            print(f"{module} does not exist yet: its jobs are skipped")
    for name in sorted(n for n, f in jobs.JOBS.items() if f.__module__ in JOB_MODULES):
        session = app.extensions["session_factory"]()
        started = time.perf_counter()
        try:
            summary = jobs.run(session, name, clock.now())
            session.commit()
            print(f"job {name}: {time.perf_counter() - started:.2f} s {summary}")
        except Exception as exc:  # noqa: BLE001 - another helper's job failing must not stop the bench
            session.rollback()
            print(f"job {name}: FAILED {exc!r}")
        finally:
            session.close()


def bench(app, runs: int, explain_ms: float) -> list[dict]:
    from models import clock
    from models.org import Sector
    from models.reports import monthly
    from models.reports.scope import add_months, local_today
    from models.reports.tables import REPORTS

    session = app.extensions["session_factory"]()
    stmts = Statements(app.extensions["db_engine"])
    this_month = local_today(clock.now()).replace(day=1)
    months = {"live": this_month, "closed": add_months(this_month, -1)}
    by_level = scopes(session)
    s1 = session.scalar(select(Sector.id).where(Sector.code == "S1"))
    session.rollback()
    base = timed(session, lambda: session.scalar(text("SELECT count(*) FROM customer WHERE sector_id = :s"),
                                                 {"s": s1}), max(runs, 5), stmts)
    baseline = base["median"]
    print(f"baseline SELECT count(*) FROM customer WHERE sector_id = S1: median {baseline:.1f} ms, "
          f"max {base['max']:.1f} ms ({base['result']:,} rows)")

    cases: list[tuple[str, str, tuple[str, ...], object]] = [
        ("user_month_stats", "monthly", ("me", "department", "sector", "group"),
         lambda scope, month: monthly.user_month_stats(session, scope, month))]
    for name, spec in sorted(REPORTS.items(), key=lambda kv: (kv[1].page, kv[0])):
        cases.append((name, spec.page, spec.levels,
                      lambda scope, month, spec=spec: spec.run(session, scope, month, "zh")))
    results = []
    hr(f"reports × scope × month: {runs} runs each after a warm-up; ratio = median / baseline")
    print(f"{'report':<28} {'page':<9} {'scope':<10} {'month':<6} {'median':>9} {'max':>9} {'ratio':>7} "
          f"{'rows':>6} {'sql':>4} {'src':<5}")
    for name, page, levels, call in cases:
        for level in ("me", "department", "sector", "group"):
            if level not in levels:
                continue
            scope = by_level[level]
            for label, month in months.items():
                try:
                    r = timed(session, lambda call=call, scope=scope, month=month: call(scope, month), runs, stmts)
                except Exception:  # noqa: BLE001 - a report still being written must not stop the bench
                    session.rollback()
                    err = traceback.format_exc(limit=3).strip().splitlines()[-1]
                    print(f"{name:<28} {page:<9} {level:<10} {label:<6} ERROR {err}")
                    results.append({"report": name, "page": page, "level": level, "month": label, "error": err})
                    continue
                out = r["result"]
                if isinstance(out, tuple):  # user_month_stats: (rows, from_snapshot)
                    rows, source = len(out[0]), "snap" if out[1] else "live"
                else:
                    rows, source = len(out.rows), "snap" if out.snapshot else "live"
                flag = "  > 1 s" if r["max"] > AIM_MS else ""
                print(f"{name:<28} {page:<9} {level:<10} {label:<6} {r['median']:>7.1f}ms {r['max']:>7.1f}ms "
                      f"{r['median'] / baseline:>7.1f} {rows:>6} {r['statements']:>4} {source:<5}{flag}")
                results.append({"report": name, "page": page, "level": level, "month": label, **r, "rows": rows,
                                "source": source})
    slow = [r for r in results if "error" not in r and r["median"] > explain_ms and r["slowest"][1]]
    for r in sorted(slow, key=lambda r: -r["median"])[:12]:
        ms, statement, params = r["slowest"]
        hr(f"{r['report']} / {r['level']} / {r['month']}: {r['median']:.0f} ms; slowest statement {ms:.0f} ms")
        print(statement)
        print("params:", params)
        for line in explain(session, statement, params):
            print("   ", line)
    session.close()
    return results


def summary(results: list[dict], baseline_note: str) -> None:
    hr("summary: median / max ms per report × scope (live month | closed month)")
    names = list(dict.fromkeys(r["report"] for r in results))
    print(f"{'report':<28} " + " ".join(f"{lvl:>23}" for lvl in ("me", "department", "sector", "group")))
    for name in names:
        cells = []
        for level in ("me", "department", "sector", "group"):
            cell = []
            for month in ("live", "closed"):
                r = next((x for x in results if x["report"] == name and x["level"] == level and x["month"] == month),
                         None)
                cell.append("-" if r is None else "ERR" if "error" in r else f"{r['median']:.0f}/{r['max']:.0f}")
            cells.append(" | ".join(cell))
        print(f"{name:<28} " + " ".join(f"{c:>23}" for c in cells))
    over = [r for r in results if "error" not in r and r["max"] > AIM_MS]
    errors = [r for r in results if "error" in r]
    print(f"\n{len(results)} measurements, {len(over)} above 1 s, {len(errors)} errors. {baseline_note}")
    for r in over:
        print(f"  above 1 s: {r['report']} / {r['level']} / {r['month']}: median {r['median']:.0f} ms, "
              f"max {r['max']:.0f} ms")


def counts(app) -> dict[str, int]:
    with app.extensions["db_engine"].connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=None, help="customers to generate (1,000,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 customers, 3 runs")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per report × scope × month (5)")
    parser.add_argument("--opportunities-per-customer", type=float, default=1.0)
    parser.add_argument("--activities-per-customer", type=float, default=5.0)
    parser.add_argument("--explain", type=float, default=300.0, metavar="MS",
                        help="EXPLAIN ANALYZE the slowest statement of reports slower than this (300 ms)")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--generate-only", action="store_true", help="stop after generating (use with --keep)")
    parser.add_argument("--reuse", metavar="DBNAME", help="time an existing database (from --keep) again")
    parser.add_argument("--database-url", default=et.DEFAULT_ADMIN_URL,
                        help="a PostgreSQL server URL for CREATE/DROP DATABASE (default: $BENCH_DATABASE_URL or "
                             "the local server)")
    args = parser.parse_args(argv)
    customers = args.customers or (50_000 if args.quick else 1_000_000)
    runs = args.runs or (3 if args.quick else 5)
    if customers < 1 or runs < 1:
        parser.error("counts must be positive")

    from models import clock
    from models.reports import monthly
    from models.reports.scope import add_months, local_today
    from models.scale_demo import generate
    from web import create_app
    from web.cli import setup, upgrade

    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, et._terminate)  # so that `finally` still drops the database
    admin = et.admin_engine(args.database_url)
    if args.reuse:
        name = args.reuse
        url = make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    else:
        name, url = et.create_database(admin)
    keep = args.keep or bool(args.reuse)
    app = None
    try:
        print(f"database {name} on {make_url(url).host}:{make_url(url).port}; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": False})
        engine = app.extensions["db_engine"]
        gen_note = "generation: reused database"
        if not args.reuse:
            with io.StringIO() as quiet:
                stdout, sys.stdout = sys.stdout, quiet
                try:
                    setup(app)
                finally:
                    sys.stdout = stdout
            hr(f"generating {customers:,} customers, {args.opportunities_per_customer:g} opportunities and "
               f"{args.activities_per_customer:g} activities per customer")
            session = app.extensions["session_factory"]()
            started = time.perf_counter()
            last = [started]

            def progress(done: int, total: int) -> None:
                if time.perf_counter() - last[0] > 30 or done == total:
                    last[0] = time.perf_counter()
                    print(f"  {done:>10,}/{total:,} customers, {done / (last[0] - started):,.0f}/s")

            totals = generate(session, customers, progress,
                              opportunities_per_customer=args.opportunities_per_customer,
                              activities_per_customer=args.activities_per_customer)
            gen_s = time.perf_counter() - started
            session.close()
            gen_note = (f"generation {gen_s:.0f} s ({sum(totals.values()) / gen_s:,.0f} rows/s): "
                        + ", ".join(f"{k} {v:,}" for k, v in totals.items()))
            print(gen_note)
            started = time.perf_counter()
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            print(f"VACUUM ANALYZE {time.perf_counter() - started:.1f} s")
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
        print(f"database size {size}")
        if args.generate_only:
            return 0

        hr("previous month's snapshot and the report jobs")
        previous = add_months(local_today(clock.now()).replace(day=1), -1)
        session = app.extensions["session_factory"]()
        started = time.perf_counter()
        n = monthly.build_snapshot(session, previous)
        session.commit()
        session.close()
        print(f"build_snapshot({previous:%Y-%m}): {n} rows in {time.perf_counter() - started:.2f} s")
        loaded = import_reports()
        print("report modules:", ", ".join(loaded) or "none yet")
        run_jobs(app)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        rows = counts(app)
        print("rows:", ", ".join(f"{k} {v:,}" for k, v in rows.items()))

        results = bench(app, runs, args.explain)
        load = os.getloadavg()
        summary(results, f"{gen_note}. Load average at the end {load[0]:.2f} / {load[1]:.2f} on "
                         f"{os.cpu_count()} CPUs.")
    finally:
        if app is not None:
            app.extensions["db_engine"].dispose()
        if keep:
            print(f"kept database {name}: {url}")
        else:
            et.drop_database(admin, name)
            print(f"dropped database {name}")
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
