// One conversation in the agent's browser: history, live messages, replies.
import { liveSocket, MessageList, showError } from "./live.js";

const root = document.getElementById("conversation");
const list = new MessageList(document.getElementById("messages"), { agentView: true });
const form = document.getElementById("composer");
const errorEl = document.getElementById("chat-error");

for (const m of JSON.parse(document.getElementById("history").textContent)) list.add(m);

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

liveSocket(root.dataset.ws, {
  onOpen(ws) {
    ws.send(JSON.stringify({ type: "sync", after_seq: list.cursor.seq, after_event: lastEvent }));
  },
  onEvent(event) {
    if (event.type === "conversation.message") list.add(event.message);
    else if (event.type === "conversation.timeline") addTimeline(event.event);
    else if (event.type === "conversation.changed" && event.conversation.status !== root.dataset.status) {
      // Who may act (accept, reply, resolve) changed: show the page as it now is.
      location.reload();
    }
  },
});

form?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const textarea = form.querySelector("textarea");
  if (!textarea.value.trim()) return showError(errorEl, "Please type a reply first.");
  const response = await fetch(form.action, {
    method: "POST",
    headers: { Accept: "application/json" },
    body: new FormData(form),
  });
  const data = await response.json();
  if (!response.ok) return showError(errorEl, data.error.message);
  showError(errorEl, "");
  list.add(data.message);
  textarea.value = "";
});

form?.querySelector("textarea").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});
