// Shared by every page: the words of the chosen language, the JSON API with the login cookie,
// formatting, the language switch and logging out.
"use strict";

const WORDS = JSON.parse(document.getElementById("words").textContent);
const CITY = document.getElementById("city") ? JSON.parse(document.getElementById("city").textContent) : null;
const LANG = document.documentElement.lang.startsWith("zh") ? "zh" : "en";

function t(key, values) {
  let text = WORDS[key] ?? key;
  for (const [name, value] of Object.entries(values || {})) text = text.replaceAll(`{${name}}`, value);
  return text;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers = { ...init.headers, "Content-Type": "application/json" };
    init.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
    throw new ApiError(401, null);
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Query strings; several values of one parameter are alternatives, comma-separated (code=0501,0506).
function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    const values = [].concat(value).filter((v) => v !== undefined && v !== null && v !== "");
    if (values.length) search.set(name, values.join(","));
  }
  return search.toString();
}

const LOCALE = LANG === "zh" ? "zh-CN" : "en-GB";
const TIME_FORMAT = new Intl.DateTimeFormat(LOCALE, {
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: (CITY && CITY.timezone) || "Asia/Shanghai" });

function formatTime(iso) {
  return iso ? TIME_FORMAT.format(new Date(iso)) : "—";
}

function formatDuration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
  const units = LANG === "zh" ? ["天", "小时", "分"] : ["d ", "h ", "min"];
  if (d) return `${d}${units[0]}${h}${units[1]}`.trim();
  if (h) return `${h}${units[1]}${m}${units[2]}`.trim();
  return `${m}${units[2]}`.trim();
}

function formatRate(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

function codeInfo(code) {
  const info = CITY && CITY.codes.find((c) => c.code === code);
  return info || { code, name: "", name_en: "", standard: "" };
}

function codeName(code) {
  const info = codeInfo(code);
  return LANG === "zh" || !info.name_en ? info.name : info.name_en;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

let toastTimer;
function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.dataset.kind = kind;
  box.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.remove("show"), 2500);
}

document.addEventListener("DOMContentLoaded", () => {
  const cookie = document.body.dataset.langCookie;
  document.getElementById("lang-switch").addEventListener("click", (event) => {
    document.cookie = `${cookie}=${event.currentTarget.dataset.lang}; path=/; max-age=31536000; samesite=strict`;
    location.reload();
  });
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await fetch("/v1/auth/logout", { method: "POST", credentials: "same-origin" });
      location.href = "/login";
    });
  }
});
