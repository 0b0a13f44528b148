// boxnet ui: networks, containers and their addresses as an SVG graph, redrawn
// from the Engine API (GET /networks, /containers/json) whenever GET /events
// reports a container or network change; diagnose from a click on two nodes.
// Plain JS, no library: the page is served by the daemon (or `boxnet ui`'s
// loopback proxy) and must work with no internet.
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const state = { nets: [], ctrs: [], sel: [], flows: new Map() };
// The page's own clock of the live update (read by the browser test): each
// event's daemon time (timeNano) and arrival, and when each container (by Id)
// was first drawn, both in ms since the epoch on the one host clock.
const times = window.boxnetTimes = { events: [], shown: {} };

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

async function getJSON(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function refresh() {
  const [nets, ctrs] = await Promise.all([getJSON("/networks"), getJSON("/containers/json")]);
  state.nets = nets.filter(n => n.Name !== "none" && n.Name !== "host")
                   .sort((a, b) => a.Name.localeCompare(b.Name));
  state.ctrs = ctrs.sort((a, b) => a.Names[0].localeCompare(b.Names[0]));
  draw();
  document.getElementById("status").textContent =
    `${state.nets.length} networks, ${state.ctrs.length} running containers`;
}

function layout(w, h) {
  const pos = {}, cx = w / 2, cy = h / 2, r = Math.min(w, h) * 0.32;
  state.nets.forEach((n, i) => {
    const a = 2 * Math.PI * i / Math.max(1, state.nets.length) - Math.PI / 2;
    pos[n.Id] = { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) };
  });
  const ring = {};
  state.ctrs.forEach(c => {
    const ids = Object.values(c.NetworkSettings.Networks || {}).map(e => e.NetworkID)
                      .filter(id => pos[id]);
    let x = cx, y = cy;
    if (ids.length) {
      x = ids.reduce((s, id) => s + pos[id].x, 0) / ids.length;
      y = ids.reduce((s, id) => s + pos[id].y, 0) / ids.length;
    }
    const key = ids.sort().join(",");
    const k = ring[key] = (ring[key] || 0) + 1;
    const a = k * 2.4, d = ids.length === 1 ? 95 : 30 + 28 * k;
    pos[c.Id] = { x: x + d * Math.cos(a) * (ids.length === 1 ? 1 : 0.6),
                  y: y + d * Math.sin(a) * (ids.length === 1 ? 1 : 0.6) };
  });
  return pos;
}

function ipsOf(c) {
  return Object.values(c.NetworkSettings.Networks || {}).map(e => e.IPAddress).filter(Boolean);
}

function draw() {
  const svg = document.getElementById("graph");
  const w = svg.clientWidth || 1000, h = svg.clientHeight || 540;
  const pos = layout(w, h);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const edges = el("g", {}, svg), flows = el("g", {}, svg), nodes = el("g", {}, svg);
  for (const c of state.ctrs) {
    for (const [name, e] of Object.entries(c.NetworkSettings.Networks || {})) {
      const p = pos[e.NetworkID], q = pos[c.Id];
      if (!p) continue;
      el("line", { class: "edge", x1: p.x, y1: p.y, x2: q.x, y2: q.y }, edges);
      if (e.IPAddress)
        el("text", { class: "ip", x: p.x + 0.7 * (q.x - p.x) + 6, y: p.y + 0.7 * (q.y - p.y) - 4 },
           edges, e.IPAddress);
    }
  }
  const byIp = {};
  for (const c of state.ctrs) for (const ip of ipsOf(c)) byIp[ip] = c.Id;
  const nameOf = {};
  for (const c of state.ctrs) nameOf[c.Id] = c.Names[0].replace(/^\//, "");
  for (const f of state.flows.values()) {
    const s = byIp[f.src.ip], d = byIp[f.dst.ip], a = pos[s], b = pos[d];
    if (!a || !b) continue;
    const ok = f.verdict === "accepted";
    const line = el("line", { class: "flow" + (ok ? "" : " dropped"), x1: a.x, y1: a.y,
                              x2: b.x, y2: b.y, "data-flow": `${nameOf[s]}->${nameOf[d]}`,
                              "data-verdict": f.verdict }, flows);
    el("title", {}, line, `${f.proto} ${f.src.ip} -> ${f.dst.ip}:${f.dst.port} ${f.verdict}` +
       ` (${f.bytes_out} B out, ${f.bytes_in} B in, ${f.state})`);
  }
  for (const n of state.nets) {
    const g = el("g", { class: "net" + (n.Internal ? " internal" : ""), "data-network": n.Name }, nodes);
    const p = pos[n.Id];
    el("circle", { cx: p.x, cy: p.y, r: 34 }, g);
    el("text", { x: p.x, y: p.y + 4, "text-anchor": "middle" }, g, n.Name);
    const sub = ((n.IPAM && n.IPAM.Config) || []).map(x => x.Subnet).join(" ");
    el("text", { class: "ip", x: p.x, y: p.y - 40, "text-anchor": "middle" }, g, sub);
  }
  for (const c of state.ctrs) {
    const name = c.Names[0].replace(/^\//, "");
    const g = el("g", { class: "ctr" + (state.sel.includes(name) ? " sel" : ""),
                        "data-container": name }, nodes);
    const p = pos[c.Id], wd = Math.max(60, name.length * 7 + 16);
    if (!(c.Id in times.shown)) times.shown[c.Id] = Date.now();
    el("rect", { x: p.x - wd / 2, y: p.y - 11, width: wd, height: 22 }, g);
    el("text", { x: p.x, y: p.y + 4, "text-anchor": "middle" }, g, name);
    g.addEventListener("click", () => pick(name));
  }
}

async function pick(name) {
  state.sel = state.sel.filter(n => n !== name).concat([name]).slice(-2);
  draw();
  if (state.sel.length < 2) return;
  const [a, b] = state.sel, panel = document.getElementById("panel");
  panel.className = "";
  panel.textContent = `diagnosing ${a} -> ${b} ...`;
  const r = await fetch(`/boxnet/v1/diagnose?from=${encodeURIComponent(a)}&to=${encodeURIComponent(b)}`);
  const ans = await r.json();
  if (!r.ok) { panel.className = "bad"; panel.textContent = ans.message; return; }
  const lines = [ans.Verdict].concat(ans.Causes.map(c => `cause ${c.Cause}: ${c.Detail}`),
                                     [`probe: ${ans.Probe.Result}`], ans.Fix ? [`Fix: ${ans.Fix}`] : []);
  panel.className = ans.Reachable ? "ok" : "bad";
  panel.textContent = lines.join("\n");
  panel.dataset.verdict = ans.Reachable ? "reachable" : "unreachable";
}

// GET /events streams one JSON object per line; any container or network
// event triggers one refresh (coalesced while one is in flight).
let pending = false, busy = false;
async function kick() {
  if (busy) { pending = true; return; }
  busy = true;
  try { await refresh(); } finally { busy = false; }
  if (pending) { pending = false; kick(); }
}

async function follow(path, onLine) {
  const r = await fetch(path);
  if (!r.ok || !r.body) return false;
  const reader = r.body.getReader(), dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return true;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onLine(JSON.parse(line));
    }
  }
}

async function events() {
  const filters = encodeURIComponent(JSON.stringify({ type: ["container", "network"] }));
  for (;;) {
    try {
      await follow(`/events?filters=${filters}`, ev => {
        times.events.push({ id: (ev.Actor || {}).ID, action: ev.Action,
                            time: ev.timeNano / 1e6, seen: Date.now() });
        if (times.events.length > 500) times.events.shift();
        kick();
      });
    }
    catch (e) { document.getElementById("status").textContent = "event stream lost: " + e.message; }
    await new Promise(res => setTimeout(res, 1000));
    kick();
  }
}

// Flows (issue 20 section 3, GET /boxnet/v1/flows?follow=1: one record per line,
// again as it changes): the latest 200 are drawn, a dropped one dashed red.
async function flows() {
  for (;;) {
    try {
      const ok = await follow("/boxnet/v1/flows?follow=1", f => {
        state.flows.delete(f.id);
        state.flows.set(f.id, f);
        while (state.flows.size > 200) state.flows.delete(state.flows.keys().next().value);
        draw();
      });
      if (!ok) return;      // this daemon has no flows
    } catch (e) {
      document.getElementById("status").textContent = "flow stream lost: " + e.message;
    }
    await new Promise(res => setTimeout(res, 1000));
  }
}

window.addEventListener("resize", draw);
kick().then(() => document.body.dataset.ready = "1");
events();
flows();
