"""The monthly ranking's rules (P1, P2, P4) for a sector: page `/reports/ranking/settings` and API
`GET/PUT /api/v1/reports/ranking/settings`.

Sales management and the sector admin set their own sector's values (sector-level settings, audited by
models.settings.put); everyone else gets 403. All values are checked before anything is written, and one request
is one transaction: a refused field (422, named) leaves every setting as it was.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from marshmallow import Schema, fields, validate

from models.reports import ranking as rk
from web import csrf
from web.api import current_api_user, token_required
from web.api.openapi import op, register
from web.db import db
from web.errors import run_write
from web.i18n import add_translations
from web.i18n import gettext as _

ranking_settings_bp = Blueprint("ranking_settings", __name__)
API_PATH = "/api/v1/reports/ranking/settings"

add_translations({
    "Ranking rules": "排名规则",
    "Ranking rules saved.": "排名规则已保存。",
    "Entry thresholds": "入围门槛",
    "Minimum new customers in the month": "当月新增客户不少于",
    "Minimum new opportunities in the month": "当月新增销售机会不少于",
    "Score weights": "得分权重",
    "Each figure is scored against the best of the month in the same group; the weights are shares of 100.":
        "每项指标与同组当月最高值相比计分；各项权重按总和折算为 100 分。",
    "weight: new customers": "新增客户权重", "weight: new opportunities": "新增销售机会权重",
    "weight: calls and visits": "电话拜访权重", "weight: customer value": "客户价值权重",
    "weight: opportunity value": "销售机会价值权重", "weight: stage advances": "阶段推进权重",
    "Reps": "销售人员", "Agents": "代理商销售",
    "Top places with routing priority next month": "前几名下月商机分配优先",
    "Bottom places": "末位名额",
    "Months in a row at the bottom that remove lead rights": "连续末位几个月取消商机分配资格",
    "Places with presales priority (by customer and opportunity value)": "售前资源优先名额（按客户与销售机会价值）",
    "Only sales management and the sector admin set the ranking rules.": "只有销售管理部和版块管理员可以设置排名规则。",
    "must be a whole number": "请输入整数。",
    "must be a number": "请输入数字。",
    "unknown field": "未知字段。",
    "the weights must add up to more than 0": "权重之和必须大于 0。",
    "an object of figure: weight": "请按“指标: 权重”填写。",
    "between 0 and 1000": "请输入 0 到 1000 之间的数字。",
    "between 1 and 12": "请输入 1 到 12 之间的数字。",
})

# form rows: (field, English label)
THRESHOLDS = (("min_new_customers", "Minimum new customers in the month"),
              ("min_new_opportunities", "Minimum new opportunities in the month"))
WEIGHT_LABELS = (("new_customers", "weight: new customers"), ("new_opportunities", "weight: new opportunities"),
                 ("phone_visits", "weight: calls and visits"), ("customer_value", "weight: customer value"),
                 ("opportunity_value", "weight: opportunity value"), ("stage_advances", "weight: stage advances"))
SIZES = (("top_n", "agent_top_n", "Top places with routing priority next month"),
         ("bottom_n", "agent_bottom_n", "Bottom places"),
         ("presales_n", "agent_presales_n", "Places with presales priority (by customer and opportunity value)"))
FORBIDDEN = "Only sales management and the sector admin set the ranking rules."


# ---- the API --------------------------------------------------------------------------------------------------
def _error(status: int, message: str, field: str | None = None):
    body: dict[str, Any] = {"message": message}
    if field is not None:
        body["errors"] = {field: [message]}
    return body, status


def _save(user, data: Any) -> dict[str, Any]:
    return run_write(lambda: rk.save_settings(db(), user, data))


@ranking_settings_bp.get(API_PATH)
@token_required
def api_get():
    user = current_api_user()
    if not rk.may_edit_settings(user):
        return _error(403, FORBIDDEN)
    return rk.ranking_settings(db(), user.sector_id)


@ranking_settings_bp.put(API_PATH)
@token_required
def api_put():
    user = current_api_user()
    if not rk.may_edit_settings(user):
        return _error(403, FORBIDDEN)
    body = request.get_json(silent=True)
    try:
        return _save(user, body)
    except rk.SettingsError as exc:
        return _error(422, exc.message, exc.field)


csrf.exempt(api_get)
csrf.exempt(api_put)  # bearer tokens, not cookies


# ---- the page -------------------------------------------------------------------------------------------------
def _form_number(raw: str | None, *, whole: bool) -> Any:
    """A form value as a number when it reads as one; otherwise the text, which validation refuses by name."""
    text = (raw or "").strip()
    if whole:
        return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else text
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    if value.copy_abs() > rk.WEIGHT_MAX:  # out of range anyway: never int("1e99999999"), a 10**99999999 integer
        return float(max(min(value, Decimal(rk.WEIGHT_MAX + 1)), Decimal(-1)))
    return int(value) if value == value.to_integral_value() else float(value)


def _from_form(form) -> dict[str, Any]:
    data: dict[str, Any] = {name: _form_number(form.get(name), whole=True)
                            for name in rk.SETTING_KEYS if name != "weights"}
    data["weights"] = {key: _form_number(form.get(f"weights.{key}"), whole=False) for key in rk.WEIGHTED}
    return data


def _render(values: dict[str, Any], errors: dict[str, str], status: int = 200):
    return render_template("reports/ranking_settings.html", values=values, errors=errors, thresholds=THRESHOLDS,
                           weight_labels=WEIGHT_LABELS, sizes=SIZES), status


@ranking_settings_bp.get("/reports/ranking/settings")
@login_required
def page():
    if not rk.may_edit_settings(current_user):
        return render_template("error.html", message=_(FORBIDDEN)), 403
    return _render(rk.ranking_settings(db(), current_user.sector_id), {})


@ranking_settings_bp.post("/reports/ranking/settings")
@login_required
def save():
    if not rk.may_edit_settings(current_user):
        return render_template("error.html", message=_(FORBIDDEN)), 403
    data = _from_form(request.form)
    try:
        _save(current_user, data)
    except rk.SettingsError as exc:
        shown = {**data, "weights": {k: request.form.get(f"weights.{k}", "") for k in rk.WEIGHTED}}
        for name in rk.SETTING_KEYS:
            if name != "weights":
                shown[name] = request.form.get(name, "")
        return _render(shown, {exc.field: exc.message}, 422)
    flash(_("Ranking rules saved."), "success")
    return redirect(url_for("ranking_settings.page"))


# ---- the OpenAPI document ---------------------------------------------------------------------------------------
def _count(low: int = 0, high: int = 1000, **kw) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **kw)


class RankingWeights(Schema):
    class Meta:
        unknown = "raise"

    new_customers = fields.Float(validate=validate.Range(min=0, max=rk.WEIGHT_MAX))
    new_opportunities = fields.Float(validate=validate.Range(min=0, max=rk.WEIGHT_MAX))
    phone_visits = fields.Float(validate=validate.Range(min=0, max=rk.WEIGHT_MAX))
    customer_value = fields.Float(validate=validate.Range(min=0, max=rk.WEIGHT_MAX))
    opportunity_value = fields.Float(validate=validate.Range(min=0, max=rk.WEIGHT_MAX))
    stage_advances = fields.Float(validate=validate.Range(min=0, max=rk.WEIGHT_MAX))


class RankingSettingsIn(Schema):
    class Meta:
        unknown = "raise"

    min_new_customers = _count(metadata={"description": "P1 entry threshold: new customers in the month"})
    min_new_opportunities = _count(metadata={"description": "P1 entry threshold: new opportunities in the month"})
    weights = fields.Nested(RankingWeights, metadata={
        "description": "score weights (merged onto the current ones; their sum must be above 0)"})
    top_n = _count(metadata={"description": "P2 reps with routing priority next month"})
    agent_top_n = _count()
    bottom_n = _count(metadata={"description": "P2 reps marked bottom"})
    agent_bottom_n = _count()
    bottom_months = _count(1, 12, metadata={"description": "P2 bottom months in a row that remove lead rights"})
    presales_n = _count(metadata={"description": "P4 reps with presales priority"})
    agent_presales_n = _count()


class RankingSettingsOut(RankingSettingsIn):
    pass


register({
    "/reports/ranking/settings": {
        "get": op("The ranking rules in force for your sector (sales management, sector admin; P1 P2 P4)",
                  (200, "RankingSettingsOut"), errors=(401, 403)),
        "put": op("Change your sector's ranking rules (any subset of the fields; all or nothing)",
                  (200, "RankingSettingsOut"), body="RankingSettingsIn", errors=(401, 403, 422)),
    },
}, {"RankingWeights": RankingWeights, "RankingSettingsIn": RankingSettingsIn,
    "RankingSettingsOut": RankingSettingsOut})
