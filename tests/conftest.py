"""Fixtures: a real database per test run (SQLite file or a fresh PostgreSQL database), demo data per test.

TEST_DB=sqlite|postgresql picks the backend (`make test` runs both). PostgreSQL comes from
TEST_DATABASE_URL or the local server on 127.0.0.1:5432. Without it the PostgreSQL pass is
skipped with a loud notice, unless REQUIRE_POSTGRES=1 (CI), which turns that into a failure.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from models import clock
from models.base import Base

# The BPMN/DMN corpus (../shared/corpus beside the checkout, or $CRM_CORPUS): real files from other tools.
CORPUS_DIR = next((p for p in (Path(os.environ.get("CRM_CORPUS", "")) if os.environ.get("CRM_CORPUS") else None,
                               Path(__file__).resolve().parents[2] / "shared" / "corpus",
                               Path("/work/shared/corpus")) if p is not None and p.is_dir()),
                  Path(__file__).resolve().parents[2] / "shared" / "corpus")

BACKEND = os.environ.get("TEST_DB", "sqlite")
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHROMIUM = "/usr/bin/chromium"


def pytest_report_header(config):
    return f"database backend: {BACKEND}"


def _loud_skip(what: str, env: str) -> None:
    msg = f"\n{'!' * 72}\n!! {what} NOT AVAILABLE: tests that need it are SKIPPED. Set {env}=1 to fail instead.\n{'!' * 72}"
    if os.environ.get(env) == "1":
        pytest.fail(f"{what} is required ({env}=1) but not available", pytrace=False)
    warnings.warn(msg, stacklevel=2)
    print(msg)
    pytest.skip(f"{what} not available")


def _pg_admin_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    admin_url = _pg_admin_url()
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:  # noqa: BLE001 - any failure to reach the server means "not available"
        _loud_skip("PostgreSQL", "REQUIRE_POSTGRES")
    name = f"crm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
                {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated(database_url) -> str:
    """The schema comes from the Alembic migrations, so they are tested on both backends."""
    from web.cli import upgrade

    upgrade(database_url)
    return database_url


def _wipe(engine) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(text(f"DELETE FROM {name}"))


_ATTACHMENTS = Path(tempfile.mkdtemp(prefix="crm-test-attachments-"))
atexit.register(shutil.rmtree, _ATTACHMENTS, True)


def fresh_app(database_url: str, **config):
    """An app on a wiped database with roles, shipped diagrams and demo data."""
    from web import create_app
    from web.cli import setup

    clock.reset()
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "LOGIN_MAX_FAILURES": 5, "SECRET_KEY": "test-secret",
                      "ATTACHMENT_DIR": str(_ATTACHMENTS), **config})
    _wipe(app.extensions["db_engine"])
    setup(app)
    return app


@pytest.fixture
def app(migrated):
    app = fresh_app(migrated)
    engine = app.extensions["db_engine"]
    yield app
    clock.reset()
    engine.dispose()


@pytest.fixture
def session(app):
    s = app.extensions["session_factory"]()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A small API client: `api.as_("rep1").post("/quotes", json=...)`."""

    def __init__(self, client):
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, username: str, password: str = "demo12345") -> str:
        if username not in self._tokens:
            r = self.client.post("/api/v1/auth/token", json={"username": username, "password": password})
            assert r.status_code == 200, r.get_json()
            self._tokens[username] = r.get_json()["token"]
        return self._tokens[username]

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def as_(self, username: str) -> _As:
        return _As(self, username)


class _As:
    def __init__(self, api: Api, username: str):
        self.api, self.username = api, username

    def _call(self, method: str, path: str, **kw):
        kw.setdefault("headers", {}).update(self.api.headers(self.username))
        return getattr(self.api.client, method)(f"/api/v1{path}", **kw)

    def get(self, path, **kw):
        return self._call("get", path, **kw)

    def post(self, path, **kw):
        return self._call("post", path, **kw)

    def put(self, path, **kw):
        return self._call("put", path, **kw)

    def delete(self, path, **kw):
        return self._call("delete", path, **kw)


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served by waitress on a free loopback port, in a thread."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=_free_port(), threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        _loud_skip("Debian's chromium (/usr/bin/chromium)", "REQUIRE_BROWSER")
    return CHROMIUM


def customer_ids(api: Api, username: str) -> list[int]:
    return [c["id"] for c in api.as_(username).get("/customers").get_json()["items"] if c["status"] == "approved"]


def run_in_parallel(factory, work, workers: int = 2) -> list:
    """Start `work(session)` in `workers` threads at once, each with its own session; results or exceptions."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def run(i: int) -> None:
        session = factory()
        try:
            barrier.wait()
            results[i] = work(session)
        except Exception as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            results[i] = exc
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results
