// One conversation in the agent's browser: history, live messages, replies (kept
// until the server acknowledges them, sent again after a reconnect: live.js), over
// the page's one socket (hub.js), which this module points at the conversation
// (``watch``). When who may act changes (accepted, transferred, resolved), the parts
// that depend on it are re-read from the server and swapped; the page never reloads,
// and the half-written reply is kept per conversation across reloads and navigation.
import { send, subscribe } from "./hub.js";
import { MessageList, PendingSends, fetchDocument, fetchJson, retryable, showError, typingNote, typingSender, uploadFile } from "./live.js";
import { fileProblem } from "./files.js";

const root = document.getElementById("conversation");
const conversationId = Number(root.dataset.id);
const list = new MessageList(document.getElementById("messages"), {
  agentView: true,
  cursor: { conversation: conversationId, seq: 0 },
});
// Re-read and swapped when who may act changes (the panel too: a handoff adds its
// trail); the thread and timeline stay.
const PARTS = ["conversation-meta", "conversation-actions", "reply-area", "customer-panel"];
const DRAFT_KEY = `baton.draft.${root.dataset.user}.${conversationId}`;
let syncing = false;
let syncAgain = false;
let opened = false;
const customerTyping = typingNote(document.getElementById("customer-typing"));
const tellTyping = typingSender(() => send({ type: "typing", conversation: conversationId }));

const composer = () => document.getElementById("composer");
const replyBox = () => composer()?.querySelector("textarea") ?? null;
const errorEl = () => document.getElementById("chat-error");

// --- The draft --------------------------------------------------------------------

function saveDraft(text) {
  try {
    if (text.trim()) localStorage.setItem(DRAFT_KEY, text);
    else localStorage.removeItem(DRAFT_KEY);
  } catch { /* storage blocked: the draft lives as long as the page */ }
}

function restoreDraft() {
  const box = replyBox();
  if (!box || box.value) return;
  try { box.value = localStorage.getItem(DRAFT_KEY) || ""; } catch { /* nothing kept */ }
}

// --- The timeline: routing decisions, priority changes, SLA events ---------------

const timelineEl = document.getElementById("timeline");
const timelineSeen = new Set();
let lastEvent = 0;
function addTimeline(e) {
  if (timelineSeen.has(e.id) || (e.conversation !== undefined && e.conversation !== conversationId)) return;
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
    const ul = document.createElement("ul");
    for (const c of considered) {
      const item = document.createElement("li");
      item.className = c.eligible ? "eligible" : "ineligible";
      item.textContent = `${c.name} (${c.load}): ${c.why}`;
      ul.append(item);
    }
    details.append(summary, ul);
    li.append(details);
  }
  timelineEl.append(li);
}
for (const e of JSON.parse(document.getElementById("timeline-data").textContent)) addTimeline(e);

// --- Messages and replies -----------------------------------------------------------

const pending = new PendingSends(`baton.reply.pending.${conversationId}`, {
  sendFrame: (frame) => send({ ...frame, conversation: conversationId }),
  async post(item) {
    const body = new FormData();
    body.set("body", item.body);
    body.set("client_id", item.client_id);
    body.set("csrfmiddlewaretoken", root.dataset.csrf);
    return (await fetchJson(root.dataset.replyUrl, { method: "POST", body })).message;
  },
  list,
  onStored(message) { if (message) onMessage(message); },
  onFailed(item, text) {
    showError(errorEl(), text);
    const box = replyBox();
    if (box && !box.value) { box.value = item.body; saveDraft(item.body); }
  },
});

for (const m of JSON.parse(document.getElementById("history").textContent)) {
  if (m.client_id) pending.settle(m.client_id);
  list.add(m);
}

function onMessage(m) {
  if (m.conversation !== conversationId) return; // the list's traffic, or a conversation watched before
  if (m.client_id) pending.acked(m.client_id, m);
  if (m.sender === "customer") customerTyping.hide();
  if (list.add(m) === "gap") sync();
}

function sync() {
  if (syncing) { syncAgain = true; return; }
  if (send({ type: "sync", conversation: conversationId, after_seq: list.cursor.seq, after_event: lastEvent })) syncing = true;
}

// --- The parts that depend on who may act --------------------------------------------

let refreshing = null;
let refreshAgain = false;

async function refreshParts() {
  if (refreshing) { refreshAgain = true; return; }
  refreshing = (async () => {
    const doc = await fetchDocument(location.pathname + location.search);
    if (!doc) return;
    const fresh = doc.getElementById("conversation");
    if (!fresh || Number(fresh.dataset.version) < Number(root.dataset.version)) return; // an older read
    const typing = replyBox();
    if (typing) saveDraft(typing.value);
    for (const id of PARTS) document.getElementById(id)?.replaceWith(document.adoptNode(doc.getElementById(id)));
    // Teach the bot appears once the conversation was handed off, and is never swapped
    // under an agent who is filling it in.
    const learn = document.getElementById("learn-area");
    if (learn && !learn.children.length) learn.replaceWith(document.adoptNode(doc.getElementById("learn-area")));
    for (const key of ["status", "agent", "version"]) root.dataset[key] = fresh.dataset[key];
    restoreDraft();
    root.dispatchEvent(new CustomEvent("baton:parts", { bubbles: true, detail: { status: root.dataset.status } }));
  })().catch((error) => console.warn("conversation: re-reading the page failed", error));
  try { await refreshing; } finally {
    refreshing = null;
    if (refreshAgain) { refreshAgain = false; refreshParts(); }
  }
}

function onChanged(c) {
  if (c.id !== conversationId || (c.version ?? 0) <= Number(root.dataset.version)) return;
  const who = String(c.agent_id ?? "");
  if (c.status !== root.dataset.status || who !== root.dataset.agent) refreshParts();
  else root.dataset.version = c.version;
}

subscribe({
  onOpen() {
    syncing = false;
    send({ type: "watch", conversation: conversationId });
    sync();
    pending.flush();
    if (opened) refreshParts(); // what changed while the socket was down
    opened = true;
  },
  onEvent(event) {
    if (event.type === "conversation.message" || event.type === "message.ack") onMessage(event.message);
    else if (event.type === "sync.done" && event.conversation === conversationId) {
      list.synced(event);
      // Watched and caught up (frames are served in order): this conversation is live,
      // its typing and notes reach the page from now on.
      root.dataset.synced = "true";
      syncing = false;
      if (syncAgain) { syncAgain = false; sync(); }
    } else if (event.type === "resync") sync();
    else if (event.type === "conversation.timeline") addTimeline(event.event);
    else if (event.type === "conversation.timeline_batch") event.events.forEach(addTimeline);
    else if (event.type === "conversation.changed") onChanged(event.conversation);
    else if (event.type === "conversation.typing" && event.conversation === conversationId) customerTyping.show("The customer is typing…");
    else if (event.type === "error" && event.client_id) pending.refused(event.client_id, event.code, event.message, event.retry_after);
    else if (event.type === "error" && event.frame === "sync" && retryable(event)) { syncing = false; setTimeout(sync, 1000); }
  },
  onDown() { syncing = false; delete root.dataset.synced; },
});

// Delegated: the reply area is swapped when who may act changes.
root.addEventListener("submit", (e) => {
  if (e.target.id !== "composer") return;
  e.preventDefault();
  const box = replyBox();
  if (!box.value.trim()) return showError(errorEl(), "Please type a reply first.");
  showError(errorEl(), "");
  pending.add({ type: "message", body: box.value });
  box.value = "";
  saveDraft("");
});
// A file is sent as soon as it is chosen, with the reply typed so far as its caption.
root.addEventListener("change", async (e) => {
  if (e.target.id !== "attach-file") return;
  const input = e.target;
  const file = input.files[0];
  input.value = "";
  if (!file) return;
  const problem = fileProblem(file, Number(input.dataset.maxBytes));
  if (problem) return showError(errorEl(), problem);
  showError(errorEl(), "");
  const box = replyBox();
  const caption = box?.value ?? "";
  if (box) { box.value = ""; saveDraft(""); }
  try {
    const message = await uploadFile({
      url: composer().dataset.attachUrl, file, caption, list, fields: { csrfmiddlewaretoken: root.dataset.csrf },
    });
    onMessage(message);
  } catch (error) {
    showError(errorEl(), error.message);
    const now = replyBox();
    if (now && !now.value) { now.value = caption; saveDraft(caption); }
  }
});
root.addEventListener("input", (e) => {
  if (e.target !== replyBox()) return;
  saveDraft(e.target.value);
  tellTyping();
});
root.addEventListener("keydown", (e) => {
  if (e.target === replyBox() && e.key === "Enter" && !e.shiftKey) { e.preventDefault(); composer().requestSubmit(); }
});
restoreDraft();
