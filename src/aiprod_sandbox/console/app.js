// The console's script (/_sandbox/ui/app.js), served as a file: the page's CSP runs no
// inline script. It reads and drives one account through /_sandbox/ with the key typed in.
"use strict";
const KEY = "aiprod-sandbox-key";
const TABS = ["Jobs", "Deliveries", "Requests", "Clock", "Scenario", "Advice"];
const FRESH = { tab: "Jobs", page: 1, status: "", selectedJob: null, selectedDelivery: null,
                lastRan: null, customSeconds: "60", error: "" };
const state = { ...FRESH, timer: null, generation: 0 };

// Every button that changes something: show what went wrong instead of failing silently.
function act(fn) {
  return async () => {
    try { state.error = ""; await fn(); }
    catch (error) { state.error = error.message; }
    refresh();
  };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "on") { for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn); }
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
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
    view.replaceChildren(el("p", {class: "error", id: "view-error", "data-testid": "error"},
      state.error), content);
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

const VIEWS = {
  async Jobs() {
    const query = new URLSearchParams({page: state.page, limit: 25});
    if (state.status) query.set("status", state.status);
    const list = await api("GET", "/_sandbox/jobs?" + query);
    const filter = el("select", {"data-testid": "status-filter", on: {change: (e) => {
      state.status = e.target.value; state.page = 1; refresh(); }}},
      ["", "PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"].map((s) =>
        el("option", {value: s, selected: s === state.status}, s || "all statuses")));
    const rows = list.items.map((job) => el("tr", {class: "clickable", "data-testid": "job-row",
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
    const list = await api("GET", "/_sandbox/deliveries?limit=100");
    const rows = list.items.map((d) => el("tr", {class: "clickable", "data-testid": "delivery-row",
        "data-delivery-id": d.delivery_id,
        on: {click: () => { state.selectedDelivery = d.delivery_id; refresh(); }}},
      el("td", {}, el("code", {}, d.delivery_id)), el("td", {}, d.event),
      el("td", {}, badge(d.status)), el("td", {}, d.attempts.length),
      el("td", {}, short(d.next_attempt_at)), el("td", {}, el("code", {}, d.url))));
    const left = el("div", {class: "card"}, list.items.length ? el("table", {},
      el("tr", {}, ["delivery", "event", "status", "attempts", "next retry", "url"].map((h) =>
        el("th", {}, h))), rows) : el("p", {class: "muted"},
      "No deliveries yet. Register a webhook (POST /webhooks/register) and submit a job."));
    return el("div", {class: "grid2"}, left, await deliveryDetail());
  },
  async Requests() {
    const list = await api("GET", "/_sandbox/requests?limit=200");
    return el("div", {class: "card"}, el("table", {"data-testid": "requests-table"},
      el("tr", {}, ["time", "method", "path", "status", "ms", "request id", "key", "rules"].map((h) =>
        el("th", {}, h))),
      list.items.map((r) => el("tr", {"data-testid": "request-row"},
        el("td", {}, short(r.timestamp)), el("td", {}, r.method),
        el("td", {}, el("code", {}, r.path + (r.query ? "?" + r.query : ""))),
        el("td", {}, badge(String(r.status))), el("td", {}, r.duration_ms),
        el("td", {}, el("code", {}, r.request_id)), el("td", {}, el("code", {}, r.key)),
        el("td", {}, r.rules.join(", "))))));
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
      el("div", {class: "muted"}, "Evidence: ", f.evidence.map((id) => el("code", {}, id + " "))))));
  },
};

async function jobDetail() {
  if (!state.selectedJob) return el("div", {class: "card muted"}, "No job selected.");
  try {
    const detail = await api("GET", path`/_sandbox/jobs/${state.selectedJob}`);
    const job = detail.job;
    return el("div", {class: "card", "data-testid": "job-detail"},
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
      el("table", {"data-testid": "timeline"}, detail.timeline.map((t) =>
        el("tr", {}, el("td", {}, short(t.at)), el("td", {}, t.event)))),
      el("h4", {}, "Deliveries"),
      detail.deliveries.length ? el("div", {}, detail.deliveries.map((id) => el("button",
        {class: "act", on: {click: () => { state.tab = "Deliveries"; state.selectedDelivery = id;
          showApp(); }}}, id))) : el("span", {class: "muted"}, "none"));
  } catch (error) { state.selectedJob = null; return el("div", {class: "card error"}, error.message); }
}

async function deliveryDetail() {
  if (!state.selectedDelivery) return el("div", {class: "card muted"}, "No delivery selected.");
  let d;
  try { d = await api("GET", path`/_sandbox/deliveries/${state.selectedDelivery}`); }
  catch (error) { state.selectedDelivery = null; return el("div", {class: "card error"}, error.message); }
  const redeliver = el("button", {class: "act", "data-testid": "redeliver", on: {click: act(
    async () => { redeliver.disabled = true;
      await api("POST", path`/_sandbox/deliveries/${d.delivery_id}/redeliver`); })}}, "Redeliver");
  return el("div", {class: "card", "data-testid": "delivery-detail"},
    el("h3", {}, d.delivery_id, " ", badge(d.status), " ", redeliver),
    el("div", {class: "kv"}, el("span", {class: "muted"}, "event"), el("span", {}, d.event),
      el("span", {class: "muted"}, "url"), el("code", {}, d.url),
      el("span", {class: "muted"}, "next retry"), el("span", {}, short(d.next_attempt_at)),
      el("span", {class: "muted"}, "note"), el("span", {}, d.note || "—")),
    el("h4", {}, `Attempts (${d.attempts.length})`),
    d.attempts.map((a) => el("div", {class: "card", "data-testid": "attempt"},
      el("div", {}, el("b", {}, `#${a.attempt} `), a.trigger, " · ",
        a.error ? el("span", {class: "error"}, a.error) : el("span", {}, "ok"),
        ` · answer ${a.response_status} · ${a.duration_ms} ms · sent ${short(a.sent_at)}`,
        a.deliberate ? el("span", {class: "badge s-failed"}, "deliberate: " + a.deliberate) : null),
      el("div", {class: "muted"}, "signature ",
        el("code", {}, a.request_headers["X-AIPROD-Signature"] || "")),
      el("pre", {}, Object.entries(a.request_headers).map(([k, v]) => `${k}: ${v}`).join("\n")),
      el("pre", {}, a.request_body),
      a.response_excerpt ? el("pre", {}, "← " + a.response_excerpt) : null)));
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
