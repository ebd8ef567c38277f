// mlsteward web UI: the charts of the run and compare pages, drawn with Plotly.js from the
// JSON the page embeds in <script type="application/json"> (the CSP allows no inline script).
"use strict";
(function () {
  var CONFIG = { displayModeBar: false, responsive: true };

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function layout(title, xTitle, yTitle) {
    return {
      title: { text: title, font: { size: 14 } },
      margin: { l: 56, r: 16, t: 36, b: 44 },
      height: 300,
      xaxis: { title: { text: xTitle } },
      yaxis: { title: { text: yTitle } },
      legend: { orientation: "h" },
    };
  }

  function chartBox(container, key) {
    var box = document.createElement("div");
    box.className = "chart";
    box.setAttribute("data-metric", key);
    container.appendChild(box);
    return box;
  }

  function hasWebGL() {
    try {
      var canvas = document.createElement("canvas");
      return !!(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
    } catch (e) {
      return false;
    }
  }

  function note(container, text) {
    var p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    container.appendChild(p);
  }

  function drawRun() {
    var series = readJson("run-metrics");
    var container = document.getElementById("metric-charts");
    if (!series || !container) return;
    Object.keys(series).forEach(function (key) {
      var s = series[key];
      Plotly.newPlot(
        chartBox(container, key),
        [{ x: s.steps, y: s.values, mode: s.steps.length > 1 ? "lines" : "markers", name: key }],
        layout(key, "step", key),
        CONFIG
      );
    });
  }

  function drawCompare() {
    var data = readJson("compare-data");
    if (!data) return;
    var names = {};
    data.runs.forEach(function (r) { names[r.id] = r.name; });
    var charts = document.getElementById("compare-charts");
    data.metrics.forEach(function (m) {
      var traces = data.runs.map(function (r) {
        return {
          x: m.steps,
          y: m.values[r.id] || [],
          mode: m.steps.length > 1 ? "lines+markers" : "markers",
          connectgaps: true,
          name: r.name,
        };
      });
      var title = m.key + (m.truncated ? " (first 10,000 steps)" : "");
      Plotly.newPlot(chartBox(charts, m.key), traces, layout(title, "step", m.key), CONFIG);
    });
    if (!data.metrics.length) note(charts, "These runs have no metrics.");

    var parallel = document.getElementById("parallel-chart");
    if (data.parallel.length < 2) {
      note(parallel, "Needs at least two numeric parameters or metrics that every run has.");
    } else if (!hasWebGL()) {
      note(parallel, "This browser has no WebGL, which the parallel-coordinates chart needs.");
    } else {
      Plotly.newPlot(
        parallel,
        [{ type: "parcoords", dimensions: data.parallel.map(function (d) { return { label: d.label, values: d.values }; }) }],
        { margin: { l: 60, r: 60, t: 40, b: 24 }, height: 360 },
        CONFIG
      );
    }

    var scatter = document.getElementById("scatter-chart");
    var s = data.scatter;
    if (!s) {
      note(scatter, "Needs a numeric parameter and a metric.");
    } else {
      Plotly.newPlot(
        scatter,
        [{ x: s.x, y: s.y, text: s.names, mode: "markers", type: "scatter", marker: { size: 10 } }],
        layout(s.y_label + " by " + s.x_label, s.x_label, s.y_label),
        CONFIG
      );
    }
  }

  function start() {
    if (typeof Plotly === "undefined") return;
    drawRun();
    drawCompare();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
