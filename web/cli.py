"""The `crm` command: migrate, load demo data and diagrams, serve (with the in-process job scheduler), deploy a
diagram, run a job once, run the Celery worker and beat of a production installation."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def setup(app) -> None:
    """Roles, shipped diagrams (version 1 on a new database) and demo data into an empty database."""
    from engine.definitions import deploy_shipped
    from engine.lead_flows import start_demo_routing
    from models.demo import database_is_empty, ensure_roles, load_demo
    from models.stages import ensure_default_stages
    from models.workcalendar import ensure_calendar

    session = app.extensions["session_factory"]()
    try:
        empty = database_is_empty(session)
        ensure_roles(session)
        ensure_default_stages(session)
        ensure_calendar(session)
        deploy_shipped(session)
        if empty:
            load_demo(session)
            start_demo_routing(session)
            print("demo data loaded (users rep1, mgr1, … password demo12345)")
        else:
            print("database already has data: demo data not loaded")
        session.commit()
    finally:
        session.close()


def _as_of(value: str):
    from datetime import datetime

    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--as-of must be a date like 2027-03-01, not {value!r}") from exc


def _run_job(app, name: str, as_of) -> int:
    import json

    from engine import jobs
    from models import clock

    session = app.extensions["session_factory"]()
    try:
        summary = jobs.run(session, name, as_of or clock.now())
        session.commit()
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    finally:
        session.close()
    print(json.dumps(summary, ensure_ascii=False, default=str))
    return 0


def _start_scheduler(app):
    """The embedded default: timers, due dates and the daily sweeps run in this process, unless
    CRM_SCHEDULER=off (production web nodes, where `crm worker` and `crm beat` run them)."""
    from engine.scheduler import Scheduler, enabled

    if not enabled(app.config.get("CRM_SCHEDULER")):
        print("in-process scheduler off (CRM_SCHEDULER): run `crm worker` and `crm beat` for timers and jobs")
        return None
    scheduler = Scheduler(app.extensions["session_factory"]).start()
    print("in-process scheduler on: " + ", ".join(f"{name} every {seconds:g}s"
                                                 for name, seconds in scheduler.schedule.items()), flush=True)
    return scheduler


def _celery(cmd: str, extra: list[str]) -> int:
    """`crm worker` / `crm beat`: Celery with the app's jobs (engine/celery_app.py)."""
    from engine.celery_app import app as celery_app

    argv = [cmd, "--loglevel=INFO"]
    if cmd == "beat" and not any(a.startswith(("-s", "--schedule")) for a in extra):
        (ROOT / "instance").mkdir(exist_ok=True)
        argv.append(f"--schedule={ROOT / 'instance' / 'celerybeat-schedule'}")
    celery_app.start(argv=[*argv, *extra])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="apply Alembic migrations to DATABASE_URL")
    sub.add_parser("setup", help="migrate, deploy shipped diagrams, load demo data into an empty database")
    serve = sub.add_parser("serve", help="serve the app on 127.0.0.1:$PORT")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    serve.add_argument("--host", default="127.0.0.1")
    dep = sub.add_parser("deploy", help="deploy a BPMN file (or a DMN decision table) as the next version")
    dep.add_argument("file", type=Path)
    jobs = sub.add_parser("jobs", help="background jobs").add_subparsers(dest="jobs_cmd", required=True)
    run_job = jobs.add_parser("run", help="run one job once, e.g. `crm jobs run public-pool --as-of 2027-03-01`")
    run_job.add_argument("name")
    run_job.add_argument("--as-of", type=_as_of, default=None, help="the date the job runs as of (YYYY-MM-DD)")
    # Options after `crm worker` / `crm beat` go to celery as they are, e.g. `crm worker --concurrency 4`.
    sub.add_parser("worker", help="run a Celery worker for the background jobs (production; needs Redis)")
    sub.add_parser("beat", help="run Celery beat, which sends the jobs on schedule (exactly one per site)")
    demo = sub.add_parser("demo", help="generate a realistic data set into DATABASE_URL")
    demo.add_argument("--scale", type=int, required=True, help="number of customers")
    demo.add_argument("--opportunities-per-customer", type=float, default=0.3, metavar="MEAN",
                      help="opportunities per customer on average (default 0.3; the report bench uses 1.0)")
    demo.add_argument("--activities-per-customer", type=float, default=2.0, metavar="MEAN",
                      help="activities per customer on average (default 2.0; the report bench uses 5.0)")
    args, extra = parser.parse_known_args(argv)
    if args.cmd in ("worker", "beat"):
        return _celery(args.cmd, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    from web import create_app

    app = create_app()
    url = app.config["DATABASE_URL"]
    if args.cmd in ("migrate", "setup"):
        upgrade(url)
        print(f"database migrated: {url.split('@')[-1]}")
    if args.cmd == "setup":
        setup(app)
    elif args.cmd == "serve":
        import signal

        from waitress import serve as waitress_serve

        # SIGTERM (systemd, docker stop) ends the server like Ctrl-C, so the scheduler below stops cleanly.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        scheduler = _start_scheduler(app)
        print(f"serving on http://{args.host}:{args.port}/", flush=True)
        try:
            waitress_serve(app, host=args.host, port=args.port, threads=8)
        finally:
            if scheduler is not None:
                scheduler.stop()
                print("in-process scheduler stopped", flush=True)
    elif args.cmd == "jobs":
        return _run_job(app, args.name, args.as_of)
    elif args.cmd == "demo":
        from models.scale_demo import generate

        session = app.extensions["session_factory"]()
        try:
            totals = generate(session, args.scale,
                              progress=lambda done, total: print(f"\r{done:,}/{total:,}", end="", flush=True),
                              opportunities_per_customer=args.opportunities_per_customer,
                              activities_per_customer=args.activities_per_customer)
            print()
            print(", ".join(f"{name} {count:,}" for name, count in totals.items()))
        finally:
            session.close()
    elif args.cmd == "deploy":
        from engine.definitions import deploy
        from engine.safe_xml import DiagramError

        session = app.extensions["session_factory"]()
        try:
            data = args.file.read_bytes()
            if args.file.suffix.lower() == ".dmn":  # a decision table: its calling processes are republished
                from engine.dmn import publish

                d = publish(session, data, filename=args.file.name, actor_id=None)
            else:
                d = deploy(session, data, filename=args.file.name, actor_id=None)
            session.commit()
            print(f"deployed {d.key} version {d.version}")
        except DiagramError as exc:
            for e in exc.errors:
                print(f"{e['element']}: {e['message']}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
