"""Auth: Argon2 hashes, sessions, CSRF, login rate limiting, bearer tokens, frozen accounts (O5)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.org import User


def test_passwords_are_argon2_hashes(session):
    user = session.scalar(select(User).where(User.username == "rep1"))
    assert user.password_hash.startswith("$argon2id$") and "demo12345" not in user.password_hash


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    assert "登录" in client.get("/login").get_data(as_text=True)
    assert "Sign in" in client.get("/login?lang=en").get_data(as_text=True)


def test_login_logout_and_protected_pages(client):
    assert client.get("/inbox").status_code == 302
    r = client.post("/login", data={"username": "mgr1", "password": "demo12345"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox")
    assert "审批中心" in client.get("/inbox").get_data(as_text=True)
    client.post("/logout")
    assert client.get("/inbox").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example/x", "/\\/evil.example", "https://evil.example/"])
def test_login_does_not_redirect_off_site(client, target):
    r = client.post("/login", query_string={"next": target}, data={"username": "mgr1", "password": "demo12345"})
    assert r.headers["Location"].endswith("/inbox")


def test_login_keeps_a_same_site_target(client):
    r = client.post("/login", query_string={"next": "/customers?page=2"},
                    data={"username": "mgr1", "password": "demo12345"})
    assert r.headers["Location"].endswith("/customers?page=2")


def test_wrong_password_then_rate_limited(client, api):
    for _ in range(5):
        assert client.post("/login", data={"username": "rep2", "password": "nope"}).status_code == 401
    # even the right password is refused while the limit holds
    assert client.post("/login", data={"username": "rep2", "password": "demo12345"}).status_code == 429
    r = client.post("/api/v1/auth/token", json={"username": "rep2", "password": "demo12345"})
    assert r.status_code == 429
    # other users are unaffected
    assert client.post("/api/v1/auth/token", json={"username": "rep1", "password": "demo12345"}).status_code == 200


def test_frozen_and_closed_accounts_cannot_log_in(client, session):
    """O5: a frozen or closed account cannot log in."""
    for status in ("frozen", "closed"):
        user = session.scalar(select(User).where(User.username == "rep2"))
        user.status = status
        session.commit()
        assert client.post("/login", data={"username": "rep2", "password": "demo12345"}).status_code == 401
        assert client.post("/api/v1/auth/token", json={"username": "rep2", "password": "demo12345"}).status_code == 401


def test_csrf_is_required_on_forms(migrated):
    from web import create_app

    app = create_app({"DATABASE_URL": migrated, "TESTING": True, "SECRET_KEY": "x"})
    client = app.test_client()
    assert client.post("/login", data={"username": "rep1", "password": "demo12345"}).status_code == 400
    app.extensions["db_engine"].dispose()


def test_api_needs_a_valid_bearer_token(client):
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/customers", headers={"Authorization": "Basic abc"}).status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": "rep1"})
    assert r.status_code == 422 and "password" in r.get_json()["errors"]
    assert client.post("/api/v1/auth/token", data="not json").status_code == 422


def test_expired_token_is_refused(api, client):
    from datetime import timedelta

    from models import clock

    headers = api.headers("rep1")
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    clock.advance(timedelta(hours=13))
    assert client.get("/api/v1/customers", headers=headers).status_code == 401
