// Draws the manager pages' charts with Chart.js. Each canvas names a JSON script tag
// (data-chart) holding {type, labels, datasets}; the same numbers are in the table beside
// it, so without Chart.js nothing is lost but the picture.
(function () {
  var Chart = window.Chart;
  var colours = ["#005ea5", "#b35c00", "#00703c", "#6f2c91", "#505a5f", "#912b88", "#28a197"];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!Chart || !source) {
      canvas.hidden = true;
      return;
    }
    var spec = JSON.parse(source.textContent);
    spec.datasets.forEach(function (set, i) {
      set.backgroundColor = colours[i % colours.length];
      set.borderColor = colours[i % colours.length];
      set.spanGaps = true;
    });
    var line = spec.type === "line";
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: !line,
        aspectRatio: line ? undefined : 1.6,
        indexAxis: line ? "x" : "y",
        plugins: { legend: { display: !line } },
        scales: { x: { beginAtZero: true }, y: { beginAtZero: true } }
      }
    });
    canvas.setAttribute("data-drawn", "true");
  });
})();
