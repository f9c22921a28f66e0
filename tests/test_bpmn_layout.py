"""Diagram interchange (bpmndi) of the BPMN models: complete, readable, semantics-neutral.

Every `bpmn/**/*.bpmn` is checked, plus the layout fixture `tools/fixtures/sample_lanes.bpmn`
laid out into a temporary file by `tools/layout.mjs` (so the layout tool itself is tested
even when no model exists yet). A model without DI fails here: run
`npm run layout -- bpmn/path/model.bpmn` (see tools/README.md).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

REPO = Path(__file__).resolve().parent.parent
LAYOUT = REPO / "tools" / "layout.mjs"
FIXTURE = REPO / "tools" / "fixtures" / "sample_lanes.bpmn"
NODE_MODULES = REPO / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"

FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "task", "userTask", "serviceTask", "scriptTask", "manualTask",
    "businessRuleTask", "sendTask", "receiveTask", "callActivity", "subProcess",
    "transaction", "adHocSubProcess", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway", "complexGateway",
}
CONTAINER_TAGS = {"process", "subProcess", "transaction", "adHocSubProcess"}

MODELS = sorted(REPO.glob("bpmn/**/*.bpmn"))

node_available = shutil.which("node") is not None and (NODE_MODULES / "bpmn-moddle").is_dir()
needs_node = pytest.mark.skipif(not node_available, reason="node or node_modules missing: run `npm install`")


def run_layout_stdout(path: Path) -> bytes:
    proc = subprocess.run(["node", str(LAYOUT), "--stdout", str(path)], capture_output=True, check=False,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture(scope="session")
def laid_out_fixture(tmp_path_factory) -> Path:
    if not node_available:
        pytest.skip("node or node_modules missing: run `npm install`")
    out = tmp_path_factory.mktemp("layout") / "sample_lanes.bpmn"
    out.write_bytes(run_layout_stdout(FIXTURE))
    return out


@pytest.fixture(params=[*(str(p.relative_to(REPO)) for p in MODELS), "<fixture>"])
def model(request) -> Path:
    if request.param == "<fixture>":
        return request.getfixturevalue("laid_out_fixture")
    return REPO / request.param


# ------------------------------------------------------------------------------- helpers

def local(el) -> str:
    return etree.QName(el).localname


def bpmn_children(el):
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).namespace == BPMN]


class Model:
    def __init__(self, path: Path):
        self.path = path
        self.tree = etree.parse(str(path))
        self.root = self.tree.getroot()
        self.by_id = {el.get("id"): el for el in self.root.iter() if isinstance(el.tag, str) and el.get("id")}
        self.shapes: dict[str, etree._Element] = {}
        self.edges: dict[str, etree._Element] = {}
        for s in self.root.iter(f"{{{BPMNDI}}}BPMNShape"):
            self.shapes[s.get("bpmnElement")] = s
        for e in self.root.iter(f"{{{BPMNDI}}}BPMNEdge"):
            self.edges[e.get("bpmnElement")] = e

    def elements(self, *tags):
        return [el for el in self.root.iter() if isinstance(el.tag, str)
                and etree.QName(el).namespace == BPMN and local(el) in tags]

    def flow_nodes(self):
        return self.elements(*FLOW_NODE_TAGS)

    def bounds(self, el_id: str):
        b = self.shapes[el_id].find(f"{{{DC}}}Bounds")
        return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))


def overlap(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def inside(inner, outer) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    return ix >= ox and iy >= oy and ix + iw <= ox + ow and iy + ih <= oy + oh


# --------------------------------------------------------------------------------- tests

def test_models_exist_or_fixture_only():
    # informative: the fixture keeps this suite meaningful before any model is written
    assert FIXTURE.exists()


def test_every_element_has_di(model):
    m = Model(model)
    missing = [f"{local(el)}#{el.get('id')}" for el in m.flow_nodes() + m.elements("lane", "participant")
               if el.get("id") not in m.shapes]
    assert not missing, f"{model}: no BPMNShape for {missing} (run npm run layout -- {model})"
    no_edge = [f.get("id") for f in m.elements("sequenceFlow") if f.get("id") not in m.edges]
    assert not no_edge, f"{model}: no BPMNEdge for {no_edge}"
    flows = [f.get("id") for f in m.elements("sequenceFlow")]
    assert flows, f"{model}: no sequence flows found"
    for fid in flows:
        assert len(m.edges[fid].findall(f"{{{DI}}}waypoint")) >= 2, f"{fid}: fewer than 2 waypoints"
    for sp in m.elements("subProcess", "transaction", "adHocSubProcess"):
        if bpmn_children(sp) and any(local(c) in FLOW_NODE_TAGS for c in bpmn_children(sp)):
            assert m.shapes[sp.get("id")].get("isExpanded") == "true", f"{sp.get('id')} not drawn expanded"


def test_no_overlapping_shapes(model):
    m = Model(model)
    compared = 0
    for container in m.elements(*CONTAINER_TAGS):
        nodes = [c for c in bpmn_children(container) if local(c) in FLOW_NODE_TAGS and c.get("id") in m.shapes]
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                compared += 1
                hosts = {a.get("attachedToRef"), b.get("attachedToRef")}
                if a.get("id") in hosts or b.get("id") in hosts:
                    continue  # a boundary event sits on its host's border by design
                assert not overlap(m.bounds(a.get("id")), m.bounds(b.get("id"))), \
                    f"{model}: {a.get('id')} overlaps {b.get('id')}"
    assert compared, f"{model}: no shapes were compared"


def test_nodes_inside_lanes_and_parents(model):
    m = Model(model)
    lane_refs = [ref for lane in m.elements("lane") for ref in lane.findall(f"{{{BPMN}}}flowNodeRef")]
    assert lane_refs, f"{model}: no lane holds a flow node"
    for lane in m.elements("lane"):
        lb = m.bounds(lane.get("id"))
        for ref in lane.findall(f"{{{BPMN}}}flowNodeRef"):
            nid = ref.text.strip()
            assert inside(m.bounds(nid), lb), f"{model}: {nid} lies outside its lane {lane.get('id')}"
    for sp in m.elements("subProcess", "transaction", "adHocSubProcess"):
        sb = m.bounds(sp.get("id"))
        for c in bpmn_children(sp):
            if local(c) in FLOW_NODE_TAGS:
                assert inside(m.bounds(c.get("id")), sb), f"{model}: {c.get('id')} outside {sp.get('id')}"
    for p in m.elements("participant"):
        pb = m.bounds(p.get("id"))
        proc = m.by_id.get(p.get("processRef"))
        for lane in (proc.iter(f"{{{BPMN}}}lane") if proc is not None else []):
            assert inside(m.bounds(lane.get("id")), pb), f"{model}: lane {lane.get('id')} outside pool"


def test_boundary_events_on_host(model):
    m = Model(model)
    assert m.elements("boundaryEvent"), f"{model}: no boundary events (every model has deadlines)"
    for be in m.elements("boundaryEvent"):
        assert overlap(m.bounds(be.get("id")), m.bounds(be.get("attachedToRef"))), \
            f"{model}: boundary event {be.get('id')} does not touch its host"


def _semantic(xml: bytes) -> list[bytes]:
    root = etree.fromstring(xml)
    return [etree.tostring(c, method="c14n", exclusive=True) for c in root
            if isinstance(c.tag, str) and etree.QName(c).namespace != BPMNDI]


def _root_attrs(xml: bytes) -> dict:
    root = etree.fromstring(xml)
    return dict(root.attrib)


@needs_node
def test_layout_keeps_semantics(model):
    before = model.read_bytes()
    after = run_layout_stdout(model)
    assert _semantic(before) == _semantic(after)
    assert _root_attrs(before) == _root_attrs(after)
    # deterministic: laying out the laid-out file again changes nothing
    assert after == run_layout_stdout_bytes(after, model)


def run_layout_stdout_bytes(xml: bytes, like: Path) -> bytes:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / like.name
        p.write_bytes(xml)
        return run_layout_stdout(p)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing (apt-get install chromium)")
@pytest.mark.skipif(not (NODE_MODULES / "bpmn-js" / "dist").is_dir(),
                    reason="node_modules/bpmn-js missing: run `npm install`")
def test_renders_in_bpmn_js_without_warnings(model, tmp_path):
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) not installed")
    import sys
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from render import render
    finally:
        sys.path.pop(0)
    res = render(model, tmp_path / "model.png")
    assert res["error"] is None, res["error"]
    assert res["warnings"] == [], res["warnings"]
    assert res["missing"] == [], f"not drawn (no DI): {res['missing']}"
    assert res["collapsed"] == [], f"sub-processes drawn collapsed: {res['collapsed']}"
    assert res["console_errors"] == [], res["console_errors"]
    assert (tmp_path / "model.png").stat().st_size > 1000
