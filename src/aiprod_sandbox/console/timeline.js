"use strict";
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
