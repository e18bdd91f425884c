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

const VIEWS = {
  async Jobs() {
    const query = new URLSearchParams({page: state.page, limit: PAGE_SIZE});
    if (state.status) query.set("status", state.status);
    const list = await api("GET", "/_sandbox/jobs?" + query);
    const filter = select("status-filter", state.status,
      ["", "PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"].map((s) =>
        [s, s || "all statuses"]), (value) => { state.status = value; state.page = 1; refresh(); });
    const rows = list.items.map((job) => el("tr", {class: "clickable" +
        (job.job_id === state.selectedJob ? " selected" : ""), "data-testid": "job-row",
        "data-job-id": job.job_id, on: {click: () => { state.selectedJob = job.job_id; refresh(); }}},
      el("td", {}, el("code", {}, job.job_id)), el("td", {"data-testid": "job-status"}, badge(job.status)),
      el("td", {}, el("span", {class: "bar"}, progressFill(job.progress)),
        " ", job.progress + "%"),
      el("td", {class: "when"}, short(job.created_at)),
      el("td", {class: "when"}, short(job.updated_at))));
    const table = el("table", {"data-testid": "jobs-table"},
      el("tr", {}, ["job", "status", "progress", "created", "updated"].map((h) => el("th", {}, h))),
      rows);
    const left = el("div", {class: "card"}, el("div", {class: "row"}, filter,
      el("span", {class: "muted"}, "Click a job for its timeline.")),
      list.items.length ? table : el("p", {class: "muted"},
        list.pagination.total ? "Nothing on this page." : "No jobs yet."),
      pager(list.pagination, (p) => { state.page = p; refresh(); }));
    return el("div", {class: "grid2"}, left, await jobDetail());
  },
  async Deliveries() {
    const query = new URLSearchParams({page: state.deliveryPage, limit: PAGE_SIZE});
    if (state.deliveryStatus) query.set("status", state.deliveryStatus);
    if (state.deliveryEndpoint) query.set("endpoint", state.deliveryEndpoint);
    const list = await api("GET", "/_sandbox/console/deliveries?" + query);
    const filter = select("delivery-status-filter", state.deliveryStatus,
      ["", "pending", "delivered", "failed"].map((s) => [s, s || "all statuses"]),
      (value) => { state.deliveryStatus = value; state.deliveryPage = 1; refresh(); });
    const endpoint = state.deliveryEndpoint ? el("span", {class: "badge", "data-testid": "endpoint-filter"},
      "to " + state.deliveryEndpoint + " ", el("button", {class: "linkish", title: "Show every endpoint",
        on: {click: () => { state.deliveryEndpoint = ""; state.deliveryPage = 1; refresh(); }}}, "×")) : null;
    const rows = list.items.map((d) => el("tr", {class: "clickable" +
        (d.delivery_id === state.selectedDelivery ? " selected" : ""), "data-testid": "delivery-row",
        "data-delivery-id": d.delivery_id,
        on: {click: () => { state.selectedDelivery = d.delivery_id; refresh(); }}},
      el("td", {}, el("code", {}, d.delivery_id), el("div", {class: "muted"}, d.endpoint)),
      el("td", {}, d.event, el("div", {}, faultBadges(d.deliberate))),
      el("td", {}, badge(d.status), d.next_attempt_at ? el("div", {class: "muted",
        "data-testid": "next-retry"}, "next " + short(d.next_attempt_at)) : null),
      el("td", {"data-testid": "attempt-count"}, d.attempts),
      el("td", {"data-testid": "last-status"}, d.last_status === null ? "—" :
        el("span", {class: "badge " + (d.last_error ? "s-failed" : "s-delivered")},
          d.last_status ? String(d.last_status) : d.last_error)),
      el("td", {}, verdictBadge(d.signature))));
    const left = el("div", {class: "card"},
      el("div", {class: "row"}, filter, endpoint),
      list.items.length ? el("table", {"data-testid": "deliveries-table"},
        el("tr", {}, ["delivery", "event", "status", "tries", "last answer", "signature"].map((h) =>
          el("th", {}, h))), rows)
        : el("p", {class: "muted"}, list.pagination.total ? "Nothing on this page." :
          "No deliveries yet. Register a webhook (POST /webhooks/register) and submit a job."),
      pager(list.pagination, (p) => { state.deliveryPage = p; refresh(); }));
    return el("div", {class: "grid2"}, left, await deliveryDetail());
  },
  async Webhooks() {
    const list = await api("GET", "/_sandbox/console/webhooks");
    const toDeliveries = (endpoint) => () => go("Deliveries",
      {deliveryEndpoint: endpoint, deliveryPage: 1, deliveryStatus: ""});
    const rows = list.items.map((w) => el("tr", {class: "clickable" +
        (w.endpoint === state.selectedWebhook ? " selected" : ""), "data-testid": "webhook-row",
        "data-endpoint": w.endpoint, title: "Show this endpoint's deliveries",
        on: {click: toDeliveries(w.endpoint)}},
      el("td", {}, w.webhook_id ? el("code", {}, w.webhook_id) : el("b", {}, "job callback_url")),
      el("td", {}, w.urls.length ? w.urls.map((u) => el("div", {}, el("code", {}, u)))
        : el("span", {class: "muted"}, "none yet")),
      el("td", {}, w.webhook_id ? w.events.join(", ") : el("span", {class: "muted"}, "every job event")),
      el("td", {"data-testid": "webhook-active"}, badge(w.active ? "active" : "inactive")),
      el("td", {class: "when"}, short(w.created_at)),
      el("td", {"data-testid": "webhook-counts"},
        el("span", {class: "badge s-delivered"}, `${w.deliveries.delivered} delivered`), " ",
        el("span", {class: "badge s-failed"}, `${w.deliveries.failed} failed`), " ",
        el("span", {class: "badge s-pending"}, `${w.deliveries.pending} pending`),
        el("div", {class: "muted"}, `${w.attempts} attempts`)),
      el("td", {}, el("code", {"data-testid": "webhook-secret"}, w.secret))));
    return el("div", {class: "card"},
      el("p", {class: "muted"}, "Where this account's job events go, and what became of them ",
        `(the ${list.kept} deliveries the log keeps). Click an endpoint for its deliveries.`),
      el("table", {"data-testid": "webhooks-table"},
        el("tr", {}, ["endpoint", "url", "events", "active", "created", "deliveries",
          "signing secret"].map((h) => el("th", {}, h))), rows));
  },
  async Keys() {
    const list = await api("GET", "/_sandbox/console/keys");
    const rows = list.items.map((k) => el("tr", {class: "clickable" +
        (k.key_id === state.selectedKey ? " selected" : ""), "data-testid": "key-row",
        "data-key-id": k.key_id, on: {click: () => { state.selectedKey = k.key_id; refresh(); }}},
      el("td", {}, el("code", {"data-testid": "key-masked"}, k.masked),
        k.yours ? el("span", {class: "badge", "data-testid": "key-yours"}, "this console") : null,
        el("div", {class: "muted"}, k.key_id)),
      el("td", {}, k.name, el("div", {class: "muted scopes"}, k.scopes.join(" · "))),
      el("td", {class: "when"}, short(k.created_at)),
      el("td", {class: "when", "data-testid": "key-last-used"}, short(k.last_used_at)),
      el("td", {"data-testid": "key-state"}, k.revoked_at ? [el("span", {class: "badge s-failed"},
        "revoked"), el("div", {class: "muted"}, short(k.revoked_at))] : badge("active"))));
    const chosen = list.items.find((k) => k.key_id === state.selectedKey);
    const detail = chosen ? el("div", {class: "card detail", "data-testid": "key-detail"},
      el("h3", {}, chosen.name, " ", el("code", {}, chosen.masked)),
      el("h4", {}, `Audit trail (${chosen.audit_total} events)`),
      chosen.audit.length ? el("table", {"data-testid": "audit"}, chosen.audit.map((a) =>
        el("tr", {"data-testid": "audit-row", "data-event": a.event},
          el("td", {class: "when"}, short(a.timestamp)), el("td", {}, a.event),
          el("td", {}, a.request_id ? idLink(a.request_id) : "—"))))
        : el("p", {class: "muted"}, "No events kept for this key."))
      : el("div", {class: "card detail muted"}, "Click a key for its audit trail.");
    return el("div", {class: "grid2"}, el("div", {class: "card"},
      el("p", {class: "muted"}, "Keys are shown masked; a full key is shown only once, when POST /keys makes it."),
      el("table", {"data-testid": "keys-table"},
        el("tr", {}, ["key", "name and scopes", "created", "last used", "state"].map((h) =>
          el("th", {}, h))), rows)), detail);
  },
  async Requests() {
    const list = await api("GET", "/_sandbox/requests?limit=200");
    const table = el("table", {"data-testid": "requests-table"},
      el("tr", {}, ["time", "method", "path", "status", "ms", "request id", "key", "rules"].map((h) =>
        el("th", {}, h))),
      list.items.map((r) => el("tr", {class: "clickable" +
          (r.request_id === state.selectedRequest ? " selected" : ""), "data-testid": "request-row",
          "data-request-id": r.request_id,
          on: {click: () => { state.selectedRequest = r.request_id; refresh(); }}},
        el("td", {}, short(r.timestamp)), el("td", {}, r.method),
        el("td", {}, el("code", {}, r.path + (r.query ? "?" + r.query : ""))),
        el("td", {}, badge(String(r.status))), el("td", {}, r.duration_ms),
        el("td", {}, el("code", {}, r.request_id)), el("td", {}, el("code", {}, r.key)),
        el("td", {}, r.rules.join(", ")))));
    return el("div", {class: "grid2"}, el("div", {class: "card"}, table), await requestDetail());
  },
  async Clock(account) {
    const clock = account.clock;
    const advance = (seconds) => act(async () => {
      state.lastRan = await api("POST", "/_sandbox/clock/advance", {seconds: seconds()}); });
    const custom = el("input", {type: "number", min: "0", value: state.customSeconds,
      "data-testid": "advance-seconds",
      on: {input: (e) => { state.customSeconds = e.target.value; }}});
    const ran = state.lastRan ? el("div", {class: "card", "data-testid": "ran"},
      el("h3", {}, `Last advance ran ${state.lastRan.ran_count} step(s)`),
      el("table", {}, state.lastRan.ran.map((r) => el("tr", {},
        el("td", {}, short(r.at)), el("td", {}, r.kind), el("td", {}, el("code", {}, r.ref)),
        el("td", {}, r.action))))) : null;
    return el("div", {},
      el("div", {class: "card"}, el("div", {class: "kv"},
        el("span", {class: "muted"}, "mode"), el("b", {"data-testid": "clock-mode"}, clock.mode),
        el("span", {class: "muted"}, "now"), el("b", {"data-testid": "clock-now"}, clock.now),
        el("span", {class: "muted"}, "scale"), el("span", {}, clock.scale),
        el("span", {class: "muted"}, "job timing"), el("span", {}, account.job_timing)),
        el("div", {class: "row spaced"},
          ...[["+1 s", 1], ["+1 min", 60], ["+5 min", 300], ["+1 h", 3600], ["+1 day", 86400]]
            .map(([label, s]) => el("button", {class: "act", "data-testid": "advance-" + s,
              on: {click: advance(() => s)}}, label)),
          custom, el("button", {class: "act", "data-testid": "advance-custom",
            on: {click: advance(() => Number(state.customSeconds))}}, "Advance")),
        el("div", {class: "row"},
          el("button", {class: "act", "data-testid": "clock-manual",
            on: {click: act(() => api("POST", "/_sandbox/clock", {mode: "manual"}))}},
            "Freeze (manual)"),
          el("button", {class: "act",
            on: {click: act(() => api("POST", "/_sandbox/clock", {mode: "real"}))}}, "Real time"),
          el("button", {class: "act", "data-testid": "timing-simulated",
            on: {click: act(() => api("POST", "/_sandbox/timing", {job_timing: "simulated"}))}},
            "Simulated timing"),
          el("button", {class: "act",
            on: {click: act(() => api("POST", "/_sandbox/timing", {job_timing: "instant"}))}},
            "Instant timing"))), ran);
  },
  async Scenario(account) {
    const list = await api("GET", "/_sandbox/scenarios");
    return el("div", {class: "card"},
      el("p", {}, "Active: ", el("b", {"data-testid": "active-scenario"}, account.scenario || "none"),
        account.server_scenarios.length ? ` (server-wide: ${account.server_scenarios.join(", ")})` : "",
        " ", account.scenario ? el("button", {class: "act", "data-testid": "scenario-off",
          on: {click: act(() => api("DELETE", "/_sandbox/scenario"))}}, "Switch off") : null),
      el("table", {}, list.items.map((s) => el("tr", {},
        el("td", {}, el("b", {}, s.name), el("div", {class: "muted"}, s.description),
          s.advice ? el("div", {class: "muted"}, "Tests: " + s.advice) : null),
        el("td", {}, s.active ? badge("active") : el("button", {class: "act",
          "data-testid": "use-" + s.name,
          on: {click: act(() => api("PUT", "/_sandbox/scenario", {name: s.name}))}},
          "Switch on"))))));
  },
  async Advice() {
    const advice = await api("GET", "/_sandbox/advice");
    if (!advice.items.length) return el("div", {class: "card", "data-testid": "advice-none"},
      `No findings in the last ${advice.checked_requests} requests. Nice.`);
    return el("div", {}, advice.items.map((f) => el("div", {class: "card finding",
        "data-testid": "finding", "data-rule": f.rule},
      el("h3", {}, f.title, " ", el("span", {class: "badge"}, f.count + "×")),
      el("div", {class: "muted"}, f.guide + " · rule " + f.rule),
      el("p", {}, f.why), el("p", {}, el("b", {}, "Fix: "), f.fix),
      el("div", {class: "evidence"}, el("span", {class: "muted"}, "Evidence: "),
        f.evidence.map((id) => [idLink(id), " "])))));
  },
};

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

// ---- the timeline picture: the job's events and each delivery attempt, on the account's clock.
// Time runs left to right; a gap between two instants grows with the log of its length, so a
// retry an hour later fits beside events a second apart, and the axis says the real offsets.
// The job's events at one instant stand side by side, each attempt they caused under them;
// other attempts at one instant (retries of several deliveries) stack in one column.
const PICTURE = {label: 92, slot: 48, gap: 26, stretch: 30, lane: 46, stack: 10, top: 40, pad: 14,
  shrink: 0.7};  // drawn smaller to fit the pane, down to this much; then it scrolls
const EVENT_NAMES = {"job.created": "created", "job.started": "started", "job.completed": "completed",
  "job.failed": "failed", "job.cancelled": "cancelled"};
const eventLabel = (event) => EVENT_NAMES[event] ||
  (event.startsWith("job.progress ") ? event.slice(13) + "%" : event);

function offsetLabel(seconds) {
  const s = Math.round(seconds * 10) / 10;
  if (s < 60) return `+${s} s`;
  if (s < 3600) return `+${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `+${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// Give each mark its column at its instant (`slot`) and its place in that column (`stack`).
function placeMarks(lanes) {
  const [job, ...others] = lanes;
  const eventsAt = new Map();
  for (const mark of job.marks) {
    const at = eventsAt.get(mark.offset) || [];
    Object.assign(mark, {slot: at.length, stack: 0, stacked: 1});
    at.push(mark); eventsAt.set(mark.offset, at);
  }
  for (const lane of others) {
    const used = new Set(), columns = new Map();  // "offset slot" → the marks in that column
    for (const mark of lane.marks) {
      const cause = (eventsAt.get(mark.offset) || []).find((e) =>
        !used.has(e) && e.event.split(" ")[0] === mark.event);
      if (cause) used.add(cause);
      const sibling = lane.marks.find((m) => m !== mark && m.slot !== undefined &&
        m.offset === mark.offset && m.delivery_id === mark.delivery_id);
      mark.slot = cause ? cause.slot : sibling ? sibling.slot : 0;
      const column = columns.get(`${mark.offset} ${mark.slot}`) || [];
      mark.stack = column.length; column.push(mark);
      columns.set(`${mark.offset} ${mark.slot}`, column);
    }
    for (const column of columns.values()) for (const m of column) m.stacked = column.length;
    lane.depth = Math.max(1, ...[...columns.values()].map((c) => c.length));
  }
  job.depth = 1;
}

function timelinePicture(detail) {
  const P = PICTURE;
  const lanes = [{name: "job", title: "the job's events", marks: detail.timeline.map((t) =>
      ({kind: "job", offset: t.offset, at: t.at, event: t.event}))},
    ...detail.lanes.map((lane) => ({name: lane.endpoint, title: lane.url,
      marks: lane.marks.map((m) => ({kind: "attempt", ...m}))}))];
  placeMarks(lanes);
  const columns = new Map();  // instant → how many columns it needs
  for (const lane of lanes) for (const m of lane.marks) columns.set(m.offset, Math.max(columns.get(m.offset) || 1, m.slot + 1));
  const now = detail.now_offset;
  if (now >= 0 && !columns.has(now)) columns.set(now, 1);  // the clock's now gets a place too
  const instants = [...columns.keys()].sort((a, b) => a - b);
  const x0 = new Map();
  let x = P.label + P.pad;
  instants.forEach((t, i) => {
    if (i) x += P.gap + P.stretch * Math.log10(1 + t - instants[i - 1]);
    x0.set(t, x);
    x += (columns.get(t) - 1) * P.slot;
  });
  const xOf = (m) => x0.get(m.offset) + m.slot * P.slot;
  const laneY = [];  // each lane's middle: a lane is as tall as its highest stack needs
  let y = P.top - P.lane / 2;
  for (const lane of lanes) {
    const height = Math.max(P.lane, lane.depth * P.stack + 30);
    laneY.push(y + height / 2); y += height;
  }
  const axis = y + 9;
  const total = Math.ceil(x + P.pad * 3), height = Math.ceil(axis + 34);
  const picture = svg("svg", {class: "timeline", "data-testid": "timeline-picture", role: "img",
      width: total, height, viewBox: `0 0 ${total} ${height}`,
      "aria-label": `Timeline of ${detail.job.job_id}: its events and delivery attempts`},
    lanes.map((lane, i) => svg("g", {class: "lane", "data-lane": lane.name},
      svg("line", {class: "lane-line", x1: P.label, x2: total - P.pad, y1: laneY[i], y2: laneY[i]}),
      svg("text", {class: "lane-name", x: 4, y: laneY[i] + 4}, lane.name.length > 13 ?
        lane.name.slice(0, 12) + "…" : lane.name, svg("title", {}, `${lane.name}: ${lane.title}`)),
      lane.marks.map((m) => m.kind === "job" ? eventMark(m, xOf(m), laneY[i])
        : attemptMark(m, xOf(m), laneY[i] + (m.stack - (m.stacked - 1) / 2) * P.stack, lane.name)))),
    svg("line", {class: "axis", x1: P.label, x2: total - P.pad, y1: axis, y2: axis}),
    instants.map((t, i) => svg("g", {class: "tick", "data-testid": "tl-tick", "data-offset": t},
      svg("line", {x1: x0.get(t), x2: x0.get(t), y1: axis - 4, y2: axis + 4}),
      svg("text", {x: x0.get(t), y: axis + 16 + (i % 2) * 12, "text-anchor": "middle"},
        offsetLabel(t)))),
    x0.has(now) ? svg("g", {class: "now", "data-testid": "tl-now", "data-offset": now},
      svg("line", {x1: x0.get(now), x2: x0.get(now), y1: P.top - 26, y2: axis}),
      svg("text", {x: x0.get(now) + 3, y: P.top - 30}, "now")) : null);
  picture.style.minWidth = `${Math.round(total * P.shrink)}px`;  // CSSOM: the CSP allows it
  return el("div", {class: "timeline-box"}, el("div", {class: "scroll"}, picture),
    el("div", {class: "legend muted"}, legendSwatch("ev"), "job event · attempt: ",
      ["acknowledged", "failed", "dropped", "due"].map((o) => [legendSwatch("mark o-" + o), o, " "]),
      "· ", legendSwatch("mark o-acknowledged sig-bad"), "signature does not verify · +0 is ",
      short(detail.timeline.length ? detail.timeline[0].at : detail.now), " on the account's clock"));
}

function legendSwatch(classes) {
  return svg("svg", {class: "swatch", width: 14, height: 14, viewBox: "0 0 14 14"},
    svg("rect", {class: classes, x: 2, y: 2, width: 10, height: 10, rx: classes === "ev" ? 5 : 1}));
}

function eventMark(m, x, y) {
  const name = m.event.split(" ")[0].replace("job.", "");
  return svg("g", {class: "tl-mark", "data-testid": "tl-mark", "data-lane": "job", "data-kind": "job",
      "data-event": m.event, "data-offset": m.offset, "data-x": x},
    svg("circle", {class: "ev ev-" + name, cx: x, cy: y, r: 7}),
    svg("text", {class: "mark-label", x, y: y - 13, "text-anchor": "middle"}, eventLabel(m.event)),
    svg("title", {}, `${m.event} at ${short(m.at)} (${offsetLabel(m.offset)})`));
}

function attemptMark(m, x, y, lane) {
  const bad = m.signature === "wrong_signature" || m.signature === "no_signature";
  const size = m.stacked > 1 ? 8 : 12;
  return svg("g", {class: "tl-mark clickable", "data-testid": "tl-mark", "data-lane": lane,
      "data-kind": "attempt", "data-event": m.event, "data-delivery-id": m.delivery_id,
      "data-attempt": m.attempt, "data-outcome": m.outcome, "data-signature": m.signature || "",
      "data-deliberate": m.deliberate || "", "data-offset": m.offset, "data-x": x,
      on: {click: () => go("Deliveries", {selectedDelivery: m.delivery_id})}},
    svg("rect", {class: `mark o-${m.outcome}${bad ? " sig-bad" : ""}`, x: x - size / 2,
      y: y - size / 2, width: size, height: size, rx: 1}),
    m.stacked > 1 ? null : svg("text", {class: "mark-label", x, y: y + 19, "text-anchor": "middle"},
      m.outcome === "due" ? "due" : String(m.response_status || "—")),
    svg("title", {}, [`${m.event} → ${lane}, ${m.outcome === "due" ? "next attempt due" : "attempt " + m.attempt}`,
      `at ${short(m.at)} (${offsetLabel(m.offset)})`,
      m.outcome === "due" ? "" : `answer ${m.response_status || "none"} · ${m.outcome}`,
      m.signature ? VERDICTS[m.signature] : "", m.deliberate ? "deliberate: " + m.deliberate : "",
      m.delivery_id].filter(Boolean).join("\n")));
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
