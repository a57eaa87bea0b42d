"use strict";
// CoopGrid dashboard: plain JavaScript, no build step.
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("coopgrid-token") || "";
let selected = null;
let last = null;

const kw = (w) => (w == null ? "–" : `${(w / 1000).toFixed(1)} kW`);
const kwh = (wh) => (wh == null ? "–" : `${(wh / 1000).toFixed(1)} kWh`);
const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { askToken(); throw new Error("unauthorized"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body?.error ? `${body.error.code}: ${body.error.message}` : response.statusText);
  return body;
}

function askToken() {
  const dialog = $("login");
  if (dialog.open) return;
  dialog.showModal();
  dialog.addEventListener("close", () => {
    token = $("token").value.trim();
    localStorage.setItem("coopgrid-token", token);
    start();
  }, { once: true });
}

for (const button of document.querySelectorAll("#tabs button")) {
  button.addEventListener("click", () => {
    document.querySelectorAll("#tabs button, .tab").forEach((el) => el.classList.remove("active"));
    button.classList.add("active");
    $(button.dataset.tab).classList.add("active");
    if (button.dataset.tab === "sessions") loadSessions();
    if (button.dataset.tab === "report") loadReport();
  });
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
  $("charger-rows").innerHTML = snap.chargers.map((c) => `<tr data-id="${esc(c.id)}">
      <td>${esc(c.id)}</td><td>${esc(c.ocpp_version)}</td><td class="${c.connected ? "online" : "offline"}">${c.connected ? "yes" : "no"}</td>
      <td>${Object.entries(c.connectors).map(([k, v]) => `${esc(k)}: ${esc(v.stale ? `${v.status} (stale: offline)` : v.status)}`).join(", ")}${c.managed === false ? ' <span class="unmanaged">unmanaged</span>' : ""}</td>
      <td>${esc(c.site_id)}</td><td>${esc(c.last_seen)}</td></tr>`).join("");
  for (const row of document.querySelectorAll("#charger-rows tr")) row.onclick = () => select(row.dataset.id);
  if (selected) showDetail(snap.chargers.find((c) => c.id === selected));
  $("park-list").innerHTML = snap.parks.map((p) => `<div class="park"><h3>${esc(p.id)} <small>(${esc(p.member_id)})</small></h3>
      <p>${kw(p.power_w)} now${p.energy_today_wh != null ? ` · ${kwh(p.energy_today_wh)} today` : ""}</p>
      <ul>${(p.inverters || []).map((i) => `<li>${esc(i.id)}: ${kw(i.power_w)} <span class="${esc(i.state)}">${esc(i.state)}</span></li>`).join("")}</ul></div>`).join("");
  const gridSource = (g) => !g || !g.meter ? "" : g.source === "meter"
    ? `<p class="online">limit from the grid meter: ${(g.measured_a || []).map((x) => Number(x).toFixed(0)).join(" / ")} A measured, ${Number(g.base_load_a).toFixed(1)} A not ours</p>`
    : `<p class="offline">grid meter ${esc(g.meter)}: static limit ${Number(g.grid_limit_a).toFixed(0)} A, base load ${Number(g.base_load_a).toFixed(1)} A</p>`;
  $("allocation-list").innerHTML = Object.entries(snap.allocations).map(([site, a]) => `<div class="park"><h3>${esc(site)}</h3>
      ${a ? `<p>green ${kw(a.green_w)} · grid ${kw(a.grid_w)}</p>${gridSource(a.grid)}<ul>${(a.setpoints || []).map((s) =>
        `<li>${esc(s.charge_point_id)}/${esc(s.connector_id)}: ${Number(s.limit_a).toFixed(1)} A</li>`).join("")}</ul>` : "<p>no allocation yet</p>"}</div>`).join("");
  $("report-today").innerHTML = [["Solar", snap.today.solar_wh], ["EVs", snap.today.ev_wh], ["Green into EVs", snap.today.green_wh]]
    .map(([label, wh]) => `<div class="card"><h2>${label}</h2><p class="big">${kwh(wh)}</p></div>`).join("");
  drawBars(snap.parks);
}

function select(id) {
  selected = id;
  $("charger-detail").hidden = false;
  showDetail(last.chargers.find((c) => c.id === id));
}

function showDetail(charger) {
  if (!charger) return;
  $("detail-title").textContent = charger.id;
  $("detail-state").textContent = JSON.stringify(charger, null, 2);
}

async function activeSession(id) {
  const sessions = await api(`/api/sessions?active=true&chargepoint=${encodeURIComponent(id)}`);
  return sessions[0];
}

async function command(name) {
  const charger = last.chargers.find((c) => c.id === selected);
  const v201 = charger.ocpp_version === "2.0.1";
  const base = `/api/chargepoints/${encodeURIComponent(selected)}`;
  const idTag = $("cmd-idtag").value;
  let result;
  try {
    if (name === "start") {
      result = v201
        ? await api(`${base}/ocpp/RequestStartTransaction`, { method: "POST", body: JSON.stringify({ idToken: { idToken: idTag, type: "Central" }, remoteStartId: Date.now() % 100000, evseId: 1 }) })
        : await api(`${base}/ocpp/RemoteStartTransaction`, { method: "POST", body: JSON.stringify({ connectorId: 1, idTag }) });
    } else if (name === "stop") {
      const session = await activeSession(selected);
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
  } catch (error) {
    $("cmd-result").textContent = `${name} failed: ${error.message}`;
  }
}
for (const button of document.querySelectorAll("[data-cmd]")) button.addEventListener("click", () => command(button.dataset.cmd));

async function loadSessions() {
  const sessions = await api("/api/sessions");
  $("session-rows").innerHTML = sessions.map((s) => `<tr><td>${esc(s.id)}</td><td>${esc(s.charge_point_id)}</td><td>${s.connector_id}</td>
    <td>${esc(s.start)}</td><td>${esc(s.stop ?? "charging")}</td><td>${kwh(s.energy_wh)}</td><td>${pct(s.green_share)}</td></tr>`).join("");
}

function drawChart(points) {
  const svg = $("chart");
  if (!points.length) { svg.innerHTML = ""; return; }
  const max = Math.max(1000, ...points.map((p) => Math.max(p.solar_w, p.ev_w)));
  const x = (i) => (points.length === 1 ? 0 : (i / (points.length - 1)) * 800);
  const y = (w) => 230 - (w / max) * 220;
  const line = (key) => points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  svg.innerHTML = `<path d="${line("solar_w")}" fill="none" stroke="var(--solar)" stroke-width="2"/>
    <path d="${line("ev_w")}" fill="none" stroke="var(--ev)" stroke-width="2"/>
    <text x="4" y="14" font-size="12">${kw(max)}</text>`;
}

function drawBars(parks) {
  const svg = $("park-bars");
  const max = Math.max(1000, ...parks.map((p) => p.power_w || 0));
  const width = 800 / Math.max(parks.length, 1);
  svg.innerHTML = parks.map((p, i) => {
    const h = ((p.power_w || 0) / max) * 170;
    return `<rect x="${i * width + 10}" y="${185 - h}" width="${width - 20}" height="${h}" fill="var(--solar)"/>
      <text x="${i * width + 14}" y="198" font-size="12">${esc(p.id)} ${kw(p.power_w)}</text>`;
  }).join("");
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
    return `<rect x="${i * width + 10}" y="${200 - ev}" width="${width - 20}" height="${ev}" fill="var(--ev)"/>
      <rect x="${i * width + 10}" y="${200 - ev - out}" width="${width - 20}" height="${out}" fill="var(--solar)"/>
      <text x="${i * width + 14}" y="215" font-size="12">${esc(r.id)} ${r.generated_kwh.toFixed(1)} kWh</text>`;
  }).join("");
  await loadParkEnergy();
}

async function loadParkEnergy() {
  const park = $("report-park").value;
  if (!park) return;
  const energy = await api(`/api/parks/${encodeURIComponent(park)}/energy?${reportQuery()}&bucket=15min`);
  const points = energy.series;
  const svg = $("park-energy");
  if (!points.length) { svg.innerHTML = `<text x="10" y="20" font-size="12">no energy recorded for ${esc(park)} in this period</text>`; return; }
  const max = Math.max(1, ...points.map((p) => p.generated_wh));
  const x = (i) => (points.length === 1 ? 0 : (i / (points.length - 1)) * 800);
  const y = (wh) => 210 - (wh / max) * 195;
  const line = (key) => points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  svg.innerHTML = `<path d="${line("generated_wh")}" fill="none" stroke="var(--solar)" stroke-width="2"/>
    <path d="${line("to_evs_wh")}" fill="none" stroke="var(--ev)" stroke-width="2"/>
    <text x="4" y="14" font-size="12">${(max / 1000).toFixed(2)} kWh per 15 min</text>`;
}

async function downloadCsv() {
  const coop = $("report-coop").value;
  const response = await fetch(`/api/cooperatives/${encodeURIComponent(coop)}/report?${reportQuery()}&format=csv`,
    { headers: token ? { Authorization: `Bearer ${token}` } : {} });
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

let stream = null;
async function start() {
  try {
    render(await api("/api/live"));
    drawChart(await api("/api/history"));
  } catch (error) {
    $("conn").textContent = error.message;
    return;
  }
  if (stream) stream.close();
  stream = new EventSource(`/api/stream${token ? `?access_token=${encodeURIComponent(token)}` : ""}`);
  stream.addEventListener("snapshot", (event) => {
    render(JSON.parse(event.data));
    $("conn").textContent = "live"; $("conn").className = "pill live";
  });
  stream.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "pill down"; };
  setInterval(async () => { try { drawChart(await api("/api/history")); } catch (e) { /* shown by the stream state */ } }, 10000);
}
start();
