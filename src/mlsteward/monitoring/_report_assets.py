"""The monitoring report page's inline stylesheet and script (no library, nothing fetched).

The script reads the report's JSON from the page, shows a tooltip over heatmap cells, and
selects a feature (heatmap row click or Enter, or the feature selector): its detail and its
distribution chart are shown, the others hidden. Every text it inserts goes through
``textContent``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

__all__ = ["CSS", "SCRIPT", "csp"]

CSS: Final = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
background:#fff}
header{padding:1.2rem 2rem;background:#f6f8fa;border-bottom:1px solid #d0d7de}
main{padding:0 2rem 2rem}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin:2rem 0 .5rem}
h3{font-size:1rem;margin:1rem 0 .4rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.facts dt{color:#57606a}dl.facts dd{margin:0;word-break:break-word}
.summary{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem .9rem;min-width:11rem}
.card .label{color:#57606a;font-size:.8rem}.card .value{font-size:1.2rem;font-weight:600}
.bad{color:#c62828}.good{color:#1a7f37}
.scroll{overflow-x:auto;max-width:100%}
.charts{display:flex;flex-wrap:wrap;gap:0 1.5rem}.panel{max-width:100%;overflow-x:auto}
.charts>p{flex-basis:100%}
svg text{font-size:11px;fill:#1f2328}svg .axis{fill:#57606a;font-size:10px}
.frame{fill:none;stroke:#d0d7de}
.rule{stroke:#c62828;stroke-dasharray:5 4}.rule-label{fill:#c62828;font-size:10px}
.line{fill:none;stroke-width:1.8}.band{stroke:none;opacity:.18}
.alarm{fill:#c62828;stroke:#fff}
.s0{stroke:#1f6feb;fill:#1f6feb}.s1{stroke:#e36209;fill:#e36209}
.s2{stroke:#8250df;fill:#8250df}.s3{stroke:#1a7f37;fill:#1a7f37}
.s4{stroke:#bf3989;fill:#bf3989}.s5{stroke:#6e7781;fill:#6e7781}
.line.s0,.line.s1,.line.s2,.line.s3,.line.s4,.line.s5{fill:none}
.hm-row{cursor:pointer;outline:none}.hm-band{fill:transparent}
.hm-row:hover .hm-band,.hm-row:focus .hm-band{fill:#f6f8fa}
.hm-row.selected .hm-band{fill:#ddf4ff}.hm-row.selected .hm-label{font-weight:700}
.wide .cell.drifted{stroke:#5c0000;stroke-width:1}
.bar.ref{fill:#1f6feb}.bar.cur{fill:#e36209}
.legend{display:flex;flex-wrap:wrap;gap:.8rem;list-style:none;padding:0;margin:.2rem 0;
font-size:.85rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px;
border-radius:2px}
.swatch.ref{background:#1f6feb}.swatch.cur{background:#e36209}
.swatch.ok0{background:#e8f5e9}.swatch.ok1{background:#f9a825}
.swatch.drifted{background:#c62828}.swatch.na{background:#bdbdbd}
.swatch.none{background:#f0f0f0;border:1px solid #d0d7de}
.swatch.k0{background:#1f6feb}.swatch.k1{background:#e36209}.swatch.k2{background:#8250df}
.swatch.k3{background:#1a7f37}.swatch.k4{background:#bf3989}.swatch.k5{background:#6e7781}
#tooltip{position:absolute;z-index:10;background:#24292f;color:#fff;padding:.4rem .6rem;
border-radius:4px;font-size:.8rem;pointer-events:none;max-width:26rem;word-break:break-word}
#tooltip .tip-title{font-weight:700}
.detail,.dist{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;margin:.5rem 0}
.no-data{border:1px dashed #d0d7de;border-radius:6px;padding:1rem;color:#57606a}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{word-break:break-all}
#feature-select{margin:.3rem 0 .5rem .4rem}
"""

SCRIPT: Final = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var features = JSON.parse(document.getElementById("report-features").textContent);
  var tip = document.getElementById("tooltip");
  var heatmap = document.getElementById("heatmap");
  var picker = document.getElementById("feature-select");
  var drift = data.windows.map(function (w) {
    var columns = {};
    if (w.drift) {
      w.drift.columns.forEach(function (c) { columns[c.column] = c; });
    }
    return columns;
  });

  function fmt(v) {
    if (v === null || v === undefined) { return "n/a"; }
    if (typeof v !== "number") { return String(v); }
    if (v !== 0 && Math.abs(v) < 0.001) { return v.toExponential(2); }
    return String(Number(v.toPrecision(4)));
  }

  function describe(f, w) {
    var win = data.windows[w];
    var c = drift[w][features[f]];
    var lines = [features[f], win.start + " to " + win.end];
    if (!win.drift) {
      lines.push("no drift result for this window");
    } else if (!c) {
      lines.push("the column is not in this window");
    } else if (!c.comparable) {
      lines.push("not compared: " + c.reason);
    } else {
      lines.push("method: " + c.method);
      lines.push("statistic: " + fmt(c.statistic));
      lines.push("threshold: " + fmt(c.threshold));
      if (c.p_value !== null) { lines.push("p-value: " + fmt(c.p_value)); }
      lines.push(c.drifted ? "DRIFTED" + (c.reason ? " (" + c.reason + ")" : "") : "no drift");
    }
    return lines;
  }

  function place(event) {
    tip.style.left = (event.pageX + 14) + "px";
    tip.style.top = (event.pageY + 14) + "px";
  }

  function show(cell, event) {
    var row = cell.closest(".hm-row");
    var lines = describe(Number(row.getAttribute("data-f")), Number(cell.getAttribute("data-w")));
    tip.textContent = "";
    lines.forEach(function (text, i) {
      var line = document.createElement("div");
      line.textContent = text;
      if (i === 0) { line.className = "tip-title"; }
      tip.appendChild(line);
    });
    tip.hidden = false;
    place(event);
  }

  function select(f) {
    document.querySelectorAll(".detail, .dist").forEach(function (el) {
      el.hidden = el.getAttribute("data-f") !== String(f);
    });
    document.querySelectorAll(".hm-row").forEach(function (el) {
      el.classList.toggle("selected", el.getAttribute("data-f") === String(f));
    });
    if (picker) { picker.value = String(f); }
  }

  if (heatmap) {
    heatmap.addEventListener("mouseover", function (event) {
      var cell = event.target.closest(".cell");
      if (cell) { show(cell, event); } else { tip.hidden = true; }
    });
    heatmap.addEventListener("mousemove", function (event) {
      if (!tip.hidden) { place(event); }
    });
    heatmap.addEventListener("mouseleave", function () { tip.hidden = true; });
    heatmap.addEventListener("click", function (event) {
      var row = event.target.closest(".hm-row");
      if (row) { select(Number(row.getAttribute("data-f"))); }
    });
    heatmap.addEventListener("keydown", function (event) {
      var row = event.target.closest(".hm-row");
      if (row && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        select(Number(row.getAttribute("data-f")));
      }
    });
  }
  if (picker) {
    picker.addEventListener("change", function () { select(Number(picker.value)); });
  }
  if (features.length) { select(0); }
})();
"""


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")


def csp() -> str:
    """The page's Content-Security-Policy: nothing may be fetched; only this stylesheet and
    this script (by hash) run."""
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{_digest(CSS)}'; "
        f"script-src 'sha256-{_digest(SCRIPT)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
