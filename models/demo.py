"""Demo organisation and records, loaded by `make run` into an empty database only."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit
from models.auth import hash_password
from models.crm import Customer
from models.normalize import normalize_name
from models.org import ROLES, Company, Department, Group, Role, Sector, User, UserRole

DEMO_PASSWORD = "demo12345"

# username: (display name, sector code or None, department code or None, [(role, scope)])
# scope: "dept" (the user's department), "sector" (the user's sector) or "group".
DEMO_USERS: dict[str, tuple[str, str | None, str | None, list[tuple[str, str]]]] = {
    "rep1": ("张伟", "S1", "D1", [("sales_rep", "dept")]),
    "rep2": ("王芳", "S1", "D1", [("sales_rep", "dept")]),
    "mgr1": ("李强", "S1", "D1", [("dept_manager", "dept")]),
    "asst1": ("刘洋", "S1", "D1", [("dept_assistant", "dept")]),
    "pa1": ("陈静", "S1", None, [("president_assistant", "sector")]),
    "vp1": ("杨军", "S1", None, [("vice_president", "sector")]),
    "president": ("赵总", "S1", None, [("president", "sector")]),
    "bizmgr1": ("黄敏", "S1", None, [("business_manager", "sector")]),
    "salesmgmt1": ("周磊", "S1", None, [("sales_mgmt_manager", "sector")]),
    "rndvp": ("吴刚", "S1", None, [("rnd_vp", "sector")]),
    "implvp": ("徐明", "S1", None, [("impl_vp", "sector")]),
    "finance1": ("孙丽", "S1", None, [("finance", "sector")]),
    "impl1": ("马超", "S1", None, [("implementer", "sector")]),
    "mkt1": ("朱婷", "S1", None, [("marketing", "sector")]),
    "sectoradmin1": ("胡斌", "S1", None, [("sector_admin", "sector")]),
    "rep3": ("郭涛", "S2", "D3", [("sales_rep", "dept")]),
    "mgr3": ("何静", "S2", "D3", [("dept_manager", "dept")]),
    "admin": ("系统管理员", None, None, [("system_admin", "group")]),
    "grouplead": ("集团领导", None, None, [("group_management", "group")]),
}

DEMO_CUSTOMERS = [
    ("rep1", "北京华信科技有限公司", "91110108MA01ABCD1E", "华北", "制造业"),
    ("rep1", "上海东方电气股份有限公司", None, "华东", "能源"),
    ("rep1", "广州南粤物流有限公司", None, "华南", "物流"),
    ("rep3", "成都天府软件有限公司", None, "西南", "软件"),
]


@lru_cache(maxsize=1)
def _demo_hash() -> str:
    return hash_password(DEMO_PASSWORD)


def database_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(User))


def ensure_roles(session: Session) -> None:
    existing = set(session.scalars(select(Role.code)))
    for code, (zh, en, scope) in ROLES.items():
        if code not in existing:
            session.add(Role(code=code, name_zh=zh, name_en=en, scope=scope))
    session.flush()


def load_demo(session: Session) -> bool:
    """Load the demo data set; refuse (return False) when the database already has users."""
    if not database_is_empty(session):
        return False
    ensure_roles(session)
    group = Group(name="示例集团")
    session.add(group)
    session.flush()
    hq = Company(group_id=group.id, name="示例集团总部", kind="headquarters")
    session.add(hq)
    sectors = {"S1": Sector(group_id=group.id, code="S1", name="软件版块"),
               "S2": Sector(group_id=group.id, code="S2", name="工程版块")}
    session.add_all(sectors.values())
    session.flush()
    depts = {"D1": Department(sector_id=sectors["S1"].id, company_id=hq.id, code="D1", name="华北销售一部"),
             "D2": Department(sector_id=sectors["S1"].id, company_id=hq.id, code="D2", name="华东销售部"),
             "D3": Department(sector_id=sectors["S2"].id, company_id=hq.id, code="D3", name="工程销售部")}
    session.add_all(depts.values())
    session.flush()
    password_hash = _demo_hash()
    users: dict[str, User] = {}
    for username, (name, sector, dept, grants) in DEMO_USERS.items():
        user = User(username=username, display_name=name, password_hash=password_hash,
                    sector_id=sectors[sector].id if sector else None,
                    department_id=depts[dept].id if dept else None)
        session.add(user)
        session.flush()
        for role, scope in grants:
            session.add(UserRole(
                user_id=user.id, role_code=role,
                sector_id=user.sector_id if scope in ("dept", "sector") else None,
                department_id=user.department_id if scope == "dept" else None))
        users[username] = user
    for owner, name, code, region, industry in DEMO_CUSTOMERS:
        rep = users[owner]
        session.add(Customer(sector_id=rep.sector_id, department_id=rep.department_id, owner_id=rep.id, name=name,
                             name_normalized=normalize_name(name), credit_code=code, status="approved",
                             region=region, industry=industry))
    session.add(Customer(sector_id=users["rep1"].sector_id, department_id=users["rep1"].department_id,
                         owner_id=users["rep1"].id, name="深圳前海新创有限公司",
                         name_normalized=normalize_name("深圳前海新创有限公司"), status="pending",
                         region="华南", industry="金融"))
    session.flush()
    audit.record(session, actor_id=None, action="demo.load", entity_type="database", entity_id="demo")
    return True
