"""API: Customers, contacts, collaborators and conflict cases (C1, C2, E1–E6, O2, O3, O6).

Thin: parse with a schema, call one operation inside `run_write`, dump. Refusals of the operations
(`CustomerError`) answer JSON {message, errors: {field: [..]}} with their status; a record the user may
not see is 404 on every path.
"""
from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from engine import customer_flows
from models import clock
from models import conflicts as conflict_ops
from models import contacts as contact_ops
from models import customers as ops
from models.crm import CUSTOMER_KINDS, CUSTOMER_STATUSES, ConflictCase, Contact, Customer
from web.api import api_bp, current_api_user, json_body, query_args, token_required
from web.api import schemas as s
from web.api.openapi import ID, PAGE, json_content, list_op, op, register
from web.db import db
from web.errors import run_write

# Optional fields accept "" (= not given).
PHONE = r"^([0-9+\-() ]{5,40})?$"
CREDIT_CODE = r"^([0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{10})?$"
# Not blank (E1), and storable: these patterns also exclude what `schemas.Text` refuses (NUL, lone surrogates),
# because the OpenAPI document carries only one pattern per field.
# Linear patterns (no nested ambiguity): a long hostile string cannot make them backtrack.
NAME = r"^\s*[^\s\x00\ud800-\udfff][^\x00\ud800-\udfff]*$"
EMAIL = r"^([^@\s\x00\ud800-\udfff]+@[^@\s.\x00\ud800-\udfff]+(\.[^@\s.\x00\ud800-\udfff]+)+)?$"


# ---------------------------------------------------------------- schemas

class StrictBoolean(fields.Boolean):
    """JSON true/false only (marshmallow would take 0, 1, "yes" …, which the document does not allow)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _bool(**kw):
    return StrictBoolean(**kw)


def _opt_text(size: int, **kw):
    return s.Text(load_default=None, allow_none=True, validate=validate.Length(max=size), **kw)


class ContactIn(s.StrictSchema):
    name = s.Text(required=True, validate=[validate.Length(min=1, max=100), validate.Regexp(NAME, error="required")])
    title = _opt_text(100)
    phone = s.Text(load_default=None, allow_none=True, validate=validate.Regexp(PHONE))
    mobile = s.Text(load_default=None, allow_none=True, validate=validate.Regexp(PHONE))
    email = s.Text(load_default=None, allow_none=True, validate=[validate.Length(max=200), validate.Regexp(EMAIL)])
    is_primary = _bool(load_default=False)


class ContactPatch(s.StrictSchema):
    name = s.Text(validate=[validate.Length(min=1, max=100), validate.Regexp(NAME, error="required")])
    title = s.Text(allow_none=True, validate=validate.Length(max=100))
    phone = s.Text(allow_none=True, validate=validate.Regexp(PHONE))
    mobile = s.Text(allow_none=True, validate=validate.Regexp(PHONE))
    email = s.Text(allow_none=True, validate=[validate.Length(max=200), validate.Regexp(EMAIL)])
    is_primary = _bool()


class ContactOut(Schema):
    id = fields.Integer()
    customer_id = fields.Integer()
    name = fields.String()
    title = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    is_primary = _bool()
    created_at = s.DateTime()
    updated_at = s.DateTime()


class CustomerIn(s.StrictSchema):
    name = s.Text(required=True, validate=[validate.Length(min=1, max=200), validate.Regexp(NAME, error="required")],
                  metadata={"description": "registered business name (工商注册名称), required (E1)"})
    credit_code = s.Text(load_default=None, allow_none=True, validate=validate.Regexp(CREDIT_CODE),
                         metadata={"description": "unified social credit code, validated with its check character"})
    kind = fields.String(load_default=None, validate=validate.OneOf(CUSTOMER_KINDS),
                         metadata={"description": "E6: sales reps enter direct, channel reps agent and end_customer"})
    agent_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                              validate=validate.Range(min=1, max=s.MAX_ID))
    phone = s.Text(load_default=None, allow_none=True, validate=validate.Regexp(PHONE))
    region = _opt_text(60)
    industry = _opt_text(60)
    address = _opt_text(300)
    grade = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(ops.GRADES))
    first_contact_at = s.DateTime(load_default=None, allow_none=True,
                                  metadata={"description": "E3: entry later than customer.entry_days is flagged"})
    contact = fields.Nested(ContactIn, load_default=None, allow_none=True)
    confirm_similar = _bool(load_default=False, metadata={
        "description": "C1: enter even though similar customers exist (otherwise 409 with `similar`)"})


class CustomerPatch(s.StrictSchema):
    name = s.Text(validate=[validate.Length(min=1, max=200), validate.Regexp(NAME, error="required")])
    credit_code = s.Text(allow_none=True, validate=validate.Regexp(CREDIT_CODE))
    phone = s.Text(allow_none=True, validate=validate.Regexp(PHONE))
    region = s.Text(allow_none=True, validate=validate.Length(max=60))
    industry = s.Text(allow_none=True, validate=validate.Length(max=60))
    address = s.Text(allow_none=True, validate=validate.Length(max=300))
    grade = fields.String(allow_none=True, validate=validate.OneOf(ops.GRADES))
    resubmit = _bool(metadata={"description": "E2: send a returned customer to a new review"})


class ShareOut(Schema):
    user_id = fields.Integer()
    name = fields.String()
    created_at = s.DateTime()


class CustomerItem(Schema):
    id = fields.Integer()
    name = fields.String()
    status = fields.String()
    kind = fields.String()
    owner_id = fields.Integer(allow_none=True, metadata={"description": "null while the customer is in the pool"})
    owner_name = fields.String(allow_none=True)
    credit_code = fields.String(allow_none=True)
    sector_id = fields.Integer()
    department_id = fields.Integer(allow_none=True)
    agent_id = fields.Integer(allow_none=True)
    region = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    grade = fields.String(allow_none=True)
    pinyin_initials = fields.String(allow_none=True)
    late_entry = fields.Boolean()
    first_contact_at = s.DateTime(allow_none=True)
    last_contact_at = s.DateTime(allow_none=True)
    created_at = s.DateTime()
    days_since_contact = fields.Integer(metadata={"description": "T1"})
    warning = fields.String(allow_none=True, metadata={"description": "T2: null, warn (30 days) or strong (60)"})
    review_instance_id = fields.Integer(allow_none=True)


class CustomerDetailOut(CustomerItem):
    company_details = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    details_completed_at = s.DateTime(allow_none=True)
    contacts = fields.List(fields.Nested(ContactOut))
    shares = fields.List(fields.Nested(ShareOut))


class CustomerQuery(s.PageQuery):
    status = fields.String(validate=validate.OneOf(CUSTOMER_STATUSES))
    owner = fields.String(validate=validate.OneOf(("mine", "pool")))
    kind = fields.String(validate=validate.OneOf(CUSTOMER_KINDS))
    # filters and search: characters no record can hold (NUL) simply match nothing
    region = fields.String(validate=validate.Length(max=60))
    industry = fields.String(validate=validate.Length(max=60))
    warning = fields.String(validate=validate.OneOf(("warn", "strong", "any", "none")))
    q = fields.String(validate=validate.Length(max=100), metadata={"description": "name, pinyin initials or phone"})
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(
        ("name", "-name", "created_at", "-created_at", "last_contact_at", "-last_contact_at")))


class DuplicateCheckIn(s.StrictSchema):
    name = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    credit_code = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=40))
    phone = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=40))


class SimilarOut(Schema):
    id = fields.Integer()
    name = fields.String()


class DuplicateCheckOut(Schema):
    exact = fields.Boolean(metadata={"description": "C1: the name or credit code is already registered"})
    exact_in_pool = fields.Boolean(metadata={"description": "the registered one is in the public pool: claim it"})
    exact_is_yours = fields.Boolean()
    message = fields.String(allow_none=True)
    similar = fields.List(fields.Nested(SimilarOut), metadata={"description": "similar customers you may see"})
    similar_count = fields.Integer(metadata={"description": "all similar customers, including those you may not see"})


class DuplicateError(Schema):
    message = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())
    similar = fields.List(fields.Nested(SimilarOut))
    similar_count = fields.Integer()
    in_pool = fields.Boolean()
    conflict_possible = fields.Boolean()
    customer_id = fields.Integer()


class ShareIn(s.StrictSchema):
    user_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                             validate=validate.Range(min=1, max=s.MAX_ID))
    username = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=80))


class ShareDeleteQuery(s.StrictSchema):
    user_id = fields.Integer(required=True, validate=validate.Range(min=1, max=s.MAX_ID))


class CompanyDetailsIn(s.StrictSchema):
    legal_representative = s.Text(required=True, validate=[validate.Length(min=1, max=300),
                                                           validate.Regexp(NAME, error="required")])
    registered_capital = _opt_text(300)
    registered_address = _opt_text(300)
    bank_name = _opt_text(300)
    bank_account = _opt_text(300)
    tax_number = s.Text(load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9A-Za-z]{15,20}$"))
    invoice_title = _opt_text(300)
    invoice_address = _opt_text(300)
    invoice_phone = _opt_text(300)
    website = _opt_text(300)


class HistoryEntryOut(Schema):
    id = fields.Integer()
    at = s.DateTime()
    actor = fields.String(allow_none=True)
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class ConflictCaseIn(s.StrictSchema):
    customer_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(min=1, max=s.MAX_ID),
                                 metadata={"description": "a customer you see (the owner opening a case)"})
    name = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=200),
                  metadata={"description": "or: the registered name you were refused for (C1)"})
    credit_code = s.Text(load_default=None, allow_none=True, validate=validate.Length(max=40))
    claimant_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(min=1, max=s.MAX_ID),
                                 metadata={"description": "the other salesperson, when the owner opens the case"})
    reason = s.Text(required=True, validate=[validate.Length(min=1, max=4000), validate.Regexp(NAME, error="required")])


class ConflictCaseOut(Schema):
    id = fields.Integer()
    customer_id = fields.Integer()
    customer_name = fields.String()
    status = fields.String()
    decision = fields.String(allow_none=True)
    reason = fields.String()
    opened_by = fields.Integer()
    owner_id = fields.Integer(allow_none=True, metadata={"description": "shown only to those who see the customer"})
    claimant_id = fields.Integer(allow_none=True)
    process_instance_id = fields.Integer(allow_none=True)
    created_at = s.DateTime()
    decided_at = s.DateTime(allow_none=True)


# ---------------------------------------------------------------- helpers

def _check(value: int) -> int:
    if not 1 <= value <= s.MAX_ID:
        raise ops.not_found()
    return value


def customer_json(customer: Customer, owner_name: str | None = None, *, detail: bool = False) -> dict:
    session = db()
    now = clock.now()
    warn, strong = ops.warning_days(session, customer.sector_id)
    data = {k: getattr(customer, k) for k in (
        "id", "name", "status", "kind", "owner_id", "credit_code", "sector_id", "department_id", "agent_id", "region",
        "industry", "phone", "address", "grade", "pinyin_initials", "late_entry", "first_contact_at",
        "last_contact_at", "created_at", "review_instance_id")}
    data.update(owner_name=owner_name, days_since_contact=ops.days_since_contact(customer, now),
                warning=ops.contact_warning(customer, now, warn, strong))
    if not detail:
        return CustomerItem().dump(data)
    from models.org import User

    if customer.owner_id and owner_name is None:
        owner = session.get(User, customer.owner_id)
        data["owner_name"] = owner.display_name if owner else None
    data.update(company_details=customer.company_details, details_completed_at=customer.details_completed_at,
                contacts=ContactOut(many=True).dump(contact_ops.list_contacts(session, current_api_user(), customer.id,
                                                                              limit=200)),
                shares=[{"user_id": sh.user_id, "name": name, "created_at": sh.created_at}
                        for sh, name in ops.shares_of(session, customer.id)])
    return CustomerDetailOut().dump(data)


def case_json(case: ConflictCase) -> dict:
    session, user = db(), current_api_user()
    customer = session.get(Customer, case.customer_id)
    sees_customer = session.scalar(
        select(Customer.id).where(Customer.id == customer.id, ops.access.customer_filter(user))) is not None
    return ConflictCaseOut().dump({
        **{k: getattr(case, k) for k in ("id", "customer_id", "status", "decision", "reason", "opened_by",
                                         "claimant_id", "process_instance_id", "created_at", "decided_at")},
        "customer_name": customer.name, "owner_id": case.owner_id if sees_customer else None})


# ---------------------------------------------------------------- routes

@api_bp.get("/customers")
@token_required
def list_customers():
    q = query_args(CustomerQuery())
    rows = ops.list_customers(db(), current_api_user(), ops.ListQuery(**q))
    return {"items": [customer_json(r.customer, r.owner_name) for r in rows]}


@api_bp.post("/customers")
@token_required
def create_customer():
    data = json_body(CustomerIn())
    confirm = data.pop("confirm_similar")
    if data.get("contact") is None:
        data.pop("contact", None)
    customer = run_write(lambda: customer_flows.submit_customer(db(), current_api_user(), data,
                                                               confirm_similar=confirm))
    return customer_json(customer, detail=True), 201


@api_bp.post("/customers/check-duplicates")
@token_required
def check_duplicates():
    data = json_body(DuplicateCheckIn())
    user = current_api_user()
    result = ops.check_duplicates(db(), user, name=data["name"], credit_code=data["credit_code"], phone=data["phone"])
    message = ops.refuse_exact(user, result.exact).message if result.exact is not None else None
    return DuplicateCheckOut().dump({
        "exact": result.exact is not None, "exact_in_pool": bool(result.exact and result.exact.owner_id is None),
        "exact_is_yours": bool(result.exact and result.exact.owner_id == user.id), "message": message,
        "similar": [{"id": c.id, "name": c.name} for c in result.similar_visible],
        "similar_count": result.similar_count})


# One view per path with an id and several methods: an out-of-range id must answer 404, and with one rule per
# method werkzeug would answer 405 (the other method's rule matches the path, the id converter refuses it).

@api_bp.route("/customers/<id:customer_id>", methods=["GET", "PATCH"])
@token_required
def customer(customer_id: int):
    if request.method == "PATCH":
        return patch_customer(customer_id)
    return customer_json(ops.visible_customer(db(), current_api_user(), _check(customer_id)), detail=True)


def patch_customer(customer_id: int):
    data = json_body(CustomerPatch())
    resubmit = data.pop("resubmit", False)
    session, user = db(), current_api_user()
    if resubmit:
        customer = run_write(lambda: customer_flows.resubmit_customer(session, user, _check(customer_id), data))
    else:
        customer = run_write(lambda: ops.update_customer(session, user, _check(customer_id), data))
    return customer_json(customer, detail=True)


@api_bp.get("/customers/<id:customer_id>/history")
@token_required
def customer_history(customer_id: int):
    page = query_args(s.PageQuery())
    session = db()
    customer = ops.visible_customer(session, current_api_user(), _check(customer_id))
    rows = ops.history(session, customer, limit=page["limit"], offset=page["offset"])
    return {"items": HistoryEntryOut(many=True).dump([
        {"id": a.id, "at": a.at, "actor": actor, "action": a.action, "entity_type": a.entity_type,
         "entity_id": a.entity_id, "before": a.before, "after": a.after} for a, actor in rows])}


@api_bp.route("/customers/<id:customer_id>/contacts", methods=["GET", "POST"])
@token_required
def contacts(customer_id: int):
    if request.method == "POST":
        return create_contact(customer_id)
    page = query_args(s.PageQuery())
    rows = contact_ops.list_contacts(db(), current_api_user(), _check(customer_id), limit=page["limit"],
                                     offset=page["offset"])
    return {"items": ContactOut(many=True).dump(rows)}


def create_contact(customer_id: int):
    data = json_body(ContactIn())
    contact = run_write(lambda: contact_ops.create_contact(db(), current_api_user(), _check(customer_id), data))
    return ContactOut().dump(contact), 201


@api_bp.patch("/contacts/<id:contact_id>")
@token_required
def patch_contact(contact_id: int):
    data = json_body(ContactPatch())
    contact: Contact = run_write(lambda: contact_ops.update_contact(db(), current_api_user(), _check(contact_id), data))
    return ContactOut().dump(contact)


@api_bp.route("/customers/<id:customer_id>/shares", methods=["POST", "DELETE"])
@token_required
def shares(customer_id: int):
    if request.method == "DELETE":
        return unshare_customer(customer_id)
    data = json_body(ShareIn())
    run_write(lambda: ops.share_customer(db(), current_api_user(), _check(customer_id), user_id=data["user_id"],
                                         username=data["username"]))
    return customer_json(ops.visible_customer(db(), current_api_user(), customer_id), detail=True), 201


def unshare_customer(customer_id: int):
    q = query_args(ShareDeleteQuery())
    run_write(lambda: ops.unshare_customer(db(), current_api_user(), _check(customer_id), user_id=q["user_id"]))
    return customer_json(ops.visible_customer(db(), current_api_user(), customer_id), detail=True)


@api_bp.put("/customers/<id:customer_id>/company-details")
@token_required
def put_company_details(customer_id: int):
    data = json_body(CompanyDetailsIn())
    details = {k: v for k, v in data.items() if v is not None}
    customer = run_write(lambda: ops.complete_company_details(db(), current_api_user(), _check(customer_id), details))
    return CompanyDetailsOut().dump(customer)


@api_bp.post("/conflict-cases")
@token_required
def open_conflict_case():
    data = json_body(ConflictCaseIn())
    case = run_write(lambda: customer_flows.open_conflict_case(db(), current_api_user(), **data))
    return case_json(case), 201


@api_bp.get("/conflict-cases/<id:case_id>")
@token_required
def get_conflict_case(case_id: int):
    return case_json(conflict_ops.visible_case(db(), current_api_user(), _check(case_id)))


# ---------------------------------------------------------------- OpenAPI

class CompanyDetailsOut(Schema):
    id = fields.Integer()
    company_details = fields.Dict(keys=fields.String(), values=fields.String())
    details_completed_at = s.DateTime()


ERRORS = {403: "same sector but not allowed (E6 kind, not the owner…)", 404: "not found or not visible to you (O2)",
          409: "C1 duplicate or a state that does not allow it", 422: "invalid input: errors name the field"}


def _op(summary: str, ok: tuple[int, str], *, body: str | None = None, params: list | None = None,
        errors: tuple[int, ...] = (401, 404), dup409: bool = False) -> dict:
    result = op(summary, ok, body=body, params=params, errors=errors)
    for code in errors:
        if code in ERRORS:
            result["responses"][str(code)]["description"] = ERRORS[code]
    if dup409:
        result["responses"]["409"] = {"description": "C1: an exact duplicate (message never names the owner), or "
                                                     "similar customers that need confirm_similar=true",
                                      **json_content("DuplicateError")}
    return result


def _query(schema: Schema) -> list[dict]:
    params = []
    for name, f in schema.fields.items():
        if name in ("limit", "offset"):
            continue
        prop: dict = {"type": "integer" if isinstance(f, fields.Integer) else "string"}
        for v in f.validators:
            if isinstance(v, validate.OneOf):
                prop["enum"] = list(v.choices)
            elif isinstance(v, validate.Length) and v.max is not None:
                prop["maxLength"] = v.max
            elif isinstance(v, validate.Range):
                prop.update(minimum=v.min, maximum=v.max)
            elif isinstance(v, validate.Regexp):
                prop["pattern"] = v.regex.pattern
        params.append({"in": "query", "name": name, "required": bool(f.required), "schema": prop})
    return params


CID = [{**ID, "name": "customer_id"}]


def _list(summary: str, item: str, params: list, *, not_found: bool = False) -> dict:
    result = list_op(summary, item, params)
    if not_found:
        result["responses"]["404"] = {"description": ERRORS[404], **json_content("ErrorResponse")}
    return result


register({
    "/customers": {
        "get": _list("Customers visible to you (O2–O4), with filters, search (name, pinyin initials, phone), "
                     "sorting and paging; each row carries days since last contact and the 30/60-day warning "
                     "(T1, T2)", "CustomerItem", [*_query(CustomerQuery()), *PAGE]),
        "post": _op("Enter a customer (E1, E3, E6). A salesperson's customer is pending and goes to review (E2). "
                    "C1: an exact duplicate answers 409 without naming the owner; similar customers answer 409 with "
                    "`similar` until the request says confirm_similar=true", (201, "CustomerDetailOut"),
                    body="CustomerIn", errors=(401, 403, 409, 422), dup409=True),
    },
    "/customers/check-duplicates": {
        "post": _op("C1 duplicate check before saving: exact match, and similar names/phones (names only of "
                    "customers you may see, otherwise a count)", (200, "DuplicateCheckOut"), body="DuplicateCheckIn",
                    errors=(401, 422)),
    },
    "/customers/{customer_id}": {
        "parameters": CID,
        "get": _op("A customer with contacts and collaborators", (200, "CustomerDetailOut")),
        "patch": _op("Change a customer (owner or his managers); resubmit=true sends a returned customer to a new "
                     "review (E2)", (200, "CustomerDetailOut"), body="CustomerPatch",
                     errors=(401, 403, 404, 409, 422), dup409=True),
    },
    "/customers/{customer_id}/history": {
        "parameters": CID,
        "get": _list("O6: the customer's change history (audit rows of the customer and its contacts), newest "
                     "first", "HistoryEntryOut", PAGE, not_found=True),
    },
    "/customers/{customer_id}/contacts": {
        "parameters": CID,
        "get": _list("Contacts of a customer", "ContactOut", PAGE, not_found=True),
        "post": _op("Add a contact (E1: name required)", (201, "ContactOut"), body="ContactIn",
                    errors=(401, 403, 404, 422)),
    },
    "/contacts/{contact_id}": {
        "parameters": [{**ID, "name": "contact_id"}],
        "patch": _op("Change a contact", (200, "ContactOut"), body="ContactPatch", errors=(401, 403, 404, 422)),
    },
    "/customers/{customer_id}/shares": {
        "parameters": CID,
        "post": _op("O3: share the customer with a collaborator of the same sector (owner or his manager)",
                    (201, "CustomerDetailOut"), body="ShareIn", errors=(401, 403, 404, 422)),
        "delete": _op("Stop sharing the customer with user_id", (200, "CustomerDetailOut"),
                      params=_query(ShareDeleteQuery()), errors=(401, 403, 404, 422)),
    },
    "/customers/{customer_id}/company-details": {
        "parameters": CID,
        "put": _op("E5: complete the company details (customer service of the sector after a win, or the owner)",
                   (200, "CompanyDetailsOut"), body="CompanyDetailsIn", errors=(401, 403, 404, 422)),
    },
    "/conflict-cases": {
        "post": _op("C2: open a conflict case about a customer (its owner naming the claimant, or the refused "
                    "entrant naming the customer he tried to register); sales management decides keep, transfer "
                    "or joint", (201, "ConflictCaseOut"), body="ConflictCaseIn", errors=(401, 403, 404, 409, 422)),
    },
    "/conflict-cases/{case_id}": {
        "parameters": [{**ID, "name": "case_id"}],
        "get": _op("A conflict case (its parties and sales management)", (200, "ConflictCaseOut")),
    },
}, {name: obj for name, obj in globals().items() if name in (
    "ContactIn", "ContactPatch", "ContactOut", "CustomerIn", "CustomerPatch", "ShareOut", "CustomerItem",
    "CustomerDetailOut", "DuplicateCheckIn", "SimilarOut", "DuplicateCheckOut", "DuplicateError", "ShareIn",
    "CompanyDetailsIn", "CompanyDetailsOut", "HistoryEntryOut", "ConflictCaseIn", "ConflictCaseOut")})
