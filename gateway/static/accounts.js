"use strict";
// CoopGrid dashboard, the Accounts tab (#/accounts): loaded after app.js, whose helpers ($, api, esc, kwh, pct)
// it uses; app.js's refreshRoute() calls loadAccounts() when the tab shows.
// -- charging accounts: each one's month (sessions started in it), as its summary says ---------------------
function monthRange(month) {
  const start = new Date(`${month}-01T00:00:00Z`);
  const end = new Date(start);
  end.setUTCMonth(end.getUTCMonth() + 1);
  const iso = (d) => d.toISOString().replace(".000", "");
  return `from=${iso(start)}&to=${iso(end)}`;
}
async function loadAccounts() {
  if (!$("accounts-month").value) $("accounts-month").value = new Date().toISOString().slice(0, 7);
  const month = $("accounts-month").value;
  const accounts = await api("/api/accounts");
  const summaries = await Promise.all(accounts.map((a) => api(`/api/accounts/${encodeURIComponent(a.id)}/summary?${monthRange(month)}`)));
  const money = (cost) => Object.entries(cost).map(([currency, total]) => `${esc(total)} ${esc(currency)}`).join(", ") || "–";
  $("account-rows").innerHTML = accounts.map((a, k) => {
    const s = summaries[k];
    const parks = Object.entries(s.green_energy_by_park_wh).map(([park, wh]) => `${esc(park)} ${kwh(wh)}`).join(", ") || "–";
    const statement = `/api/accounts/${encodeURIComponent(a.id)}/statement?month=${encodeURIComponent(month)}&format=html`;
    return `<tr data-id="${esc(a.id)}"><td data-label="Account">${esc(a.name || a.id)}</td><td data-label="Kind">${esc(a.kind)}</td>
      <td data-label="Cooperative">${esc(a.cooperative_id || "")}</td><td data-label="Sessions" class="num">${s.sessions}</td>
      <td data-label="Energy" class="num">${kwh(s.energy_wh)}</td><td data-label="Green" class="num" title="${kwh(s.green_energy_wh)} green">${pct(s.green_share)}</td>
      <td data-label="Green from parks" class="parks">${parks}</td><td data-label="Cost" class="num cost" title="${s.unpriced_sessions} sessions without a tariff">${money(s.cost)}</td>
      <td data-label="Statement"><a href="${statement}" target="_blank" rel="noopener">${esc(month)}</a></td></tr>`;
  }).join("");
  $("accounts-summary").textContent = accounts.length ? `${accounts.length} accounts, sessions started in ${month} (UTC)` : "no charging accounts";
}
$("accounts-form").addEventListener("submit", (event) => { event.preventDefault(); loadAccounts().catch((e) => { $("accounts-summary").textContent = e.message; }); });

