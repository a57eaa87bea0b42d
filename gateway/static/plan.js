// The planner's day ahead per site (GET /api/sites/{id}/plan), in the allocation view: the horizon's totals,
// a chart of every slot (grid import, green energy into the site's EVs, export, the batteries' charge), and
// the next eight slots as a table. Uses app.js's helpers (api, esc, when, kwh, amps, css, drawChart).
let plans = {}; // site id -> its plan

async function loadPlans() {
  const ids = Object.keys(sites);
  const got = await Promise.all(ids.map((id) => api(`/api/sites/${encodeURIComponent(id)}/plan`).catch(() => null)));
  plans = Object.fromEntries(ids.map((id, k) => [id, got[k]]));
}

function planOf(site) {
  const p = plans[site];
  if (!p || !p.planned) return `<p class="plan">plan: ${p ? "none yet" : "–"}</p>`;
  const total = (xs) => xs.reduce((a, b) => a + b, 0);
  const hours = (p.slots.length * (p.slot_s || 0)) / 3600;
  const rows = p.slots.slice(0, 8).map((s) => `<tr><td>${when(s.start)}</td><td class="num">${kwh(s.import_wh)}</td><td class="num">${kwh(s.green_ev_wh)}</td><td class="num">${amps(s.max_phase_a)}</td></tr>`).join("");
  return `<div class="plan"><p>plan for the next ${hours.toFixed(0)} h (forecast quantile ${esc(p.quantile)}): import ${kwh(total(p.slots.map((s) => s.import_wh)))}, green into EVs ${kwh(total(p.slots.map((s) => s.green_ev_wh)))}</p>
    <div class="plan-chart" data-plan-chart="${esc(site)}"></div>
    <div class="scroll"><table><thead><tr><th>Slot</th><th class="num">Import</th><th class="num">Green to EVs</th><th class="num">Peak phase</th></tr></thead><tbody>${rows}</tbody></table></div></div>`;
}

// one chart per planned site, energy per slot (kWh), and each battery's planned charge and discharge
function drawPlans() {
  for (const el of document.querySelectorAll("[data-plan-chart]")) {
    const p = plans[el.dataset.planChart];
    if (!p || !p.planned) continue;
    const xs = p.slots.map((s) => Date.parse(s.start) / 1000);
    const series = [
      { label: "grid import", stroke: css("--grid"), unit: "Wh" },
      { label: "green into EVs", stroke: css("--ok"), fill: "#2a9d4b22", unit: "Wh" },
      { label: "export", stroke: css("--solar"), dash: [4, 4], unit: "Wh" },
    ];
    const data = [xs, p.slots.map((s) => s.import_wh), p.slots.map((s) => s.green_ev_wh), p.slots.map((s) => s.export_wh || 0)];
    for (const b of p.batteries || []) {
      if (!b.charge_wh) continue;
      series.push({ label: `${b.id} charge`, stroke: css("--ev"), unit: "Wh" });
      series.push({ label: `${b.id} discharge`, stroke: css("--current"), dash: [2, 3], unit: "Wh" });
      data.push(p.slots.map((_, k) => b.charge_wh[k] || 0), p.slots.map((_, k) => (b.discharge_wh || [])[k] || 0));
    }
    drawChart(`plan-${el.dataset.planChart}`, el, series, data, 180);
  }
}
