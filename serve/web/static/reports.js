// Reports: pass rate per point type and department (bar charts), its trend over weeks (line chart),
// the backlog, the model's field precision and the score sheet. Charts are inline SVG drawn here.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4338ca"];

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function rateColour(rate) {
  if (rate === null) return "#9aa5b1";
  return rate >= 0.9 ? "#15803d" : rate >= 0.75 ? "#a16207" : "#b91c1c";
}

// Horizontal bars, one per group, worst first (as the report orders them).
function barChart(groups, label) {
  if (!groups.length) return el("p", { class: "empty" }, t("reports.none"));
  const row = 28, left = 120, width = 420, height = groups.length * row + 24;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  const scale = (v) => left + v * (width - left - 105);
  for (const tick of [0, 0.5, 1]) {
    chart.append(svg("line", { class: "grid", x1: scale(tick), x2: scale(tick), y1: 0, y2: height - 20 }));
    chart.append(svg("text", { x: scale(tick), y: height - 6, "text-anchor": "middle" }, `${tick * 100}%`));
  }
  groups.forEach((g, i) => {
    const y = i * row + 4;
    const bar = svg("g", { "data-name": g.name, "data-rate": g.pass_rate ?? "" });
    bar.append(svg("text", { x: left - 8, y: y + 16, "text-anchor": "end" }, g.name));
    bar.append(svg("rect", { x: left, y, width: Math.max(0, scale(g.pass_rate ?? 0) - left), height: row - 10, fill: rateColour(g.pass_rate), rx: 3 }));
    bar.append(svg("text", { x: scale(g.pass_rate ?? 0) + 6, y: y + 16 }, `${formatRate(g.pass_rate)} (${g.passed}/${g.observations})`));
    bar.append(svg("title", {}, `${g.name}: ${formatRate(g.pass_rate)}`));
    chart.append(bar);
  });
  return chart;
}

// Lines over the weeks: overall and each point type.
function trendChart(weeks) {
  const width = 760, height = 250, left = 44, right = 130, top = 10, bottom = 26;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("reports.trend") });
  const x = (i) => left + (weeks.length === 1 ? 0 : (i * (width - left - right)) / (weeks.length - 1));
  const y = (rate) => top + (1 - rate) * (height - top - bottom);
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }));
    chart.append(svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, `${tick * 100}%`));
  }
  weeks.forEach((w, i) => chart.append(svg("text", { x: x(i), y: height - 8, "text-anchor": "middle" }, w.last_day.slice(5))));
  const types = [...new Set(weeks.flatMap((w) => w.by_point_type.map((g) => g.name)))];
  const series = [{ name: t("reports.all"), rates: weeks.map((w) => w.overall.pass_rate), width: 3 },
                  ...types.map((name) => ({ name, width: 1.5, rates: weeks.map((w) => (w.by_point_type.find((g) => g.name === name) || {}).pass_rate ?? null) }))];
  series.forEach((s, k) => {
    const colour = PALETTE[k % PALETTE.length];
    const points = s.rates.map((r, i) => (r === null ? null : [x(i), y(r)])).filter(Boolean);
    const line = svg("g", { "data-series": s.name });
    if (points.length) {
      line.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: colour, "stroke-width": s.width }));
      s.rates.forEach((rate, i) => {
        if (rate === null) return;
        const dot = svg("circle", { cx: x(i), cy: y(rate), r: 3.5, fill: colour, "data-rate": rate });
        dot.append(svg("title", {}, `${s.name} ${weeks[i].first_day} – ${weeks[i].last_day}: ${formatRate(rate)}`));
        line.append(dot);
      });
    }
    line.append(svg("rect", { x: width - right + 14, y: top + k * 20, width: 12, height: 12, fill: colour }));
    line.append(svg("text", { x: width - right + 32, y: top + k * 20 + 11 }, s.name));
    chart.append(line);
  });
  return chart;
}

function cells(values) {
  return values.map(([v, numeric]) => el("td", { class: numeric ? "num" : null }, v === null || v === undefined ? "—" : String(v)));
}

async function showPassRate() {
  const from = $("r-from").value, to = $("r-to").value;
  $("csv-link").href = `/v1/reports/pass-rate?${query({ from, to, format: "csv" })}`;
  $("weekly-link").href = `/reports/weekly?${query({ to })}`;
  const report = await api(`/v1/reports/pass-rate?${query({ from, to })}`);
  $("overall-rate").textContent = formatRate(report.overall.pass_rate);
  $("overall-detail").textContent = `${report.city} · ${report.first_day} – ${report.last_day} · ${t("reports.observations")} ${report.overall.observations} · ${t("reports.failed")} ${report.overall.failed}`;
  $("chart-type").replaceChildren(barChart(report.by_point_type, t("reports.by_point_type")));
  $("chart-department").replaceChildren(barChart(report.by_department, t("reports.by_department")));
  $("sheet-table").tBodies[0].replaceChildren(...report.sheet.map((r) => el("tr", {}, ...cells([
    [r.point_name], [r.point_type], [r.department], [r.standard], [r.observations, 1], [r.failed, 1], [formatRate(r.pass_rate), 1]]))));
}

async function showBacklog() {
  const backlog = await api("/v1/reports/backlog");
  $("awaiting-review").textContent = backlog.awaiting_review;
  $("awaiting-dispatch").textContent = backlog.awaiting_dispatch;
  $("backlog-table").tBodies[0].replaceChildren(...(backlog.departments.length ? backlog.departments.map((d) =>
    el("tr", { "data-department": d.department, class: d.overdue ? "overdue" : null }, ...cells([
      [d.department], [d.open, 1], [d.overdue, 1], [d.dispatched, 1], [d.mean_disposal_h, 1]])))
    : [el("tr", {}, el("td", { colspan: 5, class: "empty" }, t("reports.none")))]));
  $("precision-table").tBodies[0].replaceChildren(...backlog.review_by_code.map((s) => el("tr", { "data-code": s.key }, ...cells([
    [`${s.key} ${codeName(s.key)}`], [s.reviewed, 1], [s.confirmed, 1], [s.corrected, 1], [s.rejected, 1], [formatRate(s.precision), 1]]))));
}

async function showTrend() {
  $("chart-trend").replaceChildren(trendChart(await api("/v1/web/trend?weeks=8")));
}

document.addEventListener("DOMContentLoaded", () => {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: CITY.timezone }).format(new Date());
  const start = new Date(`${today}T00:00:00Z`);
  start.setUTCDate(start.getUTCDate() - 6);
  $("r-to").value = today;
  $("r-from").value = start.toISOString().slice(0, 10);
  $("range").addEventListener("submit", (event) => { event.preventDefault(); showPassRate(); });
  showPassRate();
  showBacklog();
  showTrend();
});
