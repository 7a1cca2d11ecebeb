/* ferroflow workflow page: draws the graph embedded as JSON in #ff-data and shows a task's
 * details when it is clicked. Vanilla JavaScript, no dependencies, nothing fetched: the page
 * must open offline, years later. views/html.py inlines this file and documents the data.
 *
 * Layout: each graph is laid out left to right in layers (a task's layer is the longest chain
 * of producers before it), the order inside a layer is improved by a few barycentre sweeps,
 * and a layer of more than MIN_ROWS tasks wraps into a block of about sqrt(2n) rows (a
 * 1000-task scatter is a wide block, not a column 40,000 pixels tall). An open graph task is a box holding its own layout; edges only join siblings.
 * Everything is recomputed on expand/collapse: milliseconds for the few thousand tasks a page
 * holds.
 *
 * Failed tasks are listed first, above the graph (#ff-failures), each with its traceback; the
 * timeline below it (#ff-timeline) draws each task's start and end as a bar in its lane, as
 * Dask's task stream does (data.timeline: bars [lane, start, end, state, task id or -1, path]);
 * clicking a bar of a task the page shows selects it. A page of a run in progress says that
 * it reloads itself (its ferroflow-reload meta tag).
 *
 * URL fragment: #select=<task path> selects a task (and opens the graphs around it); clicking
 * a task writes it, so a link shows the same task. window.ferroflowView is a small API for
 * scripts and tests (select, toggle, fit, data).
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var NODE_H = 42, MIN_W = 110, MAX_W = 300, CHAR_W = 7.5;
  var GAP_X = 64, GAP_COL = 26, GAP_Y = 14, PAD = 14, HEAD = 30, MIN_ROWS = 12;

  var data = JSON.parse(document.getElementById("ff-data").textContent);
  var tasks = data.tasks;
  var byPath = new Map();
  tasks.forEach(function (t) { byPath.set(t.path, t); });
  var expanded = new Set(data.expanded);
  var edgesOf = new Map(); // parent id -> edges between its children
  data.edges.forEach(function (e) {
    var parent = tasks[e[0]].parent;
    if (!edgesOf.has(parent)) edgesOf.set(parent, []);
    edgesOf.get(parent).push(e);
  });

  var svg = document.getElementById("ff-svg");
  var canvas = document.getElementById("ff-canvas");
  var panel = document.getElementById("ff-panel");
  var viewport = svgEl("g", { id: "ff-viewport" });
  var view = { x: 0, y: 0, k: 1 };
  var geo = new Map(); // task id -> {x, y, w, h} of what is drawn
  var nodeEls = new Map();
  var edgeEls = [];
  var extent = { w: 0, h: 0 };
  var selected = 0;

  // -- small helpers ---------------------------------------------------------------------------
  function svgEl(tag, attrs) {
    var el = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    return el;
  }

  function htmlEl(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") el.className = attrs[k];
      else if (k === "onclick") el.addEventListener("click", attrs[k]);
      else el.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var kid = arguments[i];
      if (kid === null || kid === undefined) continue;
      el.append(kid instanceof Node ? kid : String(kid)); // text nodes: data is never HTML
    }
    return el;
  }

  function colour(state) { return data.colours[state] || data.colours.PLANNED; }

  // text widths from the page's own font (a per-character guess overflows bold names)
  var ruler = document.createElement("canvas").getContext("2d");
  var family = getComputedStyle(document.body).fontFamily || "sans-serif";
  var NAME_FONT = "600 12px ", SUB_FONT = "11px ";
  function textWidth(text, font) {
    if (!ruler) return text.length * CHAR_W;
    ruler.font = font + family;
    return ruler.measureText(text).width;
  }

  function clip(text, width, font) {
    var w = textWidth(text, font);
    if (w <= width) return text;
    var n = Math.max(1, Math.floor(text.length * width / w));
    while (n > 1 && textWidth(text.slice(0, n - 1) + "\u2026", font) > width) n--;
    return text.slice(0, n - 1) + "\u2026";
  }

  function duration(s) {
    if (s === null || s === undefined) return "";
    if (s < 1e-6) return "<1 \u00b5s";
    if (s < 1e-3) return (s * 1e6).toFixed(0) + " \u00b5s";
    if (s < 1) return (s * 1e3).toFixed(1) + " ms";
    if (s < 120) return s.toFixed(2) + " s";
    var m = Math.floor(s / 60);
    return m + " min " + Math.round(s - 60 * m) + " s";
  }

  function when(ts) {
    if (ts === null || ts === undefined) return "";
    var d = new Date(ts * 1000);
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function size(t) { return t.children.length + t.hidden; }

  function subtitle(t) {
    var parts = [t.state.toLowerCase()];
    if (t.duration !== null) parts.push(duration(t.duration));
    if (t.graph && size(t)) parts.push(size(t) + (size(t) === 1 ? " task" : " tasks"));
    return parts.join(" \u00b7 ");
  }

  function isOpen(t) { return t.children.length > 0 && (t.id === 0 || expanded.has(t.id)); }

  function visible(id) { // the task itself, or the closest collapsed graph holding it
    var shown = id;
    for (var p = tasks[id].parent; p > 0; p = tasks[p].parent) if (!expanded.has(p)) shown = p;
    return shown;
  }

  // -- layout -----------------------------------------------------------------------------------
  function nodeWidth(t) {
    var name = textWidth(t.name, NAME_FONT) + (t.children.length ? 26 : 0);
    return Math.min(MAX_W, Math.max(MIN_W, 24 + Math.max(name, textWidth(subtitle(t), SUB_FONT))));
  }

  function layoutOf(g) {
    var kids = g.children, box = new Map(), preds = new Map(), succs = new Map();
    kids.forEach(function (id) {
      var t = tasks[id];
      if (isOpen(t)) {
        var sub = layoutOf(t);
        var head = 52 + textWidth(t.name, NAME_FONT) + textWidth(subtitle(t), SUB_FONT);
        box.set(id, { w: Math.max(sub.w + 2 * PAD, head), h: sub.h + HEAD + PAD, sub: sub });
      } else {
        box.set(id, { w: nodeWidth(t), h: NODE_H, sub: null });
      }
      preds.set(id, []);
      succs.set(id, []);
    });
    var edges = edgesOf.get(g.id) || [];
    edges.forEach(function (e) { succs.get(e[0]).push(e[1]); preds.get(e[1]).push(e[0]); });
    // layers: longest producer chain (Kahn's order); a cycle, which data flow cannot make,
    // would leave its tasks in layer 0
    var rank = new Map(), indeg = new Map(), queue = [];
    kids.forEach(function (id) {
      rank.set(id, 0);
      indeg.set(id, preds.get(id).length);
      if (!preds.get(id).length) queue.push(id);
    });
    for (var i = 0; i < queue.length; i++) {
      succs.get(queue[i]).forEach(function (d) {
        rank.set(d, Math.max(rank.get(d), rank.get(queue[i]) + 1));
        indeg.set(d, indeg.get(d) - 1);
        if (indeg.get(d) === 0) queue.push(d);
      });
    }
    var layers = [];
    kids.forEach(function (id) {
      var r = rank.get(id);
      while (layers.length <= r) layers.push([]);
      layers[r].push(id);
    });
    // order inside layers: barycentre of the neighbours' positions, a few sweeps each way
    var pos = new Map();
    function number(layer) { layer.forEach(function (id, j) { pos.set(id, (j + 0.5) / layer.length); }); }
    function sweep(layer, nbrs) {
      var key = new Map();
      layer.forEach(function (id) {
        var ns = nbrs.get(id);
        var sum = 0;
        ns.forEach(function (n) { sum += pos.get(n); });
        key.set(id, ns.length ? sum / ns.length : pos.get(id));
      });
      layer.sort(function (a, b) { return key.get(a) - key.get(b); });
      number(layer);
    }
    layers.forEach(number);
    if (edges.length) {
      for (var round = 0; round < 4; round++) {
        for (var r = 1; r < layers.length; r++) sweep(layers[r], preds);
        for (var q = layers.length - 2; q >= 0; q--) sweep(layers[q], succs);
      }
    }
    // columns: a layer, wrapped into a block that is about as wide as it is tall
    var cols = [];
    layers.forEach(function (layer) {
      var rows = layer.length > MIN_ROWS ? Math.max(MIN_ROWS, Math.ceil(Math.sqrt(layer.length * 2))) : layer.length;
      for (var j = 0; j < layer.length; j += rows) {
        var ids = layer.slice(j, j + rows), w = 0, h = GAP_Y * (ids.length - 1);
        ids.forEach(function (id) { w = Math.max(w, box.get(id).w); h += box.get(id).h; });
        cols.push({ ids: ids, w: w, h: h, gap: j === 0 ? GAP_X : GAP_COL });
      }
    });
    var height = 0, x = 0, items = [];
    cols.forEach(function (c) { height = Math.max(height, c.h); });
    cols.forEach(function (c, j) {
      if (j > 0) x += c.gap;
      var y = (height - c.h) / 2;
      c.ids.forEach(function (id) {
        var b = box.get(id);
        items.push({ id: id, x: x + (c.w - b.w) / 2, y: y, w: b.w, h: b.h, sub: b.sub });
        y += b.h + GAP_Y;
      });
      x += c.w;
    });
    return { w: x, h: height, items: items };
  }

  function place(layout, ox, oy) {
    layout.items.forEach(function (it) {
      geo.set(it.id, { x: ox + it.x, y: oy + it.y, w: it.w, h: it.h });
      if (it.sub) place(it.sub, ox + it.x + (it.w - it.sub.w) / 2, oy + it.y + HEAD);
    });
  }

  // -- drawing ----------------------------------------------------------------------------------
  function toggleButton(t, x, y) {
    var g = svgEl("g", { class: "ff-toggle", "data-toggle": String(t.id), transform: "translate(" + x + "," + y + ")" });
    g.append(svgEl("rect", { width: 16, height: 16, rx: 3 }));
    var label = svgEl("text", { x: 8, y: 12.5, "text-anchor": "middle" });
    label.textContent = isOpen(t) ? "\u2212" : "+";
    g.append(label);
    var tip = svgEl("title");
    tip.textContent = (isOpen(t) ? "collapse " : "expand ") + t.name;
    g.append(tip);
    return g;
  }

  function drawNode(t, g0) {
    var b = geo.get(t.id);
    var g = svgEl("g", {
      class: "ff-node" + (t.graph ? " ff-collapsed" : ""), "data-id": String(t.id),
      "data-path": t.path, "data-state": t.state, transform: "translate(" + b.x + "," + b.y + ")",
    });
    g.append(svgEl("rect", { class: "ff-box", width: b.w, height: b.h, rx: 6, fill: colour(t.state) }));
    var name = svgEl("text", { class: "ff-name", x: 10, y: 17 });
    name.textContent = clip(t.name, b.w - (t.children.length ? 38 : 18), NAME_FONT);
    var sub = svgEl("text", { class: "ff-sub", x: 10, y: 33 });
    sub.textContent = clip(subtitle(t), b.w - 18, SUB_FONT);
    var tip = svgEl("title");
    tip.textContent = t.path + "\n" + subtitle(t) + (t.children.length ? "\n(double-click or + to expand)" : "");
    g.append(name, sub, tip);
    if (t.children.length) g.append(toggleButton(t, b.w - 22, 5));
    g0.append(g);
    nodeEls.set(t.id, g);
  }

  function drawCluster(t, g0) {
    var b = geo.get(t.id);
    var g = svgEl("g", {
      class: "ff-cluster", "data-id": String(t.id), "data-path": t.path, "data-state": t.state,
      transform: "translate(" + b.x + "," + b.y + ")",
    });
    g.append(svgEl("rect", { class: "ff-frame", width: b.w, height: b.h, rx: 8, stroke: colour(t.state) }));
    g.append(svgEl("rect", { class: "ff-head", width: b.w, height: HEAD - 4, rx: 8, fill: colour(t.state), "fill-opacity": 0.6 }));
    var text = svgEl("text", { x: 32, y: 18 });
    var name = svgEl("tspan", { class: "ff-name", "font-weight": 600 });
    name.textContent = t.name;
    var sub = svgEl("tspan", { class: "ff-sub", dx: 8 });
    sub.textContent = subtitle(t);
    text.append(name, sub);
    var tip = svgEl("title");
    tip.textContent = t.path;
    g.append(text, tip, toggleButton(t, 8, 5));
    g0.append(g);
    nodeEls.set(t.id, g);
  }

  function render() {
    geo = new Map();
    nodeEls = new Map();
    edgeEls = [];
    var layout = layoutOf(tasks[0]);
    place(layout, 0, 0);
    extent = { w: layout.w, h: layout.h };
    var boxes = svgEl("g", { class: "ff-clusters" });
    var lines = svgEl("g", { class: "ff-edges" });
    var nodes = svgEl("g", { class: "ff-nodes" });
    tasks.forEach(function (t) { // parents before children: inner boxes on top of outer ones
      if (t.id === 0 || !geo.has(t.id)) return;
      if (isOpen(t)) drawCluster(t, boxes);
      else drawNode(t, nodes);
    });
    data.edges.forEach(function (e) {
      var a = geo.get(e[0]), b = geo.get(e[1]);
      if (!a || !b) return;
      var x1 = a.x + a.w, y1 = a.y + Math.min(a.h / 2, isOpen(tasks[e[0]]) ? HEAD / 2 : a.h / 2);
      var x2 = b.x - 2, y2 = b.y + Math.min(b.h / 2, isOpen(tasks[e[1]]) ? HEAD / 2 : b.h / 2);
      var dx = Math.max(24, Math.abs(x2 - x1) / 2);
      var path = svgEl("path", {
        class: "ff-edge", "data-from": String(e[0]), "data-to": String(e[1]),
        d: "M" + x1 + "," + y1 + " C" + (x1 + dx) + "," + y1 + " " + (x2 - dx) + "," + y2 + " " + x2 + "," + y2,
        "marker-end": "url(#ff-arrow)",
      });
      lines.append(path);
      edgeEls.push({ from: e[0], to: e[1], el: path });
    });
    viewport.textContent = "";
    viewport.append(boxes, lines, nodes);
    highlight();
  }

  function highlight() {
    nodeEls.forEach(function (el) { el.classList.remove("ff-selected"); });
    var shown = selected > 0 ? visible(selected) : 0;
    if (nodeEls.has(shown)) nodeEls.get(shown).classList.add("ff-selected");
    edgeEls.forEach(function (e) {
      var hot = shown > 0 && (e.from === shown || e.to === shown);
      e.el.classList.toggle("ff-hot", hot);
      e.el.setAttribute("marker-end", hot ? "url(#ff-arrow-hot)" : "url(#ff-arrow)");
    });
  }

  // -- the side panel ---------------------------------------------------------------------------
  function stateBadge(state) {
    return htmlEl("span", { class: "ff-state", style: "background:" + colour(state) }, state.toLowerCase());
  }

  function taskLink(id) {
    return htmlEl("a", { href: "#select=" + encodeURIComponent(tasks[id].path), title: tasks[id].path }, tasks[id].name);
  }

  function portTable(ports, more, direction) {
    if (!ports.length) return htmlEl("p", { class: "ff-none" }, "none");
    var body = htmlEl("tbody");
    ports.forEach(function (p) {
      var value = p.value === null
        ? htmlEl("span", { class: "ff-none" }, p.socket ? "not made yet" : "no value")
        : p.value;
      var from = p.source !== null ? taskLink(p.source) : (p.socket || "");
      body.append(htmlEl("tr", { "data-label": p.label },
        htmlEl("td", { class: "ff-label" }, p.label),
        htmlEl("td", { class: "ff-value" }, value),
        htmlEl("td", {}, p.type || ""),
        htmlEl("td", {}, p.pk === null ? "" : String(p.pk)),
        htmlEl("td", {}, from)));
    });
    var table = htmlEl("table", { class: "ff-ports ff-" + direction },
      htmlEl("thead", {}, htmlEl("tr", {},
        htmlEl("th", {}, "label"), htmlEl("th", {}, "value"), htmlEl("th", {}, "type"),
        htmlEl("th", {}, "pk"), htmlEl("th", {}, direction === "inputs" ? "from" : "made by"))),
      body);
    if (!more) return table;
    var wrap = htmlEl("div", {}, table);
    wrap.append(htmlEl("p", { class: "ff-note" }, "\u2026 and " + more + " more not listed"));
    return wrap;
  }

  function childCounts(t) {
    var counts = {};
    t.children.forEach(function (id) { var s = tasks[id].state; counts[s] = (counts[s] || 0) + 1; });
    return Object.keys(counts).map(function (s) { return s.toLowerCase() + ": " + counts[s]; }).join(", ");
  }

  function showPanel(id) {
    var t = tasks[id];
    panel.textContent = "";
    panel.setAttribute("data-selected", t.path);
    panel.append(htmlEl("h2", {}, t.name), htmlEl("div", { class: "ff-path" }, t.path));
    var facts = htmlEl("dl", {});
    function fact(term, value) {
      if (value === null || value === undefined || value === "") return;
      facts.append(htmlEl("dt", {}, term), htmlEl("dd", {}, value));
    }
    fact("state", stateBadge(t.state));
    fact("kind", id === 0 ? "top-level graph" : t.graph ? "graph task" : "task");
    fact("runs", t.type);
    fact("pk", t.pk === null ? null : String(t.pk));
    fact("uuid", t.uuid);
    fact("started", when(t.start));
    fact("duration", duration(t.duration));
    if (t.parent >= 0) fact("in", taskLink(t.parent));
    if (t.graph) {
      var n = size(t) + (size(t) === 1 ? " task" : " tasks");
      fact("tasks", t.children.length ? n + " (" + childCounts(t) + ")" : n);
    }
    if (id === 0) fact("source", data.where);
    panel.append(facts);
    if (t.graph && t.children.length && id !== 0) {
      panel.append(htmlEl("button", {
        class: "ff-button", type: "button", onclick: function () { toggle(id); },
      }, expanded.has(id) ? "Collapse" : "Expand"));
    }
    if (t.error) panel.append(htmlEl("h3", {}, "Error"), htmlEl("pre", { class: "ff-error" }, t.error));
    if (t.output) {
      panel.append(htmlEl("h3", {}, "Output"), htmlEl("pre", { class: "ff-output" }, t.output),
        htmlEl("p", {}, "all of it: ferroflow logs " + t.pk));
    }
    panel.append(htmlEl("h3", {}, "Inputs (" + (t.inputs.length + t.more_inputs) + ")"),
      portTable(t.inputs, t.more_inputs, "inputs"));
    panel.append(htmlEl("h3", {}, "Outputs (" + (t.outputs.length + t.more_outputs) + ")"),
      portTable(t.outputs, t.more_outputs, "outputs"));
    if (t.graph && t.children.length) {
      var list = htmlEl("ul", { class: "ff-children" });
      t.children.slice(0, 200).forEach(function (c) {
        list.append(htmlEl("li", {}, htmlEl("span", { class: "ff-swatch", style: "background:" + colour(tasks[c].state) }), taskLink(c)));
      });
      panel.append(htmlEl("h3", {}, "Tasks"), list);
      if (size(t) > 200) panel.append(htmlEl("p", { class: "ff-note" }, "\u2026 " + (size(t) - 200) + " more"));
    }
    if (id === 0) {
      data.notes.forEach(function (note) { panel.append(htmlEl("p", { class: "ff-note" }, note)); });
      panel.append(htmlEl("p", { class: "ff-note" },
        "Click a task for its inputs and outputs; wheel to zoom, drag to pan; + and \u2212 " +
        "(or a double-click) open and close nested graphs; Esc returns here. Written " +
        data.generated + " by ferroflow."));
    }
  }

  // -- interaction ------------------------------------------------------------------------------
  function select(id, center) {
    selected = id;
    highlight();
    showPanel(id);
    if (center && id > 0) centerOn(id);
    var hash = id > 0 ? "#select=" + encodeURIComponent(tasks[id].path) : "";
    if (location.hash !== hash) {
      try { history.replaceState(null, "", hash || location.pathname + location.search); } catch (err) { /* file: URLs in some browsers */ }
    }
  }

  function reveal(id) {
    var changed = false;
    for (var p = tasks[id].parent; p > 0; p = tasks[p].parent) {
      if (!expanded.has(p)) { expanded.add(p); changed = true; }
    }
    if (changed) render();
  }

  function selectPath(path, center) {
    var t = byPath.get(path);
    if (!t) return false;
    reveal(t.id);
    select(t.id, center);
    return true;
  }

  function readHash() {
    var m = /^#select=(.*)$/.exec(location.hash);
    if (!m) return false;
    try { return selectPath(decodeURIComponent(m[1]), true); } catch (err) { return false; }
  }

  function toggle(id) {
    if (!tasks[id].children.length) return;
    if (expanded.has(id)) expanded.delete(id); else expanded.add(id);
    render();
    if (selected === id) showPanel(id);
  }

  function applyView() {
    viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")");
  }

  function fit() {
    var cw = canvas.clientWidth || 800, ch = canvas.clientHeight || 600, m = 24;
    var k = Math.min((cw - 2 * m) / Math.max(extent.w, 1), (ch - 2 * m) / Math.max(extent.h, 1), 1.25);
    view.k = Math.max(0.02, k);
    view.x = (cw - extent.w * view.k) / 2;
    view.y = (ch - extent.h * view.k) / 2;
    applyView();
  }

  function centerOn(id) {
    var b = geo.get(visible(id));
    if (!b) return;
    if (view.k < 0.7) view.k = 1;
    view.x = (canvas.clientWidth || 800) / 2 - (b.x + b.w / 2) * view.k;
    view.y = (canvas.clientHeight || 600) / 2 - (b.y + b.h / 2) * view.k;
    applyView();
  }

  function zoomAt(px, py, factor) {
    var k = Math.min(6, Math.max(0.02, view.k * factor));
    view.x = px - (px - view.x) * (k / view.k);
    view.y = py - (py - view.y) * (k / view.k);
    view.k = k;
    applyView();
  }

  var drag = null, dragged = false;
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect();
    zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * (e.deltaMode ? 0.05 : 0.0015)));
  }, { passive: false });
  svg.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
    dragged = false;
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!dragged && Math.abs(dx) + Math.abs(dy) > 4) {
      dragged = true;
      canvas.classList.add("ff-dragging");
    }
    if (dragged) {
      view.x = drag.vx + dx;
      view.y = drag.vy + dy;
      applyView();
    }
  });
  window.addEventListener("pointerup", function () {
    drag = null;
    canvas.classList.remove("ff-dragging");
  });
  svg.addEventListener("click", function (e) {
    if (dragged) { dragged = false; return; } // the end of a pan, not a click
    var button = e.target.closest("[data-toggle]");
    if (button) { toggle(Number(button.getAttribute("data-toggle"))); return; }
    var node = e.target.closest("[data-id]");
    select(node ? Number(node.getAttribute("data-id")) : 0, false);
  });
  svg.addEventListener("dblclick", function (e) {
    var node = e.target.closest(".ff-node[data-id]");
    if (node && !e.target.closest("[data-toggle]")) toggle(Number(node.getAttribute("data-id")));
  });
  window.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && e.target.tagName !== "INPUT") select(0, false);
  });
  window.addEventListener("hashchange", readHash);
  document.getElementById("ff-fit").addEventListener("click", fit);
  document.getElementById("ff-expand").addEventListener("click", function () {
    tasks.forEach(function (t) { if (t.children.length && t.id > 0) expanded.add(t.id); });
    render();
    fit();
  });
  document.getElementById("ff-collapse").addEventListener("click", function () {
    expanded.clear();
    render();
    fit();
  });
  var search = document.getElementById("ff-search"), found = { query: "", index: -1 };
  search.addEventListener("keydown", function (e) {
    if (e.key !== "Enter") return;
    var query = search.value.trim().toLowerCase();
    if (!query) return;
    var hits = tasks.filter(function (t) { return t.id > 0 && t.path.toLowerCase().indexOf(query) >= 0; });
    search.setCustomValidity(hits.length ? "" : "no task matches");
    if (!hits.length) { search.reportValidity(); return; }
    found.index = found.query === query ? (found.index + 1) % hits.length : 0;
    found.query = query;
    selectPath(hits[found.index].path, true);
  });

  // -- failures, listed first --------------------------------------------------------------------
  function lastLine(text) {
    var lines = (text || "").trim().split("\n");
    return lines[lines.length - 1];
  }

  function failures() {
    var box = document.getElementById("ff-failures");
    if (!data.failures.length) return;
    box.hidden = false;
    var n = data.failures.length, all = data.failed_total;
    box.append(htmlEl("h2", {}, (all > n ? n + " of " + all : String(n)) + " failed task" + (all === 1 ? "" : "s")));
    data.failures.forEach(function (id, i) {
      var t = tasks[id];
      var item = htmlEl("details", { class: "ff-failure", "data-path": t.path },
        htmlEl("summary", {}, taskLink(id), htmlEl("span", { class: "ff-path" }, " " + t.path),
          htmlEl("span", { class: "ff-message" }, " \u2014 " + lastLine(t.error))),
        htmlEl("pre", { class: "ff-error" }, t.error || "(no traceback stored)"));
      if (i < 3) item.open = true;
      box.append(item);
    });
  }

  // -- the timeline -------------------------------------------------------------------------------
  var LANE_H = 14, AXIS_H = 18;
  function drawTimeline() {
    var line = data.timeline, box = document.getElementById("ff-timeline");
    if (!line || !line.bars.length) return;
    box.hidden = false;
    var head = document.getElementById("ff-timeline-head");
    head.textContent = "";
    head.append(htmlEl("strong", {}, "Timeline"),
      " " + line.shown + (line.shown < line.total ? " of " + line.total : "") + " task" + (line.total === 1 ? "" : "s") +
      " in " + line.lanes + " lane" + (line.lanes === 1 ? "" : "s") + " over " + duration(line.end) + "; " + line.how +
      (line.note ? ". " + line.note : "."));
    var tsvg = document.getElementById("ff-timeline-svg");
    var width = Math.max(200, (tsvg.parentNode.clientWidth || 800) - 4);
    var rowH = Math.max(3, Math.min(LANE_H, 240 / Math.max(line.lanes, 1)));
    var height = AXIS_H + line.lanes * rowH + 2;
    tsvg.setAttribute("width", width);
    tsvg.setAttribute("height", height);
    tsvg.textContent = "";
    var span = line.end > 0 ? line.end : 1, scaleX = (width - 8) / span;
    var axis = svgEl("g", { class: "ff-axis" });
    for (var i = 0; i <= 4; i++) {
      var x = 4 + (width - 8) * i / 4;
      axis.append(svgEl("line", { x1: x, x2: x, y1: AXIS_H - 4, y2: height, class: "ff-tick" }));
      var label = svgEl("text", { x: Math.min(x + 2, width - 60), y: AXIS_H - 6 });
      label.textContent = duration(span * i / 4) || "0";
      axis.append(label);
    }
    tsvg.append(axis);
    var bars = svgEl("g", { class: "ff-bars" });
    line.bars.forEach(function (b) {
      var rect = svgEl("rect", {
        class: "ff-bar", x: 4 + b[1] * scaleX, y: AXIS_H + b[0] * rowH, height: Math.max(rowH - 1, 2),
        width: Math.max((b[2] - b[1]) * scaleX, 1.5), fill: colour(b[3]),
        "data-state": b[3], "data-path": b[5], "data-lane": String(b[0]),
      });
      if (b[4] >= 0) rect.setAttribute("data-id", String(b[4]));
      var tip = svgEl("title");
      tip.textContent = b[5] + " \u2014 " + b[3].toLowerCase() + ", " + duration(b[2] - b[1]);
      rect.append(tip);
      bars.append(rect);
    });
    tsvg.append(bars);
  }
  document.getElementById("ff-timeline-svg").addEventListener("click", function (e) {
    var bar = e.target.closest(".ff-bar[data-id]");
    if (bar) selectPath(tasks[Number(bar.getAttribute("data-id"))].path, true);
  });
  window.addEventListener("resize", drawTimeline);

  // -- start ------------------------------------------------------------------------------------
  function header() {
    var title = document.getElementById("ff-title");
    title.append(data.title + " ", stateBadge(data.state), htmlEl("span", { class: "ff-where" }, data.where));
    var counts = document.getElementById("ff-counts");
    Object.keys(data.counts).forEach(function (state) {
      counts.append(htmlEl("span", { class: "ff-count", "data-state": state },
        htmlEl("span", { class: "ff-swatch", style: "background:" + colour(state) }),
        state.toLowerCase() + " " + data.counts[state]));
    });
    var total = data.total + (data.total === 1 ? " task" : " tasks");
    counts.append(htmlEl("span", { class: "ff-total" }, data.shown < data.total ? total + " (" + data.shown + " shown)" : total));
    var reload = document.querySelector('meta[name="ferroflow-reload"]');
    if (reload) {
      var every = Number(reload.getAttribute("content")) || 2;
      counts.append(htmlEl("span", { class: "ff-live", id: "ff-live" }, "live: reloads every " + every + " s while the run goes on"));
      setTimeout(function () { location.reload(); }, every * 1000);
    }
  }

  var defs = svgEl("defs");
  [["ff-arrow", ""], ["ff-arrow-hot", ""]].forEach(function (m) {
    var marker = svgEl("marker", { id: m[0], viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
    marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z" }));
    defs.append(marker);
  });
  svg.append(defs, viewport);
  header();
  failures();
  drawTimeline();
  render();
  fit();
  if (!readHash()) select(0, false);
  window.ferroflowView = {
    data: data,
    select: function (path) { return selectPath(path, true); },
    toggle: function (path) { var t = byPath.get(path); if (t) toggle(t.id); return !!t; },
    fit: fit,
    view: view,
  };
})();
