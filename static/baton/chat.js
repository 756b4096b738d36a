import { liveSocket, MessageList, showError } from "./live.js";

const root = document.getElementById("chat");
const token = root.dataset.token;
const list = new MessageList(document.getElementById("messages"));
const statusEl = document.getElementById("chat-status");
const typing = document.getElementById("typing");
const form = document.getElementById("composer");
const textarea = document.getElementById("body");
const errorEl = document.getElementById("chat-error");
const maxChars = Number(root.dataset.maxChars);
const talkButton = document.getElementById("talk-to-person");
let state = JSON.parse(document.getElementById("state").textContent);
let fallbackTimer = null;

for (const m of JSON.parse(document.getElementById("history").textContent)) list.add(m);
renderState();

function renderState() {
  const s = state?.status;
  if (s === "pending_handoff") {
    const place = state.queue_position ? ` You're #${state.queue_position} in the queue.` : "";
    statusEl.textContent = `A person from our team will answer shortly.${place}`;
  } else if (s === "assigned") {
    statusEl.textContent = `You're chatting with ${state.agent}.`;
  } else if (s === "resolved") {
    statusEl.textContent = "This conversation is resolved. Write again any time — our assistant will help.";
  } else {
    statusEl.textContent = "Ask us anything — our assistant answers right away.";
  }
  root.dataset.status = s || "none";
  // Once a person is on the way, the button has done its job.
  talkButton.hidden = s === "pending_handoff" || s === "assigned";
}

function onMessage(m) {
  list.add(m);
  if (m.sender !== "customer") typing.hidden = true;
}

function onEvent(event) {
  if (event.type === "conversation.message") onMessage(event.message);
  else if (event.type === "conversation.changed") {
    // A place pushed by routing in another process may arrive before the handoff itself.
    const place = state?.id === event.conversation.id ? state.queue_position : null;
    state = { ...event.conversation, queue_position: event.conversation.queue_position ?? place };
    if (state.status !== "bot") typing.hidden = true;
    renderState();
  } else if (event.type === "conversation.queue" && state?.id === event.conversation) {
    state = { ...state, queue_position: event.queue_position };
    renderState();
  } else if (event.type === "error") showError(errorEl, event.message);
}

const socket = liveSocket(`${root.dataset.ws}?token=${encodeURIComponent(token)}`, {
  onOpen(ws) {
    stopFallback();
    ws.send(JSON.stringify({ type: "sync", conversation: list.cursor.conversation, after_seq: list.cursor.seq }));
  },
  onEvent,
  onDown() { startFallback(); },
});

// Without a websocket (blocked by a proxy, say), catch up over HTTP every few seconds.
function startFallback() {
  if (fallbackTimer) return;
  fallbackTimer = setInterval(catchUp, 3000);
}
function stopFallback() {
  clearInterval(fallbackTimer);
  fallbackTimer = null;
}
async function catchUp() {
  const url = `${root.dataset.historyUrl}?conversation=${list.cursor.conversation}&after_seq=${list.cursor.seq}`;
  const response = await fetch(url, { headers: { "X-Baton-Token": token } });
  if (!response.ok) return;
  const data = await response.json();
  data.messages.forEach(onMessage);
  if (data.conversation) { state = data.conversation; renderState(); }
}

async function post(payload) {
  const response = await fetch(root.dataset.sendUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Baton-Token": token },
    body: JSON.stringify(payload),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error?.message || "Something went wrong. Please try again.");
  if (data.message) onMessage(data.message);
  setTimeout(catchUp, 500);
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = textarea.value;
  if (!body.trim()) return showError(errorEl, "Please type a message first.");
  if (body.length > maxChars) return showError(errorEl, `Messages can be at most ${maxChars.toLocaleString()} characters.`);
  showError(errorEl, "");
  const botAnswers = !state || state.status === "bot" || state.status === "resolved";
  if (socket.send({ type: "message", body })) {
    textarea.value = "";
  } else {
    try { await post({ body }); textarea.value = ""; } catch (err) { return showError(errorEl, err.message); }
  }
  if (botAnswers) typing.hidden = false;
});

textarea.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});

talkButton.addEventListener("click", async () => {
  if (!socket.send({ type: "handoff" })) {
    try { await post({ handoff: true }); } catch (err) { showError(errorEl, err.message); }
  }
});
