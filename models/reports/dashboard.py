"""Dashboard figures (A1, A2): the funnel, the pipeline by expected signing month, the forecast, per-person
figures, customer grades, contact frequency, departments' contracts and collections, sectors side by side.

Every query is restricted by the `ReportScope` helpers (a rep sees only his own figures, nobody another
sector's) and aggregates in SQL (GROUP BY); Python only loops over the grouped rows and the stage list.
Months are Beijing-time months: timestamps compare with `month_bounds`, date columns with plain dates.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from models.contracts import EFFECTIVE_STATUSES, Contract
from models.crm import Customer
from models.org import Department, Sector, User, UserRole
from models.receivables import Collection
from models.reports import monthly
from models.reports.scope import REP_ROLES, ReportScope, add_months, month_bounds, next_month
from models.reports.tables import Chart, Column, ReportTable, report
from models.sales import Activity, Opportunity, OpportunityStage

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
GRADES = ("A", "B", "C", "D")
HORIZON = 12  # months shown by the signing-month, forecast and department reports
# bucket keys of a date column against the months (see `_month_bucket`)
NO_DATE, EARLIER, LATER = -2, -1, HORIZON


# ---- small helpers -----------------------------------------------------------------------------------------------
def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT, ROUND_HALF_UP)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _ratio(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP) if whole else None


def _t(locale: str, zh: str, en: str) -> str:
    return zh if locale == "zh" else en


def _months(first: date, n: int = HORIZON) -> list[date]:
    return [add_months(first, i) for i in range(n)]


def _month_bucket(col, months: list[date]) -> ColumnElement[int]:
    """Which of `months` a date column falls in (0…n-1), EARLIER / LATER outside, NO_DATE when NULL.
    A CASE on plain date comparisons: portable, and no function on the column."""
    whens = [(col.is_(None), NO_DATE), (col < months[0], EARLIER)]
    whens += [(col < next_month(m), i) for i, m in enumerate(months)]
    return case(*whens, else_=LATER)


def _grouped_by_bucket(session: Session, keys: list, bucket: ColumnElement[int], value, where) -> list:
    """SELECT keys…, bucket, count, sum(value) … GROUP BY keys…, bucket — through a subquery, so that the CASE
    is written once (PostgreSQL binds each copy's parameters separately)."""
    inner = select(*keys, bucket.label("bucket"), value.label("value")).where(*where).subquery()
    cols = [inner.c[k.key] for k in keys] + [inner.c.bucket]
    return session.execute(select(*cols, func.count(), func.sum(inner.c.value)).group_by(*cols)).all()


def _stages(session: Session, scope: ReportScope) -> list[OpportunityStage]:
    """The stages of the scope's sectors in board order (sector, position)."""
    return list(session.scalars(select(OpportunityStage).where(scope.sector_clause(OpportunityStage.sector_id))
                                .order_by(OpportunityStage.sector_id, OpportunityStage.position,
                                          OpportunityStage.id)))


def _probabilities(session: Session, scope: ReportScope) -> dict[tuple[int, str], int]:
    return {(s.sector_id, s.code): s.probability for s in _stages(session, scope)}


def _names(session: Session, model, ids: Iterable[int | None], attr: str = "name") -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(model.id, getattr(model, attr)).where(model.id.in_(wanted))).all())


def _sectors(session: Session, scope: ReportScope) -> list[tuple[int, str]]:
    return list(session.execute(select(Sector.id, Sector.name).where(scope.sector_clause(Sector.id))
                                .order_by(Sector.id)).all())


def _department_people(session: Session, scope: ReportScope) -> list[int]:
    return sorted(session.scalars(select(User.id).where(User.department_id.in_(scope.department_ids))))


def _people_clause(session: Session, scope: ReportScope, owner_col, sector_col) -> ColumnElement[bool]:
    """`scope.people_clause` with a department's people as a literal list: PostgreSQL then reads the
    opportunities by the (owner_id, …) INCLUDE index, index-only, where IN (subquery) of the people made it a
    hash join over a sequential scan of every opportunity of the sector."""
    if scope.user_id is None and scope.department_ids is not None:
        return and_(scope.sector_clause(sector_col), owner_col.in_(_department_people(session, scope)))
    return scope.people_clause(owner_col, sector_col)


def _open_opportunities(session: Session, scope: ReportScope) -> tuple[ColumnElement[bool], ...]:
    return (_people_clause(session, scope, Opportunity.owner_id, Opportunity.sector_id),
            Opportunity.status == "open")


def _stage_label(stage: OpportunityStage, locale: str) -> str:
    return stage.name_zh if locale == "zh" else stage.name_en


def _sector_column(scope: ReportScope) -> list[Column]:
    return [Column("sector", "版块", "Sector", "text")] if scope.sector_ids is None else []


# ---- 1. funnel ---------------------------------------------------------------------------------------------------
@report("funnel", "销售漏斗", "Sales funnel")
def funnel(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    """Opportunities now at each stage, and how many reached it (furthest stage) → conversion to the next."""
    grouped = session.execute(
        select(Opportunity.sector_id, Opportunity.stage_code, Opportunity.status, Opportunity.furthest_position,
               func.count(), func.sum(Opportunity.amount))
        .where(_people_clause(session, scope, Opportunity.owner_id, Opportunity.sector_id))
        .group_by(Opportunity.sector_id, Opportunity.stage_code, Opportunity.status,
                  Opportunity.furthest_position)).all()
    at: dict[tuple[int, str, str], list] = defaultdict(lambda: [0, ZERO])     # (sector, stage, status)
    furthest: dict[int, list[tuple[int, int]]] = defaultdict(list)            # sector -> [(position, n)]
    for sector_id, code, status, position, n, amount in grouped:
        at[(sector_id, code, status)][0] += n
        at[(sector_id, code, status)][1] += amount or ZERO
        if position is not None:
            furthest[sector_id].append((position, n))
    stages = _stages(session, scope)
    by_sector: dict[int, list[OpportunityStage]] = defaultdict(list)
    for stage in stages:
        by_sector[stage.sector_id].append(stage)
    sector_names = _names(session, Sector, by_sector)
    rows = []
    for sector_id, sector_stages in by_sector.items():
        def reached(stage: OpportunityStage, sector_id: int = sector_id) -> int:
            return sum(n for pos, n in furthest[sector_id] if pos >= stage.position)
        progress = [s for s in sector_stages if s.outcome != "lost"]  # lost is not progress
        for stage in sector_stages:
            n, amount = at[(sector_id, stage.code, stage.outcome or "open")]
            row = {"sector": sector_names.get(sector_id), "sector_id": sector_id, "code": stage.code,
                   "stage": _stage_label(stage, locale), "probability": stage.probability, "count": n,
                   "amount": _money(amount), "weighted": _money(amount * stage.probability / 100),
                   "reached": None, "conversion": None}
            if stage.outcome != "lost":
                row["reached"] = reached(stage)
                i = progress.index(stage)
                if stage.outcome == "won":  # the won row: overall win rate from the first stage
                    row["conversion"] = _pct(row["reached"], reached(progress[0]))
                elif i + 1 < len(progress):
                    row["conversion"] = _pct(reached(progress[i + 1]), row["reached"])
            rows.append(row)
    columns = [*_sector_column(scope),
               Column("stage", "销售阶段", "Stage", "text"),
               Column("probability", "赢单概率", "Win probability", "percent"),
               Column("count", "商机数", "Opportunities"),
               Column("amount", "金额", "Amount", "money"),
               Column("weighted", "加权金额", "Weighted amount", "money"),
               Column("reached", "到达数", "Reached"),
               Column("conversion", "转化率", "Conversion", "percent")]
    return ReportTable("funnel", _t(locale, "销售漏斗", "Sales funnel"), columns, rows,
                       Chart("funnel", "stage", ("reached",)),
                       note="商机数为当前处于该阶段的商机（进行中阶段只计进行中的商机，赢单/输单计已关闭的）；"
                            "加权金额 = 金额 × 阶段赢单概率；到达数为曾到达该阶段或更后阶段的商机数（输单不算推进）；"
                            "转化率 = 到达下一阶段的商机数 ÷ 到达本阶段的商机数，赢单行为总体赢单率（÷ 到达第一阶段的商机数）。")


# ---- 2./3. expected signing months and the forecast --------------------------------------------------------------
def _pipeline_by_month(session: Session, scope: ReportScope, months: list[date]) -> list:
    """Open opportunities by (sector, stage, signing-month bucket): count and amount."""
    return _grouped_by_bucket(session, [Opportunity.sector_id, Opportunity.stage_code],
                              _month_bucket(Opportunity.expected_sign_date, months), Opportunity.amount,
                              _open_opportunities(session, scope))


@report("sign_months", "按预计签约月份", "By expected signing month")
def sign_months(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    months = _months(month)
    totals: dict[int, list] = defaultdict(lambda: [0, ZERO])
    for _sector, _stage, bucket, n, amount in _pipeline_by_month(session, scope, months):
        totals[bucket][0] += n
        totals[bucket][1] += amount or ZERO
    labels = {EARLIER: _t(locale, "更早（已逾期）", "Earlier (overdue)"),
              **{i: f"{m:%Y-%m}" for i, m in enumerate(months)},
              LATER: _t(locale, "更晚", "Later"), NO_DATE: _t(locale, "未填日期", "No date")}
    rows = [{"period": labels[b], "bucket": b, "count": totals[b][0], "amount": _money(totals[b][1])}
            for b in (EARLIER, *range(HORIZON), LATER, NO_DATE)]
    columns = [Column("period", "预计签约月份", "Expected signing month", "text"),
               Column("count", "商机数", "Opportunities"), Column("amount", "金额", "Amount", "money")]
    return ReportTable("sign_months", _t(locale, "按预计签约月份", "By expected signing month"), columns, rows,
                       Chart("bar", "period", ("amount",)),
                       note="进行中的商机按预计签约日期所在月份统计（自所选月份起 12 个月）；"
                            "早于所选月份的计入“更早（已逾期）”，未填预计签约日期的计入“未填日期”。")


@report("forecast", "销售预测", "Sales forecast")
def forecast(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    months = _months(month)
    probability = _probabilities(session, scope)
    amounts = [ZERO] * HORIZON
    weighted = [Decimal(0)] * HORIZON
    counts = [0] * HORIZON
    for sector_id, code, bucket, n, amount in _pipeline_by_month(session, scope, months):
        if 0 <= bucket < HORIZON:
            counts[bucket] += n
            amounts[bucket] += amount or ZERO
            weighted[bucket] += (amount or ZERO) * probability.get((sector_id, code), 0) / 100
    rows = [{"month": m, "count": counts[i], "weighted": _money(weighted[i]), "amount": _money(amounts[i])}
            for i, m in enumerate(months)]
    columns = [Column("month", "预计签约月份", "Expected signing month", "month"),
               Column("count", "商机数", "Opportunities"),
               Column("weighted", "预测金额（加权）", "Forecast (weighted)", "money"),
               Column("amount", "商机金额", "Pipeline amount", "money")]
    return ReportTable("forecast", _t(locale, "销售预测", "Sales forecast"), columns, rows,
                       Chart("bar_line", "month", ("weighted", "amount")),
                       note="进行中的商机按预计签约月份统计 12 个月：预测金额 = Σ 金额 × 所处阶段的赢单概率"
                            "（取版块阶段设置）；商机金额为未加权合计。")


# ---- 4. per-person figures ----------------------------------------------------------------------------------------
PERSON_FIGURES = ("new_customers", "new_opportunities", "opportunity_value", "phone_visits", "activities",
                  "contract_amount", "collected")


def _open_per_owner(session: Session, scope: ReportScope, user_ids: list[int]) -> dict[int, int]:
    """Open opportunities now of each listed person (the people of the scope) within the scope's sectors.
    The owners as a literal list, and only owner_id, sector_id and status read: an index-only scan of
    ix_opportunity_owner_activity on PostgreSQL (an IN (subquery) of the department's people made it a
    sequential scan of every opportunity)."""
    owners = set(user_ids)  # ∩ the owners `people_clause` allows (a closed month lists its own department)
    if scope.user_id is not None:
        owners &= {scope.user_id}
    elif scope.department_ids is not None:
        owners &= set(_department_people(session, scope))
    if not owners:
        return {}
    return dict(session.execute(
        select(Opportunity.owner_id, func.count())
        .where(Opportunity.owner_id.in_(sorted(owners)), scope.sector_clause(Opportunity.sector_id),
               Opportunity.status == "open")
        .group_by(Opportunity.owner_id)).all())


@report("rep_figures", "人员业绩", "Figures per person")
def rep_figures(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    stats, from_snapshot = monthly.user_month_stats(session, scope, month)
    ids = [r["user_id"] for r in stats]
    open_now = _open_per_owner(session, scope, ids)  # only the people listed are shown
    reps = set(session.scalars(select(UserRole.user_id).where(UserRole.user_id.in_(ids),
                                                              UserRole.role_code.in_(REP_ROLES)))) if ids else set()
    departments = _names(session, Department, (r["department_id"] for r in stats))
    sectors = _names(session, Sector, (r["sector_id"] for r in stats))
    rows = []
    for stat in stats:
        uid = stat["user_id"]
        owns = any(stat[f] for f in (*PERSON_FIGURES, "opportunity_activities")) or open_now.get(uid)
        if uid not in reps and not owns:
            continue
        row = {"user_id": uid, "name": stat["name"], "department": departments.get(stat["department_id"]),
               "sector": sectors.get(stat["sector_id"]), **{f: stat[f] for f in PERSON_FIGURES},
               "opportunity_activities": stat["opportunity_activities"], "open_opportunities": open_now.get(uid, 0)}
        row["contact_frequency"] = _ratio(row["opportunity_activities"], row["open_opportunities"])
        rows.append(row)
    if scope.level != "me" and rows:
        total = {"user_id": None, "name": _t(locale, "合计", "Total"), "department": None, "sector": None}
        for f in (*PERSON_FIGURES, "opportunity_activities", "open_opportunities"):
            total[f] = sum((r[f] for r in rows), ZERO if isinstance(rows[0][f], Decimal) else 0)
        total["contact_frequency"] = _ratio(total["opportunity_activities"], total["open_opportunities"])
        rows.append(total)
    columns = [Column("name", "人员", "Person", "text"), *_sector_column(scope),
               Column("department", "部门", "Department", "text"),
               Column("new_customers", "新增客户", "New customers"),
               Column("new_opportunities", "新增商机", "New opportunities"),
               Column("opportunity_value", "商机金额", "Opportunity value", "money"),
               Column("phone_visits", "电话/拜访", "Calls and visits"),
               Column("activities", "跟进记录", "Activities"),
               Column("contract_amount", "合同额", "Contract amount", "money"),
               Column("collected", "回款", "Collected", "money"),
               Column("open_opportunities", "进行中商机", "Open opportunities"),
               Column("contact_frequency", "商机联系频次", "Contacts per opportunity", "decimal")]
    return ReportTable("rep_figures", _t(locale, "人员业绩", "Figures per person"), columns, rows,
                       Chart("bar", "name", ("new_customers", "new_opportunities")), snapshot=from_snapshot,
                       note="本月：新增客户为本人录入的客户；新增商机/商机金额为本月新建、本人负责的商机；电话/拜访与跟进记录"
                            "为本人本月登记的行动；合同额为本人负责、本月签订（已审批/已签/已关闭）的合同；回款为本月收到的"
                            "本人合同回款。进行中商机为当前数；商机联系频次 = 本月针对商机的跟进记录 ÷ 进行中商机数。"
                            "已结账月份读取月末快照。")


# ---- 5. customer grades -------------------------------------------------------------------------------------------
@report("grades", "客户等级分布", "Customers by grade")
def grades(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    grouped = session.execute(
        select(Customer.owner_id, Customer.grade, func.count())
        .where(_people_clause(session, scope, Customer.owner_id, Customer.sector_id), Customer.owner_id.is_not(None))
        .group_by(Customer.owner_id, Customer.grade)).all()
    per: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*GRADES, "none", "total"), 0))
    for owner_id, grade, n in grouped:
        key = grade.upper() if grade and grade.upper() in GRADES else "none"
        per[owner_id][key] += n
        per[owner_id]["total"] += n
    people = session.execute(select(User.id, User.display_name).where(User.id.in_(per))
                             .order_by(User.id)).all() if per else []
    rows = [{"user_id": uid, "name": name, **per[uid]} for uid, name in people]
    if scope.level != "me":
        total = {"user_id": None, "name": _t(locale, "合计", "Total")}
        total.update({k: sum(r[k] for r in rows) for k in (*GRADES, "none", "total")})
        rows.append(total)
    columns = [Column("name", "人员", "Person", "text"),
               *[Column(g, f"{g}级", f"Grade {g}") for g in GRADES],
               Column("none", "未分级", "No grade"), Column("total", "合计", "Total")]
    return ReportTable("grades", _t(locale, "客户等级分布", "Customers by grade"), columns, rows,
                       Chart("bar", "name", (*GRADES, "none"), stack=True),
                       note="当前由各人员负责的客户（不含公海客户）按客户等级 A/B/C/D 统计，未填等级计入“未分级”。")


# ---- 6. contact frequency per opportunity -------------------------------------------------------------------------
BUCKETS = ((0, "0 次", "None"), (1, "1 次", "1"), (2, "2–3 次", "2–3"), (3, "4 次及以上", "4 or more"))


@report("contact_frequency", "商机联系频次", "Contacts per opportunity")
def contact_frequency(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    start, end = month_bounds(month)
    open_opps = _open_opportunities(session, scope)
    # Counted from the activity side: the month's activities (a range of the occurred_at index, index-only)
    # joined to the open opportunities of the scope, grouped per opportunity — rather than every open
    # opportunity outer-joined to the month. Activities by anyone on the opportunity count.
    per_opp = (select(func.count().label("n")).select_from(Activity)
               .join(Opportunity, Opportunity.id == Activity.opportunity_id)
               .where(Activity.occurred_at >= start, Activity.occurred_at < end, *open_opps)
               .group_by(Activity.opportunity_id).subquery())
    bucket = case((per_opp.c.n == 1, 1), (per_opp.c.n <= 3, 2), else_=3)
    inner = select(bucket.label("bucket"), per_opp.c.n).subquery()
    found = {b: (count, int(acts or 0)) for b, count, acts in session.execute(
        select(inner.c.bucket, func.count(), func.sum(inner.c.n)).group_by(inner.c.bucket)).all()}
    open_now = session.scalar(select(func.count()).select_from(Opportunity).where(*open_opps))
    found[0] = (open_now - sum(c for c, _ in found.values()), 0)  # open opportunities without an activity
    total_opps = sum(c for c, _ in found.values())
    total_acts = sum(a for _, a in found.values())
    rows = []
    for key, zh, en in BUCKETS:
        count, acts = found.get(key, (0, 0))
        rows.append({"bucket": _t(locale, zh, en), "opportunities": count, "share": _pct(count, total_opps),
                     "activities": acts, "average": _ratio(acts, count)})
    rows.append({"bucket": _t(locale, "合计", "Total"), "opportunities": total_opps,
                 "share": _pct(total_opps, total_opps), "activities": total_acts,
                 "average": _ratio(total_acts, total_opps)})
    columns = [Column("bucket", "本月跟进次数", "Activities this month", "text"),
               Column("opportunities", "进行中商机数", "Open opportunities"),
               Column("share", "占比", "Share", "percent"),
               Column("activities", "跟进记录", "Activities"),
               Column("average", "平均每个商机", "Average per opportunity", "decimal")]
    return ReportTable("contact_frequency", _t(locale, "商机联系频次", "Contacts per opportunity"), columns,
                       rows, Chart("bar", "bucket", ("opportunities",)),
                       extra={"average": None if rows[-1]["average"] is None else float(rows[-1]["average"])},
                       note="当前进行中的商机按本月登记在该商机上的跟进记录数（任何人登记）分组；"
                            "平均 = 跟进记录数 ÷ 进行中商机数。")


# ---- 7. departments: contracts and collections --------------------------------------------------------------------
def _scope_departments(session: Session, scope: ReportScope) -> list[tuple[int, str]]:
    if scope.user_id is not None:
        where = Department.id == select(User.department_id).where(User.id == scope.user_id).scalar_subquery()
    elif scope.department_ids is not None:
        where = Department.id.in_(scope.department_ids)
    else:
        where = scope.sector_clause(Department.sector_id)
    return list(session.execute(select(Department.id, Department.name).where(where)
                                .order_by(Department.sector_id, Department.id)).all())


@report("departments", "部门合同额与回款", "Contracts and collections by department")
def departments(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    months = _months(add_months(month, 1 - HORIZON))
    first, after = months[0], next_month(month)
    contracts = _grouped_by_bucket(
        session, [Contract.department_id], _month_bucket(Contract.signed_on, months), Contract.amount,
        (scope.record_clause(Contract.department_id, Contract.sector_id, Contract.owner_id),
         Contract.status.in_(EFFECTIVE_STATUSES), Contract.signed_on >= first, Contract.signed_on < after))
    if scope.user_id is not None:  # a rep: collections on his own contracts (a semi-join, not a per-row lookup)
        by_scope = and_(scope.sector_clause(Collection.sector_id), Collection.contract_id.in_(
            select(Contract.id).where(Contract.owner_id == scope.user_id)))
    else:
        by_scope = scope.record_clause(Collection.department_id, Collection.sector_id, None)
    collections = _grouped_by_bucket(
        session, [Collection.department_id], _month_bucket(Collection.received_on, months), Collection.amount,
        (by_scope, Collection.received_on >= first, Collection.received_on < after))
    figures: dict[tuple[int | None, int], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for i, rows_ in enumerate((contracts, collections)):
        for dept_id, bucket, _n, amount in rows_:
            figures[(dept_id, bucket)][i] += amount or ZERO
    depts = _scope_departments(session, scope)
    known = {d for d, _ in depts}
    extra = sorted({d for d, _ in figures if d not in known}, key=lambda d: (d is None, d or 0))
    names = dict(depts) | _names(session, Department, extra)
    order = [d for d, _ in depts] + extra
    rows = []
    for i, m in enumerate(months):
        for dept_id in order:
            contract_amount, collected = figures[(dept_id, i)]
            rows.append({"month": m, "department_id": dept_id,
                         "department": names.get(dept_id) or _t(locale, "未分配部门", "No department"),
                         "contract_amount": _money(contract_amount), "collected": _money(collected)})
    columns = [Column("month", "月份", "Month", "month"), Column("department", "部门", "Department", "text"),
               Column("contract_amount", "合同额", "Contract amount", "money"),
               Column("collected", "回款", "Collected", "money")]
    return ReportTable("departments", _t(locale, "部门合同额与回款", "Contracts and collections by department"),
                       columns, rows, Chart("bar", "month", ("contract_amount", "collected")),
                       note="截至所选月份的 12 个月：合同额为当月签订的已审批/已签/已关闭合同金额（按合同所属部门），"
                            "回款为当月收到的回款（按回款所属部门）；销售人员只统计本人的合同。")


# ---- 8. sectors side by side ----------------------------------------------------------------------------------------
@report("sectors", "版块对比", "Sectors compared", levels=("group",))
def sectors(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    start, end = month_bounds(month)
    after = next_month(month)
    listed = _sectors(session, scope)
    ids = [sector_id for sector_id, _name in listed]  # explicit, so that (sector_id, <time>) indexes serve

    def per_sector(sector_col, value, *where) -> dict[int, Any]:
        return dict(session.execute(select(sector_col, value).where(sector_col.in_(ids), *where)
                                    .group_by(sector_col)).all())

    count = func.count()
    figures = {
        "new_customers": per_sector(Customer.sector_id, count, Customer.created_at >= start,
                                    Customer.created_at < end),
        "new_opportunities": per_sector(Opportunity.sector_id, count, Opportunity.created_at >= start,
                                        Opportunity.created_at < end),
        "contract_amount": per_sector(Contract.sector_id, func.sum(Contract.amount),
                                      Contract.status.in_(EFFECTIVE_STATUSES), Contract.signed_on >= month,
                                      Contract.signed_on < after),
        "collected": per_sector(Collection.sector_id, func.sum(Collection.amount), Collection.received_on >= month,
                                Collection.received_on < after),
        "activities": per_sector(Activity.sector_id, count, Activity.occurred_at >= start,
                                 Activity.occurred_at < end),
    }
    # the open pipeline once, per (sector, stage): its sum and its weighted forecast both derive from it
    probability = _probabilities(session, scope)
    pipeline: dict[int, Decimal] = defaultdict(Decimal)
    weighted: dict[int, Decimal] = defaultdict(Decimal)
    for sector_id, code, amount in session.execute(
            select(Opportunity.sector_id, Opportunity.stage_code, func.sum(Opportunity.amount))
            .where(Opportunity.sector_id.in_(ids), Opportunity.status == "open")
            .group_by(Opportunity.sector_id, Opportunity.stage_code)).all():
        pipeline[sector_id] += amount or ZERO
        weighted[sector_id] += (amount or ZERO) * probability.get((sector_id, code), 0) / 100
    figures["pipeline"] = pipeline
    rows = []
    for sector_id, name in listed:
        row: dict[str, Any] = {"sector_id": sector_id, "sector": name}
        for key in ("new_customers", "new_opportunities", "activities"):
            row[key] = int(figures[key].get(sector_id) or 0)
        for key in ("pipeline", "contract_amount", "collected"):
            row[key] = _money(figures[key].get(sector_id))
        row["forecast"] = _money(weighted.get(sector_id))
        rows.append(row)
    columns = [Column("sector", "版块", "Sector", "text"),
               Column("new_customers", "新增客户", "New customers"),
               Column("new_opportunities", "新增商机", "New opportunities"),
               Column("pipeline", "进行中商机金额", "Open pipeline", "money"),
               Column("forecast", "预测金额（加权）", "Forecast (weighted)", "money"),
               Column("contract_amount", "合同额", "Contract amount", "money"),
               Column("collected", "回款", "Collected", "money"),
               Column("activities", "跟进记录", "Activities")]
    return ReportTable("sectors", _t(locale, "版块对比", "Sectors compared"), columns, rows,
                       Chart("bar", "sector", ("pipeline", "forecast", "contract_amount", "collected")),
                       note="所选月份各版块：新增客户、新增商机、跟进记录为当月录入/登记的数量；合同额为当月签订的"
                            "已审批/已签/已关闭合同；回款为当月收到的回款；进行中商机金额与预测金额"
                            "（金额 × 阶段赢单概率）为当前数。")

