// The case page's process diagrams: each process instance's BPMN model, marked where the
// case is (open tasks, completed tasks, pending timers). A diagram opens fitted to the
// running part (the open tasks, else the last completed one) at a readable scale; the
// buttons, the keyboard (arrows move, + and - zoom, 0 the whole process, 1 the running
// part), dragging and the mouse wheel (Ctrl zooms) move it.
//
// Drawing is fast because bpmn-js runs at most once per model version and municipality:
// a diagram is shown as a static SVG that bpmn-js drew for that model version (same
// shapes, labels and lanes), with the case's marks put on it here. It comes from
//   1. this browser's localStorage, under the municipality (``data-diagram-scope``: a
//      browser shared by two municipalities never shows one's drawing to the other) and
//      the version's key (``data-diagram-key``: the model's SHA-256, the language and the
//      renderer), else
//   2. the server (``data-drawing``): the municipality's drawing of that model version,
//      which the first browser to draw it sent (``data-upload``) and the server kept after
//      sanitizing it (inbox/drawings.py), else
//   3. bpmn-js, loaded once, after the page is shown, drawing in one shared, hidden
//      viewer: the running process first, then the diagrams in view, then the rest; the
//      drawing is then kept in localStorage and sent to the server.
// The static SVG carries no style attributes (the page's CSP forbids them): bpmn-js's
// inline styles become SVG presentation attributes.
(function () {
  var READABLE = 0.6;   // below this the labels cannot be read
  var SVGNS = "http://www.w3.org/2000/svg";
  var PREFIX = "sf-diagram-2:";   // the entry's format; then "<municipality>/<key>": whose and what was drawn
  var views = {};
  var diagrams = Array.prototype.slice.call(document.querySelectorAll(".diagram[data-xml]"));
  if (!diagrams.length) { return; }

  // ------------------------------------------------------------ the cache
  function cached(key) {
    try { var raw = window.localStorage.getItem(PREFIX + key); return raw ? JSON.parse(raw) : null; }
    catch (e) { return null; }
  }

  function store(key, entry) {
    var raw = JSON.stringify(entry);
    try { window.localStorage.setItem(PREFIX + key, raw); }
    catch (e) {   // full (or refused): drop the other drawn diagrams once and try again
      try {
        Object.keys(window.localStorage).forEach(function (k) {
          if (k.indexOf(PREFIX) === 0) { window.localStorage.removeItem(k); }
        });
        window.localStorage.setItem(PREFIX + key, raw);
      } catch (ignored) { /* shown anyway, drawn again next time */ }
    }
  }

  // ------------------------------------------------------------ drawing with bpmn-js (cache miss)
  var loading = null, shared = null, rendererBox = null;

  function loadViewer(url) {
    if (window.BpmnJS) { return Promise.resolve(window.BpmnJS); }
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.onload = function () { if (window.BpmnJS) { resolve(window.BpmnJS); } else { reject(new Error("bpmn-js")); } };
        script.onerror = function () { reject(new Error("bpmn-js")); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  // bpmn-js's inline styles as presentation attributes (``style="a: b; c: d;"`` ->
  // ``a="b" c="d"``), so the SVG can be shown under the CSP; the serializer has escaped
  // any quote inside a value.
  function presentational(markup) {
    return markup.replace(/ style="([^"]*)"/g, function (all, style) {
      // a quote in a value (``url("#marker")``) is serialized as &quot;, whose ";" is not a rule's end
      return style.replace(/&quot;/g, "'").split(";").map(function (rule) {
        var at = rule.indexOf(":");
        return at < 0 ? "" : " " + rule.slice(0, at).trim() + '="' + rule.slice(at + 1).trim() + '"';
      }).join("");
    });
  }

  function render(url, xml) {
    return loadViewer(url).then(function (Viewer) {
      if (!shared) {
        rendererBox = document.createElement("div");
        rendererBox.className = "diagram-renderer";
        rendererBox.setAttribute("aria-hidden", "true");
        document.body.appendChild(rendererBox);
        shared = new Viewer({ container: rendererBox });
      }
      return shared.importXML(xml);
    }).then(function () {
      var canvas = shared.get("canvas"), layer = canvas.getActiveLayer();
      layer.querySelectorAll(".djs-hit, .djs-outline").forEach(function (n) { n.remove(); });
      var bbox = layer.getBBox(), bounds = {};
      shared.get("elementRegistry").forEach(function (e) {
        if (!e.waypoints && e.parent && typeof e.width === "number") { bounds[e.id] = [e.x, e.y, e.width, e.height]; }
      });
      var serializer = new XMLSerializer(), defs = canvas.getContainer().querySelector("svg > defs");
      var svg = '<svg xmlns="' + SVGNS + '">' + (defs ? serializer.serializeToString(defs) : "") +
        Array.prototype.map.call(layer.childNodes, function (n) { return serializer.serializeToString(n); }).join("") + "</svg>";
      var logo = rendererBox.querySelector(".bjs-powered-by svg");   // inbox.css places it
      return { svg: presentational(svg), logo: logo ? presentational(serializer.serializeToString(logo)).replace(/ vertical-align="[^"]*"/, "") : "",
               box: [bbox.x, bbox.y, bbox.width, bbox.height], bounds: bounds };
    });
  }

  // ------------------------------------------------------------ showing a drawn diagram
  function parse(markup) {   // the HTML parser (inline SVG) is about twice as fast as DOMParser's XML
    var template = document.createElement("template");
    template.innerHTML = markup;
    var svg = template.content.firstElementChild;
    if (!svg || svg.localName !== "svg" || svg.namespaceURI !== SVGNS) { throw new Error("svg"); }
    return svg;
  }

  // bpmn-js's licence: its watermark linking to bpmn.io stays on every diagram it drew
  function watermark(entry) {
    var link = document.createElement("a");
    link.href = "https://bpmn.io";
    link.target = "_blank";
    link.rel = "noopener";
    link.className = "bjs-powered-by";
    link.title = "Powered by bpmn.io";
    if (entry.logo) { link.appendChild(parse(entry.logo)); } else { link.textContent = "bpmn.io"; }
    return link;
  }

  function mount(el, entry, by) {
    var svg = parse(entry.svg);
    svg.setAttribute("class", "diagram-svg");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    var marks = JSON.parse(el.getAttribute("data-marks") || "{}");
    var nodes = {};
    svg.querySelectorAll("[data-element-id]").forEach(function (n) { nodes[n.getAttribute("data-element-id")] = n; });
    [["done", "sf-done"], ["waiting", "sf-waiting"], ["current", "sf-current"]].forEach(function (pair) {
      (marks[pair[0]] || []).forEach(function (id) { if (nodes[id]) { nodes[id].classList.add(pair[1]); } });
    });
    var view = { el: el, svg: svg, marks: marks, box: entry.box, bounds: entry.bounds, vb: null,
                 size: { w: el.clientWidth || 800, h: el.clientHeight || 480 } };
    views[el.id] = view;
    act(view, "running");   // measured and fitted before the SVG is in the page: one layout, not two
    view.size = null;
    el.textContent = "";
    el.appendChild(svg);
    el.appendChild(watermark(entry));
    var current = (marks.current || []).filter(function (id) { return entry.bounds[id]; });
    if (current.length) { el.setAttribute("data-current", current.join(" ")); }
    navigation(view);
    el.setAttribute("data-drawn-by", by);
    el.setAttribute("data-ready", "true");
  }

  // ------------------------------------------------------------ moving and zooming
  function size(view) { return view.size || { w: view.el.clientWidth || 800, h: view.el.clientHeight || 480 }; }

  function setView(view, x, y, scale) {
    var s = size(view);
    view.vb = { x: x, y: y, scale: scale };
    view.svg.setAttribute("viewBox", [x, y, s.w / scale, s.h / scale].join(" "));
  }

  function centre(view, x1, y1, x2, y2, scale) {
    var s = size(view);
    setView(view, (x1 + x2) / 2 - s.w / scale / 2, (y1 + y2) / 2 - s.h / scale / 2, scale);
  }

  function show(view, ids) {
    var boxes = ids.map(function (id) { return view.bounds[id]; }).filter(Boolean);
    if (!boxes.length) { return false; }
    var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity, pad = 140, s = size(view);
    boxes.forEach(function (b) {
      x1 = Math.min(x1, b[0]); y1 = Math.min(y1, b[1]); x2 = Math.max(x2, b[0] + b[2]); y2 = Math.max(y2, b[1] + b[3]);
    });
    var scale = Math.max(Math.min(s.w / (x2 - x1 + 2 * pad), s.h / (y2 - y1 + 2 * pad), 1), READABLE);
    centre(view, x1, y1, x2, y2, scale);
    return true;
  }

  function fit(view) {   // the whole process, as bpmn-js's fit-viewport: never above 1:1, centred
    var b = view.box, s = size(view);
    centre(view, b[0], b[1], b[0] + b[2], b[1] + b[3], Math.min(1, s.w / b[2], s.h / b[3]));
  }

  function zoom(view, factor, at) {
    var s = size(view), vb = view.vb;
    var scale = Math.min(8, Math.max(0.02, vb.scale * factor));
    var px = at ? at.x : s.w / 2, py = at ? at.y : s.h / 2;   // the point under the cursor stays put
    var dx = vb.x + px / vb.scale, dy = vb.y + py / vb.scale;
    setView(view, dx - px / scale, dy - py / scale, scale);
  }

  function scroll(view, dx, dy) { setView(view, view.vb.x - dx / view.vb.scale, view.vb.y - dy / view.vb.scale, view.vb.scale); }

  function act(view, action) {
    if (action === "running") {
      if (!show(view, view.marks.current || []) && !show(view, view.marks.last || [])) { fit(view); }
    }
    else if (action === "fit") { fit(view); }
    else if (action === "zoom-in") { zoom(view, 1.25); }
    else if (action === "zoom-out") { zoom(view, 0.8); }
    view.el.setAttribute("data-scale", view.vb.scale.toFixed(2));
  }

  function navigation(view) {
    var el = view.el;
    el.addEventListener("keydown", function (event) {
      var step = 60, moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (moves[event.key]) { scroll(view, moves[event.key][0], moves[event.key][1]); }
      else if (event.key === "+" || event.key === "=") { act(view, "zoom-in"); }
      else if (event.key === "-") { act(view, "zoom-out"); }
      else if (event.key === "0") { act(view, "fit"); }
      else if (event.key === "1") { act(view, "running"); }
      else { return; }
      event.preventDefault();
    });
    el.addEventListener("wheel", function (event) {   // as bpmn-js: the wheel scrolls, with Ctrl it zooms
      event.preventDefault();
      var r = el.getBoundingClientRect();
      if (event.ctrlKey || event.metaKey) {
        zoom(view, event.deltaY < 0 ? 1.1 : 1 / 1.1, { x: event.clientX - r.left, y: event.clientY - r.top });
        el.setAttribute("data-scale", view.vb.scale.toFixed(2));
      } else if (event.shiftKey) { scroll(view, -event.deltaY, -event.deltaX); }
      else { scroll(view, -event.deltaX, -event.deltaY); }
    }, { passive: false });
    var drag = null;
    el.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || event.target.closest("a")) { return; }
      drag = { x: event.clientX, y: event.clientY };
      el.setPointerCapture(event.pointerId);
      el.classList.add("dragging");
    });
    el.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      scroll(view, event.clientX - drag.x, event.clientY - drag.y);
      drag = { x: event.clientX, y: event.clientY };
    });
    function end() { drag = null; el.classList.remove("dragging"); }
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", end);
  }

  document.querySelectorAll("[data-diagram-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var view = views[button.getAttribute("data-target")];
      if (view) { act(view, button.getAttribute("data-diagram-action")); }
    });
  });

  // ------------------------------------------------------------ what to draw, in which order
  function failed(el, err) {
    el.textContent = err && err.message === "bpmn-js"
      ? (el.getAttribute("data-missing") || "Diagrammet kan ikke vises (bpmn-js mangler: kør npm install).")
      : "Diagrammet kunne ikke indlæses (" + (err && err.message) + ").";
  }

  function xmlOf(el) {
    return fetch(el.getAttribute("data-xml"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); });
  }

  // the municipality's drawing of this model version on the server, or null (none yet: 204)
  function serverDrawing(el) {
    var url = el.getAttribute("data-drawing");
    if (!url) { return Promise.resolve(null); }
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.status === 200 ? r.json() : null; })
      .catch(function () { return null; });
  }

  // a drawing bpmn-js made here, for the next browser of the municipality (the server
  // sanitizes it and keeps the first one per model version)
  function upload(el, entry) {
    var url = el.getAttribute("data-upload"), token = document.querySelector('input[name="csrf_token"]');
    if (!url || !token || !window.fetch) { return; }
    fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(entry),
                 headers: { "Content-Type": "application/json", "X-CSRFToken": token.value } })
      .catch(function () { /* the next browser draws it itself */ });
  }

  var waiting = [], seen = null, shown = {};   // key -> [entry, how]: a version in the page twice is drawn once
  diagrams.forEach(function (el, index) {
    var key = el.getAttribute("data-diagram-key"), scope = el.getAttribute("data-diagram-scope");
    var stash = key && scope ? scope + "/" + key : null;   // none without a municipality: not kept
    var entry = stash && cached(stash);
    waiting.push({ el: el, index: index, key: key, stash: stash, entry: entry, inView: false,
                   running: el.getAttribute("data-running") === "true",
                   server: entry ? null : serverDrawing(el) });
  });
  if (window.IntersectionObserver) {
    seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        waiting.forEach(function (w) { if (w.el === e.target) { w.inView = e.isIntersecting; } });
      });
    }, { rootMargin: "200px" });
    waiting.forEach(function (w) { seen.observe(w.el); });
  }

  function keep(w, entry, by) {   // for the next page (this browser) and the next diagram of this page
    if (w.stash) { store(w.stash, entry); }
    if (w.key) { shown[w.key] = [entry, by]; }
  }

  // One diagram at a time, the running process first, then those in view, then the rest,
  // the page answering input in between.
  function next() {
    if (!waiting.length) { if (seen) { seen.disconnect(); } return; }
    waiting.sort(function (a, b) {
      return (b.running - a.running) || (b.inView - a.inView) || (a.index - b.index);
    });
    var w = waiting.shift();
    if (w.entry) {
      try { mount(w.el, w.entry, "cache"); setTimeout(next, 0); return; }
      catch (e) { w.server = serverDrawing(w.el); }   // not readable after all: the server's, else bpmn-js
    }
    if (w.key && shown[w.key]) {   // another process of the case on the same model version
      mount(w.el, shown[w.key][0], shown[w.key][1]); setTimeout(next, 0); return;
    }
    w.server.then(function (entry) {
      if (entry) {
        try { mount(w.el, entry, "server"); } catch (e) { entry = null; /* not readable: bpmn-js draws it */ }
        if (entry) { keep(w, entry, "server"); return; }
      }
      return xmlOf(w.el).then(function (xml) { return render(w.el.getAttribute("data-viewer"), xml); })
        .then(function (drawn) {
          mount(w.el, drawn, "bpmn-js");
          keep(w, drawn, "bpmn-js");
          upload(w.el, drawn);
        });
    })
      .catch(function (err) { failed(w.el, err); })
      .then(function () { setTimeout(next, 0); });
  }
  next();   // the running process's diagram, from the cache, is in the page's first paint
})();
