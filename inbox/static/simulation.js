// The Simulér run page: while the run is queued or running, ask the server for its state
// every 1.5 seconds, move the progress bar, and reload the page (with the result, or the
// reason it failed) once it is done. Without JavaScript the page shows the state it had.
(function () {
  var section = document.getElementById("koersel");
  if (!section) { return; }
  var state = section.getAttribute("data-status");
  if (state !== "queued" && state !== "running") { return; }
  var url = section.getAttribute("data-status-url");
  var bar = document.getElementById("fremskridt");
  var text = document.getElementById("fremskridt-tekst");
  var label = document.getElementById("status-tekst");
  var idle = document.getElementById("ingen-baggrundsproces");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (bar) { bar.value = data.percent; bar.textContent = data.percent + " %"; }
        if (text) { text.textContent = data.percent + " %"; }
        if (label) { label.textContent = data.label; }
        if (idle) { idle.hidden = data.worker_alive; }
        if (data.status !== state && (data.status === "done" || data.status === "failed")) {
          window.location.reload();
          return;
        }
        state = data.status;
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1500);
})();
