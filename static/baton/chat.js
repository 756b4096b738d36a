import { fetchJson, liveSocket, MessageList, PendingSends, retryable, showConnection, showError, typingNote, typingSender, uploadFile } from "./live.js";
import { fileProblem } from "./files.js";

// The page is a shell: the session (token, history, state) comes from /chat/session/,
// with the token kept where the customer's page keeps it (docs/security.md):
// - embedded by the loader (embed.js): in the embedding site's own localStorage,
//   handed over with postMessage, only by a parent page of an allowed origin;
// - otherwise: in this origin's localStorage.
const root = document.getElementById("chat");
const config = JSON.parse(document.getElementById("chat-config").textContent);
const statusEl = document.getElementById("chat-status");
const typing = document.getElementById("typing");
const form = document.getElementById("composer");
const textarea = document.getElementById("body");
const errorEl = document.getElementById("chat-error");
const maxChars = Number(root.dataset.maxChars);
const talkButton = document.getElementById("talk-to-person");
const fileInput = document.getElementById("attach-file");
const agentTyping = typingNote(document.getElementById("agent-typing"));
const OWN_KEY = "baton.session";
const embedded = config.loader && window.parent !== window;

function fromParent() {
  return new Promise((resolve) => {
    window.addEventListener("message", function listen(e) {
      if (e.source !== window.parent || e.data?.type !== "baton:session") return;
      window.removeEventListener("message", listen);
      resolve({ origin: e.origin, token: e.data.token, identity: e.data.identity, name: e.data.name });
    });
    // Nothing secret in this: it asks the loader for the session it keeps.
    window.parent.postMessage({ type: "baton:ready" }, "*");
  });
}

function fromHere() {
  let token = "";
  try { token = localStorage.getItem(OWN_KEY) || ""; } catch { /* storage blocked: a new session */ }
  const name = new URLSearchParams(location.search).get("name") || "";
  return { origin: location.origin, token, identity: null, name };
}

function keep(origin, token) {
  if (embedded) window.parent.postMessage({ type: "baton:token", token }, origin);
  else try { localStorage.setItem(OWN_KEY, token); } catch { /* this page's session only */ }
}

async function openSession() {
  const asked = embedded ? await fromParent() : fromHere();
  if (embedded && asked.origin !== location.origin && !config.origins.includes(asked.origin)) {
    throw new Error("This site is not allowed to embed the chat.");
  }
  // A server restarting or a network blip is waited out; a refusal (4xx) is final.
  for (let delay = 1000; ; delay = Math.min(delay * 2, 10000)) {
    try {
      const session = await fetchJson(root.dataset.sessionUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(asked),
      });
      keep(asked.origin, session.token);
      showError(errorEl, "");
      return session;
    } catch (error) {
      if (error.final) throw error;
      statusEl.textContent = "Connecting…";
      await new Promise((done) => setTimeout(done, error.retryAfter ? error.retryAfter * 1000 : delay));
    }
  }
}

let session;
try {
  session = await openSession();
} catch (error) {
  showError(errorEl, error.message);
  statusEl.textContent = "The chat is unavailable here.";
  throw error;
}
const token = session.token;
const list = new MessageList(document.getElementById("messages"), { ownLabel: "You", cursor: session.cursor });
let state = session.state;
let fallbackTimer = null;
let syncing = false;
let syncAgain = false;

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

// A state event of the conversation the page shows, unless an older one than it has
// (two processes' events can arrive out of order).
function newState(conversation) {
  if (state && state.id === conversation.id && (conversation.version ?? 0) < (state.version ?? 0)) return;
  // A place pushed by routing in another process may arrive before the handoff itself.
  const place = state?.id === conversation.id ? state.queue_position : null;
  state = { ...conversation, queue_position: conversation.queue_position ?? place };
  if (state.status !== "bot") typing.hidden = true;
  renderState();
}

function onMessage(m) {
  if (m.client_id) pending.acked(m.client_id, m);
  const held = list.add(m);
  if (m.sender !== "customer") typing.hidden = true;
  if (m.sender === "agent") agentTyping.hide();
  if (held === "gap") sync();
}

// Ask for what the page misses after its cursor: over the socket, or over HTTP.
function sync() {
  if (syncing) { syncAgain = true; return; }
  const { conversation, seq } = list.cursor;
  if (socket.send({ type: "sync", conversation, after_seq: seq })) { syncing = true; return; }
  catchUp();
}

function onEvent(event) {
  if (event.type === "conversation.message") onMessage(event.message);
  else if (event.type === "message.ack") onMessage(event.message);
  else if (event.type === "handoff.ack") pending.acked(event.client_id, null);
  else if (event.type === "sync.done") {
    list.synced(event);
    syncing = false;
    if (syncAgain) { syncAgain = false; sync(); }
  } else if (event.type === "resync") sync();
  else if (event.type === "conversation.changed") newState(event.conversation);
  else if (event.type === "conversation.typing" && event.sender === "agent") agentTyping.show(`${event.author} is typing…`);
  else if (event.type === "conversation.queue" && state?.id === event.conversation) {
    state = { ...state, queue_position: event.queue_position };
    renderState();
  } else if (event.type === "error") {
    if (event.client_id) pending.refused(event.client_id, event.code, event.message, event.retry_after);
    else if (event.frame === "sync" && retryable(event)) { syncing = false; setTimeout(sync, 1000); } // asked again
    else showError(errorEl, event.message);
  }
}

async function post(payload) {
  return fetchJson(root.dataset.sendUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Baton-Token": token },
    body: JSON.stringify(payload),
  });
}

const pending = new PendingSends(`baton.chat.pending.${session.session}`, {
  sendFrame: (frame) => socket?.send(frame) ?? false,
  async post(item) {
    if (item.type === "handoff") {
      const data = await post({ handoff: true });
      if (data.conversation) newState(data.conversation);
      return null;
    }
    const data = await post({ body: item.body, client_id: item.client_id });
    return data.message;
  },
  list,
  onStored(message) {
    if (message) onMessage(message);
    setTimeout(catchUp, 500); // what the bot answered meanwhile, if the socket is down
  },
  onFailed(item, text) {
    showError(errorEl, text);
    if (item.type === "message" && !textarea.value) textarea.value = item.body;
  },
});

// The page's own history, and what it shows of an earlier page's unsent messages.
for (const m of session.history) {
  if (m.client_id) pending.settle(m.client_id);
  list.add(m);
}

// The token goes in a subprotocol: a websocket URL ends up in access logs.
const tokenHex = [...new TextEncoder().encode(token)].map((b) => b.toString(16).padStart(2, "0")).join("");
const socket = liveSocket(root.dataset.ws, {
  protocols: ["baton", `baton.token.${tokenHex}`],
  onOpen() {
    stopFallback();
    syncing = false;
    sync();
    pending.flush();
  },
  onEvent,
  onDown() { syncing = false; startFallback(); },
  onState: showConnection,
});

// Without a websocket (blocked by a proxy, Redis restarting), catch up over HTTP
// every few seconds, and send what is pending that way.
function startFallback() {
  if (fallbackTimer) return;
  fallbackTimer = setInterval(() => { catchUp(); if (pending.size) pending.flush(); }, 3000);
}
function stopFallback() {
  clearInterval(fallbackTimer);
  fallbackTimer = null;
}
async function catchUp() {
  if (socket.isOpen) return;
  const { conversation, seq } = list.cursor;
  let data;
  try {
    data = await fetchJson(`${root.dataset.historyUrl}?conversation=${conversation}&after_seq=${seq}`, {
      headers: { "X-Baton-Token": token },
    });
  } catch { return; } // the next round tries again
  data.messages.forEach(onMessage);
  list.synced(data.cursor);
  if (data.conversation) newState(data.conversation);
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const body = textarea.value;
  if (!body.trim()) return showError(errorEl, "Please type a message first.");
  if (body.length > maxChars) return showError(errorEl, `Messages can be at most ${maxChars.toLocaleString()} characters.`);
  showError(errorEl, "");
  const botAnswers = !state || state.status === "bot" || state.status === "resolved";
  pending.add({ type: "message", body });
  textarea.value = "";
  if (botAnswers) typing.hidden = false;
});

// A file is sent as soon as it is chosen, with what is typed as its caption.
fileInput.addEventListener("change", async () => {
  const file = fileInput.files[0];
  fileInput.value = "";
  if (!file) return;
  const problem = fileProblem(file, Number(fileInput.dataset.maxBytes));
  if (problem) return showError(errorEl, problem);
  showError(errorEl, "");
  const caption = textarea.value;
  textarea.value = "";
  try {
    const message = await uploadFile({
      url: root.dataset.uploadUrl, file, caption, list, headers: { "X-Baton-Token": token },
    });
    onMessage(message);
  } catch (error) {
    showError(errorEl, error.message);
    if (!textarea.value) textarea.value = caption;
  }
});

// A person sees the customer typing; the bot does not need to.
const tellTyping = typingSender(() => socket.send({ type: "typing" }));
textarea.addEventListener("input", () => {
  if (state?.status === "pending_handoff" || state?.status === "assigned") tellTyping();
});

textarea.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});

talkButton.addEventListener("click", () => {
  pending.add({ type: "handoff" });
});

// Ready: the composer and the button work now (disabled until here in chat.html).
for (const el of [...form.elements, talkButton]) el.disabled = false;
