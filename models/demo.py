"""Demo organisation and records, loaded by `make run` into an empty database only."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import audit, clock, lead_routing
from models.auth import hash_password
from models.crm import Contact, Customer
from models.customer_rules import pinyin_initials
from models.normalize import normalize_name
from models.org import ROLES, Company, Department, Group, Role, Sector, User, UserRole
from models.pool import touch_contact
from models.sales import Activity, Lead, Opportunity, SignDateChange
from models.stages import ensure_default_stages, stage_of

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
    "impl2": ("韩冰", "S1", None, [("implementer", "sector")]),
    "implmgr1": ("冯雪", "S1", None, [("impl_manager", "sector")]),
    "logistics1": ("郑飞", "S1", None, [("logistics", "sector")]),
    "sectorhead1": ("曹阳", "S1", None, [("sector_head", "sector")]),
    "mkt1": ("朱婷", "S1", None, [("marketing", "sector")]),
    "sectoradmin1": ("胡斌", "S1", None, [("sector_admin", "sector")]),
    "rep3": ("郭涛", "S2", "D3", [("sales_rep", "dept")]),
    "mgr3": ("何静", "S2", "D3", [("dept_manager", "dept")]),
    "designer1": ("高峰", "S1", None, [("process_designer", "sector")]),
    "designer3": ("罗兰", "S2", None, [("process_designer", "sector")]),
    "admin": ("系统管理员", None, None, [("system_admin", "group"), ("process_designer", "group")]),
    "grouplead": ("集团领导", None, None, [("group_management", "group")]),
}

# O6: exports only by users allowed to export
EXPORTERS = {"mgr1", "salesmgmt1", "mgr3"}

DEMO_CUSTOMERS = [
    ("rep1", "北京华信科技有限公司", "91110108MA01ABCD1E", "华北", "制造业"),
    ("rep1", "上海东方电气股份有限公司", None, "华东", "能源"),
    ("rep1", "广州南粤物流有限公司", None, "华南", "物流"),
    ("rep3", "成都天府软件有限公司", None, "西南", "软件"),
    ("rep2", "杭州西湖数据有限公司", None, "华东", "互联网"),
]

# customer name: (contact name, title, mobile, email)
DEMO_CONTACTS = {
    "北京华信科技有限公司": ("陈建国", "信息中心主任", "13801012345", "chenjg@huaxin.example.cn"),
    "上海东方电气股份有限公司": ("林晓梅", "采购经理", "13916623456", "linxm@dfdq.example.cn"),
    "广州南粤物流有限公司": ("黄志明", "总经理", "13724434567", None),
    "成都天府软件有限公司": ("王磊", "技术总监", "13880045678", "wanglei@tfsoft.example.cn"),
    "杭州西湖数据有限公司": ("沈佳", "运营总监", "13757156789", None),
    "深圳前海新创有限公司": ("李娜", "行政经理", "13612367890", None),
}

# entered by, company, contact, phone, source (L1), status, owner (None: not assigned yet), region, industry
DEMO_LEADS = [
    ("mkt1", "天津滨海机械制造有限公司", "赵刚", "022-66123456", "phone", "new", None, "华北", "制造业"),
    ("mkt1", "南京金陵医药有限公司", "钱芳", "13951712345", "website", "kept", None, "华东", "医药"),
    ("bizmgr1", "青岛海湾化工有限公司", "孙浩", "13806391234", "online_consultation", "assigned", "rep1", "华北",
     "化工"),
    ("rep1", "石家庄恒达建材有限公司", "周涛", "13503112345", "phone", "following", "rep1", "华北", "建材"),
    ("rep3", "重庆山城建设工程有限公司", "吴勇", "13983012345", "website", "assigned", "rep3", "西南", "建筑"),
]

# owner, customer, opportunity name, stage, amount, days to the expected signing, competitors
DEMO_OPPORTUNITIES = [
    ("rep1", "北京华信科技有限公司", "华信 CRM 升级项目", "needs_confirmed", "380000.00", 60, ["金蝶", "用友"]),
    ("rep1", "上海东方电气股份有限公司", "东方电气 营销云平台", "solution", "1250000.00", 90, ["Salesforce"]),
    ("rep1", "广州南粤物流有限公司", "南粤物流 移动销售", "follow_up", "96000.00", 45, []),
    ("rep2", "杭州西湖数据有限公司", "西湖数据 数据中台", "bid", "560000.00", 30, ["阿里云"]),
    ("rep3", "成都天府软件有限公司", "天府软件 办公楼弱电工程", "tender_published", "2300000.00", 75, ["中建三局"]),
]

# owner, kind, subject, target: ("customer"|"opportunity"|"lead", name)
DEMO_ACTIVITIES = [
    ("rep1", "visit", "拜访信息中心，了解 CRM 升级需求", ("opportunity", "华信 CRM 升级项目")),
    ("rep1", "call", "电话确认方案演示时间", ("opportunity", "东方电气 营销云平台")),
    ("rep1", "call", "首次电话沟通，客户有移动办公需求", ("lead", "石家庄恒达建材有限公司")),
    ("rep2", "meeting", "投标前澄清会", ("opportunity", "西湖数据 数据中台")),
    ("rep3", "visit", "现场踏勘", ("opportunity", "天府软件 办公楼弱电工程")),
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
                    can_export=username in EXPORTERS,
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
                             name_normalized=normalize_name(name), pinyin_initials=pinyin_initials(name),
                             credit_code=code, status="approved",
                             region=region, industry=industry))
    session.add(Customer(sector_id=users["rep1"].sector_id, department_id=users["rep1"].department_id,
                         owner_id=users["rep1"].id, name="深圳前海新创有限公司",
                         name_normalized=normalize_name("深圳前海新创有限公司"),
                         pinyin_initials=pinyin_initials("深圳前海新创有限公司"), status="pending",
                         region="华南", industry="金融"))
    session.flush()
    ensure_default_stages(session)
    _load_sales_demo(session, users)
    lead_routing.load_demo_rules(session, users)
    audit.record(session, actor_id=None, action="demo.load", entity_type="database", entity_id="demo")
    return True


def _load_sales_demo(session: Session, users: dict[str, User]) -> None:
    """Contacts, leads, opportunities across stages and activities (times: now, so that no customer is nearer
    the public pool than its creation makes it)."""
    now = clock.now()
    active = {name for _o, _k, _s, (_t, name) in DEMO_ACTIVITIES}
    customers = {c.name: c for c in session.scalars(select(Customer))}
    for name, (person, title, mobile, email) in DEMO_CONTACTS.items():
        customer = customers[name]
        session.add(Contact(sector_id=customer.sector_id, customer_id=customer.id, name=person, title=title,
                            mobile=mobile, email=email, is_primary=True, created_by=customer.owner_id))
    leads: dict[str, Lead] = {}
    for by, company, person, phone, source, status, owner, region, industry in DEMO_LEADS:
        creator, rep = users[by], users[owner] if owner else None
        lead = Lead(sector_id=creator.sector_id, department_id=rep.department_id if rep else None,
                    owner_id=rep.id if rep else None, company_name=company, contact_name=person, phone=phone,
                    source=source, status=status, region=region, industry=industry, created_by=creator.id,
                    follow_up_due_at=now + timedelta(days=3) if rep else None,
                    last_activity_at=now if company in active else None)
        session.add(lead)
        leads[company] = lead
    session.flush()
    opportunities: dict[str, Opportunity] = {}
    for owner, customer_name, name, stage_code, amount, days, competitors in DEMO_OPPORTUNITIES:
        rep, customer = users[owner], customers[customer_name]
        stage = stage_of(session, customer.sector_id, stage_code)
        sign_date: date = (now + timedelta(days=days)).date()
        opp = Opportunity(sector_id=customer.sector_id, department_id=rep.department_id, owner_id=rep.id,
                          customer_id=customer.id, name=name, stage_code=stage.code, amount=Decimal(amount),
                          win_probability=stage.probability, expected_sign_date=sign_date, competitors=competitors,
                          status="open", created_by=rep.id, last_activity_at=now if name in active else None,
                          furthest_position=stage.position if stage.outcome != "lost" else None)
        session.add(opp)
        session.flush()
        session.add(SignDateChange(opportunity_id=opp.id, old_date=None, new_date=sign_date, changed_by=rep.id,
                                   changed_at=now))
        opportunities[name] = opp
    for owner, kind, subject, (target, name) in DEMO_ACTIVITIES:
        rep = users[owner]
        record = opportunities[name] if target == "opportunity" else leads[name]
        session.add(Activity(sector_id=record.sector_id, owner_id=rep.id, kind=kind, subject=subject, occurred_at=now,
                             **{f"{target}_id": record.id}))
        if target == "opportunity":
            touch_contact(session, record.customer_id, now)  # T1
    session.flush()
