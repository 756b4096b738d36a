// One conversation in the agent's browser: history, live messages, replies (kept
// until the server acknowledges them, sent again after a reconnect: live.js).
import { fetchJson, liveSocket, MessageList, PendingSends, retryable, showConnection, showError } from "./live.js";

const root = document.getElementById("conversation");
const conversationId = Number(root.dataset.id);
const list = new MessageList(document.getElementById("messages"), {
  agentView: true,
  cursor: { conversation: conversationId, seq: 0 },
});
const form = document.getElementById("composer");
const errorEl = document.getElementById("chat-error");
let syncing = false;
let syncAgain = false;

// The internal timeline: routing decisions, priority changes, SLA events.
const timelineEl = document.getElementById("timeline");
const timelineSeen = new Set();
let lastEvent = 0;
function addTimeline(e) {
  if (timelineSeen.has(e.id)) return;
  timelineSeen.add(e.id);
  lastEvent = Math.max(lastEvent, e.id);
  const li = document.createElement("li");
  li.className = `timeline-item timeline-${e.kind.replace(/[^a-z0-9]+/gi, "-")}`;
  li.dataset.kind = e.kind;
  const time = document.createElement("time");
  time.dateTime = e.created_at;
  time.textContent = new Date(e.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const text = document.createElement("span");
  text.textContent = e.actor ? `${e.text} (${e.actor})` : e.text;
  li.append(time, " ", text);
  const considered = e.data?.candidates;
  if (Array.isArray(considered) && considered.length) {
    // Who routing considered for this decision, and why each could or could not take it.
    const details = document.createElement("details");
    details.className = "candidates";
    details.dataset.testid = "candidates";
    const summary = document.createElement("summary");
    summary.textContent = "Considered";
    const list = document.createElement("ul");
    for (const c of considered) {
      const item = document.createElement("li");
      item.className = c.eligible ? "eligible" : "ineligible";
      item.textContent = `${c.name} (${c.load}): ${c.why}`;
      list.append(item);
    }
    details.append(summary, list);
    li.append(details);
  }
  timelineEl.append(li);
}
for (const e of JSON.parse(document.getElementById("timeline-data").textContent)) addTimeline(e);
// Entries recorded in bulk (an SLA sweep) arrive batched on the page's inbox socket.
window.addEventListener("baton:inbox-event", ({ detail }) => {
  if (detail.type !== "conversation.timeline_batch") return;
  for (const e of detail.events) if (e.conversation === Number(root.dataset.id)) addTimeline(e);
});

const pending = new PendingSends(`baton.reply.pending.${conversationId}`, {
  sendFrame: (frame) => socket?.send(frame) ?? false,
  async post(item) {
    const body = new FormData(form);
    body.set("body", item.body);
    body.set("client_id", item.client_id);
    return (await fetchJson(form.action, { method: "POST", body })).message;
  },
  list,
  onStored(message) { if (message) onMessage(message); },
  onFailed(item, text) {
    showError(errorEl, text);
    const textarea = form?.querySelector("textarea");
    if (textarea && !textarea.value) textarea.value = item.body;
  },
});

for (const m of JSON.parse(document.getElementById("history").textContent)) {
  if (m.client_id) pending.settle(m.client_id);
  list.add(m);
}

function onMessage(m) {
  if (m.client_id) pending.acked(m.client_id, m);
  if (list.add(m) === "gap") sync();
}

function sync() {
  if (syncing) { syncAgain = true; return; }
  if (socket.send({ type: "sync", after_seq: list.cursor.seq, after_event: lastEvent })) syncing = true;
}

const socket = liveSocket(root.dataset.ws, {
  onOpen() {
    syncing = false;
    sync();
    pending.flush();
  },
  onEvent(event) {
    if (event.type === "conversation.message" || event.type === "message.ack") onMessage(event.message);
    else if (event.type === "sync.done") {
      list.synced(event);
      syncing = false;
      if (syncAgain) { syncAgain = false; sync(); }
    } else if (event.type === "resync") sync();
    else if (event.type === "conversation.timeline") addTimeline(event.event);
    else if (event.type === "error" && event.client_id) pending.refused(event.client_id, event.code, event.message, event.retry_after);
    else if (event.type === "error" && event.frame === "sync" && retryable(event)) { syncing = false; setTimeout(sync, 1000); }
    else if (event.type === "conversation.changed" && event.conversation.status !== root.dataset.status) {
      // Who may act (accept, reply, resolve) changed: show the page as it now is.
      location.reload();
    }
  },
  onDown() { syncing = false; },
  onState: showConnection,
});

form?.addEventListener("submit", (e) => {
  e.preventDefault();
  const textarea = form.querySelector("textarea");
  if (!textarea.value.trim()) return showError(errorEl, "Please type a reply first.");
  showError(errorEl, "");
  pending.add({ type: "message", body: textarea.value });
  textarea.value = "";
});

form?.querySelector("textarea").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});
