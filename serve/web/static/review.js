// The review queue: violations awaiting review, one at a time, with keys for every action.
// 1 confirm · 2 reject (reason) · 3 correct (code and/or a box dragged on the frame) · ↑↓ ←→ move.
"use strict";

// done: reviewed here (a reload that raced the review must not bring them back); shown: the item on screen.
const state = { items: [], index: 0, details: new Map(), known: null, fresh: new Set(), done: new Set(), shown: null,
                box: null, busy: false, reset: true };
const $ = (id) => document.getElementById(id);

function filters() {
  const form = $("filters");
  return { code: form.code.value, point_type: form.point_type.value, department: form.department.value,
           camera: form.camera.value, order: form.order.value };
}

function fillFilters() {
  const options = {
    "f-code": CITY.codes.map((c) => [c.code, `${c.code} ${LANG === "zh" ? c.name : c.name_en || c.name}`]),
    "f-point_type": CITY.point_types.map((p) => [p, p]),
    "f-department": CITY.departments.map((d) => [d, d]),
    "f-camera": CITY.cameras.map((c) => [c.id, c.name ? `${c.name} (${c.id})` : c.id]),
  };
  for (const [id, pairs] of Object.entries(options)) {
    for (const [value, label] of pairs) $(id).append(el("option", { value }, label));
  }
  $("correct-code").append(...CITY.codes.map((c) => el("option", { value: c.code },
    `${c.code} ${LANG === "zh" ? c.name : c.name_en || c.name}`)));
}

// Violations no one has reviewed: still seen (violation) or gone since (cleared), newest or oldest first.
async function fetchQueue(f) {
  const params = { status: ["violation", "cleared"], case_status: "new", code: f.code, point_type: f.point_type,
                   department: f.department, camera: f.camera, limit: 200 };
  let page = await api(`/v1/incidents?${query(params)}`);
  if (f.order === "oldest") {
    if (page.total > page.items.length) page = await api(`/v1/incidents?${query({ ...params, offset: page.total - 200 })}`);
    page.items.reverse();
  }
  return page;
}

// Loads never overlap: a live event or a filter change during a load asks for one more load after
// it. A load whose filters changed meanwhile is not shown; after a filter change the queue starts
// again at its first item.
let loading = null, again = false, announceAgain = false;
function loadQueue({ announce = false } = {}) {
  if (loading) {
    again = true;
    announceAgain ||= announce;
    return loading;
  }
  loading = (async () => {
    try {
      let next = announce;
      do {
        again = false;
        await loadOnce(next);
        next = announceAgain;
        announceAgain = false;
      } while (again);
    } finally {
      loading = null;
    }
  })();
  return loading;
}

async function loadOnce(announce) {
  const asked = filters();
  const page = await fetchQueue(asked);
  if (JSON.stringify(asked) !== JSON.stringify(filters())) {
    again = true;
    return;
  }
  page.items = page.items.filter((i) => !state.done.has(i.id));
  const current = state.reset ? null : state.items[state.index];
  state.reset = false;
  const ids = new Set(page.items.map((i) => i.id));
  if (state.known && announce) {
    const arrived = page.items.filter((i) => !state.known.has(i.id));
    arrived.forEach((i) => state.fresh.add(i.id));
    if (arrived.length) toast(`${arrived.length} ${t("review.new_arrivals")}`);
  }
  state.known = new Set([...(state.known || []), ...ids]);
  state.items = page.items;
  state.total = page.total;
  // The item on screen stays; if it left (a colleague reviewed it), the one after it comes up.
  const at = current ? state.items.findIndex((i) => i.id === current.id) : -1;
  state.index = at >= 0 ? at : current ? Math.min(state.index, Math.max(0, state.items.length - 1)) : 0;
  renderList();
  await show();
}

function renderList() {
  const list = $("queue-list");
  list.replaceChildren(...state.items.map((item, i) => el("li", {},
    el("button", { type: "button", class: "queue-item", "data-id": item.id, "aria-current": i === state.index ? "true" : null,
                   onclick: () => { state.index = i; renderList(); show(); } },
      el("span", { class: "code" }, item.effective_code),
      el("span", { class: "name" }, codeName(item.effective_code)),
      state.fresh.has(item.id) ? el("span", { class: "badge fresh" }, t("review.new")) : null,
      el("span", { class: "meta" }, `${item.point_name || item.point_id} · ${formatTime(item.violation_at || item.first_seen)}`),
      el("span", { class: "meta" }, `${t("review.duration")} ${formatDuration((new Date(item.last_seen) - new Date(item.first_seen)) / 1000)} · ${(item.best_score * 100).toFixed(0)}%`),
    ))));
  $("queue-count").textContent = `${state.total ?? state.items.length} ${t("review.count")}`;
  $("queue-empty").hidden = state.items.length > 0;
  document.querySelector(".review-layout").classList.toggle("is-empty", state.items.length === 0);
  const selected = list.querySelector('[aria-current="true"]');
  if (selected) selected.scrollIntoView({ block: "nearest" });
}

function detail(id) {
  if (!state.details.has(id)) {
    const promise = api(`/v1/incidents/${id}`).then((d) => {
      // Preload the images, so that the next item comes up at once.
      for (const url of [d.evidence.best.annotated_url, d.evidence.best.image_url, d.evidence.first.annotated_url,
                         d.evidence.last.annotated_url]) if (url) new Image().src = url;
      return d;
    });
    promise.catch(() => state.details.delete(id));
    state.details.set(id, promise);
  }
  return state.details.get(id);
}

async function show() {
  const item = state.items[state.index];
  if (item?.id !== state.shown) closePanels(); // a live reload keeps an open reject/correct panel
  state.shown = item ? item.id : null;
  if (!item) return;
  const d = await detail(item.id);
  if (state.items[state.index] !== item) return; // moved on meanwhile
  for (const next of state.items.slice(state.index + 1, state.index + 3)) detail(next.id);

  showFrame(d, "best");
  for (const thumb of document.querySelectorAll(".thumb")) {
    const frame = d.evidence[thumb.dataset.which];
    thumb.querySelector("img").src = frame.annotated_url || frame.image_url || "";
    thumb.querySelector(".thumb-time").textContent = formatTime(frame.captured_at);
  }
  $("d-code").textContent = d.effective_code;
  $("d-name").textContent = LANG === "zh" || !d.name_en ? d.name || "" : d.name_en;
  $("d-standard").textContent = d.standard || "—";
  $("d-point").textContent = [d.point.name || d.point_id, d.point.type].filter(Boolean).join(" · ");
  $("d-owner").textContent = [d.point.department, d.point.keeper].filter(Boolean).join(" · ") || "—";
  $("d-department").textContent = d.department;
  $("d-camera").textContent = d.camera_name ? `${d.camera_name} (${d.camera_id})` : d.camera_id;
  $("d-first").textContent = formatTime(d.first_seen);
  $("d-duration").textContent = formatDuration((new Date(d.last_seen) - new Date(d.first_seen)) / 1000);
  $("d-score").textContent = `${(d.best_score * 100).toFixed(1)}%`;
  $("d-hits").textContent = String(d.sightings.count);
  $("d-status").textContent = t(`status.${d.status}`);
  drawCrop(d);
}

// The main frame: the best one by default, or the first or latest sighting's.
function showFrame(d, which) {
  const frame = d.evidence[which];
  $("frame-img").src = frame.annotated_url || frame.image_url || "";
  for (const thumb of document.querySelectorAll(".thumb")) thumb.setAttribute("aria-pressed", String(thumb.dataset.which === which));
}

// A close-up of the evidence box, cut from the frame as the camera sent it.
function drawCrop(d) {
  const canvas = $("crop"), context = canvas.getContext("2d");
  context.fillStyle = "#1b2430";
  context.fillRect(0, 0, canvas.width, canvas.height);
  const url = d.evidence.best.image_url;
  if (!url) return;
  const image = new Image();
  image.onload = () => {
    if (state.items[state.index]?.id !== d.id) return;
    const [x1, y1, x2, y2] = d.case.corrected_box || d.box;
    const w = image.naturalWidth, h = image.naturalHeight;
    // The box with a margin of half its size, at the canvas' aspect ratio.
    let cw = (x2 - x1) * w * 2, ch = (y2 - y1) * h * 2;
    const aspect = canvas.width / canvas.height;
    if (cw / ch > aspect) ch = cw / aspect; else cw = ch * aspect;
    cw = Math.min(Math.max(cw, 48), w); ch = Math.min(Math.max(ch, 32), h);
    const cx = Math.min(Math.max(((x1 + x2) / 2) * w - cw / 2, 0), w - cw);
    const cy = Math.min(Math.max(((y1 + y2) / 2) * h - ch / 2, 0), h - ch);
    context.drawImage(image, cx, cy, cw, ch, 0, 0, canvas.width, canvas.height);
    const sx = canvas.width / cw, sy = canvas.height / ch;
    context.strokeStyle = "#ffd400";
    context.lineWidth = 2;
    context.strokeRect((x1 * w - cx) * sx, (y1 * h - cy) * sy, (x2 - x1) * w * sx, (y2 - y1) * h * sy);
  };
  image.src = url;
}

function move(step) {
  if (!state.items.length) return;
  state.index = Math.min(Math.max(state.index + step, 0), state.items.length - 1);
  renderList();
  show();
}

function closePanels() {
  // Focus must not stay in a hidden panel, or the next key would go to it.
  if (document.activeElement && document.activeElement.closest(".panel")) document.activeElement.blur();
  for (const id of ["reject-form", "correct-form"]) $(id).hidden = true;
  $("action-error").hidden = true;
  setBox(null);
  document.querySelector(".frame-box").classList.remove("drawing");
}

function openPanel(id) {
  if (!state.items[state.index]) return;
  closePanels();
  const form = $(id);
  form.reset();
  form.hidden = false;
  if (id === "correct-form") {
    $("correct-code").value = state.items[state.index].effective_code;
    document.querySelector(".frame-box").classList.add("drawing");
    $("correct-code").focus();
  } else {
    form.querySelector("input[type=radio]:checked").focus();
  }
}

async function act(action, body) {
  const item = state.items[state.index];
  if (!item || state.busy) return;
  state.busy = true;
  try {
    await api(`/v1/incidents/${item.id}/${action}`, { json: body });
  } catch (error) {
    if (error.status === 401) return;
    $("action-error").textContent = `${t("error.generic")}: ${error.message}`;
    $("action-error").hidden = false;
    return;
  } finally {
    state.busy = false;
  }
  toast(`${t(`review.done.${action}`)} #${item.id} ${item.effective_code}`, "ok");
  // The reviewed item leaves the queue; the one after it comes up in its place.
  state.done.add(item.id);
  state.items.splice(state.index, 1);
  state.total = Math.max(0, (state.total || 1) - 1);
  state.details.delete(item.id);
  if (state.index >= state.items.length) state.index = Math.max(0, state.items.length - 1);
  renderList();
  if (state.items.length) await show(); else { closePanels(); clearDetails(); }
}

function clearDetails() {
  $("frame-img").removeAttribute("src");
  for (const id of ["d-code", "d-name", "d-standard", "d-point", "d-owner", "d-department", "d-camera", "d-first", "d-duration",
                    "d-score", "d-hits", "d-status"]) $(id).textContent = "";
  for (const thumb of document.querySelectorAll(".thumb")) {
    thumb.querySelector("img").removeAttribute("src");
    thumb.querySelector(".thumb-time").textContent = "";
  }
  const canvas = $("crop");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

// Dragging on the frame (while correcting) draws the corrected box, in relative coordinates.
function setBox(box) {
  state.box = box;
  const rect = $("draw-box");
  if (!box) {
    rect.setAttribute("visibility", "hidden");
    $("correct-box").textContent = t("review.box_none");
    return;
  }
  const [x1, y1, x2, y2] = box;
  rect.setAttribute("x", x1); rect.setAttribute("y", y1);
  rect.setAttribute("width", x2 - x1); rect.setAttribute("height", y2 - y1);
  rect.setAttribute("visibility", "visible");
  $("correct-box").textContent = box.map((v) => v.toFixed(3)).join(", ");
}

function wireDrawing() {
  const overlay = $("frame-overlay");
  let start = null;
  const at = (event) => {
    const r = overlay.getBoundingClientRect();
    return [Math.min(Math.max((event.clientX - r.left) / r.width, 0), 1),
            Math.min(Math.max((event.clientY - r.top) / r.height, 0), 1)];
  };
  const boxFrom = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  overlay.addEventListener("pointerdown", (event) => {
    if ($("correct-form").hidden) return;
    start = at(event);
    overlay.setPointerCapture(event.pointerId);
  });
  overlay.addEventListener("pointermove", (event) => { if (start) setBox(boxFrom(start, at(event))); });
  overlay.addEventListener("pointerup", (event) => {
    if (!start) return;
    const box = boxFrom(start, at(event));
    start = null;
    setBox(box[2] - box[0] > 0.003 && box[3] - box[1] > 0.003 ? box : null);
  });
}

function submitOnEnter(form) {
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); form.requestSubmit(); }
    if (event.key === "Escape") { event.preventDefault(); closePanels(); }
  });
  form.querySelector(".cancel").addEventListener("click", closePanels);
}

function wireActions() {
  $("act-confirm").addEventListener("click", () => act("confirm", {}));
  $("act-reject").addEventListener("click", () => openPanel("reject-form"));
  $("act-correct").addEventListener("click", () => openPanel("correct-form"));
  $("go-prev").addEventListener("click", () => move(-1));
  $("go-next").addEventListener("click", () => move(1));
  $("correct-box-clear").addEventListener("click", () => setBox(null));
  for (const thumb of document.querySelectorAll(".thumb")) {
    thumb.addEventListener("click", async () => {
      const item = state.items[state.index];
      if (item) showFrame(await detail(item.id), thumb.dataset.which);
    });
  }
  for (const id of ["reject-form", "correct-form"]) submitOnEnter($(id));
  $("reject-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    act("reject", { reason: form.reason.value, comment: form.comment.value || null });
  });
  $("correct-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const item = state.items[state.index];
    const body = { comment: form.comment.value || null };
    if (form.code.value !== item.effective_code) body.code = form.code.value;
    if (state.box) body.box = state.box;
    act("correct", body);
  });
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    // Keys typed into a visible field or panel are theirs.
    if (event.target.closest("input, select, textarea, form.panel") && event.target.offsetParent !== null) return;
    const handlers = { 1: () => act("confirm", {}), 2: () => openPanel("reject-form"), 3: () => openPanel("correct-form"),
                       ArrowDown: () => move(1), ArrowRight: () => move(1), ArrowUp: () => move(-1), ArrowLeft: () => move(-1),
                       j: () => move(1), k: () => move(-1) };
    const handler = handlers[event.key];
    if (handler) { event.preventDefault(); handler(); }
  });
  $("filters").addEventListener("change", () => {
    state.known = null;
    state.fresh.clear();
    state.reset = true;
    loadQueue();
  });
}

// New violations (or reviews by colleagues) arrive as server-sent events: reload the queue in place.
function wireLive() {
  const status = $("live-status");
  const source = new EventSource("/v1/web/live");
  let lost;
  // The server ends each stream after a while and the browser reconnects at once: only a
  // connection that stays lost for a few seconds is shown as interrupted.
  source.addEventListener("open", () => {
    clearTimeout(lost);
    status.dataset.state = "on";
    status.textContent = t("live.on");
  });
  source.addEventListener("error", () => {
    clearTimeout(lost);
    lost = setTimeout(() => { status.dataset.state = "off"; status.textContent = t("live.off"); }, 4000);
  });
  source.addEventListener("violations", () => loadQueue({ announce: true }));
}

document.addEventListener("DOMContentLoaded", async () => {
  fillFilters();
  wireActions();
  wireDrawing();
  await loadQueue();
  wireLive();
});
