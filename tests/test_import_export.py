"""Excel import (E1, C1, E2, E6, all-or-nothing, hostile files, progress) and export (O2, O6), both backends."""
from __future__ import annotations

import io
import time
import zipfile

import openpyxl
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import data_import
from models.audit import AuditLog
from models.crm import Contact, Customer
from models.customer_rules import with_check_character
from models.imports import ImportJob
from models.org import User
from tests.conftest import fresh_app

HEADERS = ["客户名称*", "统一社会信用代码", "电话", "区域", "行业", "地址", "客户类型", "首次接触日期", "联系人*",
           "联系人手机"]


def credit_code(n: int) -> str:
    return with_check_character(f"91110108MA{n:07d}")


def row(name, contact="王经理", code=None, phone="010-62345678", mobile="13800138000", kind=None, first=None):
    return [name, code, phone, "华北", "制造业", "北京市海淀区中关村大街1号", kind, first, contact, mobile]


def xlsx(rows, headers=HEADERS) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(headers)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload(api, username, data: bytes, filename="customers.xlsx"):
    return api.as_(username).post("/imports", data={"file": (io.BytesIO(data), filename), "kind": "customers"},
                                  content_type="multipart/form-data")


def counts(session) -> tuple[int, int, int]:
    session.rollback()
    return (session.scalar(select(func.count()).select_from(Customer)),
            session.scalar(select(func.count()).select_from(Contact)),
            session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "customer.create")))


def user(session, username) -> User:
    return session.scalar(select(User).where(User.username == username))


# --- import: validation ---------------------------------------------------------------------------------

def test_E1_required_fields_reported_per_row_with_excel_row_numbers(api, session):
    """E1: customer name and contact name are never blank; the report names each row as Excel shows it."""
    before = counts(session)
    data = xlsx([row("北京甲方科技有限公司"), row("   ", contact="李四"), [], row("上海乙方有限公司", contact=None),
                 row(None, contact=None)])
    r = upload(api, "rep1", data)
    assert r.status_code == 201, r.get_json()
    job = r.get_json()
    assert job["status"] == "failed" and job["imported_rows"] == 0
    report = {(e["row"], e["field"]) for e in job["report"]}
    # row 2 is fine; row 3 has a blank name; row 4 is empty (skipped); row 5 lacks its contact; row 6 both
    assert report == {(3, "客户名称"), (5, "联系人"), (6, "客户名称"), (6, "联系人")}
    assert all("E1" in e["message"] for e in job["report"])
    assert counts(session) == before


def test_field_rules_credit_code_phone_date_kind_and_formulas(api, session):
    """Credit code check character, phone shape, dates, E6 kind for a direct rep, formulas never evaluated."""
    before = counts(session)
    bad_code = credit_code(1)[:-1] + ("0" if credit_code(1)[-1] != "0" else "1")
    data = xlsx([
        row("甲公司", code=bad_code),
        row("乙公司", phone="call me"),
        row("丙公司", first="next tuesday"),
        row("丁公司", kind="代理商"),
        row("=HYPERLINK(\"http://evil\")"),
        row("戊公司", first="2999-01-01"),
        row("己公司", kind="最终客户"),
    ])
    job = upload(api, "rep1", data).get_json()
    assert job["status"] == "failed"
    by_row = {e["row"]: (e["field"], e["message"]) for e in job["report"]}
    assert by_row[2][0] == "统一社会信用代码" and "check character" in by_row[2][1]
    assert by_row[3][0] == "电话"
    assert by_row[4][0] == "首次接触日期"
    assert by_row[5][0] == "客户类型" and "E6" in by_row[5][1]
    assert by_row[6][0] == "客户名称" and "formula" in by_row[6][1]
    assert by_row[7][0] == "首次接触日期" and "future" in by_row[7][1]
    assert by_row[8][0] == "客户类型"
    assert counts(session) == before


def test_C1_duplicates_within_the_file(api, session):
    """C1: the same normalised name (spaces, full-width brackets) or credit code twice in one file."""
    before = counts(session)
    code = credit_code(7)
    data = xlsx([row("北京（华夏）科技有限公司", code=code), row("北京(华夏) 科技有限公司"),
                 row("南京某某有限公司", code=code.lower())])
    job = upload(api, "rep1", data).get_json()
    assert job["status"] == "failed"
    assert {(e["row"], e["field"]) for e in job["report"]} == {(3, "客户名称"), (4, "统一社会信用代码")}
    assert "row 2" in job["report"][0]["message"]
    assert counts(session) == before


def test_C1_duplicates_against_the_sector_never_reveal_the_owner(api, session):
    """C1: a customer registered by another rep of the sector is refused without naming him; another sector's
    customer of the same name does not count (sector isolation)."""
    rep2 = user(session, "rep2")
    rep1 = user(session, "rep1")
    s1 = rep1.sector_id
    session.add(Customer(sector_id=s1, department_id=rep2.department_id, owner_id=rep2.id, name="王芳的客户有限公司",
                         name_normalized="王芳的客户有限公司", credit_code=credit_code(42), status="approved"))
    session.commit()
    data = xlsx([row("王芳的客户有限公司"), row("另一家有限公司", code=credit_code(42)),
                 row("成都天府软件有限公司"),  # rep3's customer in sector 2: not a duplicate for sector 1
                 row("北京华信科技有限公司")])  # rep1's own demo customer
    job = upload(api, "rep1", data).get_json()
    assert job["status"] == "failed"
    report = {(e["row"], e["field"]): e["message"] for e in job["report"]}
    assert set(report) == {(2, "客户名称"), (3, "统一社会信用代码"), (5, "客户名称")}
    for message in report.values():
        for secret in ("rep2", "王芳 ", rep2.display_name, f"owner {rep2.id}", "rep1", rep1.display_name):
            assert secret not in message.replace("王芳的客户", "")
    assert "another salesperson" in report[(2, "客户名称")] and "C1" in report[(2, "客户名称")]
    assert "you have already registered" in report[(5, "客户名称")]


# --- import: writing ------------------------------------------------------------------------------------

def test_all_or_nothing_one_bad_row_writes_nothing(api, session):
    """Nothing half-imported: 299 good rows and one bad one → no customer, contact or audit row is written."""
    before = counts(session)
    rows = [row(f"全或无测试{i:03d}有限公司") for i in range(300)]
    rows[250][8] = ""  # row 252 lacks its contact
    job = upload(api, "rep1", xlsx(rows)).get_json()
    assert job["status"] == "failed" and job["total_rows"] == 300 and job["processed_rows"] == 300
    assert job["report"] == [{"row": 252, "field": "联系人", "message": "required (E1: never blank)"}]
    assert counts(session) == before


def test_import_writes_pending_customers_with_contact_audit_and_review(api, session):
    """E2: imported customers are pending, owned by the importing rep, normalised, with their primary contact,
    one audit row each plus one 'import' row, and (small file) one review process each; E3 late entry flagged."""
    rep1 = user(session, "rep1")
    before = counts(session)
    data = xlsx([row("  杭州 西湖（数据）有限公司 ", code=credit_code(3), first="2020-01-02"),
                 row("苏州园林设计有限公司", contact="赵六", mobile=13912345678, kind="直销客户")])
    r = upload(api, "rep1", data)
    job = r.get_json()
    assert r.status_code == 201 and job["status"] == "done", job
    assert job["total_rows"] == job["processed_rows"] == job["imported_rows"] == 2 and job["report"] == []
    session.rollback()
    new = list(session.scalars(select(Customer).where(Customer.created_by == rep1.id,
                                                      Customer.name.in_(["杭州 西湖（数据）有限公司", "苏州园林设计有限公司"]))
                               .order_by(Customer.id)))
    assert len(new) == 2
    first, second = new
    assert first.status == "pending" and first.owner_id == rep1.id and first.kind == "direct"
    assert first.name_normalized == "杭州西湖(数据)有限公司" and first.pinyin_initials.startswith("hzxh")
    assert first.department_id == rep1.department_id and first.sector_id == rep1.sector_id
    assert first.credit_code == credit_code(3) and first.late_entry is True
    assert second.late_entry is False
    contact = session.scalar(select(Contact).where(Contact.customer_id == second.id))
    assert contact.name == "赵六" and contact.mobile == "13912345678" and contact.is_primary
    assert first.review_instance_id is not None and second.review_instance_id is not None
    after = counts(session)
    assert after[0] == before[0] + 2 and after[1] == before[1] + 2 and after[2] == before[2] + 2
    imp = session.scalar(select(AuditLog).where(AuditLog.action == "import", AuditLog.entity_id == str(job["id"])))
    assert imp.after["count"] == 2 and imp.actor_id == rep1.id
    created = session.scalar(select(AuditLog).where(AuditLog.action == "customer.create",
                                                    AuditLog.entity_id == str(first.id)))
    assert created.after["import_job_id"] == job["id"] and created.after["row"] == 2
    assert created.after["late_entry"] in ("late", "beyond_max")


def test_large_import_progress_reaches_total_and_skips_review_processes(app, api, session):
    """Progress counts reach the total; a file above REVIEW_PROCESS_MAX_ROWS leaves customers pending
    without one process each (documented decision)."""
    n = data_import.REVIEW_PROCESS_MAX_ROWS + 50
    job = upload(api, "rep1", xlsx([row(f"进度测试{i:04d}有限公司", code=credit_code(1000 + i)) for i in range(n)])
                 ).get_json()
    assert job["status"] == "done", job["report"][:3]
    assert job["total_rows"] == job["processed_rows"] == job["imported_rows"] == n
    polled = api.as_("rep1").get(f"/imports/{job['id']}").get_json()
    assert polled["status"] == "done" and polled["imported_rows"] == n
    session.rollback()
    rows = list(session.scalars(select(Customer).where(Customer.name.like("进度测试%"))))
    assert len(rows) == n and all(c.status == "pending" and c.review_instance_id is None for c in rows)
    imp = session.scalar(select(AuditLog).where(AuditLog.action == "import", AuditLog.entity_id == str(job["id"])))
    assert "no review process" in imp.after["review"]


def test_C1_concurrent_duplicate_at_write_time_rolls_back_everything(app, session):
    """A duplicate registered between validation and writing: the unique index refuses it, the whole import
    rolls back and the report names the row."""
    factory = app.extensions["session_factory"]
    rep1, rep2 = user(session, "rep1"), user(session, "rep2")
    job = data_import.create_job(session, rep1, filename="race.xlsx")
    session.commit()
    before = counts(session)
    path = app.instance_path + f"/race-{job.id}.xlsx"
    with open(path, "wb") as fh:
        fh.write(xlsx([row("并发甲有限公司"), row("并发乙有限公司"), row("并发丙有限公司")]))

    def someone_else_registers():
        other = factory()
        other.add(Customer(sector_id=rep2.sector_id, department_id=rep2.department_id, owner_id=rep2.id,
                           name="并发乙有限公司", name_normalized="并发乙有限公司", status="pending"))
        other.commit()
        other.close()

    done = data_import.run_import(factory, job.id, path, before_write=someone_else_registers)
    assert done.status == "failed" and done.imported_rows == 0
    assert done.report == [{"row": 3, "field": "客户名称",
                            "message": data_import.duplicate_message("name", rep2.id, rep1)}]
    after = counts(session)
    assert after[0] == before[0] + 1 and after[1:] == before[1:]  # only the concurrent entry


# --- import: hostile files ------------------------------------------------------------------------------

def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _with_member(data: bytes, name: str, transform) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    return _zip({i.filename: transform(src.read(i)) if i.filename == name else src.read(i) for i in src.infolist()})


@pytest.mark.parametrize("case", ["not_zip", "csv_name", "empty", "zip_not_xlsx", "zip_bomb", "doctype", "utf16"])
def test_hostile_files_are_refused_with_422(api, session, case):
    """Not a workbook, a zip bomb, XML with a DOCTYPE (XXE / billion laughs): 422 naming the file, nothing stored."""
    good = xlsx([row("正常有限公司")])
    data, filename = {
        "not_zip": (b"\x00\x01 this is not a zip" * 100, "customers.xlsx"),
        "csv_name": (b"name,contact\n", "customers.csv"),
        "empty": (b"", "customers.xlsx"),
        "zip_not_xlsx": (_zip({"hello.txt": b"hi"}), "customers.xlsx"),
        "zip_bomb": (_with_member(good, "xl/worksheets/sheet1.xml", lambda d: d + b" " * 30_000_000), "c.xlsx"),
        "doctype": (_with_member(good, "xl/worksheets/sheet1.xml", lambda d: d.replace(
            b"<worksheet", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><worksheet', 1)), "c.xlsx"),
        "utf16": (_with_member(good, "xl/workbook.xml", lambda d: d.decode().encode("utf-16")), "c.xlsx"),
    }[case]
    jobs_before = session.scalar(select(func.count()).select_from(ImportJob))
    r = upload(api, "rep1", data, filename)
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["errors"]["file"] and body["message"] == body["errors"]["file"][0]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ImportJob)) == jobs_before


@pytest.mark.parametrize("headers, column", [
    (["客户名称*", "电话"], "联系人"),
    (["名称", "联系人*"], "名称"),
    (["客户名称*", "联系人*", "联系人*"], "联系人"),
])
def test_wrong_headers_answer_422_naming_the_column(api, headers, column):
    r = upload(api, "rep1", xlsx([["x"] * len(headers)], headers=headers))
    assert r.status_code == 422
    body = r.get_json()
    assert column in body["message"] and column in body["errors"]


def test_upload_without_file_or_with_other_kind_is_422(api):
    r = api.as_("rep1").post("/imports", data={"kind": "customers"}, content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    r = api.as_("rep1").post("/imports", data={"file": (io.BytesIO(xlsx([row("甲")])), "a.xlsx"), "kind": "leads"},
                             content_type="multipart/form-data")
    assert r.status_code == 422 and "kind" in r.get_json()["errors"]


def test_E6_only_customer_entrants_import(api):
    """E6: marketing, finance, the business manager (leads) may not import customers: 403."""
    for username in ("mkt1", "finance1", "bizmgr1", "admin"):
        assert upload(api, username, xlsx([row("甲")])).status_code == 403, username


def test_import_job_visible_to_creator_and_his_managers_only(api):
    """The job: its creator and his department manager see it; a colleague 403; another sector 404 (O2)."""
    job = upload(api, "rep1", xlsx([row("可见性测试有限公司")])).get_json()
    assert api.as_("rep1").get(f"/imports/{job['id']}").status_code == 200
    assert api.as_("mgr1").get(f"/imports/{job['id']}").status_code == 200
    assert api.as_("rep2").get(f"/imports/{job['id']}").status_code == 403
    assert api.as_("rep3").get(f"/imports/{job['id']}").status_code == 404
    assert api.as_("mgr3").get(f"/imports/{job['id']}").status_code == 404
    assert api.as_("rep1").get("/imports/2147483647").status_code == 404


def test_background_import_is_polled_until_done(migrated):
    """With IMPORT_BACKGROUND the job runs in a thread and the client polls its progress."""
    from tests.conftest import Api

    app = fresh_app(migrated, IMPORT_BACKGROUND=True)
    try:
        api = Api(app.test_client())
        r = upload(api, "rep1", xlsx([row(f"后台导入{i:03d}有限公司") for i in range(40)]))
        assert r.status_code == 201 and r.get_json()["status"] in ("queued", "validating", "importing", "done")
        job_id = r.get_json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = api.as_("rep1").get(f"/imports/{job_id}").get_json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "done" and job["imported_rows"] == job["total_rows"] == 40
    finally:
        app.extensions["db_engine"].dispose()


# --- import page ----------------------------------------------------------------------------------------

def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code in (302, 303), r.status_code


def test_import_page_uploads_and_shows_the_job(client):
    login(client, "rep1")
    page = client.get("/data")
    assert page.status_code == 200 and "导入客户" in page.get_data(as_text=True)
    assert client.get("/data/template.xlsx").status_code == 200
    bad = client.post("/data/import", data={"file": (io.BytesIO(b"nope"), "x.xlsx")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    r = client.post("/data/import", data={"file": (io.BytesIO(xlsx([row("页面导入有限公司")])), "x.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 303
    job_page = client.get(r.headers["Location"])
    assert job_page.status_code == 200 and "已完成" in job_page.get_data(as_text=True)
    status = client.get(r.headers["Location"] + "/status").get_json()
    assert status["status"] == "done" and status["imported_rows"] == 1


def test_template_round_trips_through_the_import(api, client):
    login(client, "rep1")
    wb = openpyxl.load_workbook(io.BytesIO(client.get("/data/template.xlsx").data))
    ws = wb.worksheets[0]
    ws.append(row("模板导入有限公司"))
    buf = io.BytesIO()
    wb.save(buf)
    assert upload(api, "rep1", buf.getvalue()).get_json()["status"] == "done"


# --- export ---------------------------------------------------------------------------------------------

def allow_export(session, *usernames):
    for username in usernames:
        user(session, username).can_export = True
    session.commit()


def exported(response) -> list[tuple]:
    ws = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][1] == "客户名称*"
    return rows[1:]


def test_O6_export_forbidden_without_the_right(api, client, session):
    """O6: exports only by users allowed to export; others 403 (API and page), and nothing is audited."""
    r = api.as_("rep1").get("/exports/customers.xlsx")
    assert r.status_code == 403
    login(client, "rep1")
    assert client.get("/data/export.xlsx").status_code == 403
    session.rollback()
    assert not session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "export"))


def test_O6_O2_export_lists_visible_customers_only_and_is_audited(api, session):
    """O2/O6: mgr1 (allowed to export) gets exactly the customers he may see, none of sector 2, and the export
    is audited with the count and filters; text that looks like a formula stays text."""
    from models import access

    allow_export(session, "mgr1", "rep3")
    mgr1 = user(session, "mgr1")
    session.add(Customer(sector_id=mgr1.sector_id, department_id=mgr1.department_id, owner_id=user(session, "rep2").id,
                         name="=HYPERLINK(\"http://x\",\"y\")", name_normalized="=hyperlink", status="approved"))
    session.commit()
    r = api.as_("mgr1").get("/exports/customers.xlsx")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    rows = exported(r)
    session.rollback()
    visible = set(session.scalars(select(Customer.id).where(access.customer_filter(mgr1))))
    assert {row_[0] for row_ in rows} == visible and len(rows) == len(visible)
    names = {row_[1] for row_ in rows}
    assert "成都天府软件有限公司" not in names  # sector 2
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).worksheets[0]
    formula_like = [c for c in ws["B"] if isinstance(c.value, str) and c.value.startswith("=")]
    assert formula_like and all(c.data_type == "s" for c in formula_like)
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "export", AuditLog.actor_id == mgr1.id))
    assert entry.entity_type == "customer" and entry.after == {"count": len(rows), "filters": {}}

    r3 = api.as_("rep3").get("/exports/customers.xlsx")
    assert {row_[1] for row_ in exported(r3)} == {"成都天府软件有限公司"}


def test_O6_export_filters_and_page_button(api, client, session):
    allow_export(session, "salesmgmt1")
    r = api.as_("salesmgmt1").get("/exports/customers.xlsx", query_string={"q": "华信", "status": "approved"})
    assert [row_[1] for row_ in exported(r)] == ["北京华信科技有限公司"]
    session.rollback()
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id.desc()))
    assert entry.after == {"count": 1, "filters": {"q": "华信", "status": "approved"}}
    assert api.as_("salesmgmt1").get("/exports/customers.xlsx", query_string={"status": "nope"}).status_code == 422
    login(client, "salesmgmt1")
    page = client.get("/data").get_data(as_text=True)
    assert "导出 Excel" in page
    r = client.get("/data/export.xlsx", query_string={"q": "东方电气"})
    assert r.status_code == 200 and [row_[1] for row_ in exported(r)] == ["上海东方电气股份有限公司"]
