"""Excel export of the customers a user may see (O2–O4 via models.access), only by users allowed to (O6).

Every export is audited (action 'export', entity 'customer', after {count, filters}) in the same
transaction that reads the rows. The workbook is written with openpyxl's write-only mode into a
file object, a batch of customers at a time (their primary contacts and owners in one query per
batch: no N+1). Every value is written as text or a number, never as a formula: a customer named
'=HYPERLINK(…)' stays text in Excel (CSV/formula injection).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from engine.errors import Forbidden, InvalidData
from models import access, audit
from models import customers as customer_ops
from models.crm import CUSTOMER_STATUSES, Contact, Customer
from models.org import User

MAX_EXPORT_ROWS = 200_000
BATCH = 2_000
KIND_ZH = {"direct": "直销客户", "agent": "代理商", "joint_venture": "联营公司", "end_customer": "最终客户"}
STATUS_ZH = {"pending": "审批中", "approved": "已批准", "returned": "已退回"}
# The import's columns first (an exported file can be edited and imported elsewhere), then ours.
HEADERS = ["编号", "客户名称*", "统一社会信用代码", "电话", "区域", "行业", "地址", "客户类型", "首次接触日期",
           "联系人*", "联系人手机", "负责人", "状态", "最后联系时间", "创建时间"]
WIDTHS = [9, 36, 22, 16, 10, 12, 36, 10, 14, 12, 16, 10, 8, 18, 18]


@dataclass
class ExportFilters:
    q: str | None = None
    status: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in (("q", self.q), ("status", self.status)) if v}


def may_export(user: User) -> bool:
    return bool(user.is_active and user.can_export)


def _conditions(user: User, filters: ExportFilters, dialect: str) -> list:
    conds = [access.customer_filter(user)]
    if filters.status:
        if filters.status not in CUSTOMER_STATUSES:
            raise InvalidData({"status": [f"one of {', '.join(CUSTOMER_STATUSES)}"]})
        conds.append(Customer.status == filters.status)
    if filters.q:
        conds.append(customer_ops.search_clause(filters.q, dialect))
    return conds


def _text_cell(ws, value) -> WriteOnlyCell | None:
    if value is None:
        return None
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, even when the text starts with '='
    return cell


def export_customers(session: Session, user: User, filters: ExportFilters, out: IO[bytes]) -> int:
    """Write the visible customers matching `filters` as .xlsx into `out`; audit it. Returns the count."""
    if not may_export(user):
        raise Forbidden("you are not allowed to export customer data (O6)")
    conds = _conditions(user, filters, session.get_bind().dialect.name)
    count = session.scalar(select(func.count()).select_from(Customer).where(and_(*conds)))
    if count > MAX_EXPORT_ROWS:
        message = (f"{count:,} customers match; at most {MAX_EXPORT_ROWS:,} can be exported at once: "
                   "narrow the search or the status")
        raise InvalidData({"q": [message]})
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    for idx, width in enumerate(WIDTHS):
        ws.column_dimensions[chr(ord("A") + idx)].width = width
    ws.append(HEADERS)
    owners = dict(session.execute(select(User.id, User.display_name).where(
        User.sector_id == user.sector_id) if not access.sees_all_sectors(user) else select(User.id, User.display_name)
    ).all())
    written, last_id = 0, 0
    while True:
        # keyset paging by id: each batch is one indexed query, whatever the size of the export
        batch = list(session.execute(
            select(Customer.id, Customer.name, Customer.credit_code, Customer.phone, Customer.region,
                   Customer.industry, Customer.address, Customer.kind, Customer.first_contact_at, Customer.owner_id,
                   Customer.status, Customer.last_contact_at, Customer.created_at)
            .where(and_(*conds), Customer.id > last_id).order_by(Customer.id).limit(BATCH)))
        if not batch:
            break
        ids = [r.id for r in batch]
        contacts: dict[int, tuple[str, str | None]] = {}
        for cid, name, mobile in session.execute(
                select(Contact.customer_id, Contact.name, Contact.mobile).where(Contact.customer_id.in_(ids))
                .order_by(Contact.customer_id, Contact.is_primary.desc(), Contact.id)):
            contacts.setdefault(cid, (name, mobile))
        for r in batch:
            contact_name, mobile = contacts.get(r.id, (None, None))
            values = [r.id, r.name, r.credit_code, r.phone, r.region, r.industry, r.address, KIND_ZH.get(r.kind, r.kind),
                      r.first_contact_at.strftime("%Y-%m-%d") if r.first_contact_at else None, contact_name, mobile,
                      owners.get(r.owner_id, "公海") if r.owner_id else "公海", STATUS_ZH.get(r.status, r.status),
                      r.last_contact_at.strftime("%Y-%m-%d %H:%M") if r.last_contact_at else None,
                      r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else None]
            ws.append([_text_cell(ws, v) for v in values])
        written += len(batch)
        last_id = ids[-1]
        if written >= MAX_EXPORT_ROWS:
            break
    wb.save(out)
    audit.record(session, actor_id=user.id, action="export", entity_type="customer", entity_id="customers.xlsx",
                 sector_id=user.sector_id, after={"count": written, "filters": filters.as_dict()})
    return written
