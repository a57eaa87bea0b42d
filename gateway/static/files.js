"use strict";
// The charger page's reservations, firmware and diagnostics (after app.js: uses its api, esc, when, route, $).
// Reservations: GET /api/reservations?chargepoint=&active=true, cancelled with DELETE /api/reservations/{id}.
// Firmware and diagnostics: GET /api/chargepoints/{id}/firmware and /diagnostics (each request with the status
// steps the charger reported; received files downloadable).

function untilExpiry(iso) {
  const seconds = (new Date(iso) - new Date()) / 1000;
  return seconds > 0 ? `in ${duration(seconds)}` : "expired";
}

function renderReservations(id, reservations) {
  const rows = reservations.map((r) => `<tr data-reservation="${esc(r.id)}">
      <td data-label="Reservation">${esc(r.id)}</td><td data-label="Connector">${esc(r.connector_id)}</td>
      <td data-label="Id tag">${esc(r.id_tag)}${r.parent_id_tag ? ` (group ${esc(r.parent_id_tag)})` : ""}</td>
      <td data-label="Expires">${when(r.expiry_date)} <span class="small">${untilExpiry(r.expiry_date)}</span></td>
      <td data-label="Status">${esc(r.status)}</td>
      <td><button class="cancel-reservation" data-reservation="${esc(r.id)}">Cancel</button></td></tr>`);
  $("detail-reservations").innerHTML = rows.join("") || '<tr><td colspan="6">no active reservation</td></tr>';
  for (const button of document.querySelectorAll("#detail-reservations .cancel-reservation")) {
    button.addEventListener("click", () => cancelReservation(id, button.dataset.reservation));
  }
}

async function cancelReservation(id, reservationId) {
  try {
    const result = await api(`/api/reservations/${encodeURIComponent(reservationId)}`, { method: "DELETE" });
    $("reservation-result").textContent = `reservation ${reservationId}: ${result.status} (charger: ${result.charger_status})`;
  } catch (error) {
    $("reservation-result").textContent = `cancelling reservation ${reservationId} failed: ${error.message}`;
  }
  await loadChargerFiles(id);
}

function transferRow(t) {
  const steps = t.steps.map((s) => esc(s.status)).join(" → ") || "–";
  const file = t.file_url ? ` · <a href="${esc(t.file_url)}" download>${esc(t.filename)}</a> (${esc(t.size_bytes)} bytes)` : "";
  const fetched = t.kind === "firmware" ? ` · fetched ${esc(t.downloads)}×` : "";
  return `<li data-transfer="${esc(t.id)}"><time datetime="${esc(t.requested)}">${when(t.requested)}</time>
    ${esc(t.action)} #${esc(t.id)}: ${esc(t.answer || "sent")} · ${steps}${fetched}${file}</li>`;
}

function renderTransfers(element, view) {
  const items = (view?.transfers || []).map(transferRow);
  $(element).innerHTML = items.join("") || "<li>none yet</li>";
}

async function loadChargerFiles(id) {
  const base = `/api/chargepoints/${encodeURIComponent(id)}`;
  const [reservations, firmware, diagnostics] = await Promise.all([
    api(`/api/reservations?chargepoint=${encodeURIComponent(id)}&active=true`).catch(() => []),
    api(`${base}/firmware`).catch(() => null),
    api(`${base}/diagnostics`).catch(() => null),
  ]);
  if (route.id !== id) return;
  renderReservations(id, reservations);
  renderTransfers("detail-firmware", firmware);
  renderTransfers("detail-diagnostics", diagnostics);
  $("detail-firmware-version").textContent = firmware?.firmware_version ? `reported at boot: ${firmware.firmware_version}` : "";
}

$("request-log").addEventListener("click", async () => {
  const id = route.id;
  try {
    const result = await api(`/api/chargepoints/${encodeURIComponent(id)}/diagnostics`, { method: "POST", body: "{}" });
    $("diagnostics-result").textContent = `${result.action} #${result.id}: ${result.answer}`;
  } catch (error) {
    $("diagnostics-result").textContent = `diagnostics request failed: ${error.message}`;
  }
  await loadChargerFiles(id);
});
