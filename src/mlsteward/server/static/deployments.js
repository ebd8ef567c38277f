// mlsteward web UI: the live part of a deployment page. Every few seconds it reads the page's
// JSON endpoint (data-url of #live) and redraws the version table and four SVG charts of the
// last 5 minutes: traffic split (stacked shares), throughput, latency and error rate. The
// split chart carries the latest shares in data- attributes (data-shares on the <svg>, with
// data-requests: the requests they count, and data-end: the server's epoch second they end
// at; data-version/data-share on each version's group), for people and tests alike.
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 480, HEIGHT = 200;
  var MARGIN = { left: 46, right: 10, top: 12, bottom: 24 };
  var COLORS = 6;
  var CHARTS = ["chart-split", "chart-throughput", "chart-latency", "chart-errors"];

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, cls) {
    var node = el("text", { x: x, y: y, "class": cls || "axis-label" }, parent);
    node.textContent = value;
    return node;
  }

  // A version keeps its colour everywhere (the page's bar uses the same rule).
  function colorOf(version) {
    var n = parseInt(version, 10);
    return "c" + ((isNaN(n) ? 0 : n) % COLORS);
  }

  function niceMax(value, floor) {
    var top = Math.max(value, floor);
    var power = Math.pow(10, Math.floor(Math.log10(top)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= top) return steps[i] * power;
    }
    return 10 * power;
  }

  function formatNumber(value) {
    if (value === null || value === undefined) return "—";
    if (Math.abs(value) >= 100) return String(Math.round(value));
    return String(Number(value.toPrecision(3)));
  }

  function formatPercent(value) {
    if (value === null || value === undefined) return "—";
    return formatNumber(value * 100) + " %";
  }

  function clear(svg) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + WIDTH + " " + HEIGHT);
  }

  // Axes and grid of a chart of `seconds` points whose values run from 0 to `top`.
  function frame(svg, seconds, top, label) {
    var plotW = WIDTH - MARGIN.left - MARGIN.right, plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    var x = function (i) { return MARGIN.left + (seconds > 1 ? (i / (seconds - 1)) * plotW : plotW); };
    var y = function (v) { return MARGIN.top + plotH - (v / top) * plotH; };
    var grid = el("g", { "class": "grid" }, svg);
    for (var k = 0; k <= 4; k++) {
      var value = (top * k) / 4;
      el("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value) }, grid);
      text(svg, MARGIN.left - 4, y(value) + 4, label(value), "axis-label axis-y");
    }
    var minutes = Math.floor((seconds - 1) / 60);
    for (var m = 0; m <= minutes; m++) {
      var at = seconds - 1 - m * 60;
      text(svg, x(at), HEIGHT - 6, m === 0 ? "now" : "−" + m + " min", "axis-label axis-x");
    }
    return { x: x, y: y, plotW: plotW, plotH: plotH };
  }

  function polyline(values, scale) {
    var d = "", pen = false;
    values.forEach(function (v, i) {
      if (v === null || v === undefined) { pen = false; return; }
      d += (pen ? " L" : " M") + scale.x(i).toFixed(1) + " " + scale.y(v).toFixed(1);
      pen = true;
    });
    return d.trim();
  }

  function legend(svg, versions) {
    var group = el("g", { "class": "legend" }, svg);
    versions.forEach(function (version, i) {
      var x = MARGIN.left + 6 + i * 58;
      el("rect", { x: x, y: MARGIN.top - 9, width: 10, height: 10, "class": "area " + colorOf(version) }, group);
      text(group, x + 13, MARGIN.top, "v" + version, "axis-label legend-label");
    });
  }

  function note(svg, message) {
    text(svg, WIDTH / 2, HEIGHT / 2, message, "axis-label chart-note");
  }

  // One line per version (and a dashed second line when `dashed` names another series).
  function lineChart(svg, data, key, options) {
    clear(svg);
    var versions = Object.keys(data.series);
    var max = 0;
    versions.forEach(function (v) {
      [key, options.dashed].forEach(function (k) {
        (data.series[v][k] || []).forEach(function (value) { if (value !== null && value > max) max = value; });
      });
    });
    var top = niceMax(max, options.floor);
    var scale = frame(svg, data.seconds, top, options.label);
    versions.forEach(function (v) {
      var solid = polyline(data.series[v][key] || [], scale);
      if (solid) el("path", { d: solid, "class": "line " + colorOf(v), "data-version": v }, svg);
      if (options.dashed && data.series[v][options.dashed]) {
        var dashed = polyline(data.series[v][options.dashed], scale);
        if (dashed) el("path", { d: dashed, "class": "line line-dashed " + colorOf(v), "data-version": v }, svg);
      }
    });
    legend(svg, versions);
    if (max === 0 && key === "requests") note(svg, "no requests in the last 5 minutes");
  }

  // Stacked shares per second: each version's column segment is its share of the requests.
  function splitChart(svg, data) {
    clear(svg);
    var versions = Object.keys(data.split);
    var scale = frame(svg, data.seconds, 1, function (v) { return Math.round(v * 100) + " %"; });
    var width = data.seconds > 1 ? scale.plotW / (data.seconds - 1) : scale.plotW;
    var below = [];
    for (var i = 0; i < data.seconds; i++) below.push(0);
    versions.forEach(function (v) {
      var share = data.recent_shares[v];
      var group = el("g", { "class": "area " + colorOf(v), "data-version": v, "data-share": share === null ? "" : share }, svg);
      data.split[v].forEach(function (value, i) {
        if (value === null || value <= 0) return;
        var top = below[i] + value;
        el("rect", {
          x: (scale.x(i) - width / 2).toFixed(2), width: (width + 0.3).toFixed(2),
          y: scale.y(top).toFixed(2), height: (scale.y(below[i]) - scale.y(top)).toFixed(2),
        }, group);
        below[i] = top;
      });
    });
    svg.setAttribute("data-shares", JSON.stringify(data.recent_shares));
    svg.setAttribute("data-requests", String(data.recent_requests));
    svg.setAttribute("data-end", String(data.end));
    legend(svg, versions);
    if (!data.recent_requests) note(svg, "no requests in the last " + data.share_seconds + " s");
  }

  function cell(row, value, numeric) {
    var td = document.createElement("td");
    if (numeric) td.className = "num";
    td.textContent = value;
    row.appendChild(td);
    return td;
  }

  function versionTable(body, data) {
    while (body.firstChild) body.removeChild(body.firstChild);
    data.versions.forEach(function (v) {
      var row = document.createElement("tr");
      row.setAttribute("data-version", v.version);
      var name = cell(row, "", false);
      var swatch = document.createElement("span");
      swatch.className = "swatch " + colorOf(v.version);
      name.appendChild(swatch);
      name.appendChild(document.createTextNode(v.version + (v.loaded ? "" : " (loading)")));
      cell(row, v.role, false);
      cell(row, v.weight + " %", true);
      cell(row, String(v.requests), true);
      cell(row, String(v.errors), true);
      cell(row, formatPercent(v.error_rate), true);
      cell(row, formatNumber(v.p50_ms), true);
      cell(row, formatNumber(v.p99_ms), true);
      cell(row, String(v.in_flight), true);
      body.appendChild(row);
    });
  }

  function rollbacks(list, items) {
    while (list.firstChild) list.removeChild(list.firstChild);
    items.slice().reverse().forEach(function (item) {
      var li = document.createElement("li");
      li.className = "state-line state-bad";
      li.textContent = "Automatic rollback at " + (item.time || "?") + ": " + (item.reason || "");
      list.appendChild(li);
    });
  }

  function setStatus(live, message, ok) {
    var status = document.getElementById("live-status");
    status.textContent = message;
    status.className = "state-line " + (ok ? "state-ok" : "state-bad");
    live.setAttribute("data-running", ok ? "true" : "false");
  }

  function show(live, data) {
    if (!data.running) {
      var restarts = data.process && data.process.restarts ? " (" + data.process.restarts + " restarts)" : "";
      setStatus(live, "Not running: " + data.error + restarts, false);
      // Stale figures would mislead: nothing is shown until the server answers again.
      versionTable(document.querySelector("#live-versions tbody"), { versions: [] });
      CHARTS.forEach(function (id) {
        var svg = document.getElementById(id);
        clear(svg);
        svg.removeAttribute("data-shares");
        note(svg, "the server is not running");
      });
      return;
    }
    var message = "Running revision " + data.revision + (data.ready ? "" : " (still loading)") +
      ": " + data.recent_requests + " requests in the last " + data.share_seconds + " s.";
    var shown = parseInt(live.getAttribute("data-revision"), 10);
    if (data.revision !== null && data.revision > shown) {
      message += " The deployment changed since this page was loaded: reload it to see how.";
    } else if (data.revision !== null && data.revision < shown) {
      message += " The server has not applied revision " + shown + " yet.";
    }
    setStatus(live, message, true);
    live.setAttribute("data-revision-served", String(data.revision));
    versionTable(document.querySelector("#live-versions tbody"), data);
    var shadowRate = document.getElementById("shadow-rate");
    if (shadowRate && data.shadow) {
      shadowRate.textContent = formatPercent(data.shadow.disagreement_rate) + " of " +
        data.shadow.requests + " compared answers disagree (" + data.shadow.dropped +
        " copies dropped, " + data.shadow.errors + " errors)";
      shadowRate.setAttribute("data-disagreement-rate", String(data.shadow.disagreement_rate));
    }
    splitChart(document.getElementById("chart-split"), data);
    lineChart(document.getElementById("chart-throughput"), data, "requests", {
      floor: 1, label: formatNumber,
    });
    lineChart(document.getElementById("chart-latency"), data, "p99_ms", {
      floor: 1, label: formatNumber, dashed: "p50_ms",
    });
    lineChart(document.getElementById("chart-errors"), data, "error_rate", {
      floor: 0.01, label: function (v) { return formatNumber(v * 100) + " %"; },
    });
    rollbacks(document.getElementById("auto-rollbacks"), data.auto_rollbacks);
  }

  function start() {
    var live = document.getElementById("live");
    if (!live) return;
    var url = live.getAttribute("data-url");
    var every = Math.max(1, parseInt(live.getAttribute("data-refresh"), 10) || 2) * 1000;
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          var type = response.headers.get("content-type") || "";
          if (type.indexOf("application/json") !== 0) {
            throw new Error("the answer was not JSON (status " + response.status + "); reload the page");
          }
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.error || "status " + response.status);
            return body;
          });
        })
        .then(function (data) { show(live, data); })
        .catch(function (exc) { setStatus(live, "Cannot read the statistics: " + exc.message, false); })
        .then(function () { window.setTimeout(poll, every); });
    };
    poll();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
