import json
from browser import needs_chromium, page, server, sign_in  # noqa
from test_browser_studio import studio_bundle  # noqa
pytestmark = needs_chromium

def test_geo(server, page):
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, server, "boegeby.procesdesigner")
    page.goto(f"{server}/studio/")
    page.get_by_role("button", name="Ny kladde af Fleksjob").click()
    page.locator("#studio-editor[data-ready=yes]").wait_for(timeout=60000)
    print("GEO", page.evaluate("""() => { const r = window.sagsflowModeler.get('elementRegistry');
      const out = {};
      for (const id of ['indkald_foerste_samtale', 'foerste_samtale', 'frist_foerste_samtale', 'registrer_visitation']) { const e = r.get(id); out[id] = [e.x, e.y, e.width, e.height, e.parent.id, e.incoming.map(f => f.id), e.outgoing.map(f => f.id)]; }
      out.flow = r.get('f_indkald_foerste_samtale__foerste_samtale').waypoints;
      out.lanes = r.filter(e => e.type === 'bpmn:Lane').map(l => [l.id, l.businessObject.name, l.x, l.y, l.width, l.height]);
      out.box = document.getElementById('canvas').getBoundingClientRect().toJSON();
      out.viewbox = window.sagsflowModeler.get('canvas').viewbox();
      return out; }"""))
