"""Page: 实例迁移 — move a process's running instances to its latest version (issue 5).

GET shows the dry run: one row per instance with whether it can move and, if not, why (naming the BPMN
elements). The button (one confirm step) runs the real migration of the listed page: each instance in its
own transaction; the result page says what moved, what was left and what failed.
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import design, migration
from engine.errors import Forbidden, NotFound
from models.org import Sector
from web.db import db
from web.i18n import add_translations

migration_bp = Blueprint("migration", __name__)
PAGE_SIZE = 200

add_translations({
    "Instance migration": "实例迁移", "Move to the latest version": "迁移到最新版本",
    "Target version": "目标版本", "From version (instance)": "当前版本", "Can move": "可迁移",
    "Cannot move": "不可迁移", "Moved to the new version": "已迁移", "Move failed": "迁移失败", "Why not": "原因",
    "Already on the latest version": "已是最新版本", "Instance": "实例",
    "All sectors of my scope": "我负责的全部版块", "Sector": "版块", "Show instances": "查看",
    "Dry run: nothing has been changed yet.": "预演：尚未做任何改动。",
    "An instance can move when the steps it is at exist in the new version and nothing already done was "
    "changed. Each instance moves in its own transaction; the others are left as they are.":
        "实例当前所在的步骤在新版本中都存在、且已完成的步骤没有被修改时，才可以迁移。每个实例单独迁移，"
        "不可迁移的实例保持不变。",
    "Move %(n)s instances": "迁移 %(n)s 个实例",
    "Move these %(n)s instances to version %(version)s? Their open tasks, claims and due dates stay.":
        "确定将这 %(n)s 个实例迁移到第 %(version)s 版吗？待办、领取和截止时间保持不变。",
    "Confirm the migration": "确认迁移",
    "Migration done: %(moved)s moved, %(skipped)s cannot move, %(failed)s failed.":
        "迁移完成：已迁移 %(moved)s 个，不可迁移 %(skipped)s 个，失败 %(failed)s 个。",
    "%(movable)s can move, %(skipped)s cannot move, %(current)s already on the latest version.":
        "可迁移 %(movable)s 个，不可迁移 %(skipped)s 个，已是最新版本 %(current)s 个。",
    "No instance to migrate.": "没有需要迁移的实例。", "Next instances": "后续实例",
    "Back to the dry run": "返回预演",
    # reasons (engine/migration.py REASON_TEXTS)
    "the instance is %(status)s: only running instances move": "实例状态为 %(status)s：只有运行中的实例可以迁移",
    "the instance is already on version %(version)s": "实例已在第 %(version)s 版",
    "step %(step)s is not in version %(version)s": "步骤 %(step)s 在第 %(version)s 版中不存在",
    "step %(step)s is not in version %(version)s (its place there is taken by %(other)s)":
        "步骤 %(step)s 在第 %(version)s 版中不存在（该位置现为 %(other)s）",
    "step %(step)s is another kind of element in version %(version)s (%(before)s → %(after)s)":
        "步骤 %(step)s 在第 %(version)s 版中类型不同（%(before)s → %(after)s）",
    "step %(step)s is in error: repair it before moving the instance": "步骤 %(step)s 出错：请先处理再迁移",
    "completed step %(step)s is not in version %(version)s": "已完成的步骤 %(step)s 在第 %(version)s 版中不存在",
    "completed step %(step)s was changed in version %(version)s: %(fields)s":
        "已完成的步骤 %(step)s 在第 %(version)s 版中被修改：%(fields)s",
    "subprocess %(step)s is not in version %(version)s": "子流程 %(step)s 在第 %(version)s 版中不存在",
    "the stored state of the instance cannot be read: %(error)s": "无法读取实例的保存状态：%(error)s",
    "moving it failed in a trial run: %(error)s": "试迁移失败：%(error)s",
    # changed attributes (engine/migration.py FIELD_LABELS)
    "condition": "条件", "default flow": "默认流向", "outgoing flows": "流出连线", "id": "标识",
    "element type": "元素类型", "script": "脚本", "pre-script": "前置脚本", "post-script": "后置脚本",
    "connector": "连接器", "connector parameters": "连接器参数", "result variable": "结果变量",
    "event": "事件", "interrupting": "是否中断", "called process": "调用的流程", "decision table": "决策表",
    "data inputs": "数据输入", "data outputs": "数据输出", "inputs and outputs": "输入输出",
    "loop settings": "循环设置", "boundary events": "边界事件", "parallel split": "并行分支",
})


def _int_arg(source, name: str) -> int | None:
    value = (source.get(name) or "").strip()
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) <= 2**31 - 1 else None


def _sectors(user) -> list[Sector]:
    scopes = design.design_scopes(user)
    stmt = select(Sector).order_by(Sector.id)
    if None not in scopes:
        stmt = stmt.where(Sector.id.in_(sorted(s for s in scopes if s is not None)))
    return list(db().scalars(stmt))


def _render(key: str, result, *, ran: bool, sector_id: int | None, after_id: int | None, status: int = 200):
    return render_template("migration/plan.html", key=key, result=result, ran=ran, sector_id=sector_id,
                           after_id=after_id, sectors=_sectors(current_user),
                           movable_ids=[i.instance_id for i in result.items if i.can_move and not i.moved]), status


@migration_bp.get("/processes/<key>/migrate")
@login_required
def dry_run(key: str):
    sector_id, after_id = _int_arg(request.args, "sector_id"), _int_arg(request.args, "after_id")
    try:
        result = migration.plan(db(), current_user, key, sector_id, limit=PAGE_SIZE, after_id=after_id)
    except Forbidden:
        abort(403)
    except NotFound:
        abort(404)
    return _render(key, result, ran=False, sector_id=sector_id, after_id=after_id)


@migration_bp.post("/processes/<key>/migrate")
@login_required
def run(key: str):
    sector_id = _int_arg(request.form, "sector_id")
    ids = [int(v) for v in request.form.getlist("instance_id")
           if v.isascii() and v.isdigit() and 0 < int(v) <= 2**31 - 1]
    if not ids:
        ids = None
    try:
        if ids is None:  # nothing chosen: the same page the dry run showed
            result = migration.plan(db(), current_user, key, sector_id, limit=PAGE_SIZE,
                                    after_id=_int_arg(request.form, "after_id"))
            return _render(key, result, ran=False, sector_id=sector_id, after_id=None)
        result = migration.migrate(db(), current_user, key, sector_id, ids[:migration.MAX_INSTANCE_IDS],
                                   limit=PAGE_SIZE)
    except Forbidden:
        abort(403)
    except NotFound:
        abort(404)
    return _render(key, result, ran=True, sector_id=sector_id, after_id=None)
