"""`crm demo --scale N`: a realistic data set of N customers in the demo sectors, set-based.

Needs the demo organisation (`crm setup`); refuses clearly otherwise. Per customer: a Chinese
company name (city + 字号 + industry + form, unique per sector after normalisation, also against
what the database already holds), a valid unified social credit code for ~60 %, 1–3 contacts,
~0.3 opportunities across the sector's stages, ~2 activities over the last 12 months with
`last_contact_at` the latest of them (both per-customer means are options: the report bench uses 1.0 and
5.0). Owners are the demo sales reps; ~10 % sit in the public pool.
Owned customers were last contacted within about the pool limit (the state the daily sweep leaves:
~3 % are due), so the 30/60-day warnings and the sweep see realistic shares.

What the reports read comes along (A2, A3, P1): each opportunity's stage moves (created at a first open
stage, then a few forward moves up to its stage; a lost one moved forward to a random open stage, then to
lost) with `furthest_position` the furthest open/won stage reached; a signed contract for ~20 % of the won
opportunities (signed on the day it was won) with 0–3 collections received since; and, once per database,
daily-ish logins of every active user over the last year. Those rows draw from a second random stream, so
the customers, contacts, opportunities and activities of a given seed are the same as before they existed.

Rows are written set-based from lists of dicts, `CHUNK` customers at a time (customers, then their
contacts, opportunities, activities, stage moves, contracts and collections: one INSERT each, `models.data_import.bulk_insert`: unnest
arrays on PostgreSQL with ids reserved from the sequence, Core `insert()` executemany elsewhere), one
commit per chunk, and `progress(done, total)` after each. Deterministic for a given seed.
"""
from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import ARRAY, String, any_, cast, func, or_, select, update
from sqlalchemy.orm import Session

from models import audit, clock
from models.contracts import Contract
from models.crm import Contact, Customer
from models.customer_rules import pinyin_initials, with_check_character
from models.data_import import copy_rows, insert_returning_ids
from models.normalize import normalize_name
from models.org import Sector, User, UserRole
from models.receivables import Collection
from models.reports.records import LoginEvent, OpportunityStageChange
from models.reports.scope import LOCAL_OFFSET
from models.sales import ACTIVITY_KINDS, DEFAULT_STAGES, Activity, Opportunity, OpportunityStage

CHUNK = 5_000
DEMO_SECTORS = ("S1", "S2")
POOL_SHARE = 0.10
CREDIT_CODE_SHARE = 0.60
OPPORTUNITIES_PER_CUSTOMER = 0.3
ACTIVITIES_PER_CUSTOMER = 2.0  # 0…4, uniform
MAX_PER_CUSTOMER = 50.0
CONTRACT_SHARE = 0.20  # of the won opportunities
LOGIN_DAYS = 365
HISTORY_DAYS = 365
POOL_DAYS = 90            # the default public-pool limit (customer.pool_days)
LAST_CONTACT_DAYS = 93    # owned customers: last contact 0…93 days ago (~3 % due for the sweep)

# (city, administrative division code, region)
CITIES = [
    ("北京", "110108", "华北"), ("天津", "120101", "华北"), ("石家庄", "130102", "华北"), ("太原", "140105", "华北"),
    ("呼和浩特", "150102", "华北"), ("沈阳", "210102", "东北"), ("大连", "210202", "东北"), ("长春", "220102", "东北"),
    ("哈尔滨", "230102", "东北"), ("上海", "310115", "华东"), ("南京", "320102", "华东"), ("苏州", "320505", "华东"),
    ("无锡", "320211", "华东"), ("杭州", "330106", "华东"), ("宁波", "330203", "华东"), ("合肥", "340104", "华东"),
    ("福州", "350102", "华东"), ("厦门", "350203", "华东"), ("南昌", "360102", "华东"), ("济南", "370102", "华东"),
    ("青岛", "370202", "华东"), ("郑州", "410105", "华中"), ("武汉", "420106", "华中"), ("长沙", "430102", "华中"),
    ("广州", "440106", "华南"), ("深圳", "440305", "华南"), ("东莞", "441900", "华南"), ("佛山", "440604", "华南"),
    ("南宁", "450102", "华南"), ("海口", "460105", "华南"), ("重庆", "500103", "西南"), ("成都", "510107", "西南"),
    ("贵阳", "520102", "西南"), ("昆明", "530102", "西南"), ("西安", "610113", "西北"), ("兰州", "620102", "西北"),
    ("西宁", "630102", "西北"), ("银川", "640104", "西北"), ("乌鲁木齐", "650102", "西北"), ("拉萨", "540102", "西南"),
]
ZIHAO = list(dict.fromkeys("华信达通恒泰瑞丰盛安宏远鑫源博嘉创新科凯腾飞龙海天宇金银正和中联汇成德润永祥云星光明伟业"
                           "东方南北精诚智慧美锦绿洲众合同辉长城振兴富康乐晨阳弘毅佳禾立新启航聚力世纪宝利隆昌益"))
# (word in the name, industry)
INDUSTRIES = [
    ("科技", "软件"), ("信息技术", "软件"), ("软件", "软件"), ("网络", "互联网"), ("数据", "互联网"),
    ("电子", "制造业"), ("机械", "制造业"), ("精密制造", "制造业"), ("汽车零部件", "制造业"), ("新材料", "制造业"),
    ("电气", "能源"), ("能源", "能源"), ("新能源", "能源"), ("环保", "环保"), ("化工", "化工"),
    ("医药", "医疗"), ("医疗器械", "医疗"), ("生物", "医疗"), ("物流", "物流"), ("供应链", "物流"),
    ("建设", "建筑"), ("建筑工程", "建筑"), ("装饰", "建筑"), ("贸易", "贸易"), ("商贸", "贸易"),
    ("食品", "消费品"), ("服饰", "消费品"), ("教育", "教育"), ("文化传媒", "传媒"), ("咨询", "服务业"),
]
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司", "有限责任公司"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯欣怡婷雪琳晨博")
TITLES = ["总经理", "副总经理", "采购经理", "技术总监", "信息部主任", "财务经理", "项目经理", "行政主管", None]
SUBJECTS = {
    "visit": ["上门拜访，了解需求", "拜访客户技术负责人", "现场调研"],
    "call": ["电话沟通需求", "电话回访", "电话确认方案细节"],
    "email": ["发送产品资料", "邮件发送报价说明", "邮件跟进会议纪要"],
    "meeting": ["方案交流会", "商务谈判", "招标答疑会"],
    "other": ["微信沟通", "参加客户年会", "寄送样品"],
}
OPP_PRODUCTS = ["ERP 系统", "CRM 系统", "数据平台", "运维服务", "智能制造方案", "办公自动化", "安全审计", "云迁移项目"]
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_NAME_SPACE = len(CITIES) * len(ZIHAO) ** 2 * len(INDUSTRIES) * len(SUFFIXES)


class SetupMissing(SystemExit):
    """The demo organisation is missing: `crm demo --scale` needs `crm setup` first (exits with the message)."""


def _multiplier(space: int) -> int:
    """A multiplier coprime to the name space: index → name is then a permutation (no repeats)."""
    candidate = 7_368_787
    while math.gcd(candidate, space) != 1:
        candidate += 2
    return candidate


_MULT = _multiplier(_NAME_SPACE)
_INITIALS: dict[str, str] = {}


def _initials(part: str) -> str:
    if part not in _INITIALS:
        _INITIALS[part] = pinyin_initials(part)
    return _INITIALS[part]


def company_name(index: int) -> tuple[str, str, str, str, str]:
    """The index-th name of a fixed permutation: (name, pinyin initials, region, industry, division code)."""
    j = (index * _MULT + 12_345) % _NAME_SPACE
    j, s = divmod(j, len(SUFFIXES))
    j, ind = divmod(j, len(INDUSTRIES))
    j, z2 = divmod(j, len(ZIHAO))
    c, z1 = divmod(j, len(ZIHAO))
    city, city_code, region = CITIES[c]
    word, industry = INDUSTRIES[ind]
    parts = (city, ZIHAO[z1] + ZIHAO[z2], word, SUFFIXES[s])
    return "".join(parts), "".join(_initials(p) for p in parts), region, industry, city_code


def credit_code(index: int, city_code: str) -> str:
    """A valid, unique unified social credit code: 91 + division code + organisation code from the index."""
    digits = []
    n = index
    for _ in range(9):
        n, r = divmod(n, 31)
        digits.append(_CREDIT_ALPHABET[r])
    return with_check_character("91" + city_code + "".join(reversed(digits)))


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


Stage = tuple[str, int, str | None, int]  # code, win probability, outcome, position


def _stages(session: Session, sector_id: int) -> list[Stage]:
    rows = list(session.execute(select(OpportunityStage.code, OpportunityStage.probability, OpportunityStage.outcome,
                                       OpportunityStage.position)
                                .where(OpportunityStage.sector_id == sector_id).order_by(OpportunityStage.position)))
    if rows:
        return [(c, p, o, pos) for c, p, o, pos in rows]
    return [(code, prob, {"won": "won", "lost": "lost"}.get(code), (i + 1) * 10)
            for i, (code, _zh, _en, prob) in enumerate(DEFAULT_STAGES)]


def _reps(session: Session) -> list[tuple[int, int, int | None]]:
    """(user id, sector id, department id) of the active sales reps of the demo sectors."""
    stmt = (select(User.id, User.sector_id, User.department_id).join(UserRole, UserRole.user_id == User.id)
            .join(Sector, Sector.id == User.sector_id)
            .where(UserRole.role_code.in_(("sales_rep", "channel_rep")), Sector.code.in_(DEMO_SECTORS),
                   User.status == "active").distinct().order_by(User.id))
    return [(u, s, d) for u, s, d in session.execute(stmt)]


def _among(session: Session, column, values: list[str]):
    """`column IN values`: one array parameter on PostgreSQL (an IN list costs a parameter per value)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(values, ARRAY(String)))
    return column.in_(values)


def _taken(session: Session, sector_ids: set[int], names: list[str], codes: list[str]) -> tuple[set, set]:
    """Names and credit codes of the candidates that the database already holds (earlier runs, entered data)."""
    taken_names = set(session.scalars(select(Customer.name_normalized).where(
        Customer.sector_id.in_(sector_ids), _among(session, Customer.name_normalized, names)))) if names else set()
    taken_codes = set(session.scalars(select(Customer.credit_code).where(
        Customer.sector_id.in_(sector_ids), _among(session, Customer.credit_code, codes)))) if codes else set()
    return taken_names, taken_codes


def _count(rng: random.Random, mean: float) -> int:
    """A per-customer count with the given mean: 0 or 1 below a mean of 1, else uniform over 0…2·mean (a mix of
    the two nearest whole ranges when 2·mean is not whole)."""
    if mean < 1:
        return int(rng.random() < mean)
    top = 2 * mean
    high = math.floor(top)
    if top != high and rng.random() < top - high:
        high += 1
    return rng.randint(0, high)


def _funnel(rng: random.Random, stages: list[Stage], stage: Stage, opened: datetime, last: datetime
            ) -> tuple[int, list[tuple[str | None, str, bool, datetime]]]:
    """(furthest position, stage moves) of an opportunity now at `stage`: created at one of the first two open
    stages, a few forward moves up to its stage (won: from the second half of the open stages; lost: to a random
    open stage, then lost, which is not progress). Moves lie in [opened, last]; a closed one's last is at `last`."""
    open_stages = [s for s in stages if s[2] is None]
    code, _probability, outcome, position = stage
    if outcome is None:
        end = next(i for i, s in enumerate(open_stages) if s[0] == code)
    elif outcome == "won":
        end = rng.randint(len(open_stages) // 2, len(open_stages) - 1)
    else:
        end = rng.randrange(len(open_stages))
    start = rng.randint(0, min(end, 1))
    inner = range(start + 1, end)
    path = [start, *sorted(rng.sample(inner, min(len(inner), rng.randint(0, 2)))), *([end] if end > start else [])]
    codes = [open_stages[i][0] for i in path]
    moves: list[tuple[str | None, str, bool]] = [(None, codes[0], False)]
    moves += [(a, b, True) for a, b in itertools.pairwise(codes)]
    if outcome:
        moves.append((codes[-1], code, outcome == "won"))
    span = max((last - opened).total_seconds(), 0)
    times = [opened] + sorted((opened + timedelta(seconds=rng.uniform(0, span))).replace(microsecond=0)
                              for _ in moves[1:])
    if outcome:
        times[-1] = last
    furthest = position if outcome == "won" else open_stages[end][3]
    return furthest, [(*m, at) for m, at in zip(moves, times, strict=True)]


def _contract(rng: random.Random, opp: dict, opp_id: int) -> dict:
    """A signed contract for a won opportunity, signed on the (Beijing) day it was won."""
    won = opp["closed_at"]
    discount = Decimal(rng.choice(("1.000000", "0.950000", "0.900000", "0.850000", "0.800000")))
    created = (won - timedelta(days=rng.uniform(1, 10))).replace(microsecond=0)
    return {
        "number": f"HT-D{opp_id:010d}", "sector_id": opp["sector_id"], "department_id": opp["department_id"],
        "customer_id": opp["customer_id"], "opportunity_id": opp_id, "quote_id": None, "owner_id": opp["owner_id"],
        "title": opp["name"], "kind": "product", "template": "standard", "list_amount": opp["amount"],
        "amount": (opp["amount"] * discount).quantize(Decimal("0.01")), "discount": discount, "currency": "CNY",
        "terms": None, "status": "signed", "process_instance_id": None, "signed_on": local_date(won),
        "created_at": created, "submitted_at": created, "decided_at": won, "version": 1,
        "signed_by": opp["owner_id"], "updated_at": won}


INSTALMENTS = (Decimal("0.30"), Decimal("0.60"), Decimal("0.10"))


def _collections(rng: random.Random, contract: dict, contract_id: int, today: date) -> list[dict]:
    """0–3 instalments (30 %, 60 %, 10 %) received between the signing day and today."""
    n = rng.choice((0, 1, 1, 2, 3))
    days = (today - contract["signed_on"]).days
    dates = sorted(contract["signed_on"] + timedelta(days=rng.randint(0, max(days, 0))) for _ in range(n))
    return [{"contract_id": contract_id, "invoice_id": None, "sector_id": contract["sector_id"],
             "department_id": contract["department_id"], "amount": (contract["amount"] * share).quantize(
                 Decimal("0.01")), "received_on": on, "note": None, "created_by": None,
             "created_at": datetime.combine(on, time(10)) - LOCAL_OFFSET}
            for share, on in zip(INSTALMENTS, dates, strict=False)]


def local_date(at: datetime) -> date:
    """The Beijing-time date of a naive-UTC timestamp."""
    return (at + LOCAL_OFFSET).date()


def _logins(session: Session, rng: random.Random, now: datetime) -> int:
    """A year of logins of every active user (workdays mostly, 1–2 a day, each user with his own habit), once
    per database: users who already logged in before the last two days keep their history."""
    known = set(session.scalars(select(LoginEvent.user_id).where(LoginEvent.at < now - timedelta(days=2))
                                .distinct()))
    users = [(u, s) for u, s in session.execute(select(User.id, User.sector_id).where(User.status == "active")
                                                .order_by(User.id)) if u not in known]
    today = local_date(now)
    rows: list[dict] = []
    for user_id, sector_id in users:
        keen = rng.uniform(0.55, 0.95)
        latest = None
        for back in range(LOGIN_DAYS, 0, -1):
            day = today - timedelta(days=back)
            if rng.random() >= (keen if day.weekday() < 5 else 0.05):
                continue
            for _ in range(rng.choice((1, 1, 2))):
                latest = (datetime.combine(day, time(8)) - LOCAL_OFFSET
                          + timedelta(seconds=rng.randrange(11 * 3600)))
                rows.append({"user_id": user_id, "sector_id": sector_id, "at": latest})
        if latest is not None:
            session.execute(update(User).where(User.id == user_id, or_(User.last_login_at.is_(None),
                                                                       User.last_login_at < latest))
                            .values(last_login_at=latest))
    rows.sort(key=lambda r: r["at"])
    copy_rows(session, LoginEvent.__table__, rows)
    return len(rows)


def generate(session: Session, customers: int, progress: Callable[[int, int], None] | None = None,
             *, seed: int = 20261126, opportunities_per_customer: float = OPPORTUNITIES_PER_CUSTOMER,
             activities_per_customer: float = ACTIVITIES_PER_CUSTOMER) -> dict:
    """Generate `customers` customers with their records into the session's database; commits per chunk.

    `opportunities_per_customer` and `activities_per_customer` are means (0…50)."""
    if customers < 1:
        raise SetupMissing("--scale must be at least 1")
    for name, value in (("--opportunities-per-customer", opportunities_per_customer),
                        ("--activities-per-customer", activities_per_customer)):
        if not 0 <= value <= MAX_PER_CUSTOMER:
            raise SetupMissing(f"{name} must be between 0 and {MAX_PER_CUSTOMER:g}")
    reps = _reps(session)
    if not reps:
        raise SetupMissing("no demo organisation in this database (sectors S1/S2 with sales reps): "
                           "run `crm setup` on an empty database first")
    sector_ids = {s for _u, s, _d in reps}
    stages = {s: _stages(session, s) for s in sector_ids}
    rng = random.Random(seed)
    rng2 = random.Random(seed + 1)  # the report rows: the main stream stays what it was before them
    now = clock.now().replace(microsecond=0)
    today = now.date()
    start_index = int(session.scalar(select(func.coalesce(func.max(Customer.id), 0)))) + 1
    totals = {"customers": 0, "contacts": 0, "opportunities": 0, "activities": 0, "stage_changes": 0,
              "contracts": 0, "collections": 0, "login_events": _logins(session, rng2, now)}
    session.commit()

    next_index = start_index
    while totals["customers"] < customers:
        want = min(CHUNK, customers - totals["customers"])
        candidates = []
        for _ in range(want):
            idx = next_index
            next_index += 1
            name, initials, region, industry, city_code = company_name(idx)
            code = credit_code(idx, city_code) if rng.random() < CREDIT_CODE_SHARE else None
            candidates.append((name, normalize_name(name), initials, region, industry, code))
        taken_names, taken_codes = _taken(session, sector_ids, [c[1] for c in candidates],
                                          [c[5] for c in candidates if c[5]])
        customer_rows, plans = [], []
        for name, norm, initials, region, industry, code in candidates:
            if norm in taken_names or (code and code in taken_codes):
                continue
            owner_id, sector_id, dept_id = rng.choice(reps)
            in_pool = rng.random() < POOL_SHARE
            n_acts = _count(rng, activities_per_customer)
            # T1/T2 as the daily sweep leaves them: an owned customer was last contacted within about the
            # pool limit (a few are just past it and due for the next sweep); a pool customer long ago.
            latest_days = rng.uniform(0, LAST_CONTACT_DAYS) if not in_pool else rng.uniform(POOL_DAYS, HISTORY_DAYS)
            acts = sorted([latest_days] + [rng.uniform(latest_days, HISTORY_DAYS) for _ in range(n_acts - 1)],
                          reverse=True)[:n_acts] if n_acts else []
            acts = [(now - timedelta(days=d)).replace(microsecond=0) for d in acts]
            # without an activity, days since contact count from entry (T1): entered latest_days ago
            created = (acts[0] - timedelta(days=rng.uniform(0, 60)) if acts
                       else now - timedelta(days=latest_days)).replace(microsecond=0)
            last = acts[-1] if acts else None
            pool_since = None
            if in_pool:
                base = last or created
                pool_since = min(base + timedelta(days=90), now - timedelta(days=rng.uniform(0, 30))).replace(
                    microsecond=0)
            status = "approved" if in_pool else rng.choices(("approved", "pending", "returned"), (85, 10, 5))[0]
            customer_rows.append({
                "sector_id": sector_id, "department_id": dept_id, "owner_id": None if in_pool else owner_id,
                "name": name, "name_normalized": norm, "pinyin_initials": initials, "credit_code": code,
                "kind": "direct", "status": status, "grade": rng.choice(("A", "B", "B", "C", "C", "C", "D", None)),
                "region": region, "industry": industry, "phone": f"0{rng.randrange(10, 999)}-{rng.randrange(10**7, 10**8)}",
                "address": f"{name[:2]}市{rng.choice(ZIHAO)}{rng.choice(ZIHAO)}路{rng.randrange(1, 999)}号",
                "first_contact_at": created - timedelta(days=rng.randint(0, 5)), "late_entry": False,
                "last_contact_at": last, "pool_since": pool_since, "created_by": owner_id, "created_at": created,
                "updated_at": max(created, last or created), "version": 1,
            })
            plans.append((owner_id, sector_id, dept_id, acts))
        if not customer_rows:
            continue
        ids = insert_returning_ids(session, Customer.__table__, customer_rows, copy=True)
        contacts, opportunities, funnels, opp_plans = [], [], [], []
        for cid, row_, (owner_id, sector_id, dept_id, acts) in zip(ids, customer_rows, plans, strict=True):
            for k in range(rng.choices((1, 2, 3), (50, 35, 15))[0]):
                contacts.append({
                    "sector_id": sector_id, "customer_id": cid, "name": _person(rng), "title": rng.choice(TITLES),
                    "phone": row_["phone"] if k == 0 else None, "mobile": _mobile(rng), "email": None,
                    "is_primary": k == 0, "created_by": owner_id, "created_at": row_["created_at"],
                    "updated_at": row_["created_at"]})
            mine = []
            for j in range(_count(rng, opportunities_per_customer)):
                stage = rng.choice(stages[sector_id])
                code, probability, outcome, _position = stage
                opened = min(row_["created_at"] + timedelta(days=rng.uniform(0, 30)), now).replace(microsecond=0)
                # the j-th opportunity is the one the j-th latest activity was about
                linked = acts[-1 - j] if j < len(acts) else None
                closed = None
                if outcome:
                    closed = linked if linked and linked >= opened else (
                        opened + (now - opened) * rng2.random()).replace(microsecond=0)
                opportunities.append({
                    "sector_id": sector_id, "department_id": dept_id, "owner_id": owner_id, "customer_id": cid,
                    "name": f"{row_['name'][:-4]} · {rng.choice(OPP_PRODUCTS)}", "stage_code": code,
                    "amount": Decimal(rng.randrange(500, 50_000) * 100), "win_probability": probability,
                    "expected_sign_date": today + timedelta(days=rng.randint(-90, 180)),
                    "competitors": rng.sample(["用友", "金蝶", "浪潮", "SAP", "Oracle", "鼎捷"], rng.randint(0, 2)),
                    "status": outcome or "open", "closed_at": closed, "last_activity_at": linked,
                    "created_by": owner_id, "created_at": opened,
                    "updated_at": max(linked or opened, closed or opened), "version": 1})
                furthest, moves = _funnel(rng2, stages[sector_id], stage, opened, closed or now)
                opportunities[-1]["furthest_position"] = furthest
                funnels.append(moves)
                mine.append(len(opportunities) - 1)
            opp_plans.append(mine)
        copy_rows(session, Contact.__table__, contacts)
        opp_ids = insert_returning_ids(session, Opportunity.__table__, opportunities, copy=True)
        activities = []
        for cid, (owner_id, sector_id, _dept, acts), mine in zip(ids, plans, opp_plans, strict=True):
            for k, at in enumerate(acts):
                kind = rng.choice(ACTIVITY_KINDS)
                j = len(acts) - 1 - k  # the latest activities are about the customer's opportunities
                activities.append({
                    "sector_id": sector_id, "owner_id": owner_id, "kind": kind, "subject": rng.choice(SUBJECTS[kind]),
                    "notes": None, "occurred_at": at, "customer_id": cid, "lead_id": None,
                    "opportunity_id": opp_ids[mine[j]] if j < len(mine) else None, "created_at": at})
        copy_rows(session, Activity.__table__, activities)
        changes, contracts = [], []
        for opp_id, opp, moves in zip(opp_ids, opportunities, funnels, strict=True):
            changes += [{"opportunity_id": opp_id, "sector_id": opp["sector_id"], "owner_id": opp["owner_id"],
                         "from_code": a, "to_code": b, "forward": fwd, "changed_by": opp["owner_id"],
                         "changed_at": at} for a, b, fwd, at in moves]
            if opp["status"] == "won" and rng2.random() < CONTRACT_SHARE:
                contracts.append(_contract(rng2, opp, opp_id))
        copy_rows(session, OpportunityStageChange.__table__, changes)
        contract_ids = insert_returning_ids(session, Contract.__table__, contracts, copy=True)
        collections = [c for cid, con in zip(contract_ids, contracts, strict=True)
                       for c in _collections(rng2, con, cid, today)]
        copy_rows(session, Collection.__table__, collections)
        session.commit()
        for key, rows in (("customers", ids), ("contacts", contacts), ("opportunities", opportunities),
                          ("activities", activities), ("stage_changes", changes), ("contracts", contracts),
                          ("collections", collections)):
            totals[key] += len(rows)
        if progress:
            progress(totals["customers"], customers)
    audit.record(session, actor_id=None, action="demo.scale", entity_type="database", entity_id="demo",
                 after={**totals, "seed": seed, "opportunities_per_customer": opportunities_per_customer,
                        "activities_per_customer": activities_per_customer})
    session.commit()
    return totals
