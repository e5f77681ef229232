"""R1: invoices and collections against contracts; the monthly receivables list per department.

A known data set: contracts approved in September 2026, invoices and collections from October to December;
the list as of each month's last day (contracted, invoiced, collected, outstanding, overdue).
"""
from __future__ import annotations

import io
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import clock
from models.audit import AuditLog
from models.contracts import Contract
from models.crm import Customer
from models.org import Department
from models.receivables import Collection, Invoice
from tests.conftest import customer_ids


def _submit(api, user, customer_id, amount, list_amount, template="standard"):
    r = api.as_(user).post("/contracts", json={"customer_id": customer_id, "list_amount": list_amount,
                                               "amount": amount, "template": template})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _approve_all(api, contract):
    for _ in range(6):
        inst = api.as_("grouplead").get(f"/process-instances/{contract['process_instance_id']}").get_json()
        if not inst["open_tasks"]:
            return
        for task in inst["open_tasks"]:
            user = {"mgr_decide": "mgr1", "sm_opinion": "salesmgmt1", "rnd_sign": "rndvp", "impl_sign": "implvp",
                    "pres_sign": "president"}[task["step"]]
            r = api.as_(user).post(f"/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}})
            assert r.status_code == 200, r.get_json()


def _post(api, user, path, body, expect=201):
    r = api.as_(user).post(path, json=body)
    assert r.status_code == expect, (path, body, r.get_json())
    return r.get_json()


@pytest.fixture
def ledger(api, session):
    """A: rep1 100,000 (D1) · B: rep1 300,000 countersigned (D1) · C: rep2 50,000 (D1) · D: rep1 80,000 moved
    to D2 · E: rep1, still pending. Then finance records the invoices and collections."""
    clock.freeze(datetime(2026, 9, 10, 10, 0))
    rep1_customer = customer_ids(api, "rep1")[0]
    rep2_customer = session.scalar(select(Customer.id).where(Customer.name == "杭州西湖数据有限公司"))
    c = {"A": _submit(api, "rep1", rep1_customer, 100000, 200000),
         "B": _submit(api, "rep1", rep1_customer, 300000, 500000, "custom"),
         "C": _submit(api, "rep2", rep2_customer, 50000, 80000),
         "D": _submit(api, "rep1", rep1_customer, 80000, 100000),
         "E": _submit(api, "rep1", rep1_customer, 70000, 100000)}
    for key in "ABCD":
        _approve_all(api, c[key])
    session.rollback()
    d2 = session.scalar(select(Department).where(Department.code == "D2"))
    session.get(Contract, c["D"]["id"]).department_id = d2.id
    session.commit()
    clock.freeze(datetime(2026, 12, 15, 9, 0))
    api._tokens.clear()  # tokens issued in September have expired by December
    fin = "finance1"
    a1 = _post(api, fin, f"/contracts/{c['A']['id']}/invoices",
               {"number": "INV-A1", "amount": 60000, "issued_on": "2026-10-01", "due_on": "2026-10-31"})
    _post(api, fin, f"/contracts/{c['A']['id']}/invoices",
          {"number": "INV-A2", "amount": 40000, "issued_on": "2026-11-05", "due_on": "2026-12-05"})
    _post(api, fin, f"/contracts/{c['A']['id']}/collections", {"amount": 50000, "received_on": "2026-11-10"})
    _post(api, fin, f"/contracts/{c['A']['id']}/collections", {"amount": 10000, "received_on": "2026-12-02"})
    b1 = _post(api, fin, f"/contracts/{c['B']['id']}/invoices",
               {"number": "INV-B1", "amount": 150000, "issued_on": "2026-11-01", "due_on": "2026-11-15"})
    _post(api, fin, f"/contracts/{c['B']['id']}/collections",
          {"amount": 100000, "received_on": "2026-11-20", "invoice_id": b1["id"]})
    _post(api, fin, f"/contracts/{c['B']['id']}/invoices",
          {"number": "INV-B2", "amount": 150000, "issued_on": "2026-12-01", "due_on": "2026-12-31"})
    _post(api, fin, f"/contracts/{c['D']['id']}/invoices",
          {"number": "INV-D1", "amount": 20000, "issued_on": "2026-10-10", "due_on": "2026-10-20"})
    c["A1"], c["B1"] = a1, b1
    return c


def _rows(api, user, month, department_id=None):
    q = f"/receivables?month={month}" + (f"&department_id={department_id}" if department_id else "")
    r = api.as_(user).get(q)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    return {row["number"]: (row["contracted"], row["invoiced"], row["collected"], row["outstanding"], row["overdue"])
            for row in body["items"]}, body["totals"]


@pytest.mark.parametrize(("month", "expected"), [
    ("2026-08", {}),  # approved in September: not on August's list
    ("2026-10", {"A": (100000, 60000, 0, 100000, 0),      # INV-A1 is due on the month's last day: not overdue yet
                 "B": (300000, 0, 0, 300000, 0), "C": (50000, 0, 0, 50000, 0),
                 "D": (80000, 20000, 0, 80000, 20000)}),
    ("2026-11", {"A": (100000, 100000, 50000, 50000, 10000),  # 60,000 past due, 50,000 untied collection covers it
                 "B": (300000, 150000, 100000, 200000, 50000),  # INV-B1 150,000 past due, 100,000 paid on it
                 "C": (50000, 0, 0, 50000, 0), "D": (80000, 20000, 0, 80000, 20000)}),
    ("2026-12", {"A": (100000, 100000, 60000, 40000, 40000),
                 "B": (300000, 300000, 100000, 200000, 50000),  # INV-B2 due on Dec 31: not overdue yet
                 "C": (50000, 0, 0, 50000, 0), "D": (80000, 20000, 0, 80000, 20000)}),
])
def test_R1_monthly_figures_for_a_known_data_set(api, ledger, month, expected):
    """R1: per contract as of the month's end: contracted, invoiced, collected, outstanding and overdue."""
    rows, totals = _rows(api, "finance1", month)
    assert rows == {ledger[k]["number"]: v for k, v in expected.items()}
    for i, key in enumerate(("contracted", "invoiced", "collected", "outstanding", "overdue")):
        assert totals[key] == sum(v[i] for v in expected.values())


def test_R1_list_per_department(api, session, ledger):
    """R1: a list per department for finance and sales management."""
    d1 = session.scalar(select(Department.id).where(Department.code == "D1"))
    d2 = session.scalar(select(Department.id).where(Department.code == "D2"))
    for user in ("finance1", "salesmgmt1"):
        rows, _t = _rows(api, user, "2026-11", d1)
        assert set(rows) == {ledger[k]["number"] for k in "ABC"}
        rows, totals = _rows(api, user, "2026-11", d2)
        assert set(rows) == {ledger["D"]["number"]} and totals["overdue"] == 20000


def test_R1_who_sees_which_rows(api, session, ledger):
    """R1 access: a rep sees only his own contracts, a manager his department, another sector nothing (404
    for its departments); pending contracts are never receivables."""
    numbers = {k: ledger[k]["number"] for k in "ABCDE"}
    rep1, _t = _rows(api, "rep1", "2026-11")
    assert set(rep1) == {numbers[k] for k in "ABD"}
    rep2, _t = _rows(api, "rep2", "2026-11")
    assert set(rep2) == {numbers["C"]}
    mgr1, _t = _rows(api, "mgr1", "2026-11")
    assert set(mgr1) == {numbers[k] for k in "ABC"}
    other, _t = _rows(api, "mgr3", "2026-11")
    assert other == {}
    d1 = session.scalar(select(Department.id).where(Department.code == "D1"))
    assert api.as_("mgr3").get(f"/receivables?month=2026-11&department_id={d1}").status_code == 404
    assert api.as_("admin").get("/receivables?month=2026-11").get_json()["items"] == []
    assert api.as_("rep1").get("/receivables?month=2026-13").status_code == 422
    assert api.as_("rep1").get("/receivables?month=abc").status_code == 422


def _count(session, model):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_R1_refusals_name_the_field_and_write_nothing(api, session, ledger):
    a, e = ledger["A"]["id"], ledger["E"]["id"]
    before = (_count(session, Invoice), _count(session, Collection))
    fin = api.as_("finance1")
    cases = [
        (f"/contracts/{a}/collections", {"amount": 40000.01, "received_on": "2026-12-10"}, 422, "amount"),  # owed 40,000
        (f"/contracts/{a}/collections", {"amount": 0, "received_on": "2026-12-10"}, 422, "amount"),
        (f"/contracts/{a}/collections", {"amount": -5, "received_on": "2026-12-10"}, 422, "amount"),
        (f"/contracts/{a}/collections", {"amount": 100, "received_on": "2027-01-10"}, 422, "received_on"),
        (f"/contracts/{a}/collections", {"amount": 100, "received_on": "2026-12-10", "invoice_id": 999999}, 422,
         "invoice_id"),
        (f"/contracts/{ledger['B']['id']}/collections", {"amount": 50000.01, "received_on": "2026-12-10",
                                                         "invoice_id": ledger["B1"]["id"]}, 422, "amount"),  # 50,000 open
        (f"/contracts/{a}/collections", {"amount": 1, "received_on": "2026-12-10",
                                         "invoice_id": ledger["B1"]["id"]}, 422, "invoice_id"),  # another contract's
        (f"/contracts/{a}/invoices", {"number": "INV-X", "amount": 1, "issued_on": "2026-12-01",
                                      "due_on": "2026-12-31"}, 422, "amount"),  # fully invoiced already
        (f"/contracts/{a}/invoices", {"number": "INV-A1", "amount": 1, "issued_on": "2026-12-01",
                                      "due_on": "2026-12-31"}, 422, None),
        (f"/contracts/{e}/invoices", {"number": "INV-E", "amount": 1, "issued_on": "2026-12-01",
                                      "due_on": "2026-12-31"}, 422, "contract_id"),  # still pending
        (f"/contracts/{ledger['B']['id']}/invoices", {"number": "INV-Y", "amount": 1, "issued_on": "2026-12-10",
                                                      "due_on": "2026-12-01"}, 422, "due_on"),
        (f"/contracts/{a}/collections", {"amount": 1}, 422, "received_on"),
    ]
    for path, body, code, field in cases:
        r = fin.post(path, json=body)
        assert r.status_code == code, (path, body, r.get_json())
        if field:
            assert field in r.get_json()["errors"], (path, body, r.get_json())
    assert (_count(session, Invoice), _count(session, Collection)) == before


def test_R1_only_finance_records(api, session, ledger):
    a = ledger["A"]["id"]
    before = (_count(session, Invoice), _count(session, Collection))
    body = {"amount": 100, "received_on": "2026-12-10"}
    for user in ("rep1", "mgr1", "salesmgmt1", "president"):
        assert api.as_(user).post(f"/contracts/{a}/collections", json=body).status_code == 403, user
    for user in ("rep2", "mgr3", "rep3", "admin"):
        assert api.as_(user).post(f"/contracts/{a}/collections", json=body).status_code == 404, user
    assert (_count(session, Invoice), _count(session, Collection)) == before


def test_R1_collection_up_to_what_is_owed_then_refused(api, ledger):
    a = ledger["A"]["id"]
    _post(api, "finance1", f"/contracts/{a}/collections", {"amount": 40000, "received_on": "2026-12-14"})
    r = api.as_("finance1").post(f"/contracts/{a}/collections", json={"amount": 0.01, "received_on": "2026-12-14"})
    assert r.status_code == 422 and "amount" in r.get_json()["errors"]
    rows, _t = _rows(api, "finance1", "2026-12")
    assert rows[ledger["A"]["number"]] == (100000, 100000, 100000, 0, 0)


def test_R1_recording_is_audited(api, session, ledger):
    session.rollback()
    actions = [a for (a,) in session.execute(select(AuditLog.action).where(
        AuditLog.entity_type.in_(("invoice", "collection"))))]
    assert actions.count("invoice.create") == 5 and actions.count("collection.create") == 3


def test_R1_export_for_allowed_users_only_and_audited(app, session, ledger):
    """R1 / O6: the monthly list exported to Excel by a user allowed to export; audited; others 403."""
    client = app.test_client()
    client.post("/login", data={"username": "finance1", "password": "demo12345"})
    assert client.get("/receivables/export.xlsx?month=2026-11").status_code == 403
    client.post("/logout")
    client = app.test_client()
    r = client.post("/login", data={"username": "salesmgmt1", "password": "demo12345"})
    assert r.status_code in (200, 302)
    r = client.get("/receivables/export.xlsx?month=2026-11")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(r.data)).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0][0] == "合同编号"
    by_number = {row[0]: row for row in values[1:-1]}
    assert by_number[ledger["B"]["number"]][7:] == (300000, 150000, 100000, 200000, 50000)
    assert values[-1][0] == "合计" and values[-1][-1] == 80000
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "export", AuditLog.entity_type == "receivable")) == 1


def test_R1_page_shows_month_and_department(app, ledger):
    client = app.test_client()
    client.post("/login", data={"username": "finance1", "password": "demo12345"})
    r = client.get("/receivables?month=2026-11")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert ledger["B"]["number"] in html and "¥50,000.00" in html and "逾期" in html
    assert "导出 Excel" not in html  # finance1 may not export
    assert client.get("/receivables?month=2026-11&department_id=999999").status_code == 404


def test_R1_finance_records_on_the_contract_page(app, session, ledger):
    """R1 pages: finance sees the recording forms on an approved contract and records through them; a rep
    does not see them and is refused."""
    c = ledger["C"]["id"]
    fin = app.test_client()
    fin.post("/login", data={"username": "finance1", "password": "demo12345"})
    assert "登记发票" in fin.get(f"/contracts/{c}").get_data(as_text=True)
    r = fin.post(f"/contracts/{c}/invoices", data={"number": "INV-C1", "amount": "20,000", "issued_on": "2026-12-01",
                                                   "due_on": "2026-12-20"})
    assert r.status_code == 302
    r = fin.post(f"/contracts/{c}/collections", data={"amount": "60000", "received_on": "2026-12-10"})
    assert r.status_code == 302  # refused above what is owed: flashed, nothing written
    r = fin.post(f"/contracts/{c}/collections", data={"amount": "5000", "received_on": "2026-12-10"})
    assert r.status_code == 302
    page = fin.get(f"/contracts/{c}").get_data(as_text=True)
    assert "INV-C1" in page and "¥5,000.00" in page
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Collection).where(Collection.contract_id == c)) == 1
    rep = app.test_client()
    rep.post("/login", data={"username": "rep2", "password": "demo12345"})
    assert "登记发票" not in rep.get(f"/contracts/{c}").get_data(as_text=True)
    assert rep.post(f"/contracts/{c}/collections", data={"amount": "1", "received_on": "2026-12-10"}).status_code == 403
