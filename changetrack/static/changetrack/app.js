/* changetrack pages: times in one format, in the zone the person chose (UTC or the browser's, remembered on the
   server, named in the text, UTC to the second on hover), the live poll, and Escape closing open menus. */
(function () {
  "use strict";
  var fmt;
  /* "UTC" or undefined (the browser's zone), from <body data-times> */
  function zone() { return document.body && document.body.dataset.times === "utc" ? "UTC" : undefined; }
  /* one formatter per option set and zone: every page and the chart write dates the same way */
  function formatter(opts) {
    var o = {}, k;
    for (k in opts) { o[k] = opts[k]; }
    o.timeZone = zone();
    return new Intl.DateTimeFormat(undefined, o);
  }
  var FULL = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  function resetFormats() { fmt = formatter(FULL); }
  var rel = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

  function utcText(d) { return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"); }

  function ago(d) {
    var s = (d.getTime() - Date.now()) / 1000, a = Math.abs(s);
    if (!rel) { return fmt.format(d); }
    if (a < 60) { return rel.format(Math.round(s), "second"); }
    if (a < 3600) { return rel.format(Math.round(s / 60), "minute"); }
    if (a < 86400) { return rel.format(Math.round(s / 3600), "hour"); }
    return rel.format(Math.round(s / 86400), "day");
  }

  /* Rewrite every <time datetime> under root: text in the chosen zone, UTC (and that text, for relative ones) on hover. */
  function localise(root) {
    if (!fmt) { resetFormats(); }
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) { return; }
      var local = fmt.format(d);
      el.textContent = el.dataset.style === "ago" ? ago(d) : local;
      el.title = (el.dataset.style === "ago" ? local + " · " : "") + utcText(d);
    });
  }

  function toast(html) {
    var box = document.getElementById("live-toasts");
    if (!box) { return; }
    var t = document.createElement("div");
    t.className = "toast";
    t.innerHTML = html;
    box.appendChild(t);
    while (box.children.length > 4) { box.removeChild(box.firstChild); }
    setTimeout(function () { t.remove(); }, 9000);
  }

  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }); }

  /* Poll /live.json; new changes/alerts raise a toast and a "ct-live" event that pages listen to
     (htmx: hx-trigger="ct-live from:body"; the timeline refetches). */
  function startLive() {
    var url = document.body.dataset.liveUrl;
    if (!url) { return; }
    var marks = null, dot = document.getElementById("live-status"), every = 4000;
    function tick() {
      if (document.hidden) { return setTimeout(tick, every); }
      var q = marks ? "?change=" + marks.change + "&alert=" + marks.alert : "";
      fetch(url + q, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (data) {
          if (dot) { dot.classList.add("on"); dot.title = "Live: checking every " + every / 1000 + " s"; }
          var fresh = marks !== null && (data.changes.length || data.alerts.length);
          marks = { change: data.change, alert: data.alert };
          if (!fresh) { return; }
          data.alerts.slice(-2).forEach(function (a) { toast('New alert: <a href="' + esc(a.url) + '">' + esc(a.title) + "</a> " + esc(a.service)); });
          data.changes.slice(-2).forEach(function (c) { toast("New " + esc(c.kind) + ': <a href="' + esc(c.url) + '">' + esc(c.summary) + "</a> " + esc(c.service)); });
          document.body.dispatchEvent(new CustomEvent("ct-live", { detail: data }));
          // a separate event rather than an hx-trigger filter: htmx evaluates filters as code, which the CSP forbids
          if (data.changes.length) { document.body.dispatchEvent(new CustomEvent("ct-live-changes", { detail: data })); }
        })
        .catch(function () { if (dot) { dot.classList.remove("on"); dot.title = "Live updates paused (server unreachable)"; } })
        .then(function () { setTimeout(tick, every); });
    }
    tick();
  }

  /* The "Times: local / UTC" toggle: stored for this person by the server, applied here without a reload. */
  function bindTimes() {
    var form = document.querySelector("[data-times-form]");
    if (!form) { return; }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var button = form.querySelector("[data-times-toggle]"), body = new FormData(form);
      body.set("times", button.value);
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (data) {
          document.body.dataset.times = data.times;
          button.value = data.times === "utc" ? "local" : "utc";
          form.querySelector("[data-times-now]").textContent = data.times === "utc" ? "UTC" : "local";
          resetFormats();
          localise(document);
          document.body.dispatchEvent(new CustomEvent("ct-times", { detail: data }));
        })
        .catch(function () { form.submit(); });
    });
  }

  /* Escape closes an open menu (<details>) and gives focus back to its summary. */
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") { return; }
    document.querySelectorAll("details[open].filter-menu, details[open][data-menu]").forEach(function (d) {
      d.open = false;
      if (d.contains(document.activeElement) || document.activeElement === document.body) { d.querySelector("summary").focus(); }
    });
  });

  window.ct = { localise: localise, esc: esc, zone: zone, formatter: formatter };
  document.addEventListener("DOMContentLoaded", function () { resetFormats(); localise(document); bindTimes(); startLive(); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
