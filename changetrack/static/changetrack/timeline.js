/* The visual timeline: an SVG drawn from our own JSON (services/<id>/timeline.json, alerts/<id>/timeline.json).
   One lane per service; changes are markers shaped and coloured by kind; alerts and health episodes are bands.
   Presets, zoom (buttons, + / −, double-click, Ctrl+wheel) and pan (drag, arrow keys) change the window; the data
   for the new window is fetched, and the first page of the list under the chart is fetched for the same window
   (rendered by the server, which also serves its "Show more" pages).
   On an alert's page the suspects carry their rank on their markers (hovering a marker lights its card and the other
   way round); markers too close to tell apart are drawn as one count badge that opens into a list. */
(function () {
  "use strict";
  var MIN = 60000, HOUR = 3600000, DAY = 86400000;
  var PRESETS = { "1h": HOUR, "6h": 6 * HOUR, "24h": DAY, "7d": 7 * DAY };
  var STEPS = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];
  var SHAPE = { deploy: "circle", rollback: "diamond", config: "square", secret: "square", feature_flag: "triangle",
    scale: "diamond", autoscale: "small", ci: "square-small", commit: "small", infra: "square", db_migration: "triangle-down", custom: "circle" };
  var LANE_H = 32, AXIS_H = 26, CLUSTER_PX = 9;
  var esc = function (s) { return window.ct ? window.ct.esc(s) : String(s); };
  var hm, md, full, zoneName;
  /* the chart's formatters, in the zone the person chose (app.js): rebuilt when they switch */
  function formats() {
    var make = window.ct ? window.ct.formatter : function (o) { return new Intl.DateTimeFormat(undefined, o); };
    hm = make({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    md = make({ month: "short", day: "numeric" });
    full = make({ year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
    var part = full.formatToParts(new Date()).filter(function (p) { return p.type === "timeZoneName"; })[0];
    zoneName = part ? part.value : "";
  }
  function utc() { return !!(window.ct && window.ct.zone() === "UTC"); }
  /* a window of span that ends shortly after the focus (the alert): as web/timeline.py around() */
  function around(focus, span) {
    var until = Math.min(focus + Math.max(span / 8, 5 * MIN), Math.max(Date.now(), focus + 5 * MIN));
    return [until - span, until];
  }

  // one decimal place is plenty for a marker; numbers in, so "x + 7.5" adds rather than concatenates
  function r1(v) { return Math.round(v * 10) / 10; }

  function shape(kind, x, y) {
    var s = SHAPE[kind] || "circle";
    x = Number(x); y = Number(y);
    if (s === "circle") { return '<circle cx="' + r1(x) + '" cy="' + r1(y) + '" r="6.5"'; }
    if (s === "small") { return '<circle cx="' + r1(x) + '" cy="' + r1(y) + '" r="4.5"'; }
    if (s === "square") { return '<rect x="' + r1(x - 6) + '" y="' + r1(y - 6) + '" width="12" height="12" rx="1.5"'; }
    if (s === "square-small") { return '<rect x="' + r1(x - 4.5) + '" y="' + r1(y - 4.5) + '" width="9" height="9" rx="1"'; }
    var pts = s === "diamond" ? [[0, -7.5], [7.5, 0], [0, 7.5], [-7.5, 0]]
      : s === "triangle" ? [[0, -7.5], [7.5, 6], [-7.5, 6]]
      : [[0, 7.5], [7.5, -6], [-7.5, -6]];  // triangle-down
    return '<path d="M' + pts.map(function (p) { return r1(x + p[0]) + " " + r1(y + p[1]); }).join(" L") + ' Z"';
  }

  function Timeline(box) {
    this.box = box;
    this.canvas = box.querySelector("[data-canvas]");
    this.tip = box.querySelector("[data-tip]");
    this.list = box.querySelector("[data-list]");
    this.rangeEl = box.querySelector("[data-range]");
    this.form = box.querySelector("[data-tl-form]");
    this.src = box.dataset.src;
    this.eventsSrc = box.dataset.events;
    this.clipId = "tl-clip-" + Math.random().toString(36).slice(2);
    this.menu = document.createElement("div");
    this.menu.className = "tl-cluster-menu";
    this.menu.hidden = true;
    this.menu.setAttribute("role", "dialog");
    this.menu.setAttribute("aria-label", "Changes at this point");
    box.appendChild(this.menu);
    formats();
    this.apply(JSON.parse(document.getElementById(box.dataset.dataId).textContent));
    this.listData = this.data;  // the server rendered the list for this data
    this.bind();
    this.render();
  }

  Timeline.prototype.apply = function (data) {
    this.data = data;
    this.since = Date.parse(data.since);
    this.until = Date.parse(data.until);
    this.live = !!data.live;
    this.focus = data.focus ? Date.parse(data.focus) : null;
    this.lanes = {};
    var self = this;
    data.lanes.forEach(function (l, i) { self.lanes[l.id] = i; });
    box_sources(this, data.sources_seen || []);
  };

  function box_sources(tl, seen) {
    var menu = tl.box.querySelector("[data-sources]");
    if (!menu) { return; }
    var checked = {};
    menu.querySelectorAll("input:checked").forEach(function (i) { checked[i.value] = true; });
    (tl.data.sources || []).forEach(function (s) { checked[s] = true; });
    menu.innerHTML = seen.length ? seen.map(function (s) {
      return '<label><input type="checkbox" name="source" value="' + esc(s) + '"' + (checked[s] ? " checked" : "") + "> " + esc(s) + "</label>";
    }).join("") : '<span class="muted">none in view</span>';
  }

  Timeline.prototype.params = function () {
    var p = new URLSearchParams();
    p.set("depth", this.form.querySelector("[data-depth]").value);
    if (this.live) { p.set("span", String(Math.round((this.until - this.since) / 1000))); }
    else { p.set("since", new Date(this.since).toISOString()); p.set("until", new Date(this.until).toISOString()); }
    this.form.querySelectorAll("input[name=kind]:checked").forEach(function (i) { p.append("kind", i.value); });
    this.form.querySelectorAll("input[name=source]:checked").forEach(function (i) { p.append("source", i.value); });
    return p;
  };

  Timeline.prototype.fetch = function () {
    var self = this, params = this.params();
    if (this.pending) { this.pending.abort(); }
    this.pending = new AbortController();
    history.replaceState(null, "", location.pathname + "?" + params.toString() + location.hash);
    this.box.setAttribute("aria-busy", "true");
    return fetch(this.src + "?" + params.toString(), { signal: this.pending.signal, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) { self.apply(data); self.render(); })
      .catch(function (e) { if (e.name !== "AbortError" && self.rangeEl) { self.rangeEl.textContent = "Could not load the timeline (" + e.message + "); retrying on the next update."; } })
      .then(function () { self.box.removeAttribute("aria-busy"); });
  };

  Timeline.prototype.setWindow = function (since, until, live) {
    this.closeMenu();
    var span = Math.max(5 * MIN, Math.min(31 * DAY, until - since)), mid = (since + until) / 2;
    this.since = mid - span / 2;
    this.until = mid + span / 2;
    this.live = !!live;
    if (this.live) { this.until = Date.now(); this.since = this.until - span; }
    this.render();
    clearTimeout(this.debounce);
    var self = this;
    this.debounce = setTimeout(function () { self.fetch(); }, 180);
  };

  Timeline.prototype.zoom = function (factor, at) {
    var span = this.until - this.since, anchor = at == null ? (this.live ? this.until : (this.since + this.until) / 2) : at;
    var ratio = (anchor - this.since) / span, next = span * factor;
    var since = anchor - ratio * next;
    this.setWindow(since, since + next, this.live && at == null);
  };

  Timeline.prototype.pan = function (fraction) {
    var shift = (this.until - this.since) * fraction;
    this.setWindow(this.since + shift, this.until + shift, false);
  };

  Timeline.prototype.preset = function (key) {
    var span = PRESETS[key];
    if (this.live || (!this.focus && this.until >= Date.now() - MIN)) { return this.setWindow(Date.now() - span, Date.now(), true); }
    if (this.focus) { var w = around(this.focus, span); return this.setWindow(w[0], w[1], w[1] >= Date.now() - MIN); }
    var centre = (this.since + this.until) / 2;
    this.setWindow(centre - span / 2, centre + span / 2, false);
  };

  Timeline.prototype.bind = function () {
    var self = this, form = this.form, canvas = this.canvas;
    form.addEventListener("click", function (e) {
      var b = e.target.closest("button");
      if (!b) { return; }
      if (b.dataset.preset) { e.preventDefault(); self.preset(b.dataset.preset); }
      var act = b.dataset.act;
      if (act === "zoom-in") { self.zoom(0.5); } else if (act === "zoom-out") { self.zoom(2); }
      else if (act === "pan-left") { self.pan(-0.25); } else if (act === "pan-right") { self.pan(0.25); }
      else if (act === "now") { var span = self.until - self.since; self.setWindow(Date.now() - span, Date.now(), true); }
    });
    form.addEventListener("change", function () { self.fetch(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); self.fetch(); });
    canvas.addEventListener("keydown", function (e) {
      if (e.target !== canvas) { return; }
      if (e.key === "+" || e.key === "=") { self.zoom(0.5); } else if (e.key === "-" || e.key === "_") { self.zoom(2); }
      else if (e.key === "ArrowLeft") { self.pan(-0.1); } else if (e.key === "ArrowRight") { self.pan(0.1); } else { return; }
      e.preventDefault();
    });
    canvas.addEventListener("wheel", function (e) {
      if (!(e.ctrlKey || e.metaKey)) { return; }  // plain wheel keeps scrolling the page
      e.preventDefault();
      self.zoom(e.deltaY < 0 ? 0.8 : 1.25, self.timeAt(e.clientX));
    }, { passive: false });
    canvas.addEventListener("dblclick", function (e) { if (!e.target.closest("a, [data-cluster]")) { self.zoom(0.5, self.timeAt(e.clientX)); } });
    canvas.addEventListener("click", function (e) {
      var c = e.target.closest("[data-cluster]");
      if (c && !self.suppressClick) { e.preventDefault(); self.openMenu(c); }
    });
    canvas.addEventListener("keydown", function (e) {
      var c = e.target.closest && e.target.closest("[data-cluster]");
      if (c && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); self.openMenu(c); }
    });
    this.menu.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-zoom-cluster]");
      if (b) { var r = b.dataset.zoomCluster.split(","); self.setWindow(+r[0], +r[1], false); }
    });
    document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !self.menu.hidden) { self.closeMenu(true); } });
    document.addEventListener("click", function (e) { if (!self.menu.hidden && !self.menu.contains(e.target) && !e.target.closest("[data-cluster]")) { self.closeMenu(); } });
    // a suspect's card and its marker light up together
    var light = function (id, on) {
      self.canvas.querySelectorAll('a.marker[data-change-id="' + id + '"]').forEach(function (m) { m.classList.toggle("hl", on); });
      document.querySelectorAll('.suspect[data-change="' + id + '"]').forEach(function (c) { c.classList.toggle("hl", on); });
    };
    var hovered = null, follow = function (e) {
      var el = e.target.closest && (e.target.closest(".suspect[data-change]") || e.target.closest("a.marker.ranked"));
      var id = el ? (el.dataset.change || el.dataset.changeId) : null;
      if (id === hovered) { return; }
      if (hovered) { light(hovered, false); }
      hovered = id;
      if (id) { light(id, true); }
    };
    document.addEventListener("mouseover", follow);
    document.addEventListener("focusin", follow);  // the keyboard lights them too
    document.body.addEventListener("ct-times", function () { formats(); self.render(); });
    var drag = null;
    canvas.addEventListener("pointerdown", function (e) { if (e.button === 0) { drag = { x: e.clientX, since: self.since, until: self.until, moved: false }; } });
    window.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      var dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) { drag.moved = true; canvas.classList.add("dragging"); }
      if (!drag.moved) { return; }
      var shift = -dx / self.plotW * (drag.until - drag.since);
      self.since = drag.since + shift; self.until = drag.until + shift; self.live = false;
      self.render();
    });
    window.addEventListener("pointerup", function () {
      if (drag && drag.moved) { canvas.classList.remove("dragging"); self.setWindow(self.since, self.until, false); self.suppressClick = true; }
      drag = null;
    });
    canvas.addEventListener("click", function (e) { if (self.suppressClick) { e.preventDefault(); self.suppressClick = false; } }, true);
    canvas.addEventListener("mouseover", function (e) { self.showTip(e.target.closest("[data-tip-i]"), e); });
    canvas.addEventListener("mousemove", function (e) { if (!self.tip.hidden) { self.placeTip(e.clientX, e.clientY); } });
    canvas.addEventListener("mouseout", function (e) { if (!e.relatedTarget || !canvas.contains(e.relatedTarget)) { self.tip.hidden = true; } });
    canvas.addEventListener("focusin", function (e) {
      var a = e.target.closest("[data-tip-i]");
      if (a) { var r = a.getBoundingClientRect(); self.showTip(a); self.placeTip(r.left + r.width / 2, r.bottom); }
    });
    canvas.addEventListener("focusout", function () { self.tip.hidden = true; });
    document.body.addEventListener("ct-live", function () { if (self.live) { var span = self.until - self.since; self.until = Date.now(); self.since = self.until - span; } self.fetch(); });
    window.addEventListener("resize", function () { self.render(); });
    setInterval(function () { if (self.live && !document.hidden) { self.fetch(); } }, 60000);
  };

  Timeline.prototype.timeAt = function (clientX) {
    var r = this.canvas.getBoundingClientRect();
    return this.since + (clientX - r.left - this.labelW) / this.plotW * (this.until - this.since);
  };

  Timeline.prototype.item = function (key) {
    var parts = key.split(":"), list = { c: this.data.changes, a: this.data.alerts, h: this.data.health }[parts[0]];
    return list ? [parts[0], list[+parts[1]]] : null;
  };

  Timeline.prototype.showTip = function (el, e) {
    if (!el) { this.tip.hidden = true; return; }
    var found = this.item(el.dataset.tipI);
    if (!found || !found[1]) { return; }
    var k = found[0], it = found[1], lane = this.data.lanes[this.lanes[it.lane]], html, rank = k === "c" && this.data.suspects ? this.data.suspects[it.id] : null;
    var when = function (iso) { return iso ? full.format(new Date(iso)) : "ongoing"; };
    if (k === "c") {
      html = (rank ? '<div class="tip-rank">Suspect #' + rank + "</div>" : "") + "<strong>" + esc(it.summary) + '</strong><div class="tip-meta">' + esc(it.kind) + " · " + esc(it.source) + " · " + esc(when(it.start)) +
        "</div><div>" + esc(lane ? lane.name : "") + (it.actor ? " · by " + esc(it.actor) : "") + (it.status ? " · " + esc(it.status) : "") + "</div>";
    } else if (k === "a") {
      html = "<strong>Alert: " + esc(it.title) + '</strong><div class="tip-meta">' + esc(it.severity) + " · " + esc(it.status) + "</div><div>" + esc(when(it.start)) + " → " + esc(when(it.end)) + "</div>";
    } else {
      html = "<strong>" + esc(it.reason) + '</strong><div class="tip-meta">' + esc(it.summary) + "</div><div>" + esc(when(it.start)) + " → " + esc(when(it.end)) + "</div>";
    }
    this.tip.innerHTML = html;
    this.tip.hidden = false;
    if (e) { this.placeTip(e.clientX, e.clientY); }
  };

  Timeline.prototype.placeTip = function (cx, cy) {
    var r = this.box.getBoundingClientRect(), w = this.tip.offsetWidth;
    var left = Math.min(Math.max(cx - r.left + 12, 4), r.width - w - 4);
    this.tip.style.left = left + "px";
    this.tip.style.top = (cy - r.top + 14) + "px";
  };

  Timeline.prototype.ticks = function () {
    var span = this.until - this.since, maxTicks = Math.max(2, Math.floor(this.plotW / 95)), step = STEPS[STEPS.length - 1];
    for (var i = 0; i < STEPS.length; i++) { if (span / STEPS[i] <= maxTicks) { step = STEPS[i]; break; } }
    var off = utc() ? 0 : -new Date(this.since).getTimezoneOffset() * MIN, out = [];
    for (var t = Math.ceil((this.since + off) / step) * step - off; t <= this.until; t += step) { out.push(t); }
    return { list: out, step: step };
  };

  Timeline.prototype.render = function () {
    var d = this.data, W = Math.max(this.canvas.clientWidth, 240), lanes = d.lanes;
    this.labelW = Math.min(180, Math.round(W * 0.22));
    this.plotW = W - this.labelW - 12;
    var self = this, H = AXIS_H + lanes.length * LANE_H + 4, span = this.until - this.since;
    var x = function (t) { return self.labelW + (t - self.since) / span * self.plotW; };
    var clampX = function (t) { return Math.max(self.labelW, Math.min(self.labelW + self.plotW, x(t))); };
    var laneY = function (id) { return AXIS_H + (self.lanes[id] || 0) * LANE_H; };
    var out = ['<svg xmlns="http://www.w3.org/2000/svg" width="' + W + '" height="' + H + '" aria-label="Timeline of ' + lanes.length + ' service(s)">'];
    out.push('<defs><clipPath id="' + this.clipId + '"><rect x="' + this.labelW + '" y="0" width="' + (W - this.labelW) + '" height="' + H + '"/></clipPath></defs>');
    lanes.forEach(function (l, i) { out.push('<rect class="lane-bg" x="0" y="' + (AXIS_H + i * LANE_H) + '" width="' + W + '" height="' + LANE_H + '" fill="' + (i % 2 ? "#fafbfc" : "#fff") + '"/>'); });
    var ticks = this.ticks();
    ticks.list.forEach(function (t) {
      var tx = x(t), dt = new Date(t), midnight = utc() ? dt.getUTCHours() === 0 && dt.getUTCMinutes() === 0 : dt.getHours() === 0 && dt.getMinutes() === 0;
      var label = ticks.step >= DAY ? md.format(dt) : (midnight ? md.format(dt) : hm.format(dt));
      out.push('<line class="tick" x1="' + tx + '" x2="' + tx + '" y1="' + (AXIS_H - 4) + '" y2="' + H + '"/>');
      out.push('<text class="tick-label" x="' + tx + '" y="' + (AXIS_H - 9) + '" text-anchor="middle"' + (midnight ? ' font-weight="600"' : "") + ">" + esc(label) + "</text>");
    });
    out.push('<text class="tick-zone" x="8" y="' + (AXIS_H - 9) + '">' + esc(zoneName) + "</text>");
    out.push('<g clip-path="url(#' + this.clipId + ')">');
    var now = Date.now(), lo = this.since, hi = this.until;
    d.alerts.forEach(function (a, i) {
      var s = Date.parse(a.start), e = a.end ? Date.parse(a.end) : now;
      if (e < lo || s > hi || !(a.lane in self.lanes)) { return; }
      var x1 = clampX(s), x2 = Math.max(clampX(e), x1 + 3);
      out.push('<a href="' + esc(a.url) + '" data-tip-i="a:' + i + '" aria-label="Alert ' + esc(a.title) + '"><rect class="band-alert" x="' + x1 + '" y="' + (laneY(a.lane) + 3) + '" width="' + (x2 - x1) + '" height="' + (LANE_H - 6) + '" rx="3"/></a>');
    });
    d.health.forEach(function (h, i) {
      var s = Date.parse(h.start), e = h.end ? Date.parse(h.end) : now;
      if (e < lo || s > hi || !(h.lane in self.lanes)) { return; }
      var x1 = clampX(s), x2 = Math.max(clampX(e), x1 + 3);
      out.push('<rect class="band-health" data-tip-i="h:' + i + '" tabindex="0" x="' + x1 + '" y="' + (laneY(h.lane) + LANE_H - 9) + '" width="' + (x2 - x1) + '" height="6" rx="2"/>');
    });
    if (now >= lo && now <= hi) { out.push('<line class="now-line" x1="' + x(now) + '" x2="' + x(now) + '" y1="' + AXIS_H + '" y2="' + H + '"/>'); }
    if (this.focus && this.focus >= lo && this.focus <= hi) { out.push('<line class="focus-line" x1="' + x(this.focus) + '" x2="' + x(this.focus) + '" y1="' + (AXIS_H - 4) + '" y2="' + H + '"/>'); }
    var shown = 0, ranks = d.suspects || {}, plain = {}, top = [];
    for (var i = d.changes.length - 1; i >= 0; i--) {  // oldest first so the newest is drawn on top
      var c = d.changes[i], t = Date.parse(c.start);
      if (t < lo || t > hi || !(c.lane in this.lanes)) { continue; }
      shown++;
      if (ranks[c.id]) { top.push(i); } else { (plain[c.lane] = plain[c.lane] || []).push(i); }
    }
    var marker = function (i) {
      var c = d.changes[i], rank = ranks[c.id], mx = x(Date.parse(c.start)), my = laneY(c.lane) + LANE_H / 2;
      var label = (rank ? "Suspect #" + rank + ", " : "") + c.kind + ": " + c.summary;
      return '<a href="' + esc(c.url) + '" class="marker' + (rank ? " ranked" : "") + '" data-tip-i="c:' + i + '" data-kind="' + esc(c.kind) + '" data-change-id="' + esc(c.id) + '"' +
        (rank ? ' data-rank="' + rank + '"' : "") + ' aria-label="' + esc(label) + '">' + shape(c.kind, mx, my) + ' class="m k-' + esc(c.kind) + '"/>' +
        (rank ? '<g class="rank-badge"><circle cx="' + r1(mx + 8) + '" cy="' + r1(my - 8) + '" r="7"/><text x="' + r1(mx + 8) + '" y="' + r1(my - 4.5) + '" text-anchor="middle">' + rank + "</text></g>" : "") + "</a>";
    };
    this.clusters = [];
    Object.keys(plain).forEach(function (lane) {
      // markers closer than CLUSTER_PX on one lane become one count badge
      var idx = plain[lane].sort(function (a, b) { return Date.parse(d.changes[a].start) - Date.parse(d.changes[b].start); }), group = [];
      var flush = function () {
        if (group.length === 1) { out.push(marker(group[0])); }
        else if (group.length > 1) {
          var times = group.map(function (g) { return Date.parse(d.changes[g].start); });
          var cx = (x(times[0]) + x(times[times.length - 1])) / 2, cy = laneY(+lane) + LANE_H / 2, n = self.clusters.length;
          self.clusters.push(group.slice());
          var kinds = {}; group.forEach(function (g) { kinds[d.changes[g].kind] = true; });
          out.push('<g class="cluster" data-cluster="' + n + '" data-count="' + group.length + '" data-kinds="' + esc(Object.keys(kinds).join(" ")) + '" tabindex="0" role="button" aria-haspopup="dialog" aria-label="' + group.length + ' changes here: open the list">' +
            '<circle cx="' + r1(cx) + '" cy="' + r1(cy) + '" r="10"/><text x="' + r1(cx) + '" y="' + r1(cy + 4) + '" text-anchor="middle">' + group.length + "</text></g>");
        }
        group = [];
      };
      idx.forEach(function (i) {
        if (group.length && x(Date.parse(d.changes[i].start)) - x(Date.parse(d.changes[group[0]].start)) > CLUSTER_PX) { flush(); }
        group.push(i);
      });
      flush();
    });
    top.sort(function (a, b) { return ranks[d.changes[b].id] - ranks[d.changes[a].id]; }).forEach(function (i) { out.push(marker(i)); });  // #1 on top
    out.push("</g>");
    lanes.forEach(function (l, i) {
      // on a narrow chart the hop count stays in the label's title (hover, screen readers) and the name gets the room
      var showHops = l.hops && self.labelW >= 120;
      var room = showHops ? Math.floor((self.labelW - 58) / 7) : Math.floor((self.labelW - 12) / 7), y = AXIS_H + i * LANE_H + LANE_H / 2 + 4;
      var name = l.name.length > room ? l.name.slice(0, Math.max(3, room - 1)) + "…" : l.name;
      out.push('<a href="' + esc(l.url) + '"><text class="lane-label" x="8" y="' + y + '"' + (i === 0 ? ' font-weight="700"' : "") + ">" + esc(name) + "<title>" + esc(l.qualified + (l.hops ? " · " + hops(l.hops) + " away: " + l.path.join(" → ") : "")) + "</title></text></a>");
      if (showHops) { out.push('<text class="lane-hops" x="' + (self.labelW - 6) + '" y="' + y + '" text-anchor="end">' + hops(l.hops) + "</text>"); }
    });
    out.push('<line x1="' + this.labelW + '" x2="' + this.labelW + '" y1="0" y2="' + H + '" stroke="#d5dae3"/>');
    out.push("</svg>");
    this.closeMenu();
    this.canvas.innerHTML = out.join("");
    this.canvas.dataset.shown = String(shown);
    this.canvas.dataset.since = new Date(this.since).toISOString();
    this.canvas.dataset.until = new Date(this.until).toISOString();
    this.renderMeta();
  };

  function hops(n) { return n + (n === 1 ? " hop" : " hops"); }

  Timeline.prototype.openMenu = function (el) {
    var group = this.clusters[+el.dataset.cluster], d = this.data;
    if (!group) { return; }
    var times = group.map(function (g) { return Date.parse(d.changes[g].start); });
    var pad = Math.max(5 * MIN, (times[times.length - 1] - times[0]) * 0.5);
    this.menu.innerHTML = '<p class="muted">' + group.length + " changes</p><ul>" + group.map(function (g) {
      var c = d.changes[g];
      return '<li><span class="kdot k-' + esc(c.kind) + '"></span><a href="' + esc(c.url) + '">' + esc(c.summary) + '</a> <small class="muted">' + esc(full.format(new Date(c.start))) + "</small></li>";
    }).join("") + '</ul><button type="button" data-zoom-cluster="' + (times[0] - pad) + "," + (times[times.length - 1] + pad) + '">Zoom in here</button>';
    var r = el.getBoundingClientRect(), b = this.box.getBoundingClientRect();
    this.menu.hidden = false;
    this.menu.style.left = Math.max(4, Math.min(r.left - b.left, b.width - this.menu.offsetWidth - 4)) + "px";
    this.menu.style.top = (r.bottom - b.top + 6) + "px";
    this.menuFrom = el.dataset.cluster;
    var first = this.menu.querySelector("a");
    if (first) { first.focus(); }
  };

  Timeline.prototype.closeMenu = function (refocus) {
    if (!this.menu || this.menu.hidden) { return; }
    this.menu.hidden = true;
    var back = refocus && this.canvas.querySelector('[data-cluster="' + this.menuFrom + '"]');
    if (back) { back.focus(); }
  };

  Timeline.prototype.renderMeta = function () {
    var span = this.until - this.since, self = this;
    this.form.querySelectorAll("[data-preset]").forEach(function (b) {
      var on = Math.abs(PRESETS[b.dataset.preset] - span) < MIN;
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    if (this.rangeEl) {
      this.rangeEl.innerHTML = '<time datetime="' + new Date(this.since).toISOString() + '"></time> → <time datetime="' + new Date(this.until).toISOString() + '"></time>' +
        (this.live ? " · live" : "") + (this.data.truncated ? " · showing the newest " + this.data.changes.length + " changes; zoom in for all" : "");
    }
    if (this.list && this.listData !== this.data) { this.listData = this.data; this.loadList(); }
    if (window.ct) { window.ct.localise(this.box); }
    void self;
  };

  Timeline.prototype.loadList = function () {
    var p = this.params();  // exactly the window of the chart's data, even when live: its pages must not shift
    p.delete("span"); p.set("since", this.data.since); p.set("until", this.data.until);
    if (window.htmx && this.eventsSrc) { window.htmx.ajax("GET", this.eventsSrc + "?" + p.toString(), { target: this.list, swap: "innerHTML" }); }
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-timeline]").forEach(function (box) { box.timeline = new Timeline(box); });
  });
})();
