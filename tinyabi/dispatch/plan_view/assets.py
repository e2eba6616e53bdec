"""The page's inline stylesheet and script (no external resources of any kind).

The script reads the facts from the ``<script type="application/json" id="plan-data">``
element, fills the details panel with ``textContent`` only (never markup), links the graph
and the memory picture (selecting a node outlines its tensors and the other way round), finds
nodes and tensors by name, selects the one a ``#node=I`` or ``#tensor=K`` URL fragment names,
and finally marks the body ``data-rendered="yes"``.
"""

from __future__ import annotations

__all__ = ["CSS", "JS"]

CSS = """
:root { color-scheme: light; --fg: #1b1f24; --muted: #5f6b7a; --line: #d5dae1; }
* { box-sizing: border-box; }
html, body { margin: 0; }
body {
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--fg); background: #f3f4f6;
  display: flex; flex-direction: column; height: 100vh;
}
header { padding: 10px 16px 8px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 17px; margin: 0 0 2px; word-break: break-all; }
h2 { font-size: 14px; margin: 0; }
h3 { font-size: 13.5px; margin: 0 0 6px; word-break: break-all; }
h4 { font-size: 12.5px; margin: 10px 0 4px; }
.summary { margin: 0 0 6px; color: var(--muted); }
.summary b { color: var(--fg); font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0; padding: 0; list-style: none; }
.legend li { display: flex; align-items: center; gap: 6px; }
.legend .count { color: var(--muted); }
.sw {
  display: inline-block; width: 14px; height: 14px; border-radius: 3px;
  border: 1px solid rgba(0, 0, 0, .25); flex: none;
}
.notes, .cap { margin: 6px 0 0; color: #8a4b00; }
main {
  flex: 1; min-height: 0; display: grid; gap: 10px; padding: 10px;
  grid-template-columns: minmax(300px, 5fr) minmax(420px, 7fr);
}
.panel {
  background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px;
  min-width: 0; min-height: 0; display: flex; flex-direction: column;
}
.bar { display: flex; align-items: baseline; gap: 10px; margin-bottom: 6px; flex-wrap: wrap; }
.bar .help { color: var(--muted); font-size: 12px; }
.bar input { margin-left: auto; font: inherit; padding: 2px 6px; width: 14em; }
.scroll { overflow: auto; min-height: 0; flex: 1; }
#side {
  display: grid; grid-template-rows: auto minmax(0, 1fr); gap: 10px; min-width: 0; min-height: 0;
}
#memory-panel .scroll { flex: none; }
svg { display: block; }
svg.fit { max-width: 100%; height: auto; }
svg text { font-family: inherit; }
.n { cursor: pointer; outline: none; }
.n .box { stroke-width: 1.5; }
.n:hover .box, .n:focus .box { stroke-width: 2.5; }
.n.sel .box { stroke: #111; stroke-width: 3; }
.n.hl .box { stroke: #111; stroke-width: 2; stroke-dasharray: 4 2; }
.nm { font-size: 12.5px; font-weight: 600; fill: var(--fg); }
.op { font-size: 11px; fill: #374151; }
.pb { font-size: 10.5px; font-weight: 600; fill: var(--muted); }
.dc { fill: #b45309; }
.dct { font-size: 10px; font-weight: 700; fill: #fff; }
.e { fill: none; stroke: #8b96a5; stroke-width: 1.3; }
.e.x { stroke: #374151; stroke-width: 2; stroke-dasharray: 5 3; }
.pill rect { fill: #fff; stroke: #5f6b7a; }
.pill text { font-size: 11px; fill: #374151; }
.bl { font-size: 12px; font-weight: 700; fill: #374151; }
.bb { font-size: 11px; font-weight: 600; }
.plot { fill: #fbfbfc; stroke: var(--line); }
.grid { stroke: #eceff3; }
.tick { font-size: 10.5px; fill: var(--muted); }
.axis { font-size: 11.5px; fill: #374151; }
.t { stroke: #fff; stroke-width: .6; cursor: pointer; }
.t:hover { stroke: #111; stroke-width: 1.5; }
.t.sel, .t.hl { stroke: #111; stroke-width: 2; }
.s { cursor: pointer; }
.s.sel { stroke: #111; stroke-width: 2; }
line.arena { stroke: #b91c1c; stroke-width: 1.5; stroke-dasharray: 6 3; }
line.bound { stroke: #1d4ed8; stroke-width: 1.5; stroke-dasharray: 2 3; }
.lim {
  font-size: 11.5px; font-weight: 600; paint-order: stroke; stroke: #fff; stroke-width: 3px;
}
text.arena { fill: #b91c1c; }
text.bound { fill: #1d4ed8; }
#details { margin-bottom: 8px; }
#details .placeholder { color: var(--muted); margin: 0; }
#details dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; }
#details dt { color: var(--muted); }
#details dd { margin: 0; white-space: pre-wrap; word-break: break-all; }
#details .item + .item { margin-top: 3px; }
#details ul { margin: 0; padding-left: 18px; }
.hint { color: #1d4ed8; }
table.declines { border-collapse: collapse; width: 100%; font-size: 12px; }
table.declines th, table.declines td {
  text-align: left; vertical-align: top; padding: 3px 6px; border-top: 1px solid var(--line);
  word-break: break-word;
}
table.declines td:first-child { white-space: nowrap; }
table.declines th { color: var(--muted); font-weight: 600; }
.muted { color: var(--muted); }
@media (max-width: 900px) {
  body { height: auto; }
  main { display: block; }
  .panel { margin-bottom: 10px; }
  #side { display: block; }
}
"""

JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("plan-data").textContent);
  var details = document.getElementById("details");
  var marked = [];

  function make(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function field(dl, key, value) {
    if (value === undefined || value === null || value === "") { return; }
    dl.appendChild(make("dt", key));
    if (Array.isArray(value)) {
      var dd = make("dd");
      value.forEach(function (v) { dd.appendChild(make("div", v, "item")); });
      dl.appendChild(dd);
    } else {
      dl.appendChild(make("dd", value));
    }
  }
  function clear() {
    marked.forEach(function (e) { e.classList.remove("sel", "hl"); });
    marked = [];
  }
  function mark(attr, index, cls) {
    var found = document.querySelectorAll("[" + attr + '="' + index + '"]');
    Array.prototype.forEach.call(found, function (e) { e.classList.add(cls); marked.push(e); });
    return found;
  }
  function begin(title) {
    details.replaceChildren(make("h3", title));
    var dl = make("dl");
    details.appendChild(dl);
    return dl;
  }
  function showNode(i) {
    var n = data.nodes[i];
    if (!n) { return null; }
    clear();
    var found = mark("data-node", i, "sel");
    n.tensors.forEach(function (k) { mark("data-tensor", k, "hl"); });
    var dl = begin(n.name);
    field(dl, "operator", n.op + " v" + n.version);
    field(dl, "step", n.index);
    field(dl, "backend", n.backend);
    field(dl, "partition", n.partition);
    field(dl, "signature", n.signature || "none matched");
    field(dl, "pattern", n.pattern);
    field(dl, "first claim", n.first_claim);
    field(dl, "inputs", n.inputs);
    field(dl, "outputs", n.outputs);
    if (n.declined.length) {
      details.appendChild(make("h4", "Declined by"));
      var ul = make("ul");
      n.declined.forEach(function (d) {
        var li = make("li");
        li.appendChild(make("b", d.backend + ": "));
        li.appendChild(document.createTextNode(d.reason));
        if (d.hint) { li.appendChild(make("div", "hint: " + d.hint, "hint")); }
        ul.appendChild(li);
      });
      details.appendChild(ul);
    }
    return found;
  }
  function stepName(s) {
    var n = data.nodes[s];
    return n ? "step " + s + " (" + n.name + ")" : "step " + s;
  }
  function showTensor(k) {
    var t = data.tensors[k];
    if (!t) { return null; }
    clear();
    var found = mark("data-tensor", k, "sel");
    if (t.producer !== null) { mark("data-node", t.producer, "hl"); }
    t.consumers.forEach(function (i) { mark("data-node", i, "hl"); });
    var dl = begin(t.name);
    field(dl, "type", t.type);
    field(dl, "size", t.size.toLocaleString("en-US") + " B");
    field(dl, "offset", t.offset.toLocaleString("en-US") + " .. " +
      (t.offset + t.size).toLocaleString("en-US"));
    field(dl, "from", t.first < 0 ? "graph input" : stepName(t.first));
    field(dl, "to", t.output ? "the end (graph output)" : stepName(t.last));
    field(dl, "shares bytes with", t.shares_with);
    field(dl, "written by", t.producer === null ? "-" : stepName(t.producer));
    field(dl, "read by", t.consumers.map(stepName));
    return found;
  }
  function activate(target) {
    var e = target && target.closest ? target.closest("[data-node],[data-tensor]") : null;
    if (!e) { return; }
    if (e.hasAttribute("data-node")) { showNode(Number(e.getAttribute("data-node"))); }
    else { showTensor(Number(e.getAttribute("data-tensor"))); }
  }
  document.addEventListener("click", function (ev) { activate(ev.target); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" || ev.key === " ") { activate(document.activeElement); }
  });
  var find = document.getElementById("find");
  find.addEventListener("change", function () {
    var q = find.value.toLowerCase();
    if (!q) { return; }
    var found = null;
    for (var i = 0; i < data.nodes.length && !found; i++) {
      if (data.nodes[i].name.toLowerCase().indexOf(q) >= 0) { found = showNode(i); }
    }
    for (var k = 0; k < data.tensors.length && !found; k++) {
      if (data.tensors[k].name.toLowerCase().indexOf(q) >= 0) { found = showTensor(k); }
    }
    if (found && found.length) {
      found[0].scrollIntoView({block: "center", inline: "center", behavior: "smooth"});
    } else {
      var text = "nothing matches " + JSON.stringify(find.value);
      details.replaceChildren(make("p", text, "placeholder"));
    }
  });
  var link = /^#(node|tensor)=([0-9]+)$/.exec(window.location.hash);
  if (link) {
    var shown = (link[1] === "node" ? showNode : showTensor)(Number(link[2]));
    if (shown && shown.length) { shown[0].scrollIntoView({block: "center", inline: "center"}); }
  }
  document.body.setAttribute("data-rendered", "yes");
})();
"""
