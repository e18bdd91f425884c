"use strict";
// The console's tabs: what each one lists and how (loaded before app.js, which starts the page).

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
