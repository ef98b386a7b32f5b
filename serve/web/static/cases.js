// Cases per department: to dispatch, dispatched (with deadlines), resolved, overdue, and each case's
// history. Supervisors dispatch, record the department's feedback, close and reopen from here.
"use strict";

const $ = (id) => document.getElementById(id);
const SUPERVISES = ["supervisor", "admin"].includes(document.body.dataset.role);
const OPEN = ["confirmed", "dispatched", "resolved"];

async function fetchCases() {
  const f = $("case-filters");
  const params = { case_status: f.closed.checked ? [...OPEN, "closed"] : OPEN, department: f.department.value,
                   overdue: f.overdue.checked ? "true" : "", limit: 500 };
  return (await api(`/v1/incidents?${query(params)}`)).items;
}

function deadlineText(item) {
  if (!item.deadline_at) return "—";
  const left = (new Date(item.deadline_at) - Date.now()) / 1000;
  const when = formatTime(item.deadline_at);
  if (["closed"].includes(item.case_status)) return when;
  return left >= 0 ? `${when}（${t("cases.left")} ${formatDuration(left)}）` : `${when}（${t("cases.over")} ${formatDuration(-left)}）`;
}

function actionsFor(item) {
  if (!SUPERVISES) return [];
  const button = (action, label) => el("button", { type: "button", "data-action": action, "data-id": item.id,
    onclick: () => openAction(item, action) }, label);
  return {
    confirmed: [button("dispatch", t("cases.dispatch"))],
    dispatched: [button("resolve", t("cases.resolve"))],
    resolved: [button("close", t("cases.close")), button("reopen", t("cases.reopen"))],
    closed: [button("reopen", t("cases.reopen"))],
  }[item.case_status] || [];
}

function row(item) {
  const status = el("td", {}, el("span", { class: "badge" }, t(`case.${item.case_status}`)),
    item.overdue ? el("span", { class: "badge overdue" }, t("case.overdue")) : null);
  const history = el("details", { "data-id": item.id },
    el("summary", {}, t("cases.history")), el("ol", { class: "history" }, el("li", {}, t("loading"))));
  history.addEventListener("toggle", () => { if (history.open) loadHistory(item.id, history.querySelector("ol")); });
  return el("tr", { class: item.overdue ? "overdue" : null, "data-id": item.id },
    el("td", { class: "num" }, `#${item.id}`),
    el("td", {}, `${item.effective_code} ${codeName(item.effective_code)}`),
    el("td", {}, `${item.point_name || item.point_id}`, el("br"), el("small", {}, item.point_type || "")),
    status,
    el("td", {}, deadlineText(item)),
    el("td", {}, ...actionsFor(item)),
    el("td", {}, history));
}

async function loadHistory(id, list) {
  const d = await api(`/v1/incidents/${id}`);
  const entries = d.history.map((h) => el("li", {},
    `${formatTime(h.at)} ${h.actor} ${t(`history.${h.action}`)}`,
    h.after && h.after.dispatched_to ? ` → ${h.after.dispatched_to}` : "",
    h.comment ? `：${h.comment}` : ""));
  if (d.case.resolution_photo_url) {
    entries.push(el("li", {}, el("a", { href: d.case.resolution_photo_url, target: "_blank", rel: "noopener" }, t("cases.photo_link"))));
  }
  list.replaceChildren(...(entries.length ? entries : [el("li", {}, t("history.empty"))]));
}

async function render() {
  const items = await fetchCases();
  const groups = new Map();
  for (const item of items) {
    if (!groups.has(item.department)) groups.set(item.department, []);
    groups.get(item.department).push(item);
  }
  // Most overdue departments first, then the busiest.
  const ordered = [...groups.entries()].sort((a, b) =>
    b[1].filter((i) => i.overdue).length - a[1].filter((i) => i.overdue).length || b[1].length - a[1].length);
  // Within a department: overdue first, then the nearest deadlines, then those to dispatch.
  const rank = { dispatched: 0, resolved: 1, confirmed: 2, closed: 3 };
  const deadline = (i) => (i.deadline_at ? new Date(i.deadline_at).getTime() : Infinity);
  for (const [, cases] of ordered) {
    cases.sort((a, b) => b.overdue - a.overdue || rank[a.case_status] - rank[b.case_status] ||
      deadline(a) - deadline(b) || b.id - a.id);
  }
  const sections = ordered.map(([department, cases]) => {
    const count = (status) => cases.filter((i) => i.case_status === status).length;
    const headingId = `dep-${department}`;
    return el("section", { class: "department", "aria-labelledby": headingId, "data-department": department },
      el("h2", { id: headingId }, department, el("span", { class: "summary" }, t("cases.summary", {
        confirmed: count("confirmed"), dispatched: count("dispatched"), resolved: count("resolved"),
        overdue: cases.filter((i) => i.overdue).length }))),
      el("table", {},
        el("thead", {}, el("tr", {}, ...["cases.id", "cases.event", "cases.point", "cases.status", "cases.deadline",
          "cases.actions", "cases.history"].map((k) => el("th", { scope: "col" }, t(k))))),
        el("tbody", {}, cases.map(row))));
  });
  $("departments").replaceChildren(...sections);
  $("cases-empty").hidden = items.length > 0;
}

// One dialog for every action; its fields depend on the action.
let pending = null;
function openAction(item, action) {
  pending = { item, action };
  const fields = {
    dispatch: () => {
      const rule = codeInfo(item.effective_code).department;
      const select = el("select", { id: "f-department", name: "department" },
        [...new Set([rule, ...CITY.departments].filter(Boolean))].map((d) => el("option", { value: d, selected: d === rule }, d)));
      return [el("label", { for: "f-department" }, t("cases.to_department")), select];
    },
    resolve: () => [el("label", { for: "f-note" }, t("cases.note")), el("input", { id: "f-note", name: "note", required: true, maxlength: 4000 }),
      el("label", { for: "f-photo" }, t("cases.photo")), el("input", { id: "f-photo", name: "photo", type: "file", accept: "image/jpeg" })],
    close: () => [el("label", { for: "f-verification" }, t("cases.verification")),
      el("select", { id: "f-verification", name: "verification" },
        el("option", { value: "camera" }, t("cases.verification.camera")),
        el("option", { value: "inspection" }, t("cases.verification.inspection")))],
    reopen: () => [el("label", { for: "f-comment" }, t("cases.reopen_why")), el("input", { id: "f-comment", name: "comment", required: true, maxlength: 2000 })],
  }[action]();
  const comment = action === "reopen" ? [] : [el("label", { for: "f-comment" }, t("review.comment")),
                                              el("input", { id: "f-comment", name: "comment", maxlength: 2000 })];
  $("case-dialog-title").textContent = `${t(`cases.${action}`)} · #${item.id} ${item.effective_code} ${codeName(item.effective_code)}`;
  $("case-fields").replaceChildren(el("div", { class: "panel" }, ...fields, ...comment));
  $("case-error").hidden = true;
  $("case-dialog").showModal();
  $("case-fields").querySelector("select, input").focus();
}

async function submitAction(event) {
  event.preventDefault();
  const { item, action } = pending;
  const form = $("case-form");
  const value = (name) => (form.elements[name] ? form.elements[name].value : "") || null;
  const body = { comment: value("comment") };
  if (action === "dispatch") body.department = value("department");
  if (action === "resolve") body.note = value("note");
  if (action === "close") body.verification = value("verification");
  const photo = action === "resolve" ? form.elements.photo.files[0] : null;
  let request = { json: body };
  if (photo) { // the department's photo of the place afterwards goes as multipart
    const data = new FormData();
    data.append("note", body.note || "");
    if (body.comment) data.append("comment", body.comment);
    data.append("photo", photo);
    request = { method: "POST", body: data };
  }
  try {
    await api(`/v1/incidents/${item.id}/${action}`, request);
  } catch (error) {
    $("case-error").textContent = `${t("error.generic")}: ${error.message}`;
    $("case-error").hidden = false;
    return;
  }
  $("case-dialog").close();
  toast(`${t(`cases.${action}`)} #${item.id}`, "ok");
  await render();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const d of CITY.departments) $("c-department").append(el("option", { value: d }, d));
  $("case-filters").addEventListener("change", render);
  $("case-form").addEventListener("submit", submitAction);
  $("case-cancel").addEventListener("click", () => $("case-dialog").close());
  render();
});
