// The console's script (/_sandbox/ui/app.js), served as a file: the page's CSP runs no
// inline script. It reads and drives one account through /_sandbox/ with the key typed in.
"use strict";
const KEY = "aiprod-sandbox-key";
const TABS = ["Jobs", "Deliveries", "Webhooks", "Keys", "Requests", "Clock", "Scenario", "Advice"];
const FRESH = { tab: "Jobs", page: 1, status: "", selectedJob: null, selectedDelivery: null,
                deliveryPage: 1, deliveryStatus: "", deliveryEndpoint: "",
                selectedRequest: null, selectedKey: null, selectedWebhook: null,
                lastRan: null, customSeconds: "60", error: "" };
const state = { ...FRESH, timer: null, generation: 0 };
const PAGE_SIZE = 25;

// Every button that changes something: show what went wrong instead of failing silently.
function act(fn) {
  return async () => {
    try { state.error = ""; await fn(); }
    catch (error) { state.error = error.message; }
    refresh();
  };
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "on") { for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn); }
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const el = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
const SVG_NS = "http://www.w3.org/2000/svg";
const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

// A path with ids in it: every interpolated value is one path segment, percent-encoded, so
// an id (ids can come from an imported state document) can never add a segment, a query or
// a fragment. "." and ".." would still be dot segments the browser resolves, so they are
// refused. Build every URL that carries an id with this tag, never with "+".
function path(strings, ...ids) {
  return strings.reduce((out, text, i) => {
    const id = String(ids[i - 1]);
    if (id === "." || id === "..") throw new Error(`The id "${id}" cannot be put in a URL`);
    return out + encodeURIComponent(id) + text;
  });
}
const badge = (text) => el("span", {class: "badge s-" + text}, text);
const short = (iso) => iso ? iso.replace("T", " ").replace("Z", "") : "—";

// Open another tab with something selected in it (an id link, a row that leads elsewhere).
function go(tab, changes) {
  Object.assign(state, changes);
  state.tab = tab;
  showApp();
}

// Ids anywhere on the page lead to their evidence: a request to its journal entry, a job to
// its detail, a delivery to its attempts, a key to its audit trail, a webhook to its row.
const ID_VIEWS = [
  ["req_", "Requests", "selectedRequest"], ["job_", "Jobs", "selectedJob"],
  ["dlv_", "Deliveries", "selectedDelivery"], ["key_", "Keys", "selectedKey"],
  ["wh_", "Webhooks", "selectedWebhook"],
];
function idLink(id) {
  const found = ID_VIEWS.find(([prefix]) => String(id).startsWith(prefix));
  if (!found) return el("code", {}, id);
  const [, tab, field] = found;
  return el("button", {class: "idlink", type: "button", "data-testid": "id-link", "data-id": id,
    title: `Open in ${tab}`, on: {click: () => go(tab, {[field]: id})}}, id);
}

const VERDICTS = {
  verifies: "signature verifies", wrong_signature: "wrong signature",
  no_signature: "no signature", unknown_secret: "cannot check: webhook deleted",
};
const verdictBadge = (verdict) => verdict ? el("span", {class: "badge v-" + verdict,
  "data-testid": "verdict", "data-verdict": verdict}, VERDICTS[verdict] || verdict) : "—";
const faultBadges = (faults) => faults.map((f) => el("span",
  {class: "badge s-failed", "data-testid": "deliberate"}, "deliberate: " + f));

async function api(method, url, body) {
  const headers = {"Authorization": "Bearer " + sessionStorage.getItem(KEY)};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {method, headers,
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || response.statusText);
    error.status = response.status; error.data = data; throw error;
  }
  return data;
}

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try { await api("GET", "/_sandbox/account"); }
  catch (error) { sessionStorage.removeItem(KEY); throw error; }
  showApp();
}

function showLogin(message) {
  document.getElementById("app").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

function showApp() {
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  const tabs = document.getElementById("tabs");
  tabs.replaceChildren(...TABS.map((name) => el("button",
    {class: name === state.tab ? "active" : "", "data-testid": "tab-" + name.toLowerCase(),
     on: {click: () => { state.tab = name; showApp(); }}}, name)));
  refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 2000);  // live: the open view is re-read every 2 s
}

async function refresh() {
  const generation = ++state.generation;  // a slower, older refresh must not draw over this one
  const view = document.getElementById("view");
  try {
    const account = await api("GET", "/_sandbox/account");
    const content = await VIEWS[state.tab](account);
    if (generation !== state.generation) return;
    document.getElementById("who").textContent =
      `${account.account_id} · ${account.tier} · timing ${account.job_timing}`;
    document.getElementById("clock-mini").textContent =
      `clock ${account.clock.mode} ${short(account.clock.now)}`;
    const scrolled = [...view.querySelectorAll(".detail")].map((pane) => pane.scrollTop);
    view.replaceChildren(el("p", {class: "error", id: "view-error", "data-testid": "error"},
      state.error), content);
    view.querySelectorAll(".detail").forEach((pane, i) => { pane.scrollTop = scrolled[i] || 0; });
  } catch (error) {
    if (generation !== state.generation) return;
    if (error.status === 401) { clearInterval(state.timer); showLogin(error.message); return; }
    const shown = document.getElementById("view-error");
    if (shown) shown.textContent = String(error.message);
    else view.prepend(el("p", {class: "error", id: "view-error", "data-testid": "error"},
      String(error.message)));
  }
}

function progressFill(percent) {
  const fill = el("span");
  fill.style.width = `${Number(percent)}%`;  // CSSOM, not a style attribute: the CSP allows it
  return fill;
}

function pager(pagination, onPage) {
  return el("div", {class: "row"},
    el("button", {class: "act", disabled: !pagination.has_previous, "data-testid": "prev",
      on: {click: () => onPage(pagination.page - 1)}}, "‹ Previous"),
    el("span", {class: "muted", "data-testid": "page-info"},
      `page ${pagination.page} of ${Math.max(pagination.pages, 1)} · ${pagination.total} in all`),
    el("button", {class: "act", disabled: !pagination.has_next, "data-testid": "next",
      on: {click: () => onPage(pagination.page + 1)}}, "Next ›"));
}

function select(testid, value, options, onChange) {
  return el("select", {"data-testid": testid, on: {change: (e) => onChange(e.target.value)}},
    options.map(([v, label]) => el("option", {value: v, selected: v === value}, label)));
}

async function jobDetail() {
  if (!state.selectedJob) return el("div", {class: "card detail muted"}, "No job selected.");
  try {
    const detail = await api("GET", path`/_sandbox/jobs/${state.selectedJob}`);
    const job = detail.job;
    return el("div", {class: "card detail", "data-testid": "job-detail"},
      el("h3", {}, job.job_id, " ", badge(job.status)),
      el("div", {class: "kv"},
        el("span", {class: "muted"}, "progress"), el("span", {}, job.progress + "%"),
        el("span", {class: "muted"}, "estimated"), el("span", {}, job.estimated_duration_seconds + " s"),
        el("span", {class: "muted"}, "video_url"), el("code", {}, job.input.video_url),
        el("span", {class: "muted"}, "result"),
        job.result ? el("a", {href: job.result.video_url, target: "_blank", rel: "noopener noreferrer"}, "download") : "—",
        el("span", {class: "muted"}, "error"),
        job.error ? el("span", {class: "error"}, job.error.code + ": " + job.error.message) : "—"),
      el("h4", {}, "Timeline"),
      timelinePicture(detail),
      el("details", {}, el("summary", {class: "muted"}, "The job's events as a table"),
        el("table", {"data-testid": "timeline"}, detail.timeline.map((t) =>
          el("tr", {}, el("td", {}, short(t.at)), el("td", {}, t.event))))),
      el("h4", {}, "Deliveries"),
      detail.deliveries.length ? el("div", {}, detail.deliveries.map((id) => el("button",
        {class: "act", on: {click: () => go("Deliveries", {selectedDelivery: id})}}, id)))
        : el("span", {class: "muted"}, "none"));
  } catch (error) { state.selectedJob = null; return el("div", {class: "card detail error"}, error.message); }
}

async function deliveryDetail() {
  if (!state.selectedDelivery) return el("div", {class: "card detail muted"}, "No delivery selected.");
  let detail;
  try { detail = await api("GET", path`/_sandbox/console/deliveries/${state.selectedDelivery}`); }
  catch (error) { state.selectedDelivery = null; return el("div", {class: "card detail error"}, error.message); }
  const d = detail.delivery;
  const redeliver = el("button", {class: "act", "data-testid": "redeliver", on: {click: act(
    async () => { redeliver.disabled = true;
      await api("POST", path`/_sandbox/deliveries/${d.delivery_id}/redeliver`); })}}, "Redeliver");
  return el("div", {class: "card detail", "data-testid": "delivery-detail"},
    el("h3", {}, d.delivery_id, " ", badge(d.status), " ", redeliver),
    el("div", {class: "kv"}, el("span", {class: "muted"}, "event"), el("span", {}, d.event),
      el("span", {class: "muted"}, "job"), d.job_id ? el("span", {}, idLink(d.job_id)) : el("span", {}, "—"),
      el("span", {class: "muted"}, "url"), el("code", {}, d.url),
      el("span", {class: "muted"}, "checked with"), el("span", {"data-testid": "secret-used"}, detail.secret),
      el("span", {class: "muted"}, "next retry"), el("span", {}, short(d.next_attempt_at)),
      el("span", {class: "muted"}, "note"), el("span", {}, d.note || "—")),
    el("h4", {}, `Attempts (${d.attempts.length})`),
    d.attempts.map((a, i) => el("div", {class: "card", "data-testid": "attempt"},
      el("div", {}, el("b", {}, `#${a.attempt} `), a.trigger, " · ",
        a.error ? el("span", {class: "error"}, a.error) : el("span", {}, "ok"),
        ` · answer ${a.response_status} · ${a.duration_ms} ms · sent ${short(a.sent_at)} `,
        a.deliberate ? el("span", {class: "badge s-failed"}, "deliberate: " + a.deliberate) : null),
      el("div", {}, verdictBadge(detail.signatures[i] && detail.signatures[i].verdict), " ",
        el("code", {class: "muted"}, signatureOf(a.request_headers) || "no X-AIPROD-Signature header")),
      el("pre", {}, Object.entries(a.request_headers).map(([k, v]) => `${k}: ${v}`).join("\n")),
      el("pre", {}, a.request_body),
      a.response_excerpt ? el("pre", {}, "← " + a.response_excerpt) : null)));
}

function signatureOf(headers) {
  const found = Object.entries(headers).find(([name]) => name.toLowerCase() === "x-aiprod-signature");
  return found ? found[1] : "";
}

async function requestDetail() {
  if (!state.selectedRequest) return el("div", {class: "card detail muted"}, "Click a request for all it kept.");
  let entry;
  try { entry = await api("GET", path`/_sandbox/console/requests/${state.selectedRequest}`); }
  catch (error) { return el("div", {class: "card detail error", "data-testid": "request-detail"}, error.message); }
  return el("div", {class: "card detail", "data-testid": "request-detail"},
    el("h3", {}, `${entry.method} ${entry.path} `, badge(String(entry.status))), fields(entry, ""));
}

// A journal entry's fields as a person reads them, whatever fields it has: ids as links,
// headers as lines, bodies as blocks, nested parts as nested lists (`data-field` is its path).
const ID = /^(req|job|dlv|key|wh)_\w+$/;
function fields(object, prefix) {
  return el("div", {class: "kv"}, Object.entries(object).map(([name, value]) =>
    [el("span", {class: "muted"}, name),
     el("div", {"data-field": prefix + name}, shownValue(value, name, prefix + name + "."))]));
}

function shownValue(value, name, prefix) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "string") {
    if (ID.test(value)) return idLink(value);
    return name === "body" || value.length > 80 ? el("pre", {}, value) : value;
  }
  if (Array.isArray(value)) {
    if (!value.length) return "—";
    if (value.every((v) => typeof v === "string" && ID.test(v))) return value.map((v) => [idLink(v), " "]);
    if (value.every((v) => v && typeof v === "object" && "name" in v && "value" in v))
      return el("pre", {}, value.map((h) => `${h.name}: ${h.value}`).join("\n"));
    if (value.every((v) => Array.isArray(v) && v.length === 2))
      return el("pre", {}, value.map(([k, v]) => `${k}: ${v}`).join("\n"));
    return value.map((v) => typeof v === "object" ? JSON.stringify(v) : String(v)).join(", ");
  }
  if (typeof value === "object") return fields(value, prefix);
  return String(value);
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = document.getElementById("key-input").value.trim();
  try { await signIn(key); } catch (error) { showLogin(error.message); }
});
document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY); clearInterval(state.timer);
  Object.assign(state, FRESH);  // the next account starts on its own first page
  showLogin(); });
if (sessionStorage.getItem(KEY)) showApp(); else showLogin();
