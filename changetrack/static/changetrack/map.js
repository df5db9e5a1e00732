/* The service map: reads /map/graph.json and draws it with cytoscape.js (vendored, no eval: the page's CSP forbids
   it). Services are nodes inside their namespace inside their cluster; colour = health (open alert, open health
   episode, fine); ring = the kind of the latest change in the window, thicker when more recent, and the number of
   changes under the name; edges point from a service to what it depends on, styled by where they came from and
   as thick as they are confident. Centred on an alert, the paths from its service to its suspects are marked.
   Small graphs get a layered (dagre) layout; large ones a grid per namespace, which costs nothing to compute
   (dagre on 2,000 services takes seconds: see bench/web.py). Pointing shows details beside the map; a click
   opens the service's page. */
(function () {
  "use strict";
  var LAYERED_MAX = 300; // above this many services, the grid layout
  var KIND = { deploy: "#2457d6", rollback: "#7c3aed", config: "#d97706", secret: "#a16207", feature_flag: "#059669",
    scale: "#0891b2", autoscale: "#7dd3e8", ci: "#64748b", commit: "#94a3b8", infra: "#9333ea", db_migration: "#be123c",
    custom: "#0f766e" };
  var EDGE = { declared: "#475569", kubernetes: "#2457d6", traces: "#0891b2", learned: "#9333ea" };
  var PRIORITY = ["declared", "traces", "kubernetes", "learned"];

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }

  function latest(changes) {
    var best = null, total = 0;
    Object.keys(changes).forEach(function (kind) {
      var n = changes[kind][0], at = Date.parse(changes[kind][1]);
      total += n;
      if (!best || at > best.at) { best = { kind: kind, at: at }; }
    });
    return best ? { kind: best.kind, at: best.at, total: total } : null;
  }

  function ringWidth(last, now, windowMs) {
    if (!last) { return 0; }
    var age = now - last.at;
    return age < windowMs / 6 ? 6 : age < windowMs / 2 ? 4 : 2;
  }

  function elements(data) {
    var out = [], edges = [], parents = {}, now = Date.parse(data.now), windowMs = data.window_hours * 3600000;
    data.services.forEach(function (s) {
      var cid = "c:" + s.cluster, nid = "n:" + s.cluster + "/" + s.namespace;
      if (!parents[cid]) { parents[cid] = true; out.push({ group: "nodes", data: { id: cid, label: s.cluster || "(no cluster)" }, classes: "cluster" }); }
      if (!parents[nid]) { parents[nid] = true; out.push({ group: "nodes", data: { id: nid, parent: cid, label: s.namespace || "(no namespace)" }, classes: "namespace" }); }
      var last = latest(s.changes);
      var label = s.name + (last ? "\n" + last.total + (last.total === 1 ? " change" : " changes") : "");
      out.push({ group: "nodes", classes: "service" + (s.alerts ? " alerting" : s.unhealthy ? " unhealthy" : " healthy"),
        data: { id: "s:" + s.id, parent: nid, label: label, service: s, ring: last ? KIND[last.kind] || "#334155" : "#cbd5e1",
          ringWidth: ringWidth(last, now, windowMs) } });
    });
    data.edges.forEach(function (e) {
      var main = PRIORITY.filter(function (p) { return e.provenance.indexOf(p) >= 0; })[0] || e.provenance[0];
      var failing = e.calls ? e.errors / e.calls > 0.05 : false;
      edges.push({ group: "edges", classes: "p-" + main + (failing ? " failing" : ""),
        data: { id: "e:" + e.from + ":" + e.to, source: "s:" + e.from, target: "s:" + e.to, edge: e,
          colour: failing ? "#ea580c" : EDGE[main] || "#475569", width: 1 + 3 * e.confidence } });
    });
    return { nodes: out, edges: edges };
  }

  function style(haystack, large) {
    var clusterFont = large ? 90 : 14, nsFont = large ? 40 : 11;
    return [
      { selector: "node.service", style: { "label": "data(label)", "text-wrap": "wrap", "text-valign": "bottom",
        "text-margin-y": 3, "font-size": 10, "width": 22, "height": 22, "border-color": "data(ring)",
        "border-width": "data(ringWidth)", "min-zoomed-font-size": 7 } },
      { selector: "node.healthy", style: { "background-color": "#16a34a" } },
      { selector: "node.unhealthy", style: { "background-color": "#f59e0b" } },
      { selector: "node.alerting", style: { "background-color": "#dc2626" } },
      { selector: "node.cluster", style: { "label": "data(label)", "text-valign": "top", "font-size": clusterFont, "font-weight": 700,
        "background-color": "#f1f5f9", "border-color": "#94a3b8", "border-width": 1, "padding": 12, "min-zoomed-font-size": 4 } },
      { selector: "node.namespace", style: { "label": "data(label)", "text-valign": "top", "font-size": nsFont, "color": "#475569",
        "background-color": "#fff", "border-color": "#cbd5e1", "border-width": 1, "padding": 8, "min-zoomed-font-size": 5 } },
      { selector: "edge", style: { "width": "data(width)", "line-color": "data(colour)", "target-arrow-color": "data(colour)",
        "target-arrow-shape": haystack ? "none" : "triangle", "curve-style": haystack ? "haystack" : "bezier", "opacity": haystack ? 0.35 : 0.8 } },
      { selector: "edge.p-traces", style: { "line-style": "dashed" } },
      { selector: "edge.p-learned", style: { "line-style": "dotted" } },
      { selector: "node.suspect", style: { "label": "data(rankLabel)", "font-weight": 700, "color": "#be123c", "width": 30, "height": 30 } },
      { selector: "node.focus", style: { "border-color": "#e11d48", "border-width": 6, "width": 34, "height": 34 } },
      { selector: "edge.on-path", style: { "line-color": "#e11d48", "target-arrow-color": "#e11d48", "width": 5, "opacity": 1,
        "z-index": 10, "curve-style": "bezier", "target-arrow-shape": "triangle" } },
      { selector: ".faded", style: { "opacity": 0.25 } }
    ];
  }

  /* A grid per namespace, namespaces in rows inside their cluster, clusters side by side: linear in the number of
     services, and about as wide as the screen when all clusters are shown. */
  function gridPositions(cy) {
    var pos = {}, gap = 60, cx = 0;
    var clusters = cy.nodes(".cluster");
    clusters.forEach(function (cluster) {
      // namespaces per row so that the clusters side by side come out about 1.5 times wider than tall
      var perRow = Math.max(1, Math.round(Math.sqrt(cluster.children(".namespace").length * 1.5 / clusters.length)));
      var x0 = 0, y0 = 0, rowH = 0, widest = 0, inRow = 0;
      cluster.children(".namespace").forEach(function (ns) {
        var kids = ns.children(".service"), cols = Math.max(1, Math.ceil(Math.sqrt(kids.length)));
        var w = cols * gap, h = Math.ceil(kids.length / cols) * gap;
        if (inRow >= perRow) { x0 = 0; y0 += rowH + 120; rowH = 0; inRow = 0; }
        kids.forEach(function (n, i) { pos[n.id()] = { x: cx + x0 + (i % cols) * gap, y: y0 + Math.floor(i / cols) * gap }; });
        x0 += w + 100; rowH = Math.max(rowH, h); widest = Math.max(widest, x0); inRow += 1;
      });
      cx += widest + 200;
    });
    return pos;
  }

  function showDetails(target, item) {
    target.replaceChildren();
    if (item.service) {
      var s = item.service, a = el("a", s.name);
      a.href = s.url;
      var h = el("p"); h.appendChild(a); target.appendChild(h);
      target.appendChild(el("p", [s.cluster, s.namespace].filter(Boolean).join(" / ") + (s.team ? " · team " + s.team : ""), "muted"));
      target.appendChild(el("p", s.alerts + " open alert" + (s.alerts === 1 ? "" : "s") + " · " +
        (s.unhealthy ? s.unhealthy + " health episode" + (s.unhealthy === 1 ? "" : "s") + " open" : "healthy")));
      var kinds = Object.keys(s.changes);
      if (kinds.length) {
        var ul = el("ul", undefined, "plain");
        kinds.forEach(function (k) {
          ul.appendChild(el("li", s.changes[k][0] + " × " + k + ", latest " + new Date(s.changes[k][1]).toLocaleString()));
        });
        target.appendChild(ul);
      } else { target.appendChild(el("p", "No change in the window.", "muted")); }
      if (item.suspects) {
        item.suspects.forEach(function (x) { target.appendChild(el("p", "Suspect #" + x.rank + " (" + x.score + "): " + x.summary)); });
      }
    } else if (item.edge) {
      var e = item.edge;
      target.appendChild(el("p", item.from + " → " + item.to));
      target.appendChild(el("p", "From " + e.provenance.join(", ") + " · confidence " + e.confidence));
      if (e.calls !== undefined) {
        target.appendChild(el("p", e.calls + " calls, " + e.errors + " errors" + (e.connection ? " · " + e.connection : "")));
      }
      if (e.evidence) { target.appendChild(el("p", e.evidence, "muted")); }
    }
  }

  function markAlert(cy, alert, edgeDefs) {
    if (!alert) { return cy.collection(); }
    var marked = cy.collection(), focus = cy.getElementById("s:" + alert.service);
    focus.addClass("focus");
    marked = marked.union(focus);
    alert.suspects.forEach(function (s) {
      var node = cy.getElementById("s:" + s.service);
      if (node.nonempty()) {
        var prior = node.data("rankLabel");
        node.data("rankLabel", (prior ? prior + " " : node.data("service").name + "\n") + "#" + s.rank);
        node.data("suspects", (node.data("suspects") || []).concat([s]));
        node.addClass("suspect");
        marked = marked.union(node);
      }
      for (var i = 1; i < s.path.length; i++) {
        var a = s.path[i - 1], b = s.path[i];
        [edgeDefs["e:" + a + ":" + b], edgeDefs["e:" + b + ":" + a]].forEach(function (def) {
          if (def && cy.getElementById(def.data.id).empty()) { cy.add(def); }
        });
        var edge = cy.getElementById("e:" + a + ":" + b).union(cy.getElementById("e:" + b + ":" + a));
        edge.addClass("on-path");
        marked = marked.union(edge).union(cy.getElementById("s:" + a)).union(cy.getElementById("s:" + b));
      }
    });
    return marked;
  }

  function draw(box, data) {
    var params = new URLSearchParams(window.location.search);
    // ?layout=dagre and ?edges=all force the layered layout and every edge whatever the size (the benchmark's
    // comparisons); otherwise a large map is a grid and shows a service's edges when it is pointed at
    var large = data.services.length > LAYERED_MAX && params.get("layout") !== "dagre";
    var sparse = large && params.get("edges") !== "all";
    var els = elements(data), edgeDefs = {}, byNode = {};
    els.edges.forEach(function (def) {
      edgeDefs[def.data.id] = def;
      (byNode[def.data.source] = byNode[def.data.source] || []).push(def);
      (byNode[def.data.target] = byNode[def.data.target] || []).push(def);
    });
    var cy = window.cytoscape({ container: box, elements: sparse ? els.nodes : els.nodes.concat(els.edges),
      style: style(large && !sparse, large), wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3, hideEdgesOnViewport: large,
      textureOnViewport: large, pixelRatio: large ? 1 : "auto", layout: { name: "preset" } });
    window.performance.mark("ct-map-elements");
    var layout;
    if (large) {
      var pos = gridPositions(cy);
      layout = cy.layout({ name: "preset", positions: function (n) { return pos[n.id()]; }, fit: true, padding: 20 });
    } else {
      layout = cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 25, rankSep: 70, fit: true, padding: 20 });
    }
    layout.run();
    window.performance.mark("ct-map-layout");
    var marked = markAlert(cy, data.alert, edgeDefs);
    if (marked.nonempty()) {
      cy.elements(".service, edge").not(marked).addClass("faded");
      cy.fit(marked, 60);
      if (cy.zoom() > 1.2) { cy.zoom(1.2); cy.center(marked); } // two nodes would fill the screen
    }
    var details = document.getElementById("map-details");
    if (sparse) {
      cy.on("mouseover", "node.service", function (evt) {
        cy.batch(function () {
          cy.edges(".transient").remove();
          (byNode[evt.target.id()] || []).forEach(function (def) {
            if (cy.getElementById(def.data.id).empty()) { cy.add(def).addClass("transient"); }
          });
        });
      });
    }
    cy.on("mouseover", "node.service", function (evt) {
      showDetails(details, { service: evt.target.data("service"), suspects: evt.target.data("suspects") });
    });
    cy.on("mouseover", "edge", function (evt) {
      var d = evt.target.data();
      showDetails(details, { edge: d.edge, from: evt.target.source().data("service").name, to: evt.target.target().data("service").name });
    });
    cy.on("tap", "node.service", function (evt) { window.location.assign(evt.target.data("service").url); });
    cy.one("render", function () {
      box.dataset.rendered = String(cy.nodes(".service").length);
      box.dataset.edges = String(cy.edges().length);
      box.dataset.edgesShown = sparse ? "on-point" : "all";
      box.dataset.pathEdges = String(cy.edges(".on-path").length);
      box.dataset.layout = large ? "grid" : "dagre";
      box.dataset.renderMs = String(Math.round(window.performance.now()));
    });
    window.ctMap = cy; // for the browser tests and the benchmark
  }

  /* The suspects as links beside the map (what a keyboard or a screen reader reaches; the canvas is for the eye). */
  function listSuspects(alert, services) {
    var byId = {}, list = el("ol", undefined, "map-suspects");
    services.forEach(function (s) { byId[s.id] = s; });
    alert.suspects.forEach(function (x) {
      var item = el("li"), svc = byId[x.service];
      if (svc) { var a = el("a", svc.name); a.href = svc.url; item.appendChild(a); item.appendChild(document.createTextNode(": ")); }
      item.appendChild(document.createTextNode(x.summary + " (" + x.score + ")"));
      list.appendChild(item);
    });
    var side = document.getElementById("map-details");
    side.replaceChildren(el("p", "Suspects of this alert, by rank:"), list);
  }

  function start() {
    var box = document.getElementById("service-map");
    if (!box || !window.cytoscape) { return; }
    var status = document.getElementById("map-status");
    fetch(box.dataset.graphUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { return r.json().then(function (p) { throw new Error(p.detail || r.statusText); }); }
        return r.json();
      })
      .then(function (data) {
        window.performance.mark("ct-map-data");
        if (!data.services.length) { status.textContent = "No service matches these filters."; return; }
        status.remove();
        draw(box, data);
        if (data.alert) { listSuspects(data.alert, data.services); }
        if (box.dataset.edgesShown === "on-point" || data.services.length > LAYERED_MAX) {
          var hint = document.getElementById("map-details");
          hint.replaceChildren(el("p", data.services.length + " services: laid out as a grid by namespace; a service's " +
            "edges show when you point at it. Filter by cluster, namespace or team for the layered view.", "muted"));
        }
      })
      .catch(function (err) { status.textContent = "The map could not be loaded: " + err.message; });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
