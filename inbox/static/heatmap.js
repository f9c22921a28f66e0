// The heatmap on the own BPMN model (manager pages): bpmn-js (NavigatedViewer) with an
// overlay per task (median waiting days, count, breaches) and a marker whose shade grows
// with the wait. The numbers come from a JSON script tag; the table beside the diagram
// has the same.
(function () {
  var Viewer = window.BpmnJS;
  var el = document.getElementById("heatmap");
  if (!el) { return; }
  if (!Viewer) {
    el.textContent = el.getAttribute("data-missing");
    return;
  }
  var marks = JSON.parse(document.getElementById(el.getAttribute("data-marks")).textContent || "[]");
  var longest = Math.max.apply(null, [1].concat(marks.map(function (m) { return m.wait || 0; })));
  var viewer = new Viewer({ container: el });
  fetch(el.getAttribute("data-xml"), { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var overlays = viewer.get("overlays");
      var shown = [];
      marks.forEach(function (m) {
        if (!registry.get(m.id)) { return; }
        var level = Math.min(4, Math.ceil(4 * (m.wait || 0) / longest));
        canvas.addMarker(m.id, "heat-" + level);
        var badge = document.createElement("div");
        badge.className = "heat-badge" + (m.breaches ? " heat-breach" : "");
        badge.textContent = (m.at_least ? "≥" : "") + (m.wait === null ? "–" : m.wait) + " d · " + m.count +
          (m.breaches ? " · " + m.breaches + " !" : "");
        overlays.add(m.id, { position: { bottom: 4, left: 0 }, html: badge });
        shown.push(m.id);
      });
      canvas.zoom("fit-viewport", "auto");
      el.setAttribute("data-marked", shown.join(" "));
      el.setAttribute("data-ready", "true");
    })
    .catch(function (err) {
      el.textContent = "Diagrammet kunne ikke indlæses (" + err.message + ").";
    });
})();
