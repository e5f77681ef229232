"""`crm demo --scale N`: N customers with contacts, opportunities, activities and unique Chinese names."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from models import clock, scale_demo
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
        assert cli.main(["demo", "--scale", "40", "--opportunities-per-customer", "1",
                         "--activities-per-customer", "5"]) == 0
        session = app.extensions["session_factory"]()
        assert session.scalar(select(func.count()).select_from(Customer)) == before + 40
        session.close()
        out = capsys.readouterr().out
        assert "40/40" in out and "customers 40," in out and "stage_changes" in out
        _wipe(app.extensions["db_engine"])
        with pytest.raises(SystemExit, match="crm setup"):
            cli.main(["demo", "--scale", "10"])
    finally:
        app.extensions["db_engine"].dispose()


def test_scale_demo_report_rows_are_consistent(session):
    """The rows the reports read (A2 funnel, P1 stage advances, A3 logins, contract value and collections) come
    with the generated records and agree with them; the per-customer means are options."""
    from models.contracts import Contract
    from models.receivables import Collection
    from models.reports.records import LoginEvent, OpportunityStageChange
    from models.sales import OpportunityStage

    before = session.scalar(select(func.coalesce(func.max(Customer.id), 0)))
    logins_before = count(session, LoginEvent)
    totals = scale_demo.generate(session, 400, opportunities_per_customer=1.0, activities_per_customer=5.0)
    session.rollback()
    ids = list(session.scalars(select(Customer.id).where(Customer.id > before)))
    assert len(ids) == 400 == totals["customers"]
    opps = list(session.scalars(select(Opportunity).where(Opportunity.customer_id.in_(ids))))
    acts = count(session, Activity, Activity.customer_id.in_(ids))
    # the means asked for: 1.0 opportunities (0…2 each) and 5.0 activities (0…10 each) per customer
    assert len(opps) == totals["opportunities"] and 300 <= len(opps) <= 500
    assert acts == totals["activities"] and 1600 <= acts <= 2400
    by_id = {o.id: o for o in opps}
    stages = {(s.sector_id, s.code): s for s in session.scalars(select(OpportunityStage))}

    # furthest stage: the stage's own position when open or won; an open stage's position when lost
    for o in opps:
        stage = stages[(o.sector_id, o.stage_code)]
        if stage.outcome == "lost":
            assert stages_at(stages, o.sector_id, o.furthest_position).outcome is None
        else:
            assert o.furthest_position == stage.position
        assert (o.closed_at is not None) == (o.status != "open")

    # stage moves: of an opportunity of the same sector and owner, within its life, ending at its stage
    changes = list(session.scalars(select(OpportunityStageChange).where(OpportunityStageChange.opportunity_id.in_(
        list(by_id))).order_by(OpportunityStageChange.opportunity_id, OpportunityStageChange.changed_at,
                               OpportunityStageChange.id)))
    assert len(changes) == totals["stage_changes"] and len(changes) >= 2 * len(opps)
    assert {c.opportunity_id for c in changes} == set(by_id)
    moves: dict[int, list] = {}
    for c in changes:
        moves.setdefault(c.opportunity_id, []).append(c)
    for opp_id, rows in moves.items():
        o = by_id[opp_id]
        assert all(c.sector_id == o.sector_id and c.owner_id == o.owner_id for c in rows)
        assert rows[0].from_code is None and not rows[0].forward and rows[0].changed_at == o.created_at
        assert rows[-1].to_code == o.stage_code
        assert all(a.to_code == b.from_code for a, b in itertools.pairwise(rows))
        assert all(o.created_at <= c.changed_at <= (o.closed_at or clock.now()) for c in rows)
        if o.closed_at:
            assert rows[-1].changed_at == o.closed_at
        # forward: to a later open stage or to won; never to lost
        for c in rows[1:]:
            old, new = stages[(o.sector_id, c.from_code)], stages[(o.sector_id, c.to_code)]
            assert c.forward == (new.outcome != "lost" and new.position > old.position)
        reached = max(stages[(o.sector_id, c.to_code)].position for c in rows
                      if stages[(o.sector_id, c.to_code)].outcome != "lost")
        assert reached == o.furthest_position
    assert any(c.forward for c in changes)

    # contracts: signed, only on won opportunities (about a fifth), on the day won, the owner's department
    contracts = list(session.scalars(select(Contract).where(Contract.customer_id.in_(ids))))
    assert len(contracts) == totals["contracts"]
    won = [o for o in opps if o.status == "won"]
    assert len(contracts) <= len(won)
    for k in contracts:
        o = by_id[k.opportunity_id]
        assert o.status == "won" and k.status == "signed" and k.customer_id == o.customer_id
        assert (k.sector_id, k.department_id, k.owner_id) == (o.sector_id, o.department_id, o.owner_id)
        assert k.signed_on == scale_demo.local_date(o.closed_at) and 0 < k.amount <= o.amount
    # collections: on those contracts, never more than the contract, received since the signing day
    collections = list(session.scalars(select(Collection).where(Collection.contract_id.in_([k.id for k in contracts]
                                                                                          or [0]))))
    assert len(collections) == totals["collections"]
    signed = {k.id: k for k in contracts}
    for k_id in {c.contract_id for c in collections}:
        k = signed[k_id]
        mine = [c for c in collections if c.contract_id == k_id]
        assert sum(c.amount for c in mine) <= k.amount
        assert all(k.signed_on <= c.received_on <= clock.now().date() and c.sector_id == k.sector_id
                   and c.department_id == k.department_id for c in mine)

    # logins: a year of them for every active user, in his sector, once per database
    logins = count(session, LoginEvent) - logins_before
    active = count(session, User, User.status == "active")
    assert logins == totals["login_events"] and 100 * active <= logins <= 2 * 366 * active
    oldest = session.scalar(select(func.min(LoginEvent.at)))
    assert 360 <= (clock.now() - oldest).days <= 366
    mismatched = session.scalar(select(func.count()).select_from(LoginEvent).join(User, User.id == LoginEvent.user_id)
                                .where(LoginEvent.sector_id.is_distinct_from(User.sector_id)))
    assert mismatched == 0
    again = scale_demo.generate(session, 20)
    assert again["login_events"] == 0 and again["customers"] == 20


def stages_at(stages: dict, sector_id: int, position: int | None):
    return next(s for (sid, _code), s in stages.items() if sid == sector_id and s.position == position)


def test_scale_demo_refuses_means_out_of_range(session):
    with pytest.raises(SystemExit, match="--activities-per-customer"):
        scale_demo.generate(session, 10, activities_per_customer=-1)
    with pytest.raises(SystemExit, match="--opportunities-per-customer"):
        scale_demo.generate(session, 10, opportunities_per_customer=51)
