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

  // Parallel coordinates as SVG lines on a shared 0-1 scale per axis: Plotly's own parcoords
  // trace needs WebGL code generation (new Function), which the CSP rightly forbids.
  function drawParallel(element, dimensions, runs) {
    var ranges = dimensions.map(function (d) {
      var lo = Math.min.apply(null, d.values), hi = Math.max.apply(null, d.values);
      return { lo: lo, hi: hi, span: hi - lo || 1 };
    });
    var axes = dimensions.map(function (d, j) { return j; });
    var traces = runs.map(function (run, i) {
      return {
        x: axes,
        y: dimensions.map(function (d, j) { return (d.values[i] - ranges[j].lo) / ranges[j].span; }),
        text: dimensions.map(function (d) { return d.label + ": " + d.values[i]; }),
        hoverinfo: "name+text",
        mode: "lines+markers",
        name: run.name,
      };
    });
    var label = function (value) { return String(Number(value.toPrecision(4))); };
    var annotations = [];
    dimensions.forEach(function (d, j) {
      annotations.push({ x: j, y: 1.04, text: label(ranges[j].hi), showarrow: false, yanchor: "bottom" });
      annotations.push({ x: j, y: -0.04, text: label(ranges[j].lo), showarrow: false, yanchor: "top" });
    });
    Plotly.newPlot(
      element,
      traces,
      {
        margin: { l: 40, r: 40, t: 40, b: 60 },
        height: 360,
        xaxis: { tickvals: axes, ticktext: dimensions.map(function (d) { return d.label; }), showgrid: true, gridcolor: "#888", zeroline: false },
        yaxis: { range: [-0.12, 1.12], showticklabels: false, showgrid: false, zeroline: false },
        annotations: annotations,
        legend: { orientation: "h", y: -0.2 },
      },
      CONFIG
    );
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
    } else {
      drawParallel(parallel, data.parallel, data.runs);
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
