"""`crm setup` (run by `make run`): shipped diagrams as version 1, demo data only into an empty database."""
from __future__ import annotations

from sqlalchemy import func, select

from models.crm import Customer
from models.org import User
from models.process import ProcessDefinition
from web.cli import setup


def test_shipped_diagrams_are_version_1_and_setup_is_idempotent(app, session):
    rows = session.execute(select(ProcessDefinition.key, ProcessDefinition.version)).all()
    assert ("quote_approval", 1) in rows
    users = session.scalar(select(func.count()).select_from(User))
    setup(app)
    session.rollback()
    assert session.execute(select(ProcessDefinition.key, ProcessDefinition.version)).all() == rows
    assert session.scalar(select(func.count()).select_from(User)) == users


def test_demo_data_has_the_promised_accounts_and_customers(session):
    names = set(session.scalars(select(User.username)))
    expected = {"rep1", "rep2", "mgr1", "asst1", "pa1", "vp1", "president", "bizmgr1", "salesmgmt1", "rndvp",
                "implvp", "finance1", "impl1", "mkt1", "sectoradmin1", "rep3", "mgr3", "admin", "grouplead"}
    assert expected <= names
    def approved_of(username):
        owner = select(User.id).where(User.username == username).scalar_subquery()
        return session.scalar(select(func.count()).select_from(Customer)
                              .where(Customer.owner_id == owner, Customer.status == "approved"))
    assert approved_of("rep1") >= 3 and approved_of("rep3") >= 1


def test_demo_data_is_never_loaded_into_a_database_with_data(session):
    from models.demo import load_demo

    users = session.scalar(select(func.count()).select_from(User))
    customers = session.scalar(select(func.count()).select_from(Customer))
    assert load_demo(session) is False
    session.flush()
    assert session.scalar(select(func.count()).select_from(User)) == users
    assert session.scalar(select(func.count()).select_from(Customer)) == customers


def test_O1_group_companies_sectors_departments_and_roles(session):
    """O1: the group has companies and sectors; sectors have departments and people; every role exists."""
    from models.org import ROLES, Company, Department, Group, Role, Sector

    assert session.scalar(select(func.count()).select_from(Group)) == 1
    assert session.scalar(select(func.count()).select_from(Company)) >= 1
    sectors = {s.code: s.id for s in session.scalars(select(Sector))}
    assert set(sectors) == {"S1", "S2"}
    depts = session.execute(select(Department.code, Department.sector_id)).all()
    assert ("D1", sectors["S1"]) in depts and ("D3", sectors["S2"]) in depts
    assert set(session.scalars(select(Role.code))) == set(ROLES)
    people = session.execute(select(User.username, User.sector_id)).all()
    assert ("rep1", sectors["S1"]) in people and ("rep3", sectors["S2"]) in people


def test_O1_agents_and_joint_ventures_are_kinds_of_organisation_and_customer():
    """O1/E6: agents and joint ventures are organisations (companies) and kinds of customer."""
    from models.crm import CUSTOMER_KINDS
    from models.org import COMPANY_KINDS

    assert {"agent", "joint_venture"} <= set(COMPANY_KINDS)
    assert {"agent", "joint_venture", "end_customer", "direct"} <= set(CUSTOMER_KINDS)
