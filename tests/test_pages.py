"""Server-rendered pages: quote form, task page actions, processes page, instance page access."""
from __future__ import annotations

import io
import re
from pathlib import Path

from sqlalchemy import func, select

from models.crm import Customer, Quote
from models.process import ProcessDefinition

ROOT = Path(__file__).resolve().parent.parent


def login(client, username):
    r = client.post("/login", data={"username": username, "password": "demo12345"})
    assert r.status_code == 302, r.get_data(as_text=True)


def rep1_customer(session):
    return session.scalar(select(Customer).where(Customer.status == "approved", Customer.name.like("北京%")))


def test_Q1_quote_form_submits_and_shows_pending_quote(client, session):
    login(client, "rep1")
    page = client.get("/quotes/new").get_data(as_text=True)
    assert "北京华信科技有限公司" in page and "深圳前海新创有限公司" not in page  # pending customer not offered
    r = client.post("/quotes/new", data={"customer_id": rep1_customer(session).id, "list_amount": "10,000.00",
                                         "quote_amount": "4500", "product": "ERP"})
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "审批中" in html and "¥10,000.00" in html and "4.5折" in html and "部门经理审批" in html


def test_Q1_quote_form_errors_name_the_field_and_store_nothing(client, session):
    login(client, "rep1")
    before = session.scalar(select(func.count()).select_from(Quote))
    r = client.post("/quotes/new", data={"customer_id": "", "list_amount": "abc", "quote_amount": ""})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="customer_id"' in html and 'aria-invalid="true"' in html
    pending = session.scalar(select(Customer).where(Customer.status == "pending"))
    r = client.post("/quotes/new", data={"customer_id": pending.id, "list_amount": "100", "quote_amount": "50"})
    assert r.status_code == 422 and "尚未审核通过" in r.get_data(as_text=True)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Quote)) == before


def test_Q1_manager_approves_on_the_task_page(client, session):
    login(client, "rep1")
    client.post("/quotes/new", data={"customer_id": rep1_customer(session).id, "list_amount": "100",
                                     "quote_amount": "60"})
    client.post("/logout")
    login(client, "mgr1")
    inbox = client.get("/inbox").get_data(as_text=True)
    task_url = re.search(r'href="(/tasks/\d+)"', inbox).group(1)
    assert "张伟" in inbox  # requester shown in the row
    page = client.get(task_url).get_data(as_text=True)
    assert "同意" in page and "驳回" in page and "6折" in page
    r = client.post(f"{task_url}/complete", data={"decision": "approve", "comment": "同意报价"})
    assert r.status_code == 302
    done = client.get("/inbox?tab=done").get_data(as_text=True)
    assert "部门经理审批" in done
    session.rollback()  # a fresh snapshot sees the requests' commits on SQLite too
    assert session.scalar(select(Quote).order_by(Quote.id.desc())).status == "approved"


def test_O2_instance_and_quote_pages_are_404_for_another_sector(client, session):
    login(client, "rep1")
    client.post("/quotes/new", data={"customer_id": rep1_customer(session).id, "list_amount": "100",
                                     "quote_amount": "60"})
    session.rollback()
    quote = session.scalar(select(Quote).order_by(Quote.id.desc()))
    client.post("/logout")
    login(client, "mgr3")
    assert client.get(f"/quotes/{quote.id}").status_code == 404
    assert client.get(f"/processes/instances/{quote.process_instance_id}").status_code == 404
    assert client.get("/tasks/1").status_code == 404
    assert client.post("/tasks/1/complete", data={"decision": "approve"}).status_code == 404


def test_only_admin_uploads_diagrams_and_errors_name_the_element(client, session):
    xml = (ROOT / "workflows" / "quote_approval.bpmn").read_bytes()
    shipped = session.scalar(select(func.count()).select_from(ProcessDefinition))
    login(client, "mgr1")
    assert client.post("/processes", data={"file": (io.BytesIO(xml), "q.bpmn")},
                       content_type="multipart/form-data").status_code == 403
    client.post("/logout")
    login(client, "admin")
    bad = xml.replace(b'(dept_manager)', b'(no_such_role)')
    r = client.post("/processes", data={"file": (io.BytesIO(bad), "q.bpmn")},
                    content_type="multipart/form-data")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "mgr_approve" in html and "no_such_role" in html
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ProcessDefinition)) == shipped
    good = xml.replace(b"discount &lt; 0.5", b"discount &lt; 0.55")
    r = client.post("/processes", data={"file": (io.BytesIO(good), "q.bpmn")},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    assert "v2" in client.get("/processes").get_data(as_text=True)


def test_english_is_available(client):
    login(client, "mgr1")
    html = client.get("/inbox?lang=en").get_data(as_text=True)
    assert "Approval center" in html and "To do" in html
    assert "Approval center" in client.get("/inbox").get_data(as_text=True)  # the choice sticks
