// CoopGrid dashboard charts (loaded before app.js, whose helpers $, esc, when, kw, amps, kwh and pad they use
// when drawn).
// -- charts: uPlot with a time axis, drag-to-zoom (double-click resets) and a tooltip -----------------
const charts = {};
function tooltipPlugin(format) {
  const tip = $("tooltip");
  return {
    hooks: {
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i == null || u.cursor.left < 0) { tip.hidden = true; return; }
        const rows = u.series.slice(1).map((s, k) => (s.show ? `${esc(s.label)}: ${format[k](u.data[k + 1][i])}` : "")).filter(Boolean);
        tip.innerHTML = `${when(new Date(u.data[0][i] * 1000).toISOString())}<br>${rows.join("<br>")}`;
        const box = u.over.getBoundingClientRect();
        tip.style.left = `${Math.min(box.left + u.cursor.left + 12, window.innerWidth - 180)}px`;
        tip.style.top = `${box.top + u.cursor.top + 12}px`;
        tip.hidden = false;
      },
    },
  };
}
const TIME_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
function timeTicks(u, ticks) {
  // 24-hour clock times; seconds when the view spans minutes, the date when it spans days
  const span = u.scales.x.max - u.scales.x.min;
  return ticks.map((t) => {
    const d = new Date(t * 1000);
    const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}${span < 600 ? `:${pad(d.getSeconds())}` : ""}`;
    return span > 2 * 86400 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}` : clock;
  });
}
function chartWidth(el) { return Math.max(260, el.clientWidth - 10); }
function drawChart(key, el, series, data, height = 240) {
  // series: [{label, stroke, unit: "W"|"A"|"Wh", scale}], data: [unix seconds[], ...values[]]
  if (!data[0].length) {
    if (charts[key]) { charts[key].destroy(); delete charts[key]; }
    el.innerHTML = '<p class="empty">no data yet</p>';
    return;
  }
  const fmt = { W: kw, A: amps, Wh: kwh };
  const tick = { W: (v) => (Math.abs(v) < 1000 ? `${Math.round(v)} W` : `${+(v / 1000).toFixed(2)} kW`), A: (v) => `${+v.toFixed(1)} A`,
    Wh: (v) => (Math.abs(v) < 1000 ? `${Math.round(v)} Wh` : `${+(v / 1000).toFixed(2)} kWh`) };
  let chart = charts[key];
  if (chart && chart.root.isConnected && chart.series.length === series.length + 1) {
    const zoomed = chart.scales.x.min > data[0][0] || chart.scales.x.max < data[0][data[0].length - 1];
    chart.setData(data, !zoomed);
    return;
  }
  if (chart) chart.destroy();
  el.innerHTML = "";
  const scales = { x: { time: true } };
  const axes = [{ space: 70, incrs: TIME_STEPS, values: timeTicks }];
  for (const unit of [...new Set(series.map((s) => s.unit))]) {
    scales[unit] = { auto: true, range: (u, min, max) => [0, Math.max(max * 1.1, unit === "A" ? 1 : 100)] };
    axes.push({ scale: unit, side: axes.length === 1 ? 3 : 1, grid: { show: axes.length === 1 }, size: 70, values: (u, ticks) => ticks.map((v) => tick[unit](v)) });
  }
  chart = new uPlot({
    width: chartWidth(el),
    height,
    scales,
    axes,
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
    plugins: [tooltipPlugin(series.map((s) => fmt[s.unit]))],
    series: [{ value: (u, v) => (v == null ? "–" : when(new Date(v * 1000).toISOString())) },
      ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, dash: s.dash, scale: s.unit, fill: s.fill, value: (u, v) => fmt[s.unit](v) }))],
  }, data, el);
  charts[key] = chart;
}
window.addEventListener("resize", () => { for (const chart of Object.values(charts)) if (chart.root.isConnected) chart.setSize({ width: chartWidth(chart.root.parentElement), height: chart.height }); });
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

