"use strict";
// CoopGrid dashboard: plain JavaScript, no build step; charts by uPlot (vendored in /static/vendor/uplot).
// Routes are hashes: #/overview, #/chargers, #/chargers/<id>, #/sessions, #/parks, #/allocation, #/report,
// #/accounts, #/login.
// Signing in exchanges a token for an HttpOnly session cookie (POST /api/session); the page never holds it.
const $ = (id) => document.getElementById(id);
const TABS = ["overview", "chargers", "sessions", "parks", "allocation", "report", "accounts"];
let last = null; // the latest snapshot
let route = { tab: "overview", id: null };
let sites = {}; // id -> grid limit, base load (GET /api/sites)
const trail = {}; // charger id -> {t: [], power: [], current: []}, from the stream
const inverterTrail = {}; // "park/inverter" -> {t: [], power: []}
const seenStatus = {}; // "charger/connector" -> status, for the timeline
const timelineLive = {}; // charger id -> [{ts, kind, text}]
const TRAIL_POINTS = 3600;

const kw = (w) => (w == null ? "–" : `${(w / 1000).toFixed(1)} kW`);
const kwh = (wh) => (wh == null ? "–" : `${(wh / 1000).toFixed(1)} kWh`);
const amps = (a) => (a == null ? "–" : `${Number(a).toFixed(1)} A`);
const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const pad = (n) => String(n).padStart(2, "0");
function when(iso) {
  // a time to the second, in the browser's zone, without microseconds
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return esc(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function duration(seconds) {
  if (seconds == null || seconds < 0) return "–";
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  return h ? `${h} h ${pad(m)} min` : m ? `${m} min ${pad(s)} s` : `${s} s`;
}

// -- the API: the session cookie goes along by itself ------------------------------------------------
class Unauthorized extends Error {}
async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options, headers: { "Content-Type": "application/json", ...(options.headers || {}) } });
  const signingIn = path === "/api/session" && options.method === "POST";
  if (response.status === 401 && !signingIn) { showLogin(); throw new Unauthorized("sign in"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body?.error ? `${body.error.code}: ${body.error.message}` : response.statusText);
  return body;
}

// -- routes -------------------------------------------------------------------------------------------
function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "login") return { tab: "login", id: null };
  if (parts[0] === "chargers" && parts[1]) return { tab: "charger", id: parts.slice(1).join("/") };
  return { tab: TABS.includes(parts[0]) ? parts[0] : "overview", id: null };
}
function showRoute() {
  route = parseRoute();
  document.querySelectorAll(".tab").forEach((el) => el.classList.toggle("active", el.id === route.tab));
  const navTab = route.tab === "charger" ? "chargers" : route.tab;
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.tab === navTab));
  document.title = `CoopGrid · ${route.tab === "charger" ? route.id : route.tab}`;
  if (route.tab === "login") { $("login-token").focus(); return; }
  if (!started) { start(); return; }
  refreshRoute().catch(report);
}
async function refreshRoute() {
  if (route.tab === "allocation") await loadPlans();
  if (route.tab === "sessions") await loadSessions();
  if (route.tab === "parks") await loadInverterEnergy();
  if (route.tab === "report") await loadReport();
  if (route.tab === "accounts") await loadAccounts();
  if (route.tab === "overview") await loadHistory();
  if (route.tab === "charger") await loadCharger(route.id);
  if (last) render(last);
}
window.addEventListener("hashchange", showRoute);
function report(error) { if (!(error instanceof Unauthorized)) $("conn").textContent = error.message; }

// -- sign in and out ----------------------------------------------------------------------------------
function showLogin() {
  if (stream) { stream.close(); stream = null; }
  started = false;
  if (route.tab !== "login") { sessionStorage.setItem("coopgrid-after-login", location.hash); location.hash = "#/login"; }
}
$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("/api/session", { method: "POST", body: JSON.stringify({ token: $("login-token").value.trim() }) });
    $("login-token").value = "";
    const next = sessionStorage.getItem("coopgrid-after-login");
    location.hash = next && next !== "#/login" ? next : "#/overview";
  } catch (error) {
    $("login-error").textContent = error.message.replace(/^Unauthorized: /, "");
  }
});
$("logout").addEventListener("click", async () => {
  await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
  showLogin();
});

// -- the live view --------------------------------------------------------------------------------------
function remember(snap) {
  const t = new Date(snap.ts).getTime() / 1000;
  for (const c of snap.chargers) {
    const connectors = Object.values(c.connectors);
    const rec = (trail[c.id] ||= { t: [], power: [], current: [] });
    if (rec.t.length && rec.t[rec.t.length - 1] >= t) continue;
    rec.t.push(t);
    rec.power.push(connectors.reduce((sum, k) => sum + (k.power_w || 0), 0));
    rec.current.push(connectors.reduce((max, k) => Math.max(max, k.current_a || 0), 0));
    if (rec.t.length > TRAIL_POINTS) for (const key of Object.keys(rec)) rec[key].shift();
    for (const [id, k] of Object.entries(c.connectors)) {
      const key = `${c.id}/${id}`, status = c.connected ? k.status : "Offline";
      if (seenStatus[key] !== undefined && seenStatus[key] !== status) {
        (timelineLive[c.id] ||= []).push({ ts: snap.ts, kind: "status", text: `connector ${id}: ${seenStatus[key]} → ${status}` });
      }
      seenStatus[key] = status;
    }
  }
  for (const p of snap.parks) {
    for (const i of p.inverters || []) {
      const rec = (inverterTrail[`${p.id}/${i.id}`] ||= { t: [], power: [] });
      if (rec.t.length && rec.t[rec.t.length - 1] >= t) continue;
      rec.t.push(t); rec.power.push(i.power_w || 0);
      if (rec.t.length > TRAIL_POINTS) { rec.t.shift(); rec.power.shift(); }
    }
  }
}

function offeredOf(snap, chargerId) {
  for (const a of Object.values(snap.allocations)) for (const s of a?.setpoints || []) if (s.charge_point_id === chargerId) return s.limit_a;
  return null;
}

function render(snap) {
  last = snap;
  $("solar-now").textContent = kw(snap.solar_w);
  $("ev-now").textContent = kw(snap.ev_w);
  $("green-now").textContent = pct(snap.green_share_now);
  $("green-today").textContent = pct(snap.today.green_share);
  $("energy-today").textContent = `solar ${kwh(snap.today.solar_wh)} · EVs ${kwh(snap.today.ev_wh)} · green ${kwh(snap.today.green_wh)}`;
  $("status-counts").innerHTML = Object.entries(snap.chargers_by_status)
    .map(([status, n]) => `<span data-status="${esc(status)}">${esc(status)}: ${n}</span>`).join("");
  $("charger-rows").innerHTML = snap.chargers.map((c) => {
    const power = Object.values(c.connectors).reduce((sum, k) => sum + (k.power_w || 0), 0);
    return `<tr data-id="${esc(c.id)}">
      <td data-label="Charger"><a href="#/chargers/${encodeURIComponent(c.id)}">${esc(c.id)}</a></td><td data-label="OCPP">${esc(c.ocpp_version)}</td><td data-label="Online" class="${c.connected ? "online" : "offline"}">${c.connected ? "yes" : "no"}</td>
      <td data-label="Connectors"><span>${Object.entries(c.connectors).map(([k, v]) => `${esc(k)}: ${esc(v.stale ? `${v.status} (stale: offline)` : v.status)}`).join(", ")}${c.managed === false ? ' <span class="unmanaged">unmanaged</span>' : ""}</span></td>
      <td data-label="Power" class="num">${kw(power)}</td><td data-label="Offered" class="num">${amps(offeredOf(snap, c.id))}</td>
      <td data-label="Site">${esc(c.site_id)}</td><td data-label="Last seen">${when(c.last_seen)}</td></tr>`;
  }).join("");
  for (const row of document.querySelectorAll("#charger-rows tr")) row.onclick = (e) => { if (e.target.tagName !== "A") location.hash = `#/chargers/${encodeURIComponent(row.dataset.id)}`; };
  renderParks(snap);
  renderAllocations(snap);
  $("report-today").innerHTML = [["Solar", snap.today.solar_wh], ["EVs", snap.today.ev_wh], ["Green into EVs", snap.today.green_wh]]
    .map(([label, wh]) => `<div class="card"><h2>${label}</h2><p class="big">${kwh(wh)}</p></div>`).join("");
  if (route.tab === "charger") renderCharger(snap.chargers.find((c) => c.id === route.id));
}

function renderParks(snap) {
  $("park-list").innerHTML = snap.parks.map((p) => `<div class="park" data-park="${esc(p.id)}"><h3>${esc(p.id)} <small>(${esc(p.member_id)})</small></h3>
      <p>${kw(p.power_w)} now${p.energy_today_wh != null ? ` · ${kwh(p.energy_today_wh)} today` : ""}</p>
      <ul>${(p.inverters || []).map((i) => `<li>${esc(i.id)}: ${kw(i.power_w)} of ${kw(i.rated_power_w)} <span class="${esc(i.state)}">${esc(i.state)}</span></li>`).join("")}</ul></div>`).join("");
  if (route.tab !== "parks") return;
  const holder = $("park-charts");
  const colours = ["#d89b00", "#1f77b4", "#2a9d4b", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"];
  for (const p of snap.parks) {
    let el = holder.querySelector(`[data-park-chart="${CSS.escape(p.id)}"]`);
    if (!el) {
      holder.insertAdjacentHTML("beforeend", `<h3>${esc(p.id)}</h3><div class="chart" data-park-chart="${esc(p.id)}" role="img" aria-label="power of each inverter of ${esc(p.id)}"></div>`);
      el = holder.querySelector(`[data-park-chart="${CSS.escape(p.id)}"]`);
    }
    const inverters = p.inverters || [];
    const first = inverterTrail[`${p.id}/${inverters[0]?.id}`];
    if (!first) continue;
    const data = [first.t, ...inverters.map((i) => { const r = inverterTrail[`${p.id}/${i.id}`]; return first.t.map((_, k) => r?.power[k] ?? null); })];
    drawChart(`park-${p.id}`, el, inverters.map((i, k) => ({ label: i.id, stroke: colours[k % colours.length], unit: "W" })), data, 200);
  }
}

async function loadInverterEnergy() {
  // today's generation of each inverter per 15 minutes, from SQL (the platform's today: the snapshot's date)
  if (!last) return;
  const from = new Date(`${last.ts.slice(0, 10)}T00:00:00Z`), to = new Date(from.getTime() + 86400000);
  const query = `from=${from.toISOString().replace(".000", "")}&to=${to.toISOString().replace(".000", "")}&bucket=15min`;
  const holder = $("park-energy-charts");
  const colours = ["#d89b00", "#1f77b4", "#2a9d4b", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"];
  for (const park of last.parks) {
    const energy = await api(`/api/parks/${encodeURIComponent(park.id)}/inverters/energy?${query}`);
    let el = holder.querySelector(`[data-park-energy="${CSS.escape(park.id)}"]`);
    if (!el) {
      holder.insertAdjacentHTML("beforeend", `<h3>${esc(park.id)}</h3><div class="chart" data-park-energy="${esc(park.id)}" role="img" aria-label="energy of each inverter of ${esc(park.id)} per 15 minutes"></div>`);
      el = holder.querySelector(`[data-park-energy="${CSS.escape(park.id)}"]`);
    }
    const inverters = Object.keys(energy.inverters);
    const starts = [...new Set(inverters.flatMap((i) => energy.inverters[i].map((p) => p.start)))].sort();
    const data = [starts.map((t) => new Date(t).getTime() / 1000),
      ...inverters.map((i) => { const by = Object.fromEntries(energy.inverters[i].map((p) => [p.start, p.generated_wh])); return starts.map((t) => by[t] ?? 0); })];
    drawChart(`park-energy-${park.id}`, el, inverters.map((i, k) => ({ label: i, stroke: colours[k % colours.length], unit: "Wh" })), data, 200);
  }
}

// the grid meter's word on the limit: measured, or the static limit while the meter is silent
const gridSource = (g) => !g || !g.meter ? "" : g.source === "meter"
  ? `<p class="online">limit from the grid meter: ${(g.measured_a || []).map((x) => Number(x).toFixed(0)).join(" / ")} A measured, ${Number(g.base_load_a).toFixed(1)} A not ours</p>`
  : `<p class="offline">grid meter ${esc(g.meter)}: static limit ${Number(g.grid_limit_a).toFixed(0)} A, base load ${Number(g.base_load_a).toFixed(1)} A</p>`;

function renderAllocations(snap) {
  $("allocation-list").innerHTML = Object.entries(snap.allocations).map(([site, a]) => {
    const limits = sites[site] || {};
    const grid = limits.grid_limit_a, base = limits.base_load_a || 0;
    const used = (a?.setpoints || []).reduce((sum, s) => sum + Number(s.limit_a || 0), 0);
    const headroom = grid != null ? Math.max(0, grid - base - used) : null;
    const share = (x) => (grid ? `${Math.max(0, Math.min(100, (x / grid) * 100)).toFixed(1)}%` : "0");
    return `<div class="park" data-site="${esc(site)}"><h3>${esc(limits.name || site)} <small>${esc(site)}</small></h3>
      <p>grid limit <b>${amps(grid)}</b> per phase · base load ${amps(base)} · allocated ${amps(used)} · headroom <b class="headroom">${amps(headroom)}</b></p>
      ${grid ? `<div class="meter" title="base load, allocated, headroom"><span class="base" style="width:${share(base)}"></span><span class="used" style="width:${share(used)}"></span><span class="free" style="width:${share(headroom)}"></span></div>` : ""}
      ${a ? `<p>green ${kw(a.green_w)} · grid ${kw(a.grid_w)} · planned ${when(a.ts)}</p>${gridSource(a.grid)}
      <div class="scroll"><table><thead><tr><th>Charger</th><th>Conn.</th><th class="num">Limit</th><th class="num">Phases</th><th class="num">Power</th><th class="num">Green</th><th class="num">Grid</th></tr></thead><tbody>
      ${(a.setpoints || []).map((s) => `<tr><td><a href="#/chargers/${encodeURIComponent(s.charge_point_id)}">${esc(s.charge_point_id)}</a></td><td>${esc(s.connector_id)}</td>
        <td class="num">${amps(s.limit_a)}</td><td class="num">${esc(s.phases ?? "")}</td><td class="num">${kw(s.power_w)}</td><td class="num">${kw(s.green_w)}</td><td class="num">${kw(s.grid_w)}</td></tr>`).join("")}
      </tbody></table></div>` : "<p>no allocation yet</p>"}${planOf(site)}</div>`;
  }).join("");
  drawPlans();
}

async function loadHistory() {
  const points = await api("/api/history");
  const t = points.map((p) => new Date(p.ts).getTime() / 1000);
  drawChart("overview", $("chart"), [
    { label: "Solar", stroke: css("--solar"), fill: "#d89b0022", unit: "W" },
    { label: "EVs", stroke: css("--ev"), unit: "W" },
  ], [t, points.map((p) => p.solar_w), points.map((p) => p.ev_w)]);
}

// -- a charger's page -------------------------------------------------------------------------------------
let chargerStored = { id: null, events: [], sessions: [] };
async function loadCharger(id) {
  const [events, sessions] = await Promise.all([
    api(`/api/chargepoints/${encodeURIComponent(id)}/events?limit=50`).catch(() => []),
    api(`/api/sessions?chargepoint=${encodeURIComponent(id)}&limit=20`).catch(() => []),
  ]);
  chargerStored = { id, events, sessions };
  if (last) renderCharger(last.chargers.find((c) => c.id === id));
  if (typeof loadChargerFiles === "function") await loadChargerFiles(id); // files.js: reservations, firmware, logs
}

function renderCharger(charger) {
  const id = route.id;
  $("detail-title").textContent = id;
  if (!charger) { $("detail-summary").textContent = "not known here (or not yours to see)"; return; }
  $("detail-summary").innerHTML = `OCPP ${esc(charger.ocpp_version || "?")} · <span class="${charger.connected ? "online" : "offline"}">${charger.connected ? "online" : "offline"}</span> · site ${esc(charger.site_id || "none")} · ${charger.managed === false ? '<span class="unmanaged">unmanaged</span>' : "managed"} · last seen ${when(charger.last_seen)}`;
  $("detail-connectors").innerHTML = Object.entries(charger.connectors).map(([k, c]) => `<div class="card connector" data-connector="${esc(k)}">
      <h3>Connector ${esc(k)}: ${esc(c.status)}${c.stale ? " (stale)" : ""}</h3>
      <p class="big power">${kw(c.power_w)}</p>
      <p>current <b class="current">${amps(c.current_a)}</b> · offered <b class="offered">${amps(c.offered_a)}</b></p>
      <p class="small">register ${kwh(c.energy_wh)} · metered ${when(c.metered)}</p>
      <p class="small profile">${c.profile ? `profile ${esc(c.profile.purpose)} ${amps(c.profile.limit_a)}: ${esc(c.profile.status)} (${when(c.profile.sent)})` : "no profile sent by this instance"}</p></div>`).join("");
  const rec = trail[id];
  if (rec) drawChart(`charger-${id}`, $("charger-chart"), [
    { label: "Power", stroke: css("--ev"), unit: "W" },
    { label: "Current", stroke: css("--current"), unit: "A", dash: [6, 4] },  // dashed: it follows the power
  ], [rec.t, rec.power, rec.current], 200);
  const active = chargerStored.id === id ? chargerStored.sessions.find((s) => s.active) : null;
  $("detail-session").innerHTML = active ? sessionSummary(active) : "no session running";
  renderTimeline(id);
}

function sessionSummary(s) {
  const seconds = sessionSeconds(s);
  return `session <b>${esc(s.id)}</b> on connector ${esc(s.connector_id)} by ${esc(s.id_tag)} since ${when(s.start)} (${duration(seconds)}):
    ${kwh(s.energy_wh)}, ${pct(s.green_share)} green, mode ${esc(s.mode)}${s.target_wh ? `, target ${kwh(s.target_wh)}` : ""}${s.departure ? `, leaves ${when(s.departure)}` : ""}`;
}

function renderTimeline(id) {
  const items = [];
  if (chargerStored.id === id) {
    for (const e of chargerStored.events) items.push({ ts: e.ts, kind: "event", text: `${e.kind}${Object.keys(e.payload || {}).length ? `: ${JSON.stringify(e.payload).slice(0, 160)}` : ""}` });
    for (const s of chargerStored.sessions) {
      items.push({ ts: s.start, kind: "session", text: `session ${s.id} started (connector ${s.connector_id}, ${s.id_tag})` });
      if (s.stop) items.push({ ts: s.stop, kind: "session", text: `session ${s.id} stopped: ${kwh(s.energy_wh)}${s.stop_reason ? `, ${s.stop_reason}` : ""}` });
    }
  }
  items.push(...(timelineLive[id] || []));
  items.sort((a, b) => new Date(b.ts) - new Date(a.ts));
  $("timeline").innerHTML = items.slice(0, 100).map((i) => `<li class="${i.kind}"><time datetime="${esc(i.ts)}">${when(i.ts)}</time>${esc(i.text)}</li>`).join("") || "<li>nothing yet</li>";
}

async function activeSession(id) {
  const sessions = await api(`/api/sessions?active=true&chargepoint=${encodeURIComponent(id)}`);
  return sessions[0];
}

async function command(name) {
  const id = route.id;
  const charger = last?.chargers.find((c) => c.id === id);
  if (!charger) return;
  const v201 = charger.ocpp_version === "2.0.1";
  const base = `/api/chargepoints/${encodeURIComponent(id)}`;
  const idTag = $("cmd-idtag").value;
  let result;
  try {
    if (name === "start") {
      result = v201
        ? await api(`${base}/ocpp/RequestStartTransaction`, { method: "POST", body: JSON.stringify({ idToken: { idToken: idTag, type: "Central" }, remoteStartId: Date.now() % 100000, evseId: 1 }) })
        : await api(`${base}/ocpp/RemoteStartTransaction`, { method: "POST", body: JSON.stringify({ connectorId: 1, idTag }) });
    } else if (name === "stop") {
      const session = await activeSession(id);
      if (!session) throw new Error("no running session");
      result = v201
        ? await api(`${base}/ocpp/RequestStopTransaction`, { method: "POST", body: JSON.stringify({ transactionId: String(session.id) }) })
        : await api(`${base}/ocpp/RemoteStopTransaction`, { method: "POST", body: JSON.stringify({ transactionId: session.id }) });
    } else if (name === "reset") {
      result = await api(`${base}/ocpp/Reset`, { method: "POST", body: JSON.stringify(v201 ? { type: "OnIdle" } : { type: "Soft" }) });
    } else if (name === "unlock") {
      result = await api(`${base}/ocpp/UnlockConnector`, { method: "POST", body: JSON.stringify(v201 ? { evseId: 1, connectorId: 1 } : { connectorId: 1 }) });
    } else if (name === "limit") {
      result = await api(`${base}/limit`, { method: "POST", body: JSON.stringify({ connector_id: 1, limit_a: Number($("cmd-limit").value) }) });
    }
    $("cmd-result").textContent = `${name}: ${JSON.stringify(result)}`;
    (timelineLive[id] ||= []).push({ ts: new Date().toISOString(), kind: "command", text: `${name}: ${JSON.stringify(result)}` });
  } catch (error) {
    $("cmd-result").textContent = `${name} failed: ${error.message}`;
  }
  renderTimeline(id);
}
for (const button of document.querySelectorAll("[data-cmd]")) button.addEventListener("click", () => command(button.dataset.cmd));

// -- sessions ------------------------------------------------------------------------------------------------
function sessionSeconds(s) {
  // running: until now by the platform's clock, or the charger's latest meter (a charger's clock may run ahead)
  if (s.stop) return (new Date(s.stop) - new Date(s.start)) / 1000;
  const connector = last?.chargers.find((c) => c.id === s.charge_point_id)?.connectors[String(s.connector_id)];
  const ends = [last ? new Date(last.ts) : new Date(), connector?.metered ? new Date(connector.metered) : 0];
  return Math.max(0, (Math.max(...ends) - new Date(s.start)) / 1000);
}
async function loadSessions() {
  const sessions = await api("/api/sessions?limit=200");
  $("session-rows").innerHTML = sessions.map((s) => {
    const seconds = sessionSeconds(s);
    const average = seconds > 0 && s.energy_wh != null ? (s.energy_wh * 3600) / seconds : null;
    const live = s.active && last ? Object.values(last.chargers.find((c) => c.id === s.charge_point_id)?.connectors || {})[0]?.power_w : null;
    return `<tr data-id="${esc(s.charge_point_id)}"><td data-label="Id">${esc(s.id)}</td><td data-label="Charger"><span><a href="#/chargers/${encodeURIComponent(s.charge_point_id)}">${esc(s.charge_point_id)}</a>/${esc(s.connector_id)}</span></td>
      <td data-label="Started">${when(s.start)}</td><td data-label="Duration" class="num duration">${duration(seconds)}</td><td data-label="Energy" class="num">${kwh(s.energy_wh)}</td>
      <td data-label="Power" class="num" title="average over the session${live != null ? "; now" : ""}">${kw(average)}${live != null ? ` (now ${kw(live)})` : ""}</td>
      <td data-label="Green" class="num">${pct(s.green_share)}</td><td data-label="Cost" class="num cost" title="${s.cost ? `excl. VAT ${esc(s.cost.excl_vat)}, of it green energy ${esc(s.cost.green_energy)}; tariff ${esc(s.cost.tariff_id)}` : "no tariff"}">${s.cost ? `${esc(s.cost.incl_vat)} ${esc(s.cost.currency)}` : "–"}</td>
      <td data-label="Account">${esc(s.account_id || "")}</td><td data-label="Mode">${esc(s.mode)}</td><td data-label="Stopped">${s.stop ? when(s.stop) : "charging"}</td></tr>`;
  }).join("");
  for (const row of document.querySelectorAll("#session-rows tr")) row.onclick = (e) => { if (e.target.tagName !== "A") location.hash = `#/chargers/${encodeURIComponent(row.dataset.id)}`; };
}

// -- the cooperative report: SQL intervals, not the live view --------------------------------
let cooperatives = null;
const day = (d) => d.toISOString().slice(0, 10);

function reportQuery() {
  const from = $("report-from").value || day(new Date());
  const to = $("report-to").value || from;
  const end = new Date(`${to}T00:00:00Z`);
  end.setUTCDate(end.getUTCDate() + 1);
  return `from=${from}T00:00:00Z&to=${end.toISOString().replace(".000", "")}`;
}

async function loadReport() {
  if (!cooperatives) {
    cooperatives = await api("/api/cooperatives");
    $("report-coop").innerHTML = cooperatives.map((c) => `<option value="${esc(c.id)}">${esc(c.name || c.id)}</option>`).join("");
    const parks = cooperatives.flatMap((c) => c.members.flatMap((m) => m.parks));
    $("report-park").innerHTML = parks.map((p) => `<option>${esc(p)}</option>`).join("");
    if (!$("report-from").value) $("report-from").value = $("report-to").value = day(new Date());
  }
  if (!cooperatives.length) { $("report-summary").textContent = "no cooperative configured"; return; }
  const coop = $("report-coop").value;
  const report = await api(`/api/cooperatives/${encodeURIComponent(coop)}/report?${reportQuery()}`);
  const share = (a, b) => (b > 0 ? pct(a / b) : "–");
  $("report-summary").textContent = `${report.name || report.cooperative_id}: generated ${report.generated_kwh.toFixed(1)} kWh, ` +
    `${report.to_evs_kwh.toFixed(1)} kWh into EVs (${share(report.to_evs_kwh, report.generated_kwh)}), ${report.exported_kwh.toFixed(1)} kWh exported`;
  const rows = report.members.flatMap((m) => m.parks.map((p) => ({ member: m.name || m.id, ...p })));
  $("report-rows").innerHTML = rows.map((r) => `<tr><td>${esc(r.member)}</td><td>${esc(r.id)}</td>
    <td>${r.generated_kwh.toFixed(2)} kWh</td><td>${r.to_evs_kwh.toFixed(2)} kWh</td><td>${r.exported_kwh.toFixed(2)} kWh</td>
    <td>${share(r.to_evs_kwh, r.generated_kwh)}</td></tr>`).join("");
  const svg = $("report-bars");
  const max = Math.max(0.001, ...rows.map((r) => r.generated_kwh));
  const width = Math.min(200, 800 / Math.max(rows.length, 1));
  svg.innerHTML = rows.map((r, i) => {
    const ev = (r.to_evs_kwh / max) * 180, out = (r.exported_kwh / max) * 180;
    return `<rect x="${i * width + 10}" y="${200 - ev}" width="${width - 20}" height="${ev}" fill="var(--ev)"><title>${esc(r.id)}: ${r.to_evs_kwh.toFixed(2)} kWh into EVs</title></rect>
      <rect x="${i * width + 10}" y="${200 - ev - out}" width="${width - 20}" height="${out}" fill="var(--solar)"><title>${esc(r.id)}: ${r.exported_kwh.toFixed(2)} kWh exported</title></rect>
      <text x="${i * width + 14}" y="215" font-size="12">${esc(r.id)} ${r.generated_kwh.toFixed(1)} kWh</text>`;
  }).join("");
  await loadParkEnergy();
}

async function loadParkEnergy() {
  const park = $("report-park").value;
  if (!park) return;
  const energy = await api(`/api/parks/${encodeURIComponent(park)}/energy?${reportQuery()}&bucket=15min`);
  const points = energy.series;
  drawChart("park-energy", $("park-energy"), [
    { label: "Generated", stroke: css("--solar"), fill: "#d89b0022", unit: "Wh" },
    { label: "Into EVs", stroke: css("--ev"), unit: "Wh" },
  ], [points.map((p) => new Date(p.start || p.ts).getTime() / 1000), points.map((p) => p.generated_wh), points.map((p) => p.to_evs_wh)], 220);
}

async function downloadCsv() {
  const coop = $("report-coop").value;
  const response = await fetch(`/api/cooperatives/${encodeURIComponent(coop)}/report?${reportQuery()}&format=csv`, { credentials: "same-origin" });
  if (!response.ok) { $("report-summary").textContent = `CSV failed: ${response.status}`; return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `coopgrid-${coop}-${$("report-from").value}.csv`;
  link.click();
  URL.revokeObjectURL(link.href);
}

$("report-form").addEventListener("submit", (event) => { event.preventDefault(); loadReport().catch((e) => { $("report-summary").textContent = e.message; }); });
$("report-csv").addEventListener("click", () => downloadCsv());
$("report-park").addEventListener("change", () => loadParkEnergy().catch((e) => { $("report-summary").textContent = e.message; }));

// -- start: who is signed in, the snapshot, then the stream ---------------------------------------------------
let stream = null;
let started = false;
let historyTimer = null;
async function start() {
  started = true;
  try {
    const me = await api("/api/session");
    $("who").textContent = me.auth ? `${me.name || me.role} (${me.role}${me.cooperative_id ? `, ${me.cooperative_id}` : ""})` : "";
    $("logout").hidden = !me.auth;
    sites = Object.fromEntries((await api("/api/sites").catch(() => [])).map((s) => [s.id, s]));
    const snap = await api("/api/live");
    remember(snap);
    render(snap);
    await refreshRoute();
  } catch (error) {
    started = error instanceof Unauthorized ? false : started;
    report(error);
    return;
  }
  if (stream) stream.close();
  stream = new EventSource("/api/stream");
  stream.addEventListener("snapshot", (event) => {
    const snap = JSON.parse(event.data);
    remember(snap);
    render(snap);
    $("conn").textContent = "live"; $("conn").className = "pill live";
  });
  stream.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "pill down"; };
  clearInterval(historyTimer);
  historyTimer = setInterval(() => {
    if (route.tab === "overview") loadHistory().catch(() => { /* shown by the stream state */ });
    if (route.tab === "sessions") loadSessions().catch(() => {});
    if (route.tab === "allocation") loadPlans().then(() => last && render(last)).catch(() => {});
    if (route.tab === "parks") loadInverterEnergy().catch(() => {});
    if (route.tab === "charger") loadCharger(route.id).catch(() => {});
  }, 10000);
}
showRoute();
