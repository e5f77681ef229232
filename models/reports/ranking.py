"""The monthly ranking of salespeople (P1), its effects (P2 routing priority and lead rights, P4 presales
priority, L4 uses the priority) and the two ranking reports (销售排名, 代理商排名).

Ranking, per sector and Beijing-time month; reps and agents' salespeople (channel_rep grant) ranked separately:
- who: active users of the sector holding a sales_rep or channel_rep grant;
- qualified: new_customers >= `ranking.min_new_customers` and new_opportunities >= `ranking.min_new_opportunities`
  (per-sector settings); the others get no rank (未达门槛, with what they miss);
- score (0–100, 2 decimals): Σ weight_k × figure_k / best_k, over Σ weights, × 100, for the figures of WEIGHTED;
  best_k is the best figure among the qualified of the same group (nobody has it: the term counts 0);
- rank 1 = the best (rounded) score; ties go to the higher contract amount, then the higher opportunity value,
  then the lower user id, so every place is distinct and every run gives the same order;
- mark: `top` for rank <= top_n; `bottom` for the last bottom_n ranked, except those marked top (a small group
  never has a person both top and bottom);
- P4: value_rank by contract amount + opportunity value among the qualified (ties: contract amount, user id);
  presales priority for value_rank <= presales_n.

`close_month` writes the month's `RepRanking` rows (idempotent: they replace the month's earlier rows) and applies
the effects: routing priority for the next month (P2/L4), lead rights removed after `ranking.bottom_months`
bottom marks in a row (P2, audited), notifications (deduplicated per month, so a re-run sends nothing twice).
"""
from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from models import audit, clock, settings
from models.lead_routing import RoutingPriority, replace_ranking_priorities
from models.notifications import notify
from models.org import Department, Sector, User, UserRole
from models.reports.monthly import build_snapshot, is_closed, user_month_stats
from models.reports.records import ReportMonthStat, RepRanking
from models.reports.scope import REP_ROLES, ReportScope, add_months, next_month
from models.reports.tables import Chart, Column, ReportTable, report

GROUPS = ("rep", "agent")
# score figure -> the monthly figure it reads (customer value = contracts signed in the month)
WEIGHTED = {"new_customers": "new_customers", "new_opportunities": "new_opportunities",
            "phone_visits": "phone_visits", "customer_value": "contract_amount",
            "opportunity_value": "opportunity_value", "stage_advances": "stage_advances"}
# API / form field -> setting key
SETTING_KEYS = {
    "min_new_customers": "ranking.min_new_customers", "min_new_opportunities": "ranking.min_new_opportunities",
    "weights": "ranking.weights", "top_n": "ranking.top_n", "agent_top_n": "ranking.agent_top_n",
    "bottom_n": "ranking.bottom_n", "agent_bottom_n": "ranking.agent_bottom_n",
    "bottom_months": "ranking.bottom_months", "presales_n": "ranking.presales_n",
    "agent_presales_n": "ranking.agent_presales_n",
}
SETTING_BOUNDS = {name: (1, 12) if name == "bottom_months" else (0, 1000) for name in SETTING_KEYS if name != "weights"}
WEIGHT_MAX = 1000
EDITOR_ROLES = frozenset({"sales_mgmt_manager", "sector_admin"})
PRESALES_ROLES = ("impl_manager", "impl_vp")  # who hands out presales and expert resources (P4)
CHART_LIMIT = 20
TWO = Decimal("0.01")


# ---- settings ------------------------------------------------------------------------------------------------
def ranking_settings(session: Session, sector_id: int | None) -> dict[str, Any]:
    """The ranking settings in force for the sector (sector value, else group value, else default)."""
    out = {name: settings.get(session, key, sector_id) for name, key in SETTING_KEYS.items()}
    out["weights"] = {k: out["weights"].get(k, 0) for k in WEIGHTED}
    return out


def sizes(cfg: dict[str, Any], group: str) -> tuple[int, int, int]:
    """(top_n, bottom_n, presales_n) of a rank group."""
    if group == "agent":
        return int(cfg["agent_top_n"]), int(cfg["agent_bottom_n"]), int(cfg["agent_presales_n"])
    return int(cfg["top_n"]), int(cfg["bottom_n"]), int(cfg["presales_n"])


class SettingsError(Exception):
    """Refused ranking settings: `field` names the input at fault (422)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def validate_settings(data: Any, current: dict[str, Any]) -> dict[str, Any]:
    """The changed values ({field: value}, weights merged onto the current ones); SettingsError otherwise."""
    if not isinstance(data, dict):
        raise SettingsError("_body", "expected a JSON object")
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in SETTING_KEYS:
            raise SettingsError(str(name)[:80], "unknown field")
        if name == "weights":
            out[name] = _weights(value, current["weights"])
            continue
        low, high = SETTING_BOUNDS[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise SettingsError(name, "must be a whole number")
        if not low <= value <= high:
            raise SettingsError(name, f"between {low} and {high}")
        out[name] = value
    return out


def _weights(value: Any, current: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError("weights", "an object of figure: weight")
    merged = dict(current)
    for key, weight in value.items():
        field = f"weights.{key}"[:80]
        if key not in WEIGHTED:
            raise SettingsError(field, "unknown field")
        # isfinite only on floats: math.isfinite(10**400) raises OverflowError (a JSON integer can be that long)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or (
                isinstance(weight, float) and not math.isfinite(weight)):
            raise SettingsError(field, "must be a number")
        if not 0 <= weight <= WEIGHT_MAX:
            raise SettingsError(field, f"between 0 and {WEIGHT_MAX}")
        merged[key] = weight
    if sum(merged.values()) <= 0:
        raise SettingsError("weights", "the weights must add up to more than 0")
    return merged


def may_edit_settings(user: User) -> bool:
    """Sales management and the sector admin set their own sector's ranking rules."""
    return bool(user.is_active and user.sector_id is not None and user.role_codes & EDITOR_ROLES)


def save_settings(session: Session, user: User, data: Any) -> dict[str, Any]:
    """Validate everything, then write the changed values for the user's sector (audited by settings.put)."""
    current = ranking_settings(session, user.sector_id)
    changes = validate_settings(data, current)
    for name, value in changes.items():
        if value != current[name]:
            settings.put(session, SETTING_KEYS[name], value, sector_id=user.sector_id, actor_id=user.id)
    session.flush()
    return ranking_settings(session, user.sector_id)


# ---- the ranking ---------------------------------------------------------------------------------------------
def _sector_scope(sector_id: int) -> ReportScope:
    return ReportScope("sector", f"sector:{sector_id}", "", (sector_id,))


def _ranked_people(session: Session, sector_id: int) -> set[int]:
    return set(session.scalars(select(User.id).where(
        User.sector_id == sector_id, User.status == "active",
        exists().where(UserRole.user_id == User.id, UserRole.role_code.in_(REP_ROLES)))))


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _rank_group(rows: list[dict[str, Any]], cfg: dict[str, Any], group: str) -> None:
    top_n, bottom_n, presales_n = sizes(cfg, group)
    weights = {k: _dec(w) for k, w in cfg["weights"].items()}
    total = sum(weights.values())
    qualified = [r for r in rows if r["qualified"]]
    best = {k: max((_dec(r[k]) for r in qualified), default=Decimal(0)) for k in WEIGHTED}
    for row in qualified:
        acc = sum((weights[k] * _dec(row[k]) / best[k] for k in WEIGHTED if best[k] > 0), Decimal(0))
        row["score"] = (acc * 100 / total).quantize(TWO, ROUND_HALF_UP) if total > 0 else Decimal("0.00")
    qualified.sort(key=lambda r: (-r["score"], -r["contract_amount"], -r["opportunity_value"], r["user_id"]))
    count = len(qualified)
    for rank, row in enumerate(qualified, start=1):
        row["rank"] = rank
        row["mark"] = "top" if rank <= top_n else "bottom" if rank > count - bottom_n else None
    by_value = sorted(qualified, key=lambda r: (-(r["contract_amount"] + r["opportunity_value"]),
                                                -r["contract_amount"], r["user_id"]))
    for value_rank, row in enumerate(by_value, start=1):
        row["value_rank"] = value_rank
        row["presales_priority"] = value_rank <= presales_n


def _order(row: dict[str, Any]) -> tuple:
    return (GROUPS.index(row["rank_group"]), row["rank"] is None, row["rank"] or 0, row["user_id"])


def _base_row(stat: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    row = dict(stat)
    row["rank_group"] = "agent" if stat["is_agent"] else "rep"
    row["customer_value"] = stat["contract_amount"]
    need = {"new_customers": int(cfg["min_new_customers"]), "new_opportunities": int(cfg["min_new_opportunities"])}
    row["missing"] = {k: {"have": stat[k], "need": n} for k, n in need.items() if stat[k] < n}
    row.update(qualified=not row["missing"], score=None, rank=None, mark=None, value_rank=None,
               presales_priority=False, routing_priority=False, lost_lead_rights=False)
    return row


def compute_ranking(session: Session, sector_id: int, month: date, cfg: dict[str, Any] | None = None,
                    stats: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The month's ranking of the sector, computed now (nothing written); see the module docstring.

    Each row: the person's monthly figures (models.reports.monthly) plus rank_group, customer_value, qualified,
    missing {figure: {have, need}}, score, rank, mark, value_rank, presales_priority. Sorted by group and rank,
    the unqualified last."""
    cfg = cfg or ranking_settings(session, sector_id)
    people = _ranked_people(session, sector_id)
    if stats is None:  # the group view passes every sector's figures, read once
        stats, _from_snapshot = user_month_stats(session, _sector_scope(sector_id), month)
    rows = [_base_row(s, cfg) for s in stats if s["user_id"] in people]
    for group in GROUPS:
        _rank_group([r for r in rows if r["rank_group"] == group], cfg, group)
    return sorted(rows, key=_order)


def stored_ranking(session: Session, sector_id: int, month: date
                   ) -> tuple[list[dict[str, Any]], datetime, dict[str, Any]] | None:
    """The closed month's RepRanking rows with the month's figures and the rules it was closed with (thresholds,
    sizes, weights: later changes of the settings do not rewrite a closed month), or None when it was not closed."""
    stored = {r.user_id: r for r in session.scalars(select(RepRanking).where(
        RepRanking.month == month, RepRanking.sector_id == sector_id))}
    if not stored:
        return None
    rules = next((r.rules for r in stored.values() if r.rules), None)
    cfg = _public_settings(rules) if rules else ranking_settings(session, sector_id)
    stats, _ = user_month_stats(session, _sector_scope(sector_id), month)
    rows = []
    for stat in stats:
        saved = stored.get(stat["user_id"])
        if saved is None:
            continue
        row = _base_row(stat, cfg)
        row.update({k: getattr(saved, k) for k in ("rank_group", "qualified", "score", "rank", "mark", "value_rank",
                                                   "presales_priority", "routing_priority", "lost_lead_rights")})
        if row["qualified"]:
            row["missing"] = {}
        rows.append(row)
    return sorted(rows, key=_order), max(r.computed_at for r in stored.values()), cfg


def ranking_for(session: Session, sector_id: int, month: date, stats: list[dict[str, Any]] | None = None,
                ) -> tuple[list[dict[str, Any]], datetime | None, dict[str, Any]]:
    """(rows, closed at, rules): the stored ranking of a closed month with the rules it was closed with, else the
    live (provisional) one under today's settings (closed at None)."""
    if is_closed(month):
        stored = stored_ranking(session, sector_id, month)
        if stored is not None:
            return stored
    cfg = ranking_settings(session, sector_id)
    return compute_ranking(session, sector_id, month, cfg, stats), None, cfg


# ---- closing a month (P2, P4) ----------------------------------------------------------------------------------
def _month_label(month: date) -> str:
    return f"{month.year}年{month.month}月"


def _insert_rows(session: Session, sector_id: int, month: date, rows: list[dict[str, Any]], now: datetime,
                 lost_before: set[int], cfg: dict[str, Any]) -> None:
    rules = _public_settings(cfg)
    session.execute(delete(RepRanking).where(RepRanking.month == month, RepRanking.sector_id == sector_id))
    if rows:
        session.execute(RepRanking.__table__.insert(), [
            {"month": month, "sector_id": sector_id, "department_id": r["department_id"], "user_id": r["user_id"],
             "rank_group": r["rank_group"], "qualified": r["qualified"], "score": r["score"], "rank": r["rank"],
             "mark": r["mark"], "value_rank": r["value_rank"], "presales_priority": r["presales_priority"],
             "routing_priority": r["mark"] == "top", "lost_lead_rights": r["user_id"] in lost_before,
             "rules": rules, "computed_at": now} for r in rows])


def _remove_lead_rights(session: Session, sector_id: int, month: date, months_in_row: int, as_of: datetime,
                        ) -> list[int]:
    """P2: people marked bottom in each of the last `months_in_row` closed months lose their lead rights."""
    months = [add_months(month, -i) for i in range(months_in_row)]
    offenders = (select(RepRanking.user_id)
                 .where(RepRanking.sector_id == sector_id, RepRanking.month.in_(months), RepRanking.mark == "bottom")
                 .group_by(RepRanking.user_id).having(func.count(func.distinct(RepRanking.month)) == months_in_row))
    # conditional UPDATE … RETURNING: only those who still had rights (a second worker finds nobody left)
    lost = sorted(session.scalars(
        update(User).where(User.id.in_(offenders), User.sector_id == sector_id, User.lead_rights.is_(True))
        .values(lead_rights=False).returning(User.id)))
    for uid in lost:
        audit.record(session, actor_id=None, action="user.lead_rights_removed", entity_type="user", entity_id=uid,
                     sector_id=sector_id, before={"lead_rights": True},
                     after={"lead_rights": False, "reason": f"P2: bottom of the monthly ranking {months_in_row} "
                                                            f"months in a row (to {month:%Y-%m})"})
    return lost


def _role_holders(session: Session, sector_id: int, roles: tuple[str, ...], department_id: int | None = None,
                  ) -> list[int]:
    where = [UserRole.role_code.in_(roles), User.sector_id == sector_id, User.status == "active"]
    if department_id is not None:
        where.append(UserRole.department_id == department_id)
    return sorted(set(session.scalars(select(User.id).join(UserRole, UserRole.user_id == User.id).where(*where))))


def _notify(session: Session, sector_id: int, month: date, rows: list[dict[str, Any]], lost: list[int],
            cfg: dict[str, Any]) -> int:
    ym, label = f"{month:%Y-%m}", _month_label(month)
    link = f"/reports/ranking?month={ym}"
    sent = 0
    for row in rows:
        title_group = "代理商排名" if row["rank_group"] == "agent" else "销售排名"
        _top, bottom_n, _presales = sizes(cfg, row["rank_group"])
        if row["mark"] == "top":
            sent += notify(session, [row["user_id"]], "info", f"{label}{title_group}第{row['rank']}名，下月线索分配优先",
                           link=link, sector_id=sector_id, dedupe_key=f"ranking:{ym}:top")
        elif row["mark"] == "bottom":
            sent += notify(session, [row["user_id"]], "info", f"{label}{title_group}第{row['rank']}名（后{bottom_n}名）",
                           body=f"连续{cfg['bottom_months']}个月排名后{bottom_n}名将失去线索分配资格（P2）。",
                           link=link, sector_id=sector_id, dedupe_key=f"ranking:{ym}:bottom")
        if row["presales_priority"]:
            sent += notify(session, [row["user_id"]], "info",
                           f"{label}客户与销售机会价值第{row['value_rank']}名，售前与专家资源优先支持（P4）",
                           link=link, sector_id=sector_id, dedupe_key=f"ranking:{ym}:presales")
    by_id = {r["user_id"]: r for r in rows}
    sales_mgmt = _role_holders(session, sector_id, ("sales_mgmt_manager",))
    for uid in lost:
        row = by_id[uid]
        title = f"连续{cfg['bottom_months']}个月排名末位，已失去线索分配资格（P2）"
        sent += notify(session, [uid], "info", title, link=link, sector_id=sector_id,
                       dedupe_key=f"ranking:{ym}:lost:{uid}")
        managers = set(sales_mgmt)
        if row["department_id"] is not None:
            managers |= set(_role_holders(session, sector_id, ("dept_manager",), row["department_id"]))
        sent += notify(session, managers - {uid}, "info", f"{row['name']}{title}", link=link, sector_id=sector_id,
                       dedupe_key=f"ranking:{ym}:lost:{uid}")
    presales = sorted((r for r in rows if r["presales_priority"]), key=lambda r: (r["rank_group"], r["value_rank"]))
    if presales:
        names = "、".join(f"{r['name']}（{'代理商' if r['rank_group'] == 'agent' else '销售'}第{r['value_rank']}名）"
                         for r in presales)
        sent += notify(session, _role_holders(session, sector_id, PRESALES_ROLES), "info",
                       f"{label}售前与专家资源优先名单（{len(presales)}人）", body=names, link=link,
                       sector_id=sector_id, dedupe_key=f"ranking:{ym}:presales-list:{sector_id}")
    return sent


def close_month(session: Session, month: date, as_of: datetime) -> dict[str, Any]:
    """Write every sector's ranking of `month` (replacing earlier rows) and apply P2 and P4; a summary."""
    month = month.replace(day=1)
    if not session.scalar(select(func.count()).select_from(ReportMonthStat).where(ReportMonthStat.month == month)):
        build_snapshot(session, month)
    summary = dict.fromkeys(("ranked", "qualified", "top", "bottom", "presales", "routing_priorities",
                             "lead_rights_removed", "notifications"), 0)
    now = clock.now()
    for sector_id in session.scalars(select(Sector.id).order_by(Sector.id)).all():
        cfg = ranking_settings(session, sector_id)
        rows = compute_ranking(session, sector_id, month, cfg)
        lost_before = set(session.scalars(select(RepRanking.user_id).where(
            RepRanking.month == month, RepRanking.sector_id == sector_id, RepRanking.lost_lead_rights.is_(True))))
        _insert_rows(session, sector_id, month, rows, now, lost_before, cfg)
        top = [r["user_id"] for r in rows if r["mark"] == "top"]  # rows are sorted: reps, then agents, by rank
        summary["routing_priorities"] += replace_ranking_priorities(session, sector_id, next_month(month), top)
        lost = _remove_lead_rights(session, sector_id, month, int(cfg["bottom_months"]), as_of)
        if lost:
            session.execute(update(RepRanking).where(
                RepRanking.month == month, RepRanking.sector_id == sector_id, RepRanking.user_id.in_(lost))
                .values(lost_lead_rights=True).execution_options(synchronize_session=False))
        summary["notifications"] += _notify(session, sector_id, month, rows, lost, cfg)
        summary["ranked"] += len(rows)
        summary["qualified"] += sum(r["qualified"] for r in rows)
        summary["top"] += len(top)
        summary["bottom"] += sum(r["mark"] == "bottom" for r in rows)
        summary["presales"] += sum(r["presales_priority"] for r in rows)
        summary["lead_rights_removed"] += len(lost)
    session.flush()
    return {"month": month.isoformat(), "as_of": as_of.isoformat(), **summary}


def month_is_ranked(session: Session, month: date) -> bool:
    return bool(session.scalar(select(func.count()).select_from(RepRanking).where(RepRanking.month == month)))


# ---- the reports ------------------------------------------------------------------------------------------------
MARKS = {"rep": {"top": ("前三", "Top 3"), "bottom": ("后三", "Bottom 3")},
         "agent": {"top": ("前十", "Top 10"), "bottom": ("后十", "Bottom 10")}}
FIGURE_LABELS = {"new_customers": ("新增客户", "new customers"),
                 "new_opportunities": ("新增销售机会", "new opportunities")}


def _mark_label(group: str, mark: str | None, cfg: dict[str, Any], locale: str) -> str | None:
    if mark is None:
        return None
    top_n, bottom_n, _ = sizes(cfg, group)
    n = top_n if mark == "top" else bottom_n
    zh, en = MARKS[group][mark]
    if n != (3 if group == "rep" else 10):  # the settings changed the size: say the real number
        zh, en = (f"前{n}", f"Top {n}") if mark == "top" else (f"后{n}", f"Bottom {n}")
    return zh if locale == "zh" else en


def _qualification(row: dict[str, Any], locale: str) -> str:
    if row["qualified"]:
        return "达标" if locale == "zh" else "qualified"
    parts = [f"{FIGURE_LABELS[k][0 if locale == 'zh' else 1]} {m['have']}/{m['need']}"
             for k, m in row["missing"].items()]
    return ("未达门槛：" + "，".join(parts)) if locale == "zh" else "below the threshold: " + ", ".join(parts)


def _columns(group_level: bool) -> list[Column]:
    cols = [Column("rank", "排名", "Rank", "int"), Column("name", "姓名", "Name", "text"),
            Column("department", "部门", "Department", "text")]
    if group_level:
        cols.append(Column("sector", "版块", "Sector", "text"))
    return cols + [
        Column("new_customers", "新增客户", "New customers"),
        Column("new_opportunities", "新增销售机会", "New opportunities"),
        Column("phone_visits", "电话拜访", "Calls and visits"),
        Column("customer_value", "客户价值（元）", "Customer value (CNY)", "money"),
        Column("opportunity_value", "销售机会价值（元）", "Opportunity value (CNY)", "money"),
        Column("stage_advances", "阶段推进", "Stage advances"),
        Column("score", "得分", "Score", "decimal"),
        Column("mark", "标记", "Mark", "text"),
        Column("presales", "售前支持优先", "Presales priority", "bool"),
        Column("qualified", "达标", "Qualified", "bool"),
        Column("qualification", "入围情况", "Threshold", "text"),
    ]


def _my_place(session: Session, user_id: int, sector_id: int, month: date, row: dict[str, Any] | None,
              locale: str) -> dict[str, Any]:
    """What applies to the viewer (flat values, shown as they are): his place and mark, next month's routing
    priority (P2/L4), his lead rights, presales priority (P4)."""
    priority = session.scalar(select(RoutingPriority.rank).where(
        RoutingPriority.sector_id == sector_id, RoutingPriority.month == next_month(month),
        RoutingPriority.user_id == user_id))
    place: dict[str, Any] = {"user_id": user_id, "rank_group": None, "rank": None, "score": None, "mark": None,
                             "qualified": False, "qualification": None, "value_rank": None,
                             "presales_priority": False}
    if row is not None:
        place.update(rank_group=row["rank_group"], rank=row["rank"],
                     score=None if row["score"] is None else str(row["score"]), mark=row["mark"],
                     qualified=row["qualified"], qualification=_qualification(row, locale),
                     value_rank=row["value_rank"], presales_priority=row["presales_priority"])
    place["routing_priority"] = priority is not None  # in the month after this one
    place["lead_rights"] = bool(session.scalar(select(User.lead_rights).where(User.id == user_id)))
    return place


def _public_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    return {**cfg, "weights": {k: cfg["weights"][k] for k in WEIGHTED}}


def _build(session: Session, scope: ReportScope, month: date, locale: str, group: str) -> ReportTable:
    sector_ids = list(scope.sector_ids) if scope.sector_ids is not None else list(
        session.scalars(select(Sector.id).order_by(Sector.id)))
    sectors = dict(session.execute(select(Sector.id, Sector.name).where(Sector.id.in_(sector_ids))).all())
    depts = dict(session.execute(select(Department.id, Department.name)
                                 .where(Department.sector_id.in_(sector_ids))).all())
    rows: list[dict[str, Any]] = []
    closed_at: list[datetime | None] = []
    configs: dict[int, dict[str, Any]] = {}
    me: dict[str, Any] | None = None
    by_sector: dict[int, list[dict[str, Any]]] | None = None
    if len(sector_ids) > 1 and not is_closed(month):  # the group's open month: one pass for every sector
        by_sector = {sid: [] for sid in sector_ids}
        whole_group = ReportScope("group", "group", "", None)
        for stat in user_month_stats(session, whole_group, month)[0]:
            by_sector.setdefault(stat["sector_id"], []).append(stat)
    for sector_id in sector_ids:
        ranked, when, cfg = ranking_for(session, sector_id, month, by_sector[sector_id] if by_sector else None)
        configs[sector_id] = cfg
        closed_at.append(when)
        if scope.user_id is not None:
            mine = next((r for r in ranked if r["user_id"] == scope.user_id), None)
            if (mine["rank_group"] if mine else "rep") == group:  # one report carries it: his group's
                me = _my_place(session, scope.user_id, sector_id, month, mine, locale)
        for r in ranked:
            if r["rank_group"] != group:
                continue
            if scope.user_id is not None and r["user_id"] != scope.user_id:
                continue
            if scope.department_ids is not None and r["department_id"] not in scope.department_ids:
                continue
            rows.append({**r, "department": depts.get(r["department_id"]), "sector": sectors.get(sector_id),
                         "presales": r["presales_priority"], "mark_key": r["mark"],
                         "mark": _mark_label(group, r["mark"], cfg, locale),
                         "qualification": _qualification(r, locale)})
    stored = bool(closed_at) and all(w is not None for w in closed_at)
    zh = locale == "zh"
    if stored:
        note = ("月结排名（{}），排名与标记已生效。" if zh else "Closed month's ranking ({}); marks are in effect.").format(
            max(w for w in closed_at if w is not None).strftime("%Y-%m-%d %H:%M"))
    else:
        note = ("暂定排名：该月尚未月结，按当前数据实时计算，月结后以月结结果为准。" if zh else
                "Provisional: the month is not closed yet; computed live from the current records.")
    note += (" 得分 = Σ 权重 × 本人指标 / 本组最高值（0–100）；并列按合同额、销售机会金额、用户编号先后。" if zh else
             " Score = Σ weight × figure / the group's best (0–100); ties by contract amount, opportunity value, "
             "user id.")
    extra: dict[str, Any] = {
        "group": group, "month": month.isoformat(), "provisional": not stored, "chart_limit": CHART_LIMIT,
        "marks": {k: (zh_en[0] if zh else zh_en[1]) for k, zh_en in MARKS[group].items()},
        "settings": _public_settings(configs[sector_ids[0]]) if len(sector_ids) == 1 else None,
        "settings_by_sector": {str(sid): _public_settings(cfg) for sid, cfg in configs.items()},
        "me": me,
    }
    title = ("代理商排名" if group == "agent" else "销售排名") if zh else (
        "Agent ranking" if group == "agent" else "Sales ranking")
    return ReportTable(name="agent_ranking" if group == "agent" else "ranking", title=title,
                       columns=_columns(scope.sector_ids is None or len(sector_ids) > 1), rows=rows,
                       chart=Chart("bar", "name", ("score",)), note=note, snapshot=stored, extra=extra)


@report("ranking", "销售排名", "Sales ranking", page="ranking")
def ranking_report(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    """P1: the reps' monthly ranking (sector-wide ranks; a department sees its reps, a rep his own row)."""
    return _build(session, scope, month, locale, "rep")


@report("agent_ranking", "代理商排名", "Agent ranking", page="ranking")
def agent_ranking_report(session: Session, scope: ReportScope, month: date, locale: str) -> ReportTable:
    """P1: the agents' salespeople ranked separately."""
    return _build(session, scope, month, locale, "agent")
