// Live overview: polls the console's JSON every few seconds and redraws tables and charts.
// Plain DOM and canvas, no library; text goes in with textContent only (never as HTML).
"use strict";
(function () {
  const root = document.getElementById("live");
  if (!root) return;
  const src = root.dataset.src;
  const pollMs = Number(root.dataset.pollMs) || 2000;
  const palette = ["#1f77b4", "#e67e22", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"];
  const outcomeColour = { sent: "#1e8a4c", held: "#c27c0e", suppressed: "#c0392b" };
  const status = document.getElementById("status");

  const fmt = (x, digits) => (x === null || x === undefined ? "-" :
    Number(x).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 1 : digits }));
  const age = (s) => (s === null || s === undefined ? "-" : (s = Math.max(s, 0)) < 90 ? fmt(s, 1) + " s ago" :
    s < 5400 ? fmt(s / 60, 0) + " min ago" : s < 129600 ? fmt(s / 3600, 1) + " h ago" : fmt(s / 86400, 1) + " d ago");
  const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };

  function row(cells, header) {
    const tr = document.createElement("tr");
    cells.forEach((c, i) => {
      const td = document.createElement(header && i === 0 ? "th" : "td");
      td.textContent = c;
      if (i > 0) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }

  function fill(id, map, unit) {
    const body = document.querySelector("#" + id + " tbody");
    const rows = Object.entries(map || {});
    body.replaceChildren(...(rows.length ? rows.map(([k, v]) => row([k.replace(/_/g, " "), fmt(v, 0) + unit])) :
      [row(["none", ""])]));
  }

  // A line chart on a canvas sized for the device's pixel ratio; null values break a line.
  function lines(canvas, t, series, unit) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 44, r: 8, t: 20, b: 36 };
    const names = Object.keys(series);
    let top = 0;
    names.forEach((n) => series[n].forEach((v) => { if (v !== null && v > top) top = v; }));
    top = top > 0 ? top * 1.15 : 1;
    const x0 = t.length ? t[0] : 0, x1 = t.length ? t[t.length - 1] : 1, span = Math.max(x1 - x0, 1);
    const X = (ts) => pad.l + (w - pad.l - pad.r) * (ts - x0) / span;
    const Y = (v) => h - pad.b - (h - pad.t - pad.b) * v / top;
    g.font = "11px system-ui, sans-serif"; g.fillStyle = "#5f6b78"; g.strokeStyle = "#dde3e9"; g.lineWidth = 1;
    g.textAlign = "left";
    g.fillText(unit, pad.l, 11);
    [0, 0.5, 1].forEach((f) => {
      const y = Y(top * f); g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
      g.fillText(fmt(top * f, top * f < 10 ? 1 : 0), 2, y + 4);
    });
    const axisY = h - pad.b + 14;
    if (t.length > 1) g.fillText(span < 90 ? "-" + fmt(span, 0) + " s" : "-" + fmt(span / 60, 0) + " min", pad.l, axisY);
    g.textAlign = "right"; g.fillText("now", w - pad.r, axisY); g.textAlign = "left";
    let lx = pad.l;
    names.forEach((n, i) => {
      const colour = outcomeColour[n] || palette[i % palette.length];
      g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
      let drawing = false;
      series[n].forEach((v, j) => {
        if (v === null || v === undefined) { drawing = false; return; }
        if (drawing) g.lineTo(X(t[j]), Y(v)); else { g.moveTo(X(t[j]), Y(v)); drawing = true; }
      });
      g.stroke();
      g.fillStyle = colour; g.fillRect(lx, h - 11, 10, 4); g.fillStyle = "#1d2630";
      g.fillText(n, lx + 13, h - 6); lx += g.measureText(n).width + 28;
    });
    if (!t.length) { g.fillStyle = "#5f6b78"; g.fillText("collecting samples…", pad.l + 8, pad.t + 16); }
  }

  let last = null;
  function draw(d) {
    set("eps", fmt(d.events_per_s, 1));
    set("dead", fmt(d.dead_total, 0));
    set("commit", age(d.last_commit_age_s));
    const ix = d.index || {};
    set("index", ix.loaded ? "v" + ix.version + " · " + fmt(ix.size, 0) + " items (" + ix.structure + ")" : "loading");
    set("index-age", ix.loaded ? age(ix.age_s).replace(" ago", "") : "-");
    set("model", ix.model_version || "none yet");
    const tb = document.querySelector("#topics tbody");
    tb.replaceChildren(...d.topics.map((r) => row([r.topic, fmt(r.ingest_per_s), fmt(r.engage_per_s),
      fmt(r.ingest || r.engage, 0), fmt(r.dead, 0)], true)));
    fill("sent", d.offers.sent, "");
    fill("suppressed", d.offers.suppressed, "");
    fill("held", d.offers.held, "");
    set("offers-source", "Source: " + d.offers.source);
    lines(document.getElementById("events-chart"), d.event_series.t, d.event_series.topics, "events/s");
    const os = d.offer_series;
    lines(document.getElementById("offers-chart"), os.t,
      { sent: os.sent, held: os.held, suppressed: os.suppressed }, "offers " + os.unit);
  }

  async function poll() {
    try {
      const r = await fetch(src, { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { window.location = "/console/sign-in?next=/console/overview"; return; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      last = await r.json();
      draw(last);
      status.textContent = "live · updated " + new Date().toLocaleTimeString();
      status.className = "pulse live";
    } catch (e) {
      status.textContent = "not updating (" + e.message + ")";
      status.className = "pulse stale";
    }
    setTimeout(poll, pollMs);
  }
  window.addEventListener("resize", () => { if (last) draw(last); });
  poll();
})();
