"""Excel import of customers (E1, C1, E2, E6, O6): validate every row first, then write all or nothing.

The upload is checked before anything is stored (`check_upload`): size, .xlsx only, a real zip whose
central directory promises a bounded uncompressed size (zip bombs), no DOCTYPE/ENTITY in any XML
member (openpyxl parses worksheets with the standard library's expat and has no defusedxml here),
one sheet with the expected Chinese headers. Formulas are never evaluated: a cell holding one is a
row error.

`run_import(session_factory, job_id, path)` does the work of an `ImportJob`:

1. validating: every row is checked (required fields E1, credit code, phones, dates, lengths, the
   customer kind the importing user may enter E6, duplicates inside the file and against every
   customer of the user's sector C1 — the message never names the owner). Progress
   (`processed_rows`) is committed in a separate short session so the page can poll it.
2. if any row is wrong the job ends `failed` with the report [{row, field, message}] (row numbers as
   Excel shows them) and nothing is written.
3. importing: customers, their first contact and one audit row per customer (plus one 'import' audit
   row and the job's final state) are inserted set-based, in chunks, in ONE transaction. A duplicate
   registered concurrently makes the unique index refuse the insert: everything rolls back and the
   report names the row.

Imported customers are owned by the importing user and, when a salesperson imports them, `pending`
(E2) exactly like entered ones (models.customers decides: `is_reviewed_entrant`). The review
process: a file of at most `REVIEW_PROCESS_MAX_ROWS` rows starts one `new_customer_review` process
per customer in the same transaction, so a rep's everyday import lands in the reviewers' inboxes
like entries do. A larger file (a data migration: 100k rows would mean 100k BPMN instances and
100k inbox tasks nobody can work through) leaves its customers `pending` without a process; the
'import' audit row says which (`review`), and they wait for a bulk review by the department.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from sqlalchemy import JSON, Table, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import Forbidden, NotFound
from models import access, audit, clock, settings
from models import customers as customer_ops
from models.audit import AuditLog
from models.base import write_transaction
from models.crm import Contact, Customer
from models.customer_rules import credit_code_error, normalized, phone_error, pinyin_initials
from models.flags import Flag
from models.imports import ImportJob
from models.org import User

log = logging.getLogger(__name__)

REVIEW_PROCESS_MAX_ROWS = 200  # up to this many rows, one E2 review process per imported customer

MAX_UPLOAD_BYTES = 20 * 1024 * 1024          # the .xlsx file as uploaded
MAX_UNCOMPRESSED_BYTES = 400 * 1024 * 1024   # sum of the zip members' sizes from the central directory
MAX_MEMBER_RATIO = 200                       # a member > 1 MiB unpacking more than 200× its packed size
MAX_MEMBERS = 200
MAX_ROWS = 200_000
MAX_COLUMNS = 40
PROLOG_SCAN_BYTES = 64 * 1024                # a DOCTYPE can only stand before the root element
CHUNK = 5_000                                # rows per INSERT batch and per progress update

# Excel header (without the '*' that marks a required column) -> (field, required, max length)
COLUMNS: dict[str, tuple[str, bool, int]] = {
    "客户名称": ("name", True, 200),
    "统一社会信用代码": ("credit_code", False, 40),
    "电话": ("phone", False, 40),
    "区域": ("region", False, 60),
    "行业": ("industry", False, 60),
    "地址": ("address", False, 300),
    "客户类型": ("kind", False, 20),
    "首次接触日期": ("first_contact_at", False, 30),
    "联系人": ("contact_name", True, 100),
    "联系人手机": ("contact_mobile", False, 40),
}
# Columns of our own export that an import ignores (so an exported file can be edited and re-imported).
IGNORED_COLUMNS = {"负责人", "状态", "最后联系时间", "创建时间", "编号"}
HEADER_BY_FIELD = {field: header for header, (field, _req, _len) in COLUMNS.items()}
TEMPLATE_HEADERS = [h + ("*" if req else "") for h, (_f, req, _l) in COLUMNS.items()]

KIND_LABELS = {"直销客户": "direct", "直销": "direct", "代理商": "agent", "联营公司": "joint_venture",
               "最终客户": "end_customer", "direct": "direct", "agent": "agent",
               "joint_venture": "joint_venture", "end_customer": "end_customer"}
# An end customer is entered under its agent (agent_id): one at a time, not by import.
NOT_IMPORTABLE_KINDS = {"end_customer"}

_DATE_TEXT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")

ProgressFn = Callable[[int], None]


class ImportRefused(ValueError):
    """The file as a whole cannot be imported (422); `field` is the multipart field or column."""

    def __init__(self, message: str, field: str = "file"):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass
class Row:
    number: int            # the row number Excel shows
    values: dict[str, Any]


# --- who may import, who may see a job --------------------------------------------------------------

def importable_kinds(user: User) -> tuple[str, ...]:
    """E6 as for entry (models.customers.ENTRY_KINDS): direct reps import direct customers, channel staff
    agents; the first is the default when the 客户类型 column is blank."""
    kinds = customer_ops.allowed_kinds(user) - NOT_IMPORTABLE_KINDS
    return tuple(sorted(kinds, key=lambda k: (k != "direct", k)))


def may_import(user: User) -> bool:
    return bool(user.is_active and user.sector_id and importable_kinds(user))


def visible_job(session: Session, user: User, job_id: int) -> ImportJob:
    """Its creator and whoever may see the creator's records (his managers); other sectors 404, else 403."""
    job = session.get(ImportJob, job_id)
    if job is None or not user.is_active or (not access.sees_all_sectors(user) and job.sector_id != user.sector_id):
        raise NotFound(f"import {job_id} not found")
    if job.created_by == user.id or access.sees_all_sectors(user) or access.sees_whole_sector(user):
        return job
    creator = session.get(User, job.created_by)
    if creator is not None and creator.department_id in access.managed_departments(user):
        return job
    raise Forbidden("only the user who started the import and his managers may see it")


# --- the uploaded file ------------------------------------------------------------------------------

def _scan_xml_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    with zf.open(info) as fh:
        head = fh.read(PROLOG_SCAN_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\0", b"<\0")):
        raise ImportRefused(f"{info.filename} is not UTF-8 XML; save the workbook again in Excel")
    match = _ENCODING.match(head.removeprefix(b"\xef\xbb\xbf"))
    if match and match.group(1).lower() not in (b"utf-8", b"utf8"):
        raise ImportRefused(f"{info.filename} declares the encoding {match.group(1).decode()}; "
                            "only UTF-8 workbooks are accepted")
    found = _DECLARATION.search(head)
    if found:
        raise ImportRefused(f"{info.filename} contains a <!{found.group(1).decode().upper()} declaration; "
                            "Excel workbooks never need one, so the file is refused")
    if len(head) == PROLOG_SCAN_BYTES and not re.search(rb"<[A-Za-z_]", head):
        raise ImportRefused(f"{info.filename} has no XML element in its first {PROLOG_SCAN_BYTES // 1024} KiB")


def check_zip(data_or_path: bytes | str) -> None:
    """Refuse anything that is not a bounded, DTD-free Office Open XML zip, before openpyxl opens it."""
    source = data_or_path if isinstance(data_or_path, str) else io.BytesIO(data_or_path)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportRefused("the file is not an Excel workbook (.xlsx); save it as .xlsx and upload it again") \
            from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ImportRefused(f"the workbook has {len(infos)} parts; at most {MAX_MEMBERS} are accepted")
        names = {i.filename for i in infos}
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise ImportRefused("the file is a zip but not an Excel workbook (.xlsx)")
        total = sum(i.file_size for i in infos)
        if total > MAX_UNCOMPRESSED_BYTES:
            raise ImportRefused(f"the workbook unpacks to {total:,} bytes; the limit is {MAX_UNCOMPRESSED_BYTES:,} "
                                "(split the file)")
        for info in infos:
            if info.flag_bits & 0x1:
                raise ImportRefused("encrypted workbooks are not accepted")
            if info.file_size > 1024 * 1024 and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
                raise ImportRefused(f"{info.filename} unpacks to {info.file_size:,} bytes from "
                                    f"{info.compress_size:,}: refused as a zip bomb")
        try:
            for info in infos:
                if info.filename.endswith((".xml", ".rels", ".vml")):
                    _scan_xml_member(zf, info)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ImportRefused(f"the workbook is damaged ({exc.__class__.__name__}); save it again in Excel") \
                from None


def check_upload(filename: str, data: bytes) -> None:
    if not filename.lower().endswith(".xlsx"):
        raise ImportRefused("only Excel workbooks (.xlsx) are accepted")
    if not data:
        raise ImportRefused("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportRefused(f"the file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB; split it")
    check_zip(data)


def _open_sheet(path: str):
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not a workbook we can read"
        raise ImportRefused(f"the workbook cannot be read ({exc.__class__.__name__}); save it again as .xlsx") \
            from None
    if not wb.worksheets:
        wb.close()
        raise ImportRefused("the workbook has no worksheet")
    return wb, wb.worksheets[0]


def _header_map(header: tuple) -> dict[int, str]:
    """Column index -> field. Refuses unknown and duplicate headers and missing required columns."""
    mapping: dict[int, str] = {}
    seen: set[str] = set()
    for idx, raw in enumerate(header or ()):
        if idx >= MAX_COLUMNS:
            break
        text = str(raw).strip().rstrip("*＊").strip() if raw is not None else ""
        if not text or text in IGNORED_COLUMNS:
            continue
        letter = get_column_letter(idx + 1)
        if text not in COLUMNS:
            raise ImportRefused(f"unknown column '{raw}' (column {letter}); the columns are: "
                                + "、".join(TEMPLATE_HEADERS), field=str(raw)[:60])
        if text in seen:
            raise ImportRefused(f"the column '{text}' appears twice (column {letter})", field=text)
        seen.add(text)
        mapping[idx] = COLUMNS[text][0]
    for header_name, (_field, required, _len) in COLUMNS.items():
        if required and header_name not in seen:
            raise ImportRefused(f"the required column '{header_name}*' is missing from the first row",
                                field=header_name)
    return mapping


def check_headers(path: str) -> None:
    wb, ws = _open_sheet(path)
    try:
        first = next(ws.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS, values_only=True), None)
        if first is None or all(v is None for v in first):
            raise ImportRefused("the first row must hold the column headers (客户名称*, 联系人*, …)")
        _header_map(first)
    finally:
        wb.close()


def read_rows(path: str) -> Iterator[Row]:
    """Data rows with their Excel row numbers; blank rows are skipped. Raises ImportRefused past MAX_ROWS."""
    wb, ws = _open_sheet(path)
    try:
        rows = ws.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True)
        mapping = _header_map(next(rows, ()))
        count = 0
        for number, cells in enumerate(rows, start=2):
            if not cells or all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                raise ImportRefused(f"the sheet has more than {MAX_ROWS:,} rows; split the file")
            yield Row(number, {field: cells[idx] if idx < len(cells) else None for idx, field in mapping.items()})
    finally:
        wb.close()


# --- validating one row -----------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime, date)):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    return text or None


_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _bad_chars(text: str) -> bool:
    """Control characters (tab and line breaks aside) and lone surrogates: the database cannot store them."""
    return _BAD_CHARS.search(text) is not None


def _date(value: Any) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value <= 2958465:
        result = from_excel(value)
        return result if isinstance(result, datetime) else None
    match = _DATE_TEXT.match(str(value).strip())
    if match:
        try:
            return datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    raise ValueError


def validate_row(row: Row, kinds: tuple[str, ...], today: datetime) -> tuple[dict[str, Any], list[dict]]:
    """Field checks of one row: (clean values, errors [{row, field, message}])."""
    errors: list[dict] = []
    clean: dict[str, Any] = {}

    def err(field: str, message: str) -> None:
        errors.append({"row": row.number, "field": HEADER_BY_FIELD[field], "message": message})

    for field, raw in row.values.items():
        header = HEADER_BY_FIELD[field]
        _f, required, max_len = COLUMNS[header]
        if isinstance(raw, str) and raw.lstrip().startswith("="):
            err(field, "contains a formula; formulas are not evaluated, paste the values instead")
            continue
        if field == "first_contact_at":
            try:
                clean[field] = _date(raw)
            except ValueError:
                err(field, "not a date; write it as 2026-11-26")
                continue
            if clean[field] is not None and clean[field] > today + timedelta(days=1):
                err(field, "the first contact cannot be in the future")
            elif clean[field] is not None and clean[field].year < 1990:
                err(field, "a date after 1990")
            continue
        text = _text(raw)
        if text is not None and _bad_chars(text):
            err(field, "contains characters that are not allowed")
            continue
        if text is not None and len(text) > max_len:
            err(field, f"at most {max_len} characters")
            continue
        if required and text is None:
            err(field, "required (E1: never blank)")
            continue
        clean[field] = text
    if clean.get("name") is not None and not normalized(clean["name"]):
        err("name", "required (E1: never blank)")
    if clean.get("credit_code"):
        clean["credit_code"] = clean["credit_code"].upper()
        problem = credit_code_error(clean["credit_code"])
        if problem:
            err("credit_code", problem)
    for field in ("phone", "contact_mobile"):
        if clean.get(field):
            problem = phone_error(clean[field])
            if problem:
                err(field, problem)
    raw_kind = clean.get("kind")
    if raw_kind is None:
        clean["kind"] = kinds[0] if kinds else None
    elif KIND_LABELS.get(raw_kind) is None:
        err("kind", "unknown customer type; use 直销客户, 代理商 or 联营公司")
    elif KIND_LABELS[raw_kind] in NOT_IMPORTABLE_KINDS:
        err("kind", "an end customer is entered under its agent, one at a time, not by import")
    elif KIND_LABELS[raw_kind] not in kinds:
        err("kind", "you may not enter customers of this type (E6: direct reps enter direct customers, "
                    "channel staff agents; end customers are entered under their agent)")
    else:
        clean["kind"] = KIND_LABELS[raw_kind]
    return clean, errors


def duplicate_message(what: str, owner_id: int | None, user: User) -> str:
    """C1: first registered, first served. Like models.customers.refuse_exact, never names the owner."""
    if owner_id is None:
        return f"a customer with this {what} is already registered and is in the public pool: claim it from the pool"
    if owner_id == user.id:
        return f"you have already registered a customer with this {what}"
    return (f"a customer with this {what} is already registered by another salesperson (C1: first registered, "
            "first served); you may open a conflict case")


def _existing(session: Session, column, sector_id: int, values: list[str]) -> dict[str, int | None]:
    """value -> owner id of the sector's customers holding one of `values` (one query per 1000)."""
    found: dict[str, int | None] = {}
    for start in range(0, len(values), 1000):
        chunk = values[start:start + 1000]
        found.update((value, owner) for value, owner in session.execute(select(column, Customer.owner_id).where(
            Customer.sector_id == sector_id, column.in_(chunk))))
    return found


def validate(session: Session, user: User, rows: list[Row], progress: ProgressFn | None = None
             ) -> tuple[list[tuple[Row, dict]], list[dict]]:
    """All checks of all rows: (valid rows with their clean values, the report). Writes nothing."""
    kinds, today = importable_kinds(user), clock.now()
    report: list[dict] = []
    cleaned: list[tuple[Row, dict]] = []
    first_name: dict[str, int] = {}
    first_code: dict[str, int] = {}
    for i, row in enumerate(rows, 1):
        clean, errors = validate_row(row, kinds, today)
        report += errors
        if clean.get("name"):
            key = normalized(clean["name"])
            clean["name_normalized"] = key
            clean["pinyin_initials"] = pinyin_initials(clean["name"]) or None  # here: keeps the write short
            if key in first_name:
                report.append({"row": row.number, "field": "客户名称",
                               "message": f"the same customer name as row {first_name[key]} (C1: duplicate in the file)"})
            else:
                first_name[key] = row.number
        code = clean.get("credit_code")
        if code and not any(e["field"] == "统一社会信用代码" for e in errors):
            if code in first_code:
                report.append({"row": row.number, "field": "统一社会信用代码",
                               "message": f"the same credit code as row {first_code[code]} (C1: duplicate in the file)"})
            else:
                first_code[code] = row.number
        cleaned.append((row, clean))
        if progress and (i % CHUNK == 0 or i == len(rows)):
            progress(i)
    taken_names = _existing(session, Customer.name_normalized, user.sector_id, list(first_name))
    taken_codes = _existing(session, Customer.credit_code, user.sector_id, list(first_code))
    for key, owner in taken_names.items():
        report.append({"row": first_name[key], "field": "客户名称", "message": duplicate_message("name", owner, user)})
    for code, owner in taken_codes.items():
        report.append({"row": first_code[code], "field": "统一社会信用代码",
                       "message": duplicate_message("credit code", owner, user)})
    report.sort(key=lambda e: (e["row"] or 0, list(HEADER_BY_FIELD.values()).index(e["field"])
                               if e["field"] in HEADER_BY_FIELD.values() else 99))
    return cleaned, report


# --- writing ----------------------------------------------------------------------------------------

def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def reserve_ids(session: Session, table: Table, n: int) -> list[int]:
    """n ids from the table's sequence (PostgreSQL), so children can be inserted without RETURNING."""
    seq = session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
    return list(session.scalars(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                                {"s": seq, "n": n}))


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """One set-based INSERT for a list of dicts (same keys).

    PostgreSQL: `INSERT … SELECT FROM unnest(array, array, …)`: one statement whatever the row count,
    one array parameter per column (a multi-row VALUES or executemany costs a parameter or a round trip
    per value). Other databases: Core `insert()` with the list (executemany).
    """
    if not rows:
        return
    if not _postgresql(session):
        session.execute(insert(table), rows)
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    names = list(rows[0])
    selects, arrays, params = [], [], {}
    for i, name in enumerate(names):
        column = table.c[name]
        values = [r[name] for r in rows]
        if isinstance(column.type, JSON):
            params[f"p{i}"] = [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values]
            arrays.append(f"CAST(:p{i} AS TEXT[])")
            selects.append(f"CAST(u.c{i} AS JSONB)")
        else:
            params[f"p{i}"] = values
            arrays.append(f"CAST(:p{i} AS {column.type.compile(dialect=dialect)}[])")
            selects.append(f"u.c{i}")
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
           f"SELECT {', '.join(selects)} FROM unnest({', '.join(arrays)}) AS u({', '.join(f'c{i}' for i in range(len(names)))})")
    session.execute(text(sql), params)


def copy_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL COPY … FROM STDIN of a list of dicts in the session's transaction (bulk loads: the scale
    demo); elsewhere `bulk_insert`."""
    if not rows:
        return
    if not _postgresql(session):
        bulk_insert(session, table, rows)
        return
    from psycopg.types.json import Jsonb

    quote = session.get_bind().dialect.identifier_preparer.quote
    names = list(rows[0])
    json_cols = [i for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur, cur.copy(
            f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN") as copy:
        for r in rows:
            values = [r[n] for n in names]
            for i in json_cols:
                if values[i] is not None:
                    values[i] = Jsonb(values[i])
            copy.write_row(values)


def insert_returning_ids(session: Session, table: Table, rows: list[dict[str, Any]], *, copy: bool = False
                         ) -> list[int]:
    """Insert rows and return their ids in order (PostgreSQL: reserved ids, then unnest or COPY; else RETURNING)."""
    if not rows:
        return []
    if _postgresql(session):
        ids = reserve_ids(session, table, len(rows))
        (copy_rows if copy else bulk_insert)(session, table, [{"id": i, **r} for i, r in zip(ids, rows, strict=True)])
        return ids
    return list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())


def write_customers(session: Session, user: User, job: ImportJob, cleaned: list[tuple[Row, dict]],
                    progress: ProgressFn | None = None) -> int:
    """Insert every row set-based in the session's current transaction; the caller commits or rolls back.

    Per chunk: one set-based INSERT for the customers (ids reserved from the sequence on PostgreSQL,
    RETURNING elsewhere), one for their contacts, their audit rows (COPY on PostgreSQL) and the E3
    late-entry flags.
    """
    now = clock.now()
    sector_id = user.sector_id
    entry_days = int(settings.get(session, "customer.entry_days", sector_id))
    max_days = int(settings.get(session, "customer.entry_max_days", sector_id))
    status = "pending" if customer_ops.is_reviewed_entrant(user) else "approved"
    with_review = status == "pending" and len(cleaned) <= REVIEW_PROCESS_MAX_ROWS
    customer_table = Customer.__table__
    written, review_ids = 0, []
    for start in range(0, len(cleaned), CHUNK):
        chunk = cleaned[start:start + CHUNK]
        customers = [{
            "sector_id": sector_id, "department_id": user.department_id, "owner_id": user.id,
            "name": c["name"], "name_normalized": c["name_normalized"],
            "pinyin_initials": c["pinyin_initials"], "credit_code": c.get("credit_code"),
            "kind": c["kind"], "status": status, "region": c.get("region"), "industry": c.get("industry"),
            "phone": c.get("phone"), "address": c.get("address"), "first_contact_at": c.get("first_contact_at"),
            "late_entry": bool(c.get("first_contact_at") and (now - c["first_contact_at"]).days > entry_days),
            "created_by": user.id, "created_at": now, "updated_at": now, "version": 1,
        } for _row, c in chunk]
        ids = insert_returning_ids(session, customer_table, customers)
        contacts, audits, flags = [], [], []
        for cid, (row, c), values in zip(ids, chunk, customers, strict=True):
            contacts.append({"sector_id": sector_id, "customer_id": cid, "name": c["contact_name"],
                             "mobile": c.get("contact_mobile"), "is_primary": True, "created_by": user.id,
                             "created_at": now, "updated_at": now})
            after = {k: values[k] for k in ("name", "credit_code", "kind", "status", "owner_id", "department_id",
                                            "phone", "region", "industry", "address")}
            after.update(contact=c["contact_name"], import_job_id=job.id, row=row.number)
            if values["first_contact_at"]:
                after["first_contact_at"] = values["first_contact_at"].isoformat()
            if values["late_entry"]:
                days = (now - values["first_contact_at"]).days
                after.update(late_entry="beyond_max" if days > max_days else "late", entry_days=days,
                             entry_limit=entry_days, entry_max=max_days)
                flags.append({"sector_id": sector_id, "kind": "late_entry", "entity_type": "customer",
                              "entity_id": cid, "user_id": user.id, "period": now.date(), "raised_at": now})
            audits.append({"at": now, "actor_id": user.id, "action": "customer.create", "entity_type": "customer",
                           "entity_id": str(cid), "sector_id": sector_id, "before": None, "after": after})
        # no unique key can refuse these rows: COPY on PostgreSQL (the customers above are an INSERT,
        # so a concurrent duplicate surfaces as IntegrityError)
        copy_rows(session, Contact.__table__, contacts)
        copy_rows(session, AuditLog.__table__, audits)
        bulk_insert(session, Flag.__table__, flags)
        if with_review:
            review_ids += ids
        written += len(chunk)
        if progress:
            progress(written)
    if review_ids:
        from engine import customer_flows

        start_review = getattr(customer_flows, "start_review", None) or customer_flows._start_review
        for customer in session.scalars(select(Customer).where(Customer.id.in_(review_ids)).order_by(Customer.id)):
            start_review(session, user, customer)
    audit.record(session, actor_id=user.id, action="import", entity_type="import_job", entity_id=job.id,
                 sector_id=sector_id, after={"kind": job.kind, "filename": job.filename, "count": written,
                                             "status": status, "review": "process per customer" if with_review else
                                             ("pending, no review process (large file)" if status == "pending"
                                              else "not needed")})
    return written


def _write_conflicts(session: Session, user: User, cleaned: list[tuple[Row, dict]]) -> list[dict]:
    """After a refused write: which rows a concurrent registration took (names the row, never the owner)."""
    names = {c["name_normalized"]: row.number for row, c in cleaned}
    codes = {c["credit_code"]: row.number for row, c in cleaned if c.get("credit_code")}
    report = [{"row": names[k], "field": "客户名称", "message": duplicate_message("name", owner, user)}
              for k, owner in _existing(session, Customer.name_normalized, user.sector_id, list(names)).items()]
    report += [{"row": codes[k], "field": "统一社会信用代码", "message": duplicate_message("credit code", owner, user)}
               for k, owner in _existing(session, Customer.credit_code, user.sector_id, list(codes)).items()]
    return sorted(report, key=lambda e: e["row"])


# --- the job ----------------------------------------------------------------------------------------

def create_job(session: Session, user: User, *, filename: str, kind: str = "customers") -> ImportJob:
    """An ImportJob for an upload that passed `check_upload` and `check_headers`."""
    if not may_import(user):
        raise Forbidden("only sales reps (direct customers) and channel staff (agents) of a department "
                        "import customers (E6)")
    job = ImportJob(sector_id=user.sector_id, kind=kind, filename=(filename or "import.xlsx")[-200:],
                    status="queued", created_by=user.id)
    session.add(job)
    session.flush()
    return job


class _Progress:
    """Commits job progress in its own short transactions, so a poller sees it while the import runs."""

    def __init__(self, session_factory: sessionmaker, job_id: int):
        self.factory, self.job_id = session_factory, job_id

    def update(self, **values: Any) -> None:
        session = self.factory()
        try:
            session.query(ImportJob).filter(ImportJob.id == self.job_id).update(values, synchronize_session=False)
            session.commit()
        finally:
            session.close()


def run_import(session_factory: sessionmaker, job_id: int, path: str, *, remove_file: bool = True,
               before_write: Callable[[], None] | None = None) -> ImportJob:
    """Validate, then import all rows of the file or none. Returns the finished job (done or failed).

    `before_write` runs between validation and the write transaction (tests use it to register a
    duplicate concurrently).
    """
    progress = _Progress(session_factory, job_id)
    work = session_factory()
    sqlite = work.get_bind().dialect.name == "sqlite"
    try:
        job = work.get(ImportJob, job_id)
        user = work.get(User, job.created_by)
        work.rollback()
        progress.update(status="validating")
        try:
            rows = list(read_rows(path))
        except ImportRefused as exc:
            return _fail(progress, work, job_id, [{"row": None, "field": exc.field, "message": exc.message}], 0)
        total = len(rows)
        progress.update(total_rows=total)
        if not total:
            return _fail(progress, work, job_id, [{"row": None, "field": "file", "message": "the sheet has no data rows"}], 0)
        if not may_import(user):
            return _fail(progress, work, job_id, [{"row": None, "field": "file",
                                                   "message": "you may no longer import customers (E6)"}], 0)
        cleaned, report = validate(work, user, rows, lambda n: progress.update(processed_rows=n))
        work.rollback()  # end the read transaction before writing
        if report:
            return _fail(progress, work, job_id, report, total)
        progress.update(status="importing", processed_rows=total)
        if before_write:
            before_write()
        # SQLite has one writer: progress commits would wait for this transaction, so only PostgreSQL shows them.
        on_written = None if sqlite else (lambda n: progress.update(imported_rows=n))
        try:
            with write_transaction(work):
                job = work.get(ImportJob, job_id)
                written = write_customers(work, user, job, cleaned, on_written)
                job.status, job.imported_rows, job.processed_rows = "done", written, total
                job.report, job.finished_at = [], clock.now()
                work.commit()
        except (IntegrityError, OperationalError):
            work.rollback()
            conflicts = _write_conflicts(work, user, cleaned) or [
                {"row": None, "field": "file", "message": "another import or entry changed the same customers at the "
                                                          "same time; nothing was imported, try again"}]
            work.rollback()
            return _fail(progress, work, job_id, conflicts, total)
        return work.get(ImportJob, job_id)
    except Exception:
        log.exception("import job %s failed", job_id)
        work.rollback()
        return _fail(progress, work, job_id, [{"row": None, "field": "file",
                                               "message": "the import failed unexpectedly; nothing was imported"}], None)
    finally:
        work.close()
        if remove_file:
            try:
                os.unlink(path)
            except OSError:
                pass


def _fail(progress: _Progress, work: Session, job_id: int, report: list[dict], processed: int | None) -> ImportJob:
    values: dict[str, Any] = {"status": "failed", "report": report[:5000], "imported_rows": 0,
                              "finished_at": clock.now()}
    if processed is not None:
        values["processed_rows"] = processed
    progress.update(**values)
    work.rollback()
    work.expire_all()
    return work.get(ImportJob, job_id)
