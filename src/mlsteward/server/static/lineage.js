// mlsteward lineage page: pan, zoom and neighbour highlighting over the server-drawn SVG.
// The graph is complete without this script; it only changes the SVG's viewBox and classes.
"use strict";
(function () {
  var svg = document.getElementById("lineage-graph");
  if (!svg) return;
  var width = Number(svg.getAttribute("data-width"));
  var height = Number(svg.getAttribute("data-height"));
  var view = { x: 0, y: 0, w: width, h: height };
  var toolbar = document.getElementById("lineage-zoom");
  if (toolbar) toolbar.hidden = false;
  svg.classList.add("lineage-interactive");

  function apply() {
    svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
  }
  function zoom(factor, cx, cy) {
    var w = Math.min(Math.max(view.w * factor, width / 8), width * 4);
    var h = w * height / width;
    if (cx === undefined) { cx = view.x + view.w / 2; cy = view.y + view.h / 2; }
    view.x = cx - (cx - view.x) * (w / view.w);
    view.y = cy - (cy - view.y) * (h / view.h);
    view.w = w; view.h = h;
    apply();
  }
  function toGraph(event) {
    var box = svg.getBoundingClientRect();
    return {
      x: view.x + (event.clientX - box.left) * view.w / box.width,
      y: view.y + (event.clientY - box.top) * view.h / box.height,
    };
  }
  if (toolbar) {
    toolbar.addEventListener("click", function (event) {
      var button = event.target instanceof Element ? event.target.closest("[data-zoom]") : null;
      if (!button) return;
      var how = button.getAttribute("data-zoom");
      if (how === "in") zoom(0.8);
      else if (how === "out") zoom(1.25);
      else { view = { x: 0, y: 0, w: width, h: height }; apply(); }
    });
  }
  svg.addEventListener("wheel", function (event) {
    event.preventDefault();
    var at = toGraph(event);
    zoom(event.deltaY < 0 ? 0.9 : 1.1, at.x, at.y);
  }, { passive: false });

  var drag = null;
  svg.addEventListener("pointerdown", function (event) {
    if (event.target instanceof Element && event.target.closest("a")) return;
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var box = svg.getBoundingClientRect();
    view.x = drag.vx - (event.clientX - drag.x) * view.w / box.width;
    view.y = drag.vy - (event.clientY - drag.y) * view.h / box.height;
    apply();
  });
  svg.addEventListener("pointerup", function () { drag = null; });

  // Hovering a node lights up its edges and neighbours.
  var edges = Array.prototype.slice.call(svg.querySelectorAll(".lineage-edge"));
  var nodes = Array.prototype.slice.call(svg.querySelectorAll(".lineage-node"));
  function highlight(key) {
    var near = {};
    near[key] = true;
    edges.forEach(function (edge) {
      var on = edge.getAttribute("data-source") === key || edge.getAttribute("data-target") === key;
      edge.classList.toggle("lineage-lit", on);
      if (on) { near[edge.getAttribute("data-source")] = true; near[edge.getAttribute("data-target")] = true; }
    });
    nodes.forEach(function (node) {
      node.classList.toggle("lineage-dim", !near[node.getAttribute("data-key")]);
    });
  }
  function clear() {
    edges.forEach(function (edge) { edge.classList.remove("lineage-lit"); });
    nodes.forEach(function (node) { node.classList.remove("lineage-dim"); });
  }
  nodes.forEach(function (node) {
    node.addEventListener("mouseenter", function () { highlight(node.getAttribute("data-key")); });
    node.addEventListener("mouseleave", clear);
    node.addEventListener("focusin", function () { highlight(node.getAttribute("data-key")); });
    node.addEventListener("focusout", clear);
  });
})();
