// Shows each process instance's BPMN model with bpmn-js (NavigatedViewer) and marks
// where the case is: open tasks, completed tasks and pending timers.
// window.SagsflowDiagram.open(el) loads el's data-xml into a viewer (also used by the
// manager's heatmap, heatmap.js); it answers a promise of the viewer, or null without bpmn-js.
window.SagsflowDiagram = {
  open: function (el) {
    var Viewer = window.BpmnJS;
    if (!Viewer) {
      el.textContent = el.getAttribute("data-missing") || "Diagrammet kan ikke vises (bpmn-js mangler: kør npm install).";
      return Promise.resolve(null);
    }
    var viewer = new Viewer({ container: el });
    return fetch(el.getAttribute("data-xml"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () { return viewer; })
      .catch(function (err) {
        el.textContent = "Diagrammet kunne ikke indlæses (" + err.message + ").";
        return null;
      });
  }
};

(function () {
  document.querySelectorAll(".diagram[data-xml][data-marks^='{']").forEach(function (el) {
    var marks = JSON.parse(el.getAttribute("data-marks") || "{}");
    window.SagsflowDiagram.open(el).then(function (viewer) {
      if (!viewer) { return; }
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      [["done", "sf-done"], ["waiting", "sf-waiting"], ["current", "sf-current"]].forEach(function (pair) {
        (marks[pair[0]] || []).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, pair[1]); }
        });
      });
      canvas.zoom("fit-viewport", "auto");
      var current = (marks.current || []).filter(function (id) { return registry.get(id); });
      if (current.length && canvas.zoom() < 0.75) {
        // A large model fitted to the box is unreadable: show the current step at 75 %.
        canvas.zoom(0.75);
        canvas.scrollToElement(registry.get(current[0]), { top: 120, bottom: 120, left: 240, right: 240 });
      }
      if (current.length) { el.setAttribute("data-current", current.join(" ")); }
      el.setAttribute("data-ready", "true");
    });
  });
})();
