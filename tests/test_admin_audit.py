"""The audit page (issue 13): filters by user, case, action and period, who viewed which
case, CSV export; the municipality's own rows only; and no audit row can be changed or
deleted, neither through the application nor in the database (both databases)."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text as sql
from sqlalchemy.exc import DatabaseError

from inbox import create_app
from inbox.admin import _cell
from processes.models import AuditEvent
from test_inbox import Browser, text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(runtime):
    return create_app(runtime, TESTING=True)


@pytest.fixture
def cases(runtime):
    """A case in Aaby viewed by its caseworker, and one in Bøgeby."""
    aaby = runtime.engine.start_case("aaby", "rehabilitering", "010190-1234", "Anna Andersen")
    boegeby = runtime.engine.start_case("boegeby", "rehabilitering", "020290-2345", "Bo Bertelsen")
    return aaby.case_id, boegeby.case_id


def _rows(response) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", text(response), re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _audit_count(rt) -> int:
    with rt.sessions() as db:
        return db.scalar(select(func.count(AuditEvent.id)))


def test_filters_by_user_case_action_and_period_and_shows_who_viewed_a_case(app, runtime, cases):
    aaby_case, boegeby_case = cases
    assert Browser(app, "aaby.sagsbehandler").get(f"/sager/{aaby_case}").status_code == 200
    admin = Browser(app, "aaby.admin")
    views = _rows(admin.get("/admin/revision?handling=case.view"))
    assert [(r[1], r[2], r[3]) for r in views] == [("aaby.sagsbehandler", "case.view", str(aaby_case))]
    by_case = _rows(admin.get(f"/admin/revision?sag={aaby_case}"))
    assert {r[2] for r in by_case} >= {"case.start", "case.view"} and {r[3] for r in by_case} == {str(aaby_case)}
    by_user = _rows(admin.get("/admin/revision?bruger=aaby.sagsbehandler"))
    assert by_user and {r[1] for r in by_user} == {"aaby.sagsbehandler"}
    assert _rows(admin.get("/admin/revision?bruger=aaby.sagsbehandler&handling=case.view&fra=2027-01-04&til=2027-01-04")) \
        == views  # the demo clock's day
    empty = _rows(admin.get("/admin/revision?handling=case.view&fra=2027-01-05"))
    assert empty == [["Ingen hændelser."]]
    bad = admin.get("/admin/revision?sag=abc&fra=2027-13-01")
    assert bad.status_code == 422 and "Sagsnummeret skal være et tal." in text(bad)


def test_only_the_administrators_municipality_and_only_administrators(app, runtime, cases):
    aaby_case, boegeby_case = cases
    Browser(app, "boegeby.sagsbehandler").get(f"/sager/{boegeby_case}")
    admin = Browser(app, "aaby.admin")
    everything = text(admin.get("/admin/revision"))
    assert "boegeby." not in everything and "Bo Bertelsen" not in everything
    assert _rows(admin.get(f"/admin/revision?sag={boegeby_case}")) == [["Ingen hændelser."]]
    exported = text(admin.get(f"/admin/revision.csv?sag={boegeby_case}"))
    assert list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))[1:] == []
    assert "boegeby." not in text(admin.get("/admin/revision.csv"))
    for user in ("aaby.teamleder", "aaby.sagsbehandler"):
        assert Browser(app, user).get("/admin/revision").status_code == 403
        assert Browser(app, user).get("/admin/revision.csv").status_code == 403


def test_csv_export_has_the_filtered_rows_and_is_audited(app, runtime, cases):
    aaby_case, _ = cases
    Browser(app, "aaby.sagsbehandler").get(f"/sager/{aaby_case}")
    admin = Browser(app, "aaby.admin")
    response = admin.get(f"/admin/revision.csv?sag={aaby_case}&handling=case.view")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["id", "tidspunkt", "bruger", "handling", "sag", "procesinstans", "detaljer"]
    assert [(r[2], r[3], r[4]) for r in rows[1:]] == [("aaby.sagsbehandler", "case.view", str(aaby_case))]
    with runtime.sessions() as db:
        export = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert export.actor == "aaby.admin" and export.detail["rows"] == 1
    assert export.detail["filters"] == {"sag": str(aaby_case), "handling": "case.view"}
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell("-1") == "'-1" and _cell("aaby.admin") == "aaby.admin"


def _details(page: str) -> list[list[tuple[str, str]]]:
    """Each row's details: its (label, value) pairs as the page shows them (escaped; a key or
    value as recorded is in <code>, not the words)."""
    return [[tuple(re.sub(r"</?code>", "", part) for part in pair)
             for pair in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", cell, re.S)]
            for cell in re.findall(r'<dl class="audit-detail">(.*?)</dl>', page, re.S)]


def test_details_are_a_readable_list_with_danish_or_english_labels_and_cprs_masked(app, runtime, cases):
    """Known keys in words, any other key as written, values escaped, lists and nested
    details spelt out, and a CPR number (a search for one, a form field) masked."""
    aaby_case, _ = cases
    caseworker = Browser(app, "aaby.sagsbehandler")
    assert caseworker.get("/sager/soeg?q=0101901234").status_code == 200        # audited with the CPR
    with runtime.sessions.begin() as db:
        aaby = db.scalar(select(AuditEvent.municipality_id).where(AuditEvent.case_id == aaby_case).limit(1))
        db.add(AuditEvent(municipality_id=aaby, actor="aaby.admin", action="detail.test",
                          at=datetime(2027, 1, 4, 12, tzinfo=timezone.utc),
                          detail={"comment": "<b>fed</b> & 0101901234", "imported": True, "until": None,
                                  "released_tasks": [3, 4], "data": {"cpr": "010190-1234", "navn": "Anna"},
                                  "cases": [], "ukendt_nøgle": 7}))
    admin = Browser(app, "aaby.admin")
    search = _details(text(admin.get("/admin/revision?handling=case.search")))
    assert search == [[("Sager", str(aaby_case)), ("Slags", "cpr"), ("Søgning", "010190-XXXX")]]
    page = text(admin.get("/admin/revision?handling=detail.test"))
    assert "1234" not in page and "<b>fed" not in page
    assert "<dt><code>ukendt_nøgle</code></dt>" in page and "<dd>Ja</dd>" in page and "<dd><code>3, 4</code></dd>" in page
    assert _details(page) == [[
        ("Sager", "ingen"), ("Kommentar", "&lt;b&gt;fed&lt;/b&gt; &amp; 010190-XXXX"),
        ("Indsendte oplysninger", "cpr: 010190-XXXX; navn: Anna"), ("Importeret", "Ja"),
        ("Frigivne opgaver", "3, 4"), ("ukendt_nøgle", "7"), ("Indtil", "–")]]
    admin.post("/sprog", data={"lang": "en", "next": "/admin/revision"})
    english = _details(text(admin.get("/admin/revision?handling=detail.test")))
    assert english == [[
        ("Cases", "none"), ("Comment", "&lt;b&gt;fed&lt;/b&gt; &amp; 010190-XXXX"),
        ("Submitted information", "cpr: 010190-XXXX; navn: Anna"), ("Imported", "Yes"),
        ("Released tasks", "3, 4"), ("ukendt_nøgle", "7"), ("Until", "–")]]
    assert _details(text(admin.get("/admin/revision?handling=case.search")))[0][2] == ("Search", "010190-XXXX")


def test_no_route_changes_or_deletes_an_audit_row(app, runtime, cases):
    audit_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.audit")]
    assert {r.endpoint for r in audit_rules} == {"admin.audit", "admin.audit_csv"}
    assert all(r.methods - {"HEAD", "OPTIONS"} == {"GET"} for r in audit_rules)
    admin = Browser(app, "aaby.admin")
    with runtime.sessions() as db:
        before = [(e.id, e.actor, e.action, e.detail) for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    for path in ("/admin/revision", "/admin/revision.csv", f"/admin/revision?sag={cases[0]}"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = admin.http.open(path, method=method, data={"csrf_token": admin.csrf})
            assert response.status_code == 405, f"{method} {path}"
    with runtime.sessions() as db:
        after = [(e.id, e.actor, e.action, e.detail) for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert after[:len(before)] == before


def test_the_database_refuses_to_change_or_delete_audit_rows(runtime, cases):
    count = _audit_count(runtime)
    for statement in ("UPDATE audit_event SET actor = 'someone else'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError, match="audit_event rows are never changed or deleted"):
            with runtime.db.begin() as conn:
                conn.execute(sql(statement))
    with pytest.raises(DatabaseError):
        with runtime.sessions.begin() as db:
            db.scalars(select(AuditEvent)).first().actor = "someone else"
    with runtime.sessions() as db:
        assert "someone else" not in set(db.scalars(select(AuditEvent.actor)))
    assert _audit_count(runtime) == count


def test_no_application_code_updates_or_deletes_audit_rows():
    """Read every module of the application: the audit table is only ever inserted into."""
    pattern = re.compile(r"(update|delete)\(\s*AuditEvent|(UPDATE|DELETE\s+FROM)\s+audit_event", re.I)
    offenders = [str(p.relative_to(ROOT)) for folder in ("processes", "inbox", "worker", "sagsflow")
                 for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
