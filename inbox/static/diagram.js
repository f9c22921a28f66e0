// Shows each process instance's BPMN model with bpmn-js (NavigatedViewer) and marks
// where the case is: open tasks, completed tasks and pending timers. The diagram opens
// fitted to the running part (the open tasks, else the last completed one) at a readable
// scale; the buttons and the keyboard (arrows move, + and - zoom, 0 the whole process,
// 1 the running part) move it.
(function () {
  var Viewer = window.BpmnJS;
  var READABLE = 0.6;   // below this the labels cannot be read
  var views = {};

  function bounds(shapes) {
    var box = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
    shapes.forEach(function (s) {
      box.x1 = Math.min(box.x1, s.x); box.y1 = Math.min(box.y1, s.y);
      box.x2 = Math.max(box.x2, s.x + (s.width || 0)); box.y2 = Math.max(box.y2, s.y + (s.height || 0));
    });
    return box;
  }

  function show(view, ids) {
    var shapes = ids.map(function (id) { return view.registry.get(id); }).filter(Boolean);
    if (!shapes.length) { return false; }
    var box = bounds(shapes), pad = 140;
    var width = view.el.clientWidth || 800, height = view.el.clientHeight || 480;
    var scale = Math.min(width / (box.x2 - box.x1 + 2 * pad), height / (box.y2 - box.y1 + 2 * pad), 1);
    scale = Math.max(scale, READABLE);
    var cx = (box.x1 + box.x2) / 2, cy = (box.y1 + box.y2) / 2;
    view.canvas.viewbox({ x: cx - width / scale / 2, y: cy - height / scale / 2,
                          width: width / scale, height: height / scale });
    return true;
  }

  function running(view) {
    if (!show(view, view.marks.current || []) && !show(view, view.marks.last || [])) { fit(view); }
  }

  function fit(view) { view.canvas.zoom("fit-viewport", "auto"); }

  function zoom(view, factor) {
    var viewbox = view.canvas.viewbox();
    view.canvas.zoom(viewbox.scale * factor, { x: viewbox.x + viewbox.width / 2, y: viewbox.y + viewbox.height / 2 });
  }

  function act(view, action) {
    if (action === "running") { running(view); }
    else if (action === "fit") { fit(view); }
    else if (action === "zoom-in") { zoom(view, 1.25); }
    else if (action === "zoom-out") { zoom(view, 0.8); }
    view.el.setAttribute("data-scale", view.canvas.viewbox().scale.toFixed(2));
  }

  document.querySelectorAll("[data-diagram-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var view = views[button.getAttribute("data-target")];
      if (view) { act(view, button.getAttribute("data-diagram-action")); }
    });
  });

  document.querySelectorAll(".diagram[data-xml]").forEach(function (el) {
    if (!Viewer) {
      el.textContent = el.getAttribute("data-missing") || "Diagrammet kan ikke vises (bpmn-js mangler: kør npm install).";
      return;
    }
    var marks = JSON.parse(el.getAttribute("data-marks") || "{}");
    var viewer = new Viewer({ container: el });
    fetch(el.getAttribute("data-xml"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var view = { el: el, marks: marks, canvas: viewer.get("canvas"), registry: viewer.get("elementRegistry") };
        views[el.id] = view;
        [["done", "sf-done"], ["waiting", "sf-waiting"], ["current", "sf-current"]].forEach(function (pair) {
          (marks[pair[0]] || []).forEach(function (id) {
            if (view.registry.get(id)) { view.canvas.addMarker(id, pair[1]); }
          });
        });
        act(view, "running");
        var current = (marks.current || []).filter(function (id) { return view.registry.get(id); });
        if (current.length) { el.setAttribute("data-current", current.join(" ")); }
        el.addEventListener("keydown", function (event) {
          var step = 60, moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
          if (moves[event.key]) {
            view.canvas.scroll({ dx: moves[event.key][0], dy: moves[event.key][1] });
          } else if (event.key === "+" || event.key === "=") { act(view, "zoom-in"); }
          else if (event.key === "-") { act(view, "zoom-out"); }
          else if (event.key === "0") { act(view, "fit"); }
          else if (event.key === "1") { act(view, "running"); }
          else { return; }
          event.preventDefault();
        });
        el.setAttribute("data-ready", "true");
      })
      .catch(function (err) {
        el.textContent = "Diagrammet kunne ikke indlæses (" + err.message + ").";
      });
  });
})();
