"""English beside the Danish in the models (issue 14 point 7, docs/modelling.md "English").

Walks every shipped model (shared and the municipalities' own) and checks that every text
the UI renders from it has a Danish and an English text: user task names, form labels,
enum values (form fields and list columns), list columns, check messages, the labels a
task's ``show`` gives, and timer names. A missing English is a warning at registration,
not an error: a draft without it still saves.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from processes.library import BPMN_DIR, ModelInvalid, parse_file, parse_model
from processes.milestones import MILESTONES
from processes.model_text import localize_form, name_in
from processes.policy import CATALOGUE, LABELS_EN, label_in

SHIPPED = sorted(BPMN_DIR.glob("shared/*.bpmn")) + sorted(BPMN_DIR.glob("municipalities/*/*.bpmn"))


def _texts(meta: dict):
    """(where, Danish, English) of every model text the UI shows."""
    for tid, task in meta["tasks"].items():
        yield f"task {tid}", task["name"], task.get("name_en")
        for spec in task["form"]:
            where = f"task {tid} field {spec['id']}"
            yield where, spec["label"], spec.get("label_en")
            for option in spec["options"]:
                yield f"{where} value {option['id']}", option["name"], option.get("name_en")
            if spec.get("check_message"):
                yield f"{where} check_message", spec["check_message"], spec.get("check_message_en")
            for item in spec.get("items", []):
                yield f"{where} column {item['id']}", item["label"], item.get("label_en")
                for option in item["options"]:
                    yield f"{where} column {item['id']} value {option['id']}", option["name"], option.get("name_en")
        for entry in task["show"]:
            if entry.get("label"):
                yield f"task {tid} show {entry.get('field') or entry.get('milestone')}", entry["label"], entry.get("label_en")
    for eid, timer in meta["timers"].items():
        yield f"timer {eid}", timer["name"], timer.get("name_en")


def test_the_walk_finds_the_shipped_models():
    names = {str(p.relative_to(BPMN_DIR)) for p in SHIPPED}
    assert {"shared/fleksjob.bpmn", "shared/rehabilitering.bpmn", "shared/sygedagpenge.bpmn",
            "municipalities/aaby/rehabilitering.bpmn", "municipalities/boegeby/rehabilitering.bpmn",
            "municipalities/cederholm/rehabilitering.bpmn"} <= names
    assert len(SHIPPED) == 8


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(BPMN_DIR)))
def test_every_model_text_has_danish_and_english(path: Path):
    model = parse_file(path)
    texts = list(_texts(model.metadata))
    enum_values = [t for t in texts if " value " in t[0]]
    assert len(texts) > 50 and enum_values, "the walk must see the model's texts"
    missing = [(where, da) for where, da, en in texts if not (da or "").strip() or not (en or "").strip()]
    assert missing == []
    assert model.warnings == []
    # The English is a translation, not the Danish copied (a few words are the same in both).
    same = [(where, da) for where, da, en in texts if da == en and da not in {"Mentor", "Status", "Note"}]
    assert same == []


def test_every_enum_value_rendered_has_both_languages():
    """Every enum value of every shipped model, across all forms and list columns."""
    count = 0
    for path in SHIPPED:
        for where, da, en in _texts(parse_file(path).metadata):
            if " value " in where:
                count += 1
                assert da.strip() and en.strip(), f"{path.name}: {where}"
    assert count > 250


def test_catalogue_texts_have_english():
    assert all(m.label_en for m in MILESTONES)
    assert set(LABELS_EN) == {p.key for p in CATALOGUE}
    assert label_in("fj_foerste_samtale", "en") == "First talk after referral"
    assert label_in("fj_foerste_samtale", "da") == "Første samtale efter visitation"


MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="fleksjob" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="sagsbehandler"><bpmn:flowNodeRef>t</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="t" name="Vurdér sagen">
      <bpmn:extensionElements>
        %(task_props)s
        <camunda:formData>
          <camunda:formField id="valg" label="Valg" type="enum">
            %(field_props)s
            <camunda:value id="ja" name="Ja tak" />
            <camunda:value id="nej" name="Nej tak" />
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""
ENGLISH_TASK = '<camunda:properties><camunda:property name="name_en" value="Assess the case" /></camunda:properties>'
ENGLISH_FIELD = ('<camunda:properties><camunda:property id="label_en" value="Choice" />'
                 '<camunda:property id="name_en:ja" value="Yes please" />'
                 '<camunda:property id="name_en:nej" value="No thanks" /></camunda:properties>')


def test_missing_english_is_a_warning_not_an_error():
    model = parse_model(MODEL % {"task_props": "", "field_props": ""}, "x.bpmn")
    messages = [p.message for p in model.warnings]
    assert {p.element for p in model.warnings} == {"t"}
    assert "task name 'Vurdér sagen' has no English (name_en)" in messages
    assert "form field 'valg': label 'Valg' has no English (label_en)" in messages
    assert "form field 'valg': enum value 'ja' ('Ja tak') has no English (name_en:ja)" in messages
    assert len(messages) == 4


def test_declared_english_is_read_and_chosen_by_language():
    model = parse_model(MODEL % {"task_props": ENGLISH_TASK, "field_props": ENGLISH_FIELD}, "x.bpmn")
    assert model.warnings == []
    task = model.metadata["tasks"]["t"]
    assert name_in(task, "en") == "Assess the case"
    assert name_in(task, "da") == "Vurdér sagen"
    english = localize_form(task["form"], "en")
    assert english[0]["label"] == "Choice"
    assert [o["name"] for o in english[0]["options"]] == ["Yes please", "No thanks"]
    assert [o["id"] for o in english[0]["options"]] == ["ja", "nej"]
    assert localize_form(task["form"], "da")[0]["label"] == "Valg"
    assert task["form"][0]["label"] == "Valg"  # localizing copies; the metadata keeps the Danish


def test_english_half_given_falls_back_to_danish():
    half = ('<camunda:properties><camunda:property id="name_en:ja" value="Yes please" /></camunda:properties>')
    model = parse_model(MODEL % {"task_props": "", "field_props": half}, "x.bpmn")
    task = model.metadata["tasks"]["t"]
    english = localize_form(task["form"], "en")
    assert english[0]["label"] == "Valg"
    assert [o["name"] for o in english[0]["options"]] == ["Yes please", "Nej tak"]
    assert name_in(task, "en") == "Vurdér sagen"


def test_a_model_with_errors_still_fails_with_errors_only():
    broken = (MODEL % {"task_props": "", "field_props": ""}).replace('name="sagsbehandler"', 'name="nobody"')
    with pytest.raises(ModelInvalid) as info:
        parse_model(broken, "x.bpmn")
    assert all("English" not in p.message for p in info.value.problems)


def test_metadata_is_json():
    json.dumps(parse_file(SHIPPED[0]).metadata)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(BPMN_DIR)))
def test_the_english_diagram_has_no_danish_name_left(path: Path):
    """Every name a diagram draws (pools, events, gateways, service and script tasks,
    sequence flow labels, as well as user tasks) has English beside it, and the diagram
    the case page serves in English (lanes by their role's English name) carries it."""
    from lxml import etree

    from inbox.cases import _lanes_by_role_name

    BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"

    xml = path.read_text(encoding="utf-8")
    danish = etree.fromstring(_lanes_by_role_name(-1, "da", xml))
    english = etree.fromstring(_lanes_by_role_name(-1, "en", xml))
    kinds = set()
    untranslated = []
    drawn = 0
    for da, en in zip(danish.iter(), english.iter()):
        if not isinstance(da.tag, str) or not (da.get("name") or "").strip() or etree.QName(da).namespace != BPMN:
            continue
        kind = etree.QName(da).localname
        if kind in {"process", "message", "signal", "error", "escalation"}:
            continue  # not drawn with their name
        drawn += 1
        kinds.add(kind)
        if da.get("name") == en.get("name") and da.get("name") not in {"Booking", "OK", "Standby", "Permanent"}:
            untranslated.append((kind, da.get("id"), da.get("name")))
    assert {"participant", "lane", "exclusiveGateway", "endEvent", "sequenceFlow", "userTask"} <= kinds
    assert drawn > 20
    assert untranslated == []
