// Each camera's latest kept frame with the zones of its evaluation points drawn over it.
"use strict";

const ZONE_COLOURS = {
  no_parking: "#e53935", sidewalk: "#1e88e5", roadway: "#8e24aa", shopfront: "#fb8c00", bin_area: "#6d4c41",
  wall: "#fdd835", parking_bay: "#43a047", bike_bay: "#00897b", vending_zone: "#7cb342",
};
const SVG = "http://www.w3.org/2000/svg";

function zoneLayer(views) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 1 1");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  for (const view of views) {
    for (const zone of view.zones) {
      const polygon = document.createElementNS(SVG, "polygon");
      polygon.setAttribute("points", zone.polygon.map(([x, y]) => `${x},${y}`).join(" "));
      polygon.setAttribute("class", "zone");
      polygon.setAttribute("fill", ZONE_COLOURS[zone.kind] || "#ffffff");
      polygon.setAttribute("stroke", ZONE_COLOURS[zone.kind] || "#ffffff");
      polygon.dataset.zone = zone.id;
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${zone.id} · ${t(`zone.${zone.kind}`)}`;
      polygon.append(title);
      svg.append(polygon);
    }
  }
  return svg;
}

function card(camera) {
  const ratio = camera.latest && camera.latest.width ? `aspect-ratio: ${camera.latest.width} / ${camera.latest.height}` : null;
  const box = el("div", { class: "frame-box", style: ratio },
    camera.latest ? el("img", { src: camera.latest.image_url, alt: `${camera.name} · ${t("cameras.latest")}` })
                  : el("div", { class: "no-frame" }, t("cameras.no_frame")));
  box.append(zoneLayer(camera.views));
  const zones = camera.views.flatMap((v) => v.zones.map((z) => ({ ...z, point: v })));
  return el("article", { class: "card camera-card", "data-camera": camera.id, "aria-labelledby": `cam-${camera.id}` },
    el("h2", { id: `cam-${camera.id}` }, `${camera.name || camera.id} `, el("small", { class: "count" }, camera.id)),
    box,
    el("p", { class: "hint" }, camera.latest ? `${t("cameras.latest")}：${formatTime(camera.latest.captured_at)} · ${camera.latest.frame_id}`
                                             : t("cameras.no_frame")),
    el("p", {}, camera.views.map((v) => `${v.point_name || v.point_id}（${v.point_type || ""}）`).join("、")),
    el("ul", { class: "legend", "aria-label": t("cameras.zones") }, zones.map((z) =>
      el("li", {}, el("i", { style: `background:${ZONE_COLOURS[z.kind] || "#fff"}` }), `${z.id} ${t(`zone.${z.kind}`)}`))));
}

document.addEventListener("DOMContentLoaded", async () => {
  const cameras = await api("/v1/web/cameras");
  document.getElementById("cameras").replaceChildren(...cameras.map(card));
});
