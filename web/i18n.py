"""UI language: Chinese by default, English as the second language.

Messages are keyed by their English text; the Chinese catalogue uses the words Chinese approval
and CRM users already know (see shared/spec/ux.md).
"""
from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from flask import current_app, request, session
from flask_login import current_user

LANGUAGES = ("zh", "en")

ZH: dict[str, str] = {
    "CRM": "客户关系管理",
    "Sign in": "登录", "Sign out": "退出", "Username": "用户名", "Password": "密码",
    "Wrong username or password.": "用户名或密码错误。",
    "Too many failed attempts; try again later.": "失败次数过多，请稍后再试。",
    "Approval center": "审批中心", "Workbench": "工作台",
    "To do": "待办", "Done by me": "已办", "Started by me": "我发起的", "Copied to me": "抄送我的",
    "Quotes": "报价单", "New quote": "新建报价", "Processes": "流程管理", "Customers": "客户",
    "Process": "流程", "Title": "标题", "Requester": "发起人", "Arrived": "到达时间", "Due": "截止",
    "Status": "状态", "Step": "当前步骤", "Role": "角色", "Assignee": "处理人", "Action": "操作",
    "Open": "办理", "Claim": "领取", "Release": "退回待领", "Nothing here.": "暂无数据。",
    "Approve": "同意", "Reject": "驳回", "Comment": "审批意见", "Submit": "提交",
    "History": "流转记录", "Diagram": "流程图", "Who": "处理人", "What": "操作", "When": "时间",
    "Customer": "客户", "List amount": "目录价金额", "Quote amount": "报价金额", "Discount": "折扣",
    "Product": "产品", "Notes": "备注", "Number": "编号", "Created": "创建时间", "Decided": "审批时间",
    "Submit for approval": "提交审批", "Quote": "报价单",
    "pending": "审批中", "approved": "已批准", "rejected": "已驳回", "draft": "草稿", "withdrawn": "已撤回",
    "running": "进行中", "completed": "已完成", "error": "异常", "cancelled": "已取消", "open": "待处理",
    "started": "发起", "task_created": "到达", "task_completed": "办理", "claimed": "领取", "released": "退回待领",
    "task_cancelled": "取消", "approve": "同意", "reject": "驳回",
    "Version": "版本", "Key": "标识", "Name": "名称", "Deployed": "发布时间", "Running instances": "运行中实例",
    "Upload a new version": "上传新版本", "Upload": "上传", "File": "文件",
    "Deployed %(key)s version %(version)s.": "已发布 %(key)s 第 %(version)s 版。",
    "The diagram was refused:": "流程图未通过校验：",
    "Quote submitted for approval.": "报价已提交审批。", "Task completed.": "已办理。",
    "Task claimed.": "已领取。", "Task released.": "已退回待领。",
    "Only approved customers of yours can be quoted.": "只能为已审核通过的本人客户报价。",
    "Language": "语言", "Process instance": "流程实例", "Current step": "当前步骤",
    "Approval chain": "审批链", "The diagram viewer is not installed (run make run).": "流程图组件未安装（请运行 make run）。",
    "Keep the owner": "维持原负责人", "Transfer": "转给申请人", "Follow jointly": "共同跟进", "Phone": "电话",
    "Overdue": "已超期", "Public pool": "公海", "Leads": "商机", "Opportunities": "销售机会",
    "Import / export": "导入导出", "Page not found.": "页面不存在。", "You may not do this.": "无权执行此操作。",
    "Someone else already handled this task.": "该任务已被他人处理。",
    "Region": "区域", "Industry": "行业", "Owner": "负责人", "Back": "返回",
    "Skip to content": "跳到正文", "Menu": "菜单", "Decision": "审批结果",
    "department manager": "部门经理", "president's assistant": "总裁助理", "vice-president": "副总裁",
    # history (_history.html): events and decisions
    "Submitted": "发起", "Step reached": "到达", "Handled": "办理", "Claimed": "领取", "Released": "退回待领",
    "Timer fired": "定时触发", "Timer step failed": "定时步骤出错", "Due-date reminder": "到期提醒",
    "Overdue, escalated": "超期升级",
    "Step cancelled": "取消", "Process ended": "流程结束", "Approved": "同意", "Rejected": "驳回",
    # form field errors (web/quotes.py, models/quotes.py)
    "contains characters that are not allowed": "包含不允许的字符。", "not a valid choice": "选项无效。",
    "required": "必填。", "Enter an amount in CNY, e.g. 12000.00": "请输入人民币金额，例如 12000.00。",
    "no such customer in the system (Q1: quotes only for registered customers)":
        "系统中没有该客户（Q1：只能为已登记的客户报价）。",
    "the customer is not approved yet; a quote needs an approved customer (Q1)":
        "该客户尚未审核通过，报价需要已审核通过的客户（Q1）。",
    "list amount must be greater than 0": "目录价金额必须大于 0。",
    "quote amount must be greater than 0": "报价金额必须大于 0。",
    "quote amount cannot exceed the list amount": "报价金额不能高于目录价金额。",
}



# (key, earlier Chinese, later Chinese): one English key given two Chinese labels by two areas; the later
# one wins everywhere, so a test keeps this list to harmless synonyms.
CONFLICTS: list[tuple[str, str, str]] = []


def add_translations(catalogue: dict[str, str]) -> None:
    """Each area registers its own Chinese labels (keys are the English text)."""
    CONFLICTS.extend((k, ZH[k], v) for k, v in catalogue.items() if k in ZH and ZH[k] != v)
    ZH.update(catalogue)


def current_locale() -> str:
    lang = request.args.get("lang") if request else None
    if lang in LANGUAGES:
        session["lang"] = lang
        return lang
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale in LANGUAGES:
        return current_user.locale
    return current_app.config.get("DEFAULT_LOCALE", "zh")


def gettext(text: str, **kwargs) -> str:
    translated = ZH.get(text, text) if current_locale() == "zh" else text
    return translated % kwargs if kwargs else translated


def money(value: Decimal | float | None) -> str:
    return "" if value is None else f"¥{Decimal(value):,.2f}"


def _tenths_and_percent(discount: Decimal | float) -> tuple[str, str]:
    # Cut, never round up: 0.4999 must not read as 5折 when it is below the limit.
    d = Decimal(str(discount))
    tenths = (d * 10).quantize(Decimal("0.01"), rounding=ROUND_DOWN).normalize()
    percent = (d * 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN).normalize()
    return f"{tenths:f}", f"{percent:f}"


def zhe_label(discount: Decimal | float) -> str:
    """0.45 → '4.5折', in every language (the API carries it as discount_zhe)."""
    return f"{_tenths_and_percent(discount)[0]}折"


def zhe(discount: Decimal | float | None) -> str:
    """0.45 → '4.5折 (45%)': Chinese users read discounts as 折."""
    if discount is None:
        return ""
    tenths, percent = _tenths_and_percent(discount)
    return f"{tenths}折 ({percent}%)" if current_locale() == "zh" else f"{percent}% ({tenths}折)"


def role_name(code: str | None) -> str:
    from models.org import ROLES

    if not code or code not in ROLES:
        return code or ""
    zh, en, _scope = ROLES[code]
    return zh if current_locale() == "zh" else en
