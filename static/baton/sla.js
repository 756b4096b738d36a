// SLA in the agents' pages: live countdowns and At risk / Breached badges, computed
// here from each timer's at_risk_at and due_at (so they flip on time without a
// round trip; sla.changed events from the server confirm them), priority pickers
// (mouse and keyboard; keys.js binds keys 1-4 to them), sorting the inbox by time to
// breach, and the notification bell. Text goes in with textContent only.
import { subscribe } from "./hub.js";
import { toast } from "./live.js";

const TICK_MS = 200;
const timers = new Map(); // conversation id → Map(kind → timer)
let clockOffset = 0; // server clock − this browser's clock, in ms
let sortByBreach = localStorage.getItem("baton.sla.sort") === "breach";

const now = () => Date.now() + clockOffset;

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
}

async function post(url, data) {
  const body = new FormData();
  for (const [key, value] of Object.entries(data)) {
    for (const v of [].concat(value)) body.append(key, v);
  }
  return fetch(url, { method: "POST", headers: { Accept: "application/json", "X-CSRFToken": csrfToken() }, body });
}

// --- Timers -------------------------------------------------------------------

function remember(timer) {
  if (!timers.has(timer.conversation)) timers.set(timer.conversation, new Map());
  timers.get(timer.conversation).set(timer.kind, timer);
}

export function stateAt(timer, at) {
  if (timer.state === "met" || timer.state === "breached") return timer.state;
  if (at >= Date.parse(timer.due_at)) return "breached";
  if (at >= Date.parse(timer.at_risk_at)) return "at_risk";
  return "running";
}

function duration(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h >= 24) return `${Math.floor(h / 24)}d ${h % 24}h`;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}:${String(sec).padStart(2, "0")}`;
}

// The timer an agent should look at: first response until it is answered, then resolution.
function currentTimer(conversationId) {
  const kinds = timers.get(conversationId);
  if (!kinds) return null;
  const first = kinds.get("first_response"), resolution = kinds.get("resolution");
  if (first && (first.state === "running" || first.state === "at_risk")) return first;
  if (first && first.state === "breached" && !first.stopped_at) return first;
  return resolution || first || null;
}

const BADGE = { at_risk: "At risk", breached: "Breached", met: "Met" };
const KIND = { first_response: "First response", resolution: "Resolution" };

function renderTimer(el, timer, { label = false } = {}) {
  const at = now();
  const state = stateAt(timer, at);
  el.dataset.state = state;
  el.classList.add("sla-timer");
  let countdown = el.querySelector(".sla-countdown"), badge = el.querySelector(".sla-badge");
  if (!countdown) {
    if (label) {
      const name = document.createElement("span");
      name.className = "sla-kind";
      name.textContent = KIND[timer.kind];
      el.append(name, " ");
    }
    countdown = document.createElement("span");
    countdown.className = "sla-countdown";
    countdown.dataset.testid = "sla-countdown";
    badge = document.createElement("span");
    badge.className = "sla-badge";
    badge.dataset.testid = "sla-badge";
    el.append(countdown, " ", badge);
  }
  const due = Date.parse(timer.due_at);
  let text;
  if (state === "met") text = "met";
  else if (timer.stopped_at) text = `${duration(Date.parse(timer.stopped_at) - due)} late`;
  else if (state === "breached") text = `${duration(at - due)} over`;
  else text = `${duration(due - at)} left`;
  if (countdown.textContent !== text) countdown.textContent = text;
  countdown.title = `Due ${new Date(due).toLocaleString()}`;
  const badgeText = BADGE[state] || "";
  if (badge.textContent !== badgeText) badge.textContent = badgeText;
  badge.className = `sla-badge sla-${state}`;
  badge.hidden = !badgeText;
}

function msToBreach(conversationId) {
  const timer = currentTimer(conversationId);
  if (!timer || timer.state === "met") return Infinity;
  return Date.parse(timer.due_at) - now();
}

function renderInbox() {
  for (const cell of document.querySelectorAll("[data-sla-conversation]")) {
    const timer = currentTimer(Number(cell.dataset.slaConversation));
    if (timer) renderTimer(cell, timer);
  }
}

function renderPanel() {
  const panel = document.getElementById("sla-panel");
  if (!panel) return;
  const kinds = timers.get(Number(panel.dataset.conversation));
  if (!kinds) return;
  let list = panel.querySelector(".sla-timers");
  if (!list) {
    list = document.createElement("span");
    list.className = "sla-timers";
    panel.append(list);
  }
  for (const kind of ["first_response", "resolution"]) {
    const timer = kinds.get(kind);
    if (!timer) continue;
    let el = list.querySelector(`[data-kind="${kind}"]`);
    if (!el) {
      el = document.createElement("span");
      el.dataset.kind = kind;
      el.dataset.testid = `sla-${kind}`;
      list.append(el);
    }
    renderTimer(el, timer, { label: true });
  }
}

function sortRows() {
  const body = document.querySelector("#inbox-rows tbody");
  const button = document.getElementById("sla-sort");
  if (button) button.setAttribute("aria-pressed", String(sortByBreach));
  if (!body || !sortByBreach) return;
  const rows = [...body.querySelectorAll("tr[data-conversation]")];
  const sorted = [...rows].sort((a, b) => msToBreach(Number(a.dataset.conversation)) - msToBreach(Number(b.dataset.conversation)));
  if (sorted.some((row, i) => row !== rows[i])) body.append(...sorted);
}

function tick() {
  renderInbox();
  renderPanel();
  sortRows();
}

function shownConversations() {
  const ids = new Set([...document.querySelectorAll("[data-sla-conversation]")].map((c) => c.dataset.slaConversation));
  const panel = document.getElementById("sla-panel");
  if (panel) ids.add(panel.dataset.conversation);
  return [...ids];
}

let loading = null;
async function loadTimers() {
  const ids = shownConversations();
  if (!ids.length) return;
  const requested = Date.now();
  const response = await fetch(`/sla/timers/?conversations=${ids.join(",")}`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const data = await response.json();
  clockOffset = Date.parse(data.now) - (requested + Date.now()) / 2;
  for (const timer of data.timers) remember(timer);
  tick();
}

function reloadTimers() {
  // The inbox re-renders its rows on every event: fetch timers for what is shown now.
  clearTimeout(loading);
  loading = setTimeout(loadTimers, 50);
}

// --- Priority -----------------------------------------------------------------

const PRIORITIES = [[1, "P1 Urgent"], [2, "P2 High"], [3, "P3 Normal"], [4, "P4 Low"]];

function prioritySelect(conversationId, current, url) {
  const select = document.createElement("select");
  select.className = `prio-select prio-${current}`;
  select.setAttribute("aria-label", `Priority of conversation #${conversationId}`);
  select.dataset.testid = "priority-select";
  for (const [value, label] of PRIORITIES) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    option.selected = value === current;
    select.append(option);
  }
  select.addEventListener("change", () => setPriority(url, Number(select.value), select));
  return select;
}

async function setPriority(url, priority, select) {
  const response = await post(url, { priority });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    toast(data.error?.message || "Could not change the priority.", { kind: "error" });
    return;
  }
  if (select) {
    select.value = data.conversation.priority;
    select.className = `prio-select prio-${data.conversation.priority}`;
  }
  showPriority(data.conversation.id, data.conversation.priority);
}

function decorateRows() {
  for (const row of document.querySelectorAll("#inbox-rows tr[data-conversation]")) {
    const badge = row.querySelector("td:first-child .prio");
    if (!badge || document.getElementById("inbox")?.dataset.view === "resolved") continue;
    const id = Number(row.dataset.conversation);
    const current = Number(badge.textContent.replace("P", ""));
    badge.replaceWith(prioritySelect(id, current, `/inbox/c/${id}/priority/`));
  }
}

function decoratePanel() {
  const panel = document.getElementById("sla-panel");
  if (!panel || panel.dataset.open !== "1" || panel.querySelector(".prio-select")) return;
  const select = prioritySelect(Number(panel.dataset.conversation), Number(panel.dataset.priority), panel.dataset.priorityUrl);
  const label = document.createElement("label");
  label.className = "sla-priority";
  label.append("Priority ", select);
  panel.prepend(label);
  const hint = document.createElement("span");
  hint.className = "muted sla-hint";
  hint.textContent = "(keys 1-4)";
  label.after(hint); // keys.js binds them, through this picker
}

// --- Notifications ------------------------------------------------------------

const bell = document.getElementById("bell");
const seenNotifications = new Set();

function setUnread(count) {
  const badge = document.getElementById("bell-count");
  if (!badge) return;
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = count === 0;
}

function renderNotification(n) {
  const li = document.createElement("li");
  li.className = `bell-item${n.read_at ? "" : " unread"}`;
  li.dataset.id = n.id;
  li.dataset.testid = "notification";
  const link = document.createElement("a");
  link.href = n.url || "#";
  link.textContent = n.title;
  link.addEventListener("click", () => {
    if (!n.read_at) post(bell.dataset.readUrl, { id: n.id });
  });
  const body = document.createElement("div");
  body.className = "muted";
  body.textContent = n.body;
  const time = document.createElement("time");
  time.dateTime = n.created_at;
  time.textContent = new Date(n.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  li.append(link, body, time);
  return li;
}

function addNotifications(items, { prepend = false } = {}) {
  const list = document.getElementById("bell-list");
  const fresh = items.filter((n) => !seenNotifications.has(n.id));
  for (const n of fresh) seenNotifications.add(n.id);
  const nodes = fresh.map(renderNotification);
  if (prepend) list.prepend(...nodes.reverse());
  else list.append(...nodes);
  document.getElementById("bell-empty").hidden = list.children.length > 0;
  return fresh;
}

async function loadNotifications() {
  if (!bell) return;
  const response = await fetch(bell.dataset.url, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const data = await response.json();
  addNotifications(data.notifications);
  setUnread(data.unread);
}

if (bell) {
  const button = document.getElementById("bell-button"), panel = document.getElementById("bell-panel");
  const toggle = (open) => {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => toggle(panel.hidden));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") toggle(false); });
  document.addEventListener("click", (e) => { if (!bell.contains(e.target)) toggle(false); });
  document.getElementById("bell-read-all").addEventListener("click", async () => {
    const response = await post(bell.dataset.readUrl, { all: "1" });
    if (!response.ok) return;
    setUnread((await response.json()).unread);
    for (const li of document.querySelectorAll(".bell-item.unread")) li.classList.remove("unread");
  });
}

// --- Live events ----------------------------------------------------------------

function showPriority(conversationId, priority) {
  const panel = document.getElementById("sla-panel");
  if (!panel || Number(panel.dataset.conversation) !== conversationId) return;
  panel.dataset.priority = priority;
  const select = panel.querySelector(".prio-select");
  if (select) {
    select.value = priority;
    select.className = `prio-select prio-${priority}`;
  }
  const badge = document.querySelector("[data-testid=conversation-meta] .prio");
  if (badge) {
    badge.textContent = `P${priority}`;
    badge.className = `prio prio-${priority}`;
  }
}

function onEvent(event) {
  if (event.type === "conversation.changed" && event.event === "priority_changed") {
    showPriority(event.conversation.id, event.conversation.priority);
  } else if (event.type === "sla.changed") {
    for (const timer of event.timers) remember(timer);
    tick();
  } else if (event.type === "notification.new") {
    const fresh = addNotifications(event.notifications, { prepend: true });
    setUnread(event.unread);
    for (const n of fresh) toast(n.title, { kind: n.kind === "mention" ? "mention" : "breach", href: n.url });
  } else if (event.type === "notification.read") {
    setUnread(event.unread);
  }
}

subscribe({
  onOpen() { loadNotifications(); reloadTimers(); }, // a reconnect may have missed events
  onEvent(event) {
    if (event.type === "resync") { loadNotifications(); reloadTimers(); } else onEvent(event);
  },
});

const inbox = document.getElementById("inbox");
if (inbox) {
  // The inbox swaps rows that changed on live events: decorate them, fetch timers
  // for what is shown now and keep the chosen order.
  inbox.addEventListener("baton:parts", () => { decorateRows(); sortRows(); reloadTimers(); });
}
document.addEventListener("click", (e) => {
  if (!e.target.closest("#sla-sort")) return;
  sortByBreach = !sortByBreach;
  localStorage.setItem("baton.sla.sort", sortByBreach ? "breach" : "");
  if (!sortByBreach) location.reload(); // back to the server's order: priority, then arrival
  sortRows();
});

decorateRows();
decoratePanel();
loadTimers();
loadNotifications();
setInterval(tick, TICK_MS);
