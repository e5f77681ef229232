"""The BPMN modeler and DMN editor pages (流程建模 / 决策表), and their session-authenticated JSON calls.

The pages run bpmn-js / dmn-js from npm (served by web/vendor.py) with our own properties panel
(web/static/modeler/). /api/v1 takes bearer tokens only, so the pages call the thin JSON endpoints under
/modeler/api/ with the browser session and the CSRF token in the X-CSRFToken header; they call the same
engine.design operations as the API. Only process designers open these pages (403 for others); a draft of
a scope the designer does not design is 404.
"""
from __future__ import annotations

import json
from functools import wraps
from xml.sax.saxutils import quoteattr

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from marshmallow import Schema, ValidationError, fields, validate

from engine import design
from engine.errors import Forbidden, NotFound
from engine.safe_xml import DiagramError
from engine.sandbox import SandboxViolation, check_source
from engine.validation import PROCESS_ID
from models.errors import DomainError
from web.api import schemas as s
from web.api.design import CheckIn, DraftUpdateIn, PublishIn, draft_json
from web.db import db
from web.errors import run_write
from web.i18n import add_translations
from web.i18n import gettext as _
from web.vendor import dmn_installed, modeler_installed

modeler_bp = Blueprint("modeler", __name__)

# Labels of the pages and of the properties panel (the panel's labels reach the script through LABELS).
add_translations({
    "Process modeler": "流程建模", "Decision table editor": "决策表编辑",
    "Process drafts": "流程草稿", "New diagram": "新建流程图",
    "Save draft": "保存草稿", "Validate": "校验", "Publish": "发布",
    "Publish comment": "发布说明", "Properties": "属性",
    "Saved.": "已保存。", "Saving…": "正在保存…", "Unsaved changes": "有未保存的修改",
    "Someone else saved this draft meanwhile; reload the page to see their changes.":
        "其他人已保存了此草稿，请刷新页面查看他们的修改。",
    "No problems: the diagram can be published.": "没有问题，可以发布。",
    "Problems (click one to select its element):": "问题（点击可选中对应元素）：",
    "Published version %(version)s.": "已发布第 %(version)s 版。",
    "See the versions": "查看版本记录",
    "Publishing was refused:": "发布未通过：",
    "Element id": "元素标识", "Element name": "元素名称",
    "Lane role": "泳道角色", "(choose a role)": "（选择角色）",
    "Condition (Python expression)": "条件（Python 表达式）",
    "Default flow (taken when no condition holds)": "默认路径（其他条件都不满足时）",
    "Condition is valid.": "条件有效。", "Checking…": "正在检查…",
    "Connector": "连接器", "(choose a connector)": "（选择连接器）", "Result variable": "结果变量",
    "Parameters (Python expressions)": "参数（Python 表达式）",
    "Form": "表单", "Custom form": "自定义表单",
    "Form fields": "表单字段", "Add a field": "添加字段", "Remove": "删除",
    "Field name": "字段名", "Field label": "显示名称", "Field type": "字段类型",
    "Required field": "必填项", "Choices (one per line)": "选项（每行一个）",
    "Due in working days": "办理期限（工作日）", "Reminder after hours": "提醒（小时后）",
    "Escalate to role": "超期升级给", "(nobody)": "（无）",
    "Assignee variable": "处理人变量",
    "Timer duration": "定时时长", "Days": "天数", "Hours": "小时数",
    "Timer expression": "定时表达式",
    "Decision table": "决策表", "(choose a decision table)": "（选择决策表）",
    "Script before the step": "步骤前脚本", "Script after the step": "步骤后脚本",
    "Process key": "流程标识", "Executable": "可执行",
    "Select an element to edit its properties.": "选中一个元素以编辑其属性。",
    "This id is taken or not valid (letters, digits, _ - .; not starting with a digit).":
        "标识已被占用或无效（字母、数字、_ - .，不能以数字开头）。",
    "text": "单行文本", "textarea": "多行文本", "number": "数字", "date": "日期", "choice": "选项",
    "boolean": "是/否",
    "Open in the modeler": "在建模器中打开",
    "Edit a copy of version %(version)s of %(name)s as a new draft.": "以 %(name)s 第 %(version)s 版为底稿新建草稿进行编辑。",
    "Create the draft": "创建草稿", "Drafts of this process": "此流程的草稿", "Continue": "继续编辑",
    "Diagram kind": "类型", "Process (BPMN)": "流程（BPMN）", "Decision table (DMN)": "决策表（DMN）",
    "Create": "创建", "Identifier": "标识",
    "letters, digits and _ - . only; it must not start with a digit": "只能包含字母、数字和 _ - .，不能以数字开头。",
    "Updated": "更新时间", "Problems": "问题",
    "The modeler is not installed (run make run).": "建模组件未安装（请运行 make run）。",
    "Views": "视图", "Could not load the diagram:": "流程图无法加载：",
    "Could not reach the server.": "无法连接服务器。",
    "Start event": "开始事件", "End event": "结束事件",
    "Find an element": "查找元素", "No such element.": "没有该元素。", "(none)": "（无）",
    "Not declared by this connector": "该连接器未声明此参数",
    "The page has expired; reload it and try again.": "页面已过期，请刷新后重试。",
    "Longest text / largest number": "最大长度 / 最大值",
    "Decision buttons (value:label, comma separated)": "审批按钮（值:名称，逗号分隔）", "Expression is valid.": "表达式有效。",
})

# Element kinds as the panel names them (keys carry the bpmn: prefix so they stay distinct from other areas').
ELEMENT_KINDS = {
    "bpmn:Process": "流程", "bpmn:Collaboration": "协作图", "bpmn:Participant": "泳池", "bpmn:Lane": "泳道",
    "bpmn:SequenceFlow": "连线", "bpmn:MessageFlow": "消息流", "bpmn:StartEvent": "开始事件",
    "bpmn:EndEvent": "结束事件", "bpmn:IntermediateCatchEvent": "中间捕获事件",
    "bpmn:IntermediateThrowEvent": "中间抛出事件", "bpmn:BoundaryEvent": "边界事件", "bpmn:Task": "任务",
    "bpmn:UserTask": "用户任务", "bpmn:ManualTask": "人工任务", "bpmn:ServiceTask": "服务任务",
    "bpmn:ScriptTask": "脚本任务", "bpmn:BusinessRuleTask": "业务规则任务", "bpmn:SendTask": "发送任务",
    "bpmn:ReceiveTask": "接收任务", "bpmn:CallActivity": "调用活动", "bpmn:SubProcess": "子流程",
    "bpmn:ExclusiveGateway": "排他网关", "bpmn:ParallelGateway": "并行网关", "bpmn:InclusiveGateway": "包容网关",
    "bpmn:EventBasedGateway": "事件网关", "bpmn:TextAnnotation": "注释", "bpmn:DataObjectReference": "数据对象",
    "bpmn:DataStoreReference": "数据存储", "bpmn:Group": "分组",
}
add_translations(ELEMENT_KINDS)

# The words the script shows (English key → label in the page's language).
LABELS = ("Save draft", "Validate", "Publish", "Publish comment", "Properties", "Saved.", "Saving…",
          "Unsaved changes", "Someone else saved this draft meanwhile; reload the page to see their changes.",
          "No problems: the diagram can be published.", "Problems (click one to select its element):",
          "See the versions", "Publishing was refused:", "Element id", "Element name", "Lane role",
          "(choose a role)", "Condition (Python expression)", "Default flow (taken when no condition holds)",
          "Condition is valid.", "Checking…", "Connector", "(choose a connector)", "Result variable",
          "Parameters (Python expressions)", "Form", "Custom form", "Form fields", "Add a field", "Remove",
          "Field name", "Field label", "Field type", "Required field", "Choices (one per line)",
          "Due in working days", "Reminder after hours", "Escalate to role", "(nobody)", "Assignee variable",
          "Timer duration", "Days", "Hours", "Timer expression", "Decision table", "(choose a decision table)",
          "Script before the step", "Script after the step", "Process key", "Executable",
          "Select an element to edit its properties.",
          "This id is taken or not valid (letters, digits, _ - .; not starting with a digit).",
          "text", "textarea", "number", "date", "choice", "boolean", "Views", "Could not load the diagram:",
          "Could not reach the server.", "Published version %(version)s.", "Find an element",
          "No such element.", "(none)", "Not declared by this connector", "Expression is valid.",
          "Longest text / largest number", "Decision buttons (value:label, comma separated)",
          "The page has expired; reload it and try again.")

NEW_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" \
id="{key}_definitions" targetNamespace="http://crm.example.cn/bpmn">
  <bpmn:process id="{key}" name={name} isExecutable="true">
    <bpmn:startEvent id="start" name={start} />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="{key}_diagram">
    <bpmndi:BPMNPlane id="{key}_plane" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36" />\
</bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""

NEW_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" \
xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/" id="{key}_definitions" name={name} \
namespace="http://crm.example.cn/dmn">
  <decision id="{key}" name={name}>
    <decisionTable id="{key}_table" hitPolicy="FIRST">
      <input id="{key}_input_1" label="input">
        <inputExpression id="{key}_input_expression_1" typeRef="number"><text>amount</text></inputExpression>
      </input>
      <output id="{key}_output_1" label="result" name="result" typeRef="string" />
      <rule id="{key}_rule_1">
        <inputEntry id="{key}_rule_1_in"><text>-</text></inputEntry>
        <outputEntry id="{key}_rule_1_out"><text>"ok"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
  <dmndi:DMNDI>
    <dmndi:DMNDiagram id="{key}_drd">
      <dmndi:DMNShape id="{key}_di" dmnElementRef="{key}"><dc:Bounds height="80" width="180" x="160" y="100" />\
</dmndi:DMNShape>
    </dmndi:DMNDiagram>
  </dmndi:DMNDI>
</definitions>
"""


class NewDiagramIn(Schema):
    kind = fields.String(load_default="bpmn", validate=validate.OneOf(("bpmn", "dmn")))
    key = fields.String(required=True, validate=validate.Regexp(PROCESS_ID.pattern + r"\Z"))
    name = s.Text(required=True, validate=validate.Length(min=1, max=200))


def designer_required(view):
    """Pages: sign-in, then the process-designer role (403 for everyone else)."""
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not design.is_designer(current_user):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def json_call(view):
    """The session JSON endpoints: 401/403 as JSON, and every refusal as {message, errors} with its status."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return {"message": "sign in first"}, 401
        try:
            if not design.is_designer(current_user):
                raise Forbidden("only process designers may do this")
            return view(*args, **kwargs)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            return {"message": "invalid input", "errors": messages}, 422
        except DiagramError as exc:
            return {"message": "the diagram was refused", "errors": exc.errors}, 422
        except DomainError as exc:
            return exc.body(), exc.status

    return wrapper


def _body(schema: Schema) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError({"_body": ["expected a JSON object"]})
    return schema.load(body)


def _draft(draft_id: int):
    try:
        return design.visible_draft(db(), current_user, draft_id)
    except Forbidden:
        abort(403)
    except NotFound:
        abort(404)


def catalog() -> dict:
    return design.catalog(db(), current_user)


def _page_data(draft, kind: str) -> dict:
    key = draft.key or ""
    return {
        "draft": draft_json(draft),
        "kind": kind,
        "labels": {k: _(k) for k in (*LABELS, *ELEMENT_KINDS)},
        "catalog": catalog() if kind == "bpmn" else None,
        "urls": {"draft": url_for("modeler.api_draft", draft_id=draft.id),
                 "validate": url_for("modeler.api_validate", draft_id=draft.id),
                 "publish": url_for("modeler.api_publish", draft_id=draft.id),
                 "check": url_for("modeler.api_check"),
                 "versions": f"/processes/{key}/versions" if key else None},
        "locale": "zh" if _("Save draft") != "Save draft" else "en",
    }


# --- pages ----------------------------------------------------------------------------------------

@modeler_bp.get("/modeler")
@designer_required
def drafts():
    rows = design.visible_drafts(db(), current_user, limit=200)
    counts = {d.id: len(json.loads(d.problems or "[]")) for d in rows}
    return render_template("modeler/drafts.html", drafts=rows, problem_counts=counts)


@modeler_bp.get("/modeler/new")
@designer_required
def new():
    return render_template("modeler/new.html", errors={}, values={"kind": "bpmn", "key": "", "name": ""})


@modeler_bp.post("/modeler/new")
@designer_required
def create():
    values = {k: request.form.get(k, "").strip() for k in ("kind", "key", "name")}
    try:
        data = NewDiagramIn().load(values)
    except ValidationError as exc:
        return render_template("modeler/new.html", errors=exc.messages, values=values), 422
    template = NEW_DMN if data["kind"] == "dmn" else NEW_BPMN
    xml = template.format(key=data["key"], name=quoteattr(data["name"]), start=quoteattr(_("Start event")))
    filename = f"{data['key']}.{data['kind']}"
    try:
        draft = run_write(lambda: design.create_draft(db(), current_user, xml.encode("utf-8"), filename=filename))
    except DiagramError:  # a character XML cannot hold (control characters): the name is at fault
        return render_template("modeler/new.html", errors={"name": ["This name holds characters a diagram cannot store."]}, values=values), 422
    return redirect(_editor_url(draft))


def _editor_url(draft) -> str:
    if draft.kind == "dmn":
        return url_for("modeler.dmn_editor", draft_id=draft.id)
    return url_for("modeler.editor", draft_id=draft.id)


@modeler_bp.get("/modeler/open/<id:definition_id>")
@designer_required
def open_definition(definition_id: int):
    try:
        definition = design.visible_definition(db(), current_user, definition_id)
    except NotFound:
        abort(404)
    open_drafts = [d for d in design.visible_drafts(db(), current_user, limit=200) if d.key == definition.key]
    return render_template("modeler/open.html", definition=definition, drafts=open_drafts)


@modeler_bp.post("/modeler/open/<id:definition_id>")
@designer_required
def open_definition_post(definition_id: int):
    try:
        draft = run_write(lambda: design.create_draft(db(), current_user, None, base_definition_id=definition_id))
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    return redirect(_editor_url(draft))


@modeler_bp.get("/modeler/drafts/<id:draft_id>")
@designer_required
def editor(draft_id: int):
    draft = _draft(draft_id)
    if draft.kind == "dmn":
        return redirect(url_for("modeler.dmn_editor", draft_id=draft.id))
    return render_template("modeler/bpmn.html", draft=draft, data=_page_data(draft, "bpmn"),
                           installed=modeler_installed())


@modeler_bp.get("/dmn/drafts/<id:draft_id>")
@designer_required
def dmn_editor(draft_id: int):
    draft = _draft(draft_id)
    if draft.kind != "dmn":
        return redirect(url_for("modeler.editor", draft_id=draft.id))
    return render_template("modeler/dmn.html", draft=draft, data=_page_data(draft, "dmn"),
                           installed=dmn_installed())


# --- session JSON endpoints (same operations as /api/v1/design and /api/v1/drafts) ------------------

@modeler_bp.get("/modeler/api/catalog")
@json_call
def api_catalog():
    return catalog()


@modeler_bp.post("/modeler/api/check-expression")
@json_call
def api_check():
    data = _body(CheckIn())
    try:
        check_source(data["expression"], data["mode"])
    except SandboxViolation as exc:
        return {"ok": False, "message": exc.reason}
    return {"ok": True, "message": None}


@modeler_bp.get("/modeler/api/drafts/<id:draft_id>")
@json_call
def api_draft(draft_id: int):
    return draft_json(design.visible_draft(db(), current_user, draft_id), with_xml=True)


@modeler_bp.put("/modeler/api/drafts/<id:draft_id>")
@json_call
def api_save(draft_id: int):
    design.visible_draft(db(), current_user, draft_id)  # 404 before any complaint about the body
    data = _body(DraftUpdateIn())
    draft = run_write(lambda: design.update_draft(db(), current_user, draft_id, data["xml"].encode("utf-8"),
                                                  data["lock_version"]))
    return draft_json(draft)


@modeler_bp.post("/modeler/api/drafts/<id:draft_id>/validate")
@json_call
def api_validate(draft_id: int):
    analysis = run_write(lambda: design.validate_draft(db(), current_user, draft_id))
    return {"executable": analysis.executable, "problems": analysis.problems}


@modeler_bp.post("/modeler/api/drafts/<id:draft_id>/publish")
@json_call
def api_publish(draft_id: int):
    design.visible_draft(db(), current_user, draft_id)
    data = _body(PublishIn()) if request.get_data() else {"comment": None}
    definition = run_write(lambda: design.publish_draft(db(), current_user, draft_id, data["comment"]))
    out = s.DefinitionOut().dump(definition)
    out["versions_url"] = f"/processes/{definition.key}/versions"
    return out, 201


