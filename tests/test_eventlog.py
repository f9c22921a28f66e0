"""``sagsflow eventlog export``: a municipality's event log as XES, OCEL 2.0 JSON and CSV.

The files are read back by a real process-mining reader, rustxes (the Rust
``process_mining`` library's XES and OCEL 2.0 importers, strict about the OCEL 2.0 JSON
structure), and checked against the rules of the standards the reader does not enforce
(typed XES values, declared extensions and globals; declared OCEL event and object
types). No package on PyPI or npm ships the official XES XSD or the OCEL 2.0 JSON schema,
so no schema file is vendored. CPR numbers never appear; the pseudonym is a keyed hash.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from datetime import datetime

import pytest
import rustxes                      # the test extra installs it: a missing reader is an error, not a skip
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import select

from processes.eventlog import PSEUDONYM_LENGTH
from processes.models import AuditEvent
from sagsflow.cli import main
from walk import Walk


CPR, NAME = "010190-1234", "Test Borger"
XES = "{http://www.xes-standard.org/}"


@pytest.fixture
def cases(runtime):
    """Bøgeby: a fleksjob whose first talk is missed (a breach) and a rehabilitering case
    started by its caseworker; Aaby: a case that must not appear in Bøgeby's log."""
    fleksjob = Walk(runtime, "boegeby", "fleksjob", {"overdragelse": {"visitationsdato": "2027-01-04"}},
                    cpr=CPR, name=NAME)
    rehab = Walk(runtime, "boegeby", "rehabilitering", cpr="020290-2345", name="Anden Borger")
    rehab.complete("vurder_rute", oprindelig_ydelse="sygedagpenge", ansoegt_om="fleksjob", rute="team")
    rehab.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    Walk(runtime, "aaby", "rehabilitering", cpr="030390-3456", name="Aaby Borger")
    fleksjob.end_of("2027-01-25")           # the 3 weeks end: the deadline fires
    fleksjob.at("2027-01-26")
    fleksjob.complete("eskaler_foerste_samtale", eskalering_handling="rykket")
    fleksjob.at("2027-01-26", hour=10)
    fleksjob.complete("foerste_samtale", samtaledato="2027-01-26", situation="ledig")
    return runtime, fleksjob, rehab


def export(runtime, tmp_path, fmt, *extra, env=None, ok=True):
    out = tmp_path / f"log.{fmt}"
    result = CliRunner().invoke(main, ["--database-url", runtime.url, "eventlog", "export", "boegeby",
                                       "--format", fmt, "--out", str(out), *extra], env=env or {},
                                catch_exceptions=False)
    if not ok:
        return result
    assert result.exit_code == 0, result.output
    return out


def rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_csv_has_the_municipalitys_engine_records_and_no_personal_numbers(cases, tmp_path):
    runtime, fleksjob, rehab = cases
    data = rows(export(runtime, tmp_path, "csv"))
    by_case = {}
    for row in data:
        by_case.setdefault(row["case:concept:name"], []).append(row)
    assert set(by_case) == {f"sag-{fleksjob.case_id}", f"sag-{rehab.case_id}"}       # no Aaby case
    story = [(r["concept:name"], r["lifecycle:transition"], r["time:timestamp"][:10], r["org:resource"])
             for r in by_case[f"sag-{fleksjob.case_id}"]]
    assert story == [
        ("Proces startet: fleksjob", "complete", "2027-01-04", ""),
        ("Milepæl: Visiteret til fleksjob", "complete", "2027-01-04", ""),
        ("Brev: indkaldelse_samtale", "complete", "2027-01-04", ""),
        ("Hold første samtale efter visitation", "schedule", "2027-01-04", ""),
        # the deadline ends with the Danish day 2027-01-25: 23:00 UTC
        ("Frist overskredet: fj_foerste_samtale", "complete", "2027-01-25", ""),
        ("Frist overskredet: første samtale senest 3 uger efter visitation", "schedule", "2027-01-25", ""),
        ("Frist overskredet: første samtale senest 3 uger efter visitation", "complete", "2027-01-26",
         "boegeby.teamleder"),
        ("Hold første samtale efter visitation", "complete", "2027-01-26", "boegeby.sagsbehandler"),
        ("Milepæl: Første samtale i fleksjob", "complete", "2027-01-26", ""),
        ("Hold kontaktsamtale (ledighedsydelse)", "schedule", "2027-01-26", ""),
        ("Find og etablér fleksjob", "schedule", "2027-01-26", ""),
    ]
    milestone = next(r for r in by_case[f"sag-{fleksjob.case_id}"] if r["kind"] == "milestone")
    assert milestone["milestone_date"] == "2027-01-04" and milestone["process"] == "fleksjob"
    assert {r["concept:name"] for r in by_case[f"sag-{rehab.case_id}"]} >= {
        "Proces startet: rehabilitering", "Vurdér målgruppe og rute", "Milepæl: Forberedelse startet"}
    # pseudonyms: one per citizen, the same on every row, neither the number nor the name anywhere
    citizens = {case: {r["case:citizen"] for r in rs} for case, rs in by_case.items()}
    assert all(len(c) == 1 for c in citizens.values()) and len(set().union(*citizens.values())) == 2
    text = (tmp_path / "log.csv").read_text(encoding="utf-8")
    for secret in (CPR, CPR.replace("-", ""), "020290-2345", NAME, "Anden Borger"):
        assert secret not in text


def test_pseudonyms_are_keyed_hashes_stable_only_under_the_same_key(cases, tmp_path):
    runtime, fleksjob, _ = cases
    case = f"sag-{fleksjob.case_id}"

    def citizen(**env):
        return next(r["case:citizen"] for r in rows(export(runtime, tmp_path, "csv", env=env))
                    if r["case:concept:name"] == case)
    first, second = citizen(), citizen()
    assert first != second                                   # a new key per export
    keyed = hmac.new(b"kommunens hemmelighed", CPR.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]
    assert citizen(SAGSFLOW_EVENTLOG_KEY="kommunens hemmelighed") == keyed
    assert citizen(SAGSFLOW_EVENTLOG_KEY="kommunens hemmelighed") == keyed
    assert keyed != hashlib.sha256(CPR.encode()).hexdigest()[:PSEUDONYM_LENGTH]      # not a plain hash


def test_xes_is_read_by_a_process_mining_reader_and_keeps_the_standards_rules(cases, tmp_path):
    runtime, fleksjob, _ = cases
    expected = rows(export(runtime, tmp_path, "csv"))
    path = export(runtime, tmp_path, "xes", env={"SAGSFLOW_EVENTLOG_KEY": "k"})
    frame, meta = rustxes.import_xes(str(path))
    assert frame.height == len(expected)
    assert set(frame["case:concept:name"].to_list()) == {r["case:concept:name"] for r in expected}
    assert sorted(frame["concept:name"].to_list()) == sorted(r["concept:name"] for r in expected)
    info = json.loads(meta)
    assert {e["prefix"] for e in info["extensions"]} == {"concept", "time", "lifecycle", "org"}
    # the rules the reader does not check (IEEE 1849-2016): typed values, declared prefixes,
    # globals present on every trace and event, classifier keys that exist
    root = etree.parse(str(path)).getroot()
    assert root.tag == f"{XES}log" and root.get("xes.version") == "1849-2016"
    prefixes = {e.get("prefix") for e in root.findall(f"{XES}extension")}
    dates = root.iter(f"{XES}date")
    for node in dates:
        datetime.fromisoformat(node.get("value"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", node.get("value"))
    for node in root.iter(f"{XES}int"):
        int(node.get("value"))
    for node in root.iter():
        key = node.get("key")
        if key and ":" in key:
            assert key.split(":")[0] in prefixes | {"sagsflow"}, key
    globals_ = {g.get("scope"): {a.get("key") for a in g} for g in root.findall(f"{XES}global")}
    for trace in root.findall(f"{XES}trace"):
        assert globals_["trace"] <= {a.get("key") for a in trace if a.tag != f"{XES}event"}
        for event in trace.findall(f"{XES}event"):
            assert globals_["event"] <= {a.get("key") for a in event}
    for classifier in root.findall(f"{XES}classifier"):
        assert set(classifier.get("keys").split()) <= globals_["event"]
    # children in the order the standard's log element lists them
    order = ["extension", "global", "classifier", "attribute", "trace"]
    kinds = [c.tag.removeprefix(XES) for c in root]
    ranks = [order.index(k if k in order else "attribute") for k in kinds]
    assert ranks == sorted(ranks)
    assert CPR.encode() not in path.read_bytes()


def test_ocel_is_read_by_a_process_mining_reader_and_relates_events_to_objects(cases, tmp_path):
    runtime, fleksjob, _ = cases
    expected = rows(export(runtime, tmp_path, "csv"))
    path = export(runtime, tmp_path, "ocel")
    ocel = rustxes.import_ocel_json(str(path))
    assert ocel["events"].height == len(expected)
    assert set(ocel["objects"]["ocel:type"].to_list()) == {"sag", "proces", "opgave", "medarbejder"}
    relations = ocel["relations"]
    case_events = relations.filter(relations["ocel:oid"] == f"sag-{fleksjob.case_id}")
    assert case_events.height == sum(r["case:concept:name"] == f"sag-{fleksjob.case_id}" for r in expected)
    done_by = relations.filter(relations["ocel:qualifier"] == "udført af")["ocel:oid"].to_list()
    assert "medarbejder-boegeby.teamleder" in done_by and "medarbejder-boegeby.sagsbehandler" in done_by
    # the OCEL 2.0 rules the reader does not check: every event and object type declared,
    # attributes of the declared names, relationships to existing objects
    data = json.loads(path.read_text(encoding="utf-8"))
    event_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in data["eventTypes"]}
    object_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in data["objectTypes"]}
    ids = {o["id"] for o in data["objects"]}
    for event in data["events"]:
        assert {a["name"] for a in event["attributes"]} <= event_types[event["type"]]
        assert {r["objectId"] for r in event["relationships"]} <= ids
    for obj in data["objects"]:
        assert {a["name"] for a in obj["attributes"]} <= object_types[obj["type"]]
        assert {r["objectId"] for r in obj["relationships"]} <= ids
    assert CPR not in path.read_text(encoding="utf-8") and NAME not in path.read_text(encoding="utf-8")


def test_exports_are_audited_and_stay_within_the_users_municipality(cases, tmp_path):
    runtime, _, _ = cases
    export(runtime, tmp_path, "xes", "--user", "boegeby.leder")
    refused = export(runtime, tmp_path, "csv", "--user", "aaby.leder", ok=False)
    assert refused.exit_code == 4 and "cannot export" in refused.output
    unknown = CliRunner().invoke(main, ["--database-url", runtime.url, "eventlog", "export", "dalby", "--format",
                                        "csv", "--out", str(tmp_path / "x.csv")])
    assert unknown.exit_code == 3
    with runtime.sessions() as s:
        audits = s.scalars(select(AuditEvent).where(AuditEvent.action == "eventlog.export")).all()
    assert [(a.actor, a.detail["format"]) for a in audits] == [("boegeby.leder", "xes")]
