"""`crm demo --scale N`: N customers with contacts, opportunities, activities and unique Chinese names."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import scale_demo
from models.crm import Contact, Customer
from models.customer_rules import credit_code_error
from models.org import User, UserRole
from models.sales import Activity, Opportunity


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_scale_demo_generates_n_customers_with_their_records(session):
    before = count(session, Customer)
    progress: list[tuple[int, int]] = []
    totals = scale_demo.generate(session, 300, progress=lambda done, total: progress.append((done, total)))
    session.rollback()
    assert count(session, Customer) == before + 300 == before + totals["customers"]
    assert progress[-1] == (300, 300)
    new = list(session.scalars(select(Customer).where(Customer.created_at.is_not(None)).order_by(Customer.id)
                               .offset(before)))
    assert len(new) == 300
    ids = [c.id for c in new]
    # names: Chinese company names, unique after normalisation per sector, with pinyin initials
    assert len({(c.sector_id, c.name_normalized) for c in new}) == 300
    assert all(c.name.endswith("公司") and c.pinyin_initials and c.pinyin_initials.isascii() for c in new)
    codes = [c.credit_code for c in new if c.credit_code]
    assert 100 < len(codes) < 260 and len(set(codes)) == len(codes)
    assert all(credit_code_error(code) is None for code in codes)
    # owners: the demo reps, about 10 % in the public pool
    rep_ids = set(session.scalars(select(UserRole.user_id).where(UserRole.role_code == "sales_rep")))
    pool = [c for c in new if c.owner_id is None]
    assert 5 <= len(pool) <= 70 and all(c.pool_since is not None for c in pool)
    assert {c.owner_id for c in new if c.owner_id} <= rep_ids
    assert {c.created_by for c in new} <= rep_ids
    # both demo sectors get customers, each in its owner's sector and department
    users = {u.id: u for u in session.scalars(select(User))}
    assert len({c.sector_id for c in new}) == 2
    assert all(users[c.owner_id].sector_id == c.sector_id and users[c.owner_id].department_id == c.department_id
               for c in new if c.owner_id)
    # contacts 1–3 each, ~0.3 opportunities and ~2 activities per customer
    contacts = count(session, Contact, Contact.customer_id.in_(ids))
    assert 300 <= contacts <= 900
    assert count(session, Contact, Contact.customer_id.in_(ids), Contact.is_primary.is_(True)) == 300
    opportunities = count(session, Opportunity, Opportunity.customer_id.in_(ids))
    assert 40 <= opportunities <= 150
    activities = count(session, Activity, Activity.customer_id.in_(ids))
    assert 400 <= activities <= 800
    # last_contact_at is the latest activity; activities lie within the last 12 months
    latest = dict(session.execute(select(Activity.customer_id, func.max(Activity.occurred_at))
                                  .where(Activity.customer_id.in_(ids)).group_by(Activity.customer_id)).all())
    assert all(c.last_contact_at == latest.get(c.id) for c in new)
    oldest = session.scalar(select(func.min(Activity.occurred_at)).where(Activity.customer_id.in_(ids)))
    newest = session.scalar(select(func.max(Activity.occurred_at)).where(Activity.customer_id.in_(ids)))
    assert (newest - oldest).days <= 366
    # opportunities use the sector's stages with their probability
    stages = set(session.scalars(select(Opportunity.stage_code).where(Opportunity.customer_id.in_(ids))))
    assert len(stages) >= 3


def test_scale_demo_twice_keeps_names_unique(session):
    scale_demo.generate(session, 120)
    scale_demo.generate(session, 120)
    session.rollback()
    total = count(session, Customer)
    distinct = session.scalar(select(func.count(func.distinct(Customer.name_normalized))))
    assert distinct == total


def test_crm_demo_command_and_refusal_without_setup(migrated, monkeypatch, capsys):
    """`crm demo --scale N` on the configured database; without the demo organisation it refuses clearly."""
    from tests.conftest import _wipe, fresh_app
    from web import cli

    app = fresh_app(migrated)
    try:
        monkeypatch.setenv("DATABASE_URL", migrated)
        before = app.extensions["session_factory"]().scalar(select(func.count()).select_from(Customer))
        assert cli.main(["demo", "--scale", "40"]) == 0
        session = app.extensions["session_factory"]()
        assert session.scalar(select(func.count()).select_from(Customer)) == before + 40
        session.close()
        assert "40/40" in capsys.readouterr().out
        _wipe(app.extensions["db_engine"])
        with pytest.raises(SystemExit, match="crm setup"):
            cli.main(["demo", "--scale", "10"])
    finally:
        app.extensions["db_engine"].dispose()
