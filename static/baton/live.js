// Shared pieces of Baton's live pages (docs/realtime.md):
// - liveSocket: a websocket that reconnects with backoff and says whether the page is live;
// - MessageList: a conversation's messages, de-duplicated by id, kept in sequence, with a
//   catch-up cursor that cannot skip (the highest number below which the list holds every
//   message), so a gap asks for the missing range;
// - PendingSends: what the user sent and the server has not acknowledged yet: shown as
//   "sending…", sent again after a reconnect or over HTTP, marked sent only on the
//   server's acknowledgement. Each carries a client id, so sending twice stores once.
// Everything user-written is put in the page with textContent, never as HTML; the one
// exception is a bot answer's body_html, Markdown rendered and sanitised on the server
// (conversations/markdown.py).

import { renderAttachment } from "./files.js";

const CLOSE_FORBIDDEN = 4403;
const CLOSE_NOT_FOUND = 4404;

export function liveSocket(path, { onOpen, onEvent, onDown, onState, protocols = undefined }) {
  let socket = null;
  let delay = 500;
  let stopped = false;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";

  function open() {
    try {
      socket = new WebSocket(`${scheme}//${location.host}${path}`, protocols);
    } catch {
      // No websockets here (an old proxy, a locked-down browser): the page's HTTP fallback takes over.
      socket = null;
      onState?.("offline");
      onDown?.({ code: 0 });
      return;
    }
    socket.addEventListener("open", () => {
      delay = 500;
      onState?.("live");
      onOpen?.(socket);
    });
    socket.addEventListener("message", (e) => {
      let event;
      try { event = JSON.parse(e.data); } catch { return; }
      onEvent(event);
    });
    socket.addEventListener("close", (e) => {
      if (stopped || e.code === CLOSE_FORBIDDEN || e.code === CLOSE_NOT_FOUND) {
        onState?.("closed");
        onDown?.(e);
        return;
      }
      onState?.("reconnecting");
      onDown?.(e);
      // Jittered, so a server's sockets do not all come back in the same instant.
      setTimeout(open, delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 10000);
    });
  }
  open();
  return {
    send(frame) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(frame));
        return true;
      }
      return false;
    },
    get isOpen() { return socket !== null && socket.readyState === WebSocket.OPEN; },
    close() { stopped = true; socket?.close(); },
  };
}

// "Reconnecting…" on the page while its socket is down; gone when it is back.
export function showConnection(state) {
  for (const el of document.querySelectorAll("[data-live-status]")) {
    const down = state === "reconnecting" || state === "offline";
    el.hidden = !down;
    el.textContent = down ? "Reconnecting…" : "";
    el.dataset.state = state;
  }
}

export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const SENDER_LABEL = { customer: "Customer", bot: "Bot", agent: "Agent", system: "" };

function after(a, b) { // (conversation, seq) a comes after b
  return a.conversation > b.conversation || (a.conversation === b.conversation && a.seq > b.seq);
}

export class MessageList {
  constructor(el, { agentView = false, ownLabel = null, cursor = null } = {}) {
    this.el = el;
    this.agentView = agentView;
    this.ownLabel = ownLabel; // "You" on the customer's side
    this.seen = new Set();
    this.keys = new Set(); // "conversation:seq" held
    // Every message up to the cursor is held: catch-up asks for what comes after it.
    this.cursor = cursor || { conversation: 0, seq: 0 };
  }

  // Hold a message; returns "dup", "ok", or "gap" (the page must ask for what it misses).
  add(message) {
    if (this.seen.has(message.id)) return "dup";
    this.seen.add(message.id);
    this.keys.add(`${message.conversation}:${message.seq}`);
    if (message.client_id) this.dropPending(message.client_id);
    const li = this.render(message);
    // Insert in (conversation, seq) order, so a replayed message lands in its place;
    // what is still sending stays at the end.
    const next = [...this.el.children].find((n) => n.dataset.pending === "1" || after(
      { conversation: Number(n.dataset.conversation), seq: Number(n.dataset.seq) }, message));
    this.el.insertBefore(li, next || null);
    if (!next || next.dataset.pending === "1") this.el.scrollTop = this.el.scrollHeight;
    this.advance();
    return after(message, this.cursor) ? "gap" : "ok";
  }

  advance() {
    let { conversation, seq } = this.cursor;
    while (this.keys.has(`${conversation}:${seq + 1}`)) seq += 1;
    this.cursor = { conversation, seq };
  }

  // The server replayed everything after the cursor up to here.
  synced(cursor) {
    if (after(cursor, this.cursor)) this.cursor = { conversation: cursor.conversation, seq: cursor.seq };
    this.advance();
  }

  addPending(clientId, body) {
    if (this.el.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`)) return;
    const li = this.render({ sender: this.agentView ? "agent" : "customer", author: "", body, id: "", seq: "", conversation: "" });
    li.dataset.clientId = clientId;
    li.dataset.pending = "1";
    li.classList.add("msg-pending");
    li.dataset.testid = "msg-pending";
    li.querySelector("time").textContent = "sending…";
    this.el.append(li);
    this.el.scrollTop = this.el.scrollHeight;
  }

  // A pending message's note ("sending…", or why it waits).
  notePending(clientId, text) {
    const li = this.el.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (li) li.querySelector("time").textContent = text;
  }

  dropPending(clientId) {
    this.el.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`)?.remove();
  }

  render(m) {
    const li = document.createElement("li");
    li.className = `msg msg-${m.sender}`;
    li.dataset.id = m.id;
    li.dataset.seq = m.seq;
    li.dataset.conversation = m.conversation;
    li.dataset.testid = `msg-${m.sender}`;
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = m.sender === "agent" ? m.author : (m.sender === "customer" && this.ownLabel) || SENDER_LABEL[m.sender];
    const body = document.createElement("div");
    body.className = "body";
    body.dir = "auto"; // a right-to-left message reads right to left, and its direction stays inside it
    if (m.sender === "bot" && typeof m.body_html === "string") {
      body.classList.add("rich");
      body.innerHTML = m.body_html;
    } else {
      body.textContent = m.body;
    }
    li.append(who);
    if (m.body || !m.attachment) li.append(body);
    if (m.attachment) li.append(renderAttachment(m.attachment));
    if (m.sender === "bot" && m.sources?.length) {
      const meta = document.createElement("div");
      meta.className = "bot-meta";
      // Each title isolated (<bdi>): a direction override in one cannot reverse the rest of the line.
      const title = (s) => Object.assign(document.createElement("bdi"), { textContent: s.title });
      if (this.agentView) {
        meta.append(`confidence ${m.confidence.toFixed(2)} · sources: `);
        m.sources.forEach((s, i) => meta.append(...(i ? [", "] : []), title(s), ` (${Number(s.score).toFixed(2)})`));
      } else {
        meta.append("Source: ", title(m.sources[0]));
      }
      li.append(meta);
    }
    const time = document.createElement("time");
    if (m.created_at) {
      time.dateTime = m.created_at;
      time.textContent = new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    li.append(time);
    return li;
  }
}

// Send a file as a message: shown as "sending…" until the server answers with the
// stored message (returned), or an error (thrown, the pending line gone).
export async function uploadFile({ url, file, caption, list, headers = {}, fields = {} }) {
  const clientId = newClientId();
  list.addPending(clientId, file.name);
  const body = new FormData();
  body.set("file", file);
  body.set("body", caption || "");
  body.set("client_id", clientId);
  for (const [name, value] of Object.entries(fields)) body.set(name, value);
  try {
    return (await fetchJson(url, { method: "POST", headers, body })).message;
  } finally {
    list.dropPending(clientId);
  }
}

// Errors that sending again cannot mend: the message is dropped and the user told.
const FINAL_ERRORS = new Set(["empty", "too_long", "too_large", "bad_request", "forbidden", "not_found"]);
export const SLOW_DOWN_NOTE = "You're sending messages quickly — sending in a moment";

// A refused frame worth sending again later (the database was unreachable).
export function retryable(event) {
  return !FINAL_ERRORS.has(event.code);
}
const ACK_TIMEOUT_MS = 10000;

export class PendingSends {
  // sendFrame(frame) -> bool (false: no open socket); post(item) -> Promise of the stored
  // message (throws {final, message} or a network error); onStored(message, item);
  // onFailed(item, message) for an error sending again cannot mend.
  constructor(storageKey, { sendFrame, post, list, onStored, onFailed }) {
    this.key = storageKey;
    this.sendFrame = sendFrame;
    this.post = post;
    this.list = list;
    this.onStored = onStored;
    this.onFailed = onFailed;
    this.items = new Map();
    this.sentAt = new Map();
    this.retryDelay = 1000;
    this.timer = null;
    // Held back by a rate limit: sent again one at a time, in order, after the
    // server's retry_after (``released``: the one on its way).
    this.waiting = new Set();
    this.released = null;
    this.slowTimer = null;
    try {
      for (const item of JSON.parse(sessionStorage.getItem(this.key) || "[]")) this.items.set(item.client_id, item);
    } catch { /* private mode: in memory only */ }
    for (const item of this.items.values()) this.list.addPending(item.client_id, item.body);
  }

  save() {
    try { sessionStorage.setItem(this.key, JSON.stringify([...this.items.values()])); } catch { /* in memory only */ }
  }

  get size() { return this.items.size; }

  add(frame) {
    const item = { ...frame, client_id: newClientId() };
    this.items.set(item.client_id, item);
    this.save();
    if (item.type === "message") this.list.addPending(item.client_id, item.body);
    if (this.waiting.size) this.hold(item); // behind those already waiting, in order
    else this.sendOne(item);
    return item.client_id;
  }

  // The server stored it (an ack, a POST answer, or the message itself arriving).
  acked(clientId, message) {
    const item = this.items.get(clientId);
    if (!item) return;
    this.items.delete(clientId);
    this.sentAt.delete(clientId);
    this.save();
    this.onStored?.(message, item);
    if (this.released === clientId) this.released = null;
    this.sendNextWaiting();
  }

  // Stored already (the page's history has it): nothing to send or show.
  settle(clientId) {
    if (this.items.delete(clientId)) this.save();
  }

  // retryAfter: the seconds a rate-limited send waits (the error's retry_after).
  refused(clientId, code, text, retryAfter = null) {
    const item = this.items.get(clientId);
    if (!item) return;
    if (code === "rate_limited") { this.slowDown(item, retryAfter); return; }
    if (!FINAL_ERRORS.has(code)) { this.schedule(); return; } // the server could not store it yet
    this.items.delete(clientId);
    this.save();
    this.list.dropPending(clientId);
    this.onFailed?.(item, text);
    if (this.released === clientId) this.released = null;
    this.sendNextWaiting();
  }

  // Too many too fast: kept, marked as waiting, and sent again when the server
  // said, one at a time and in order (each ack sends the next), so that HTTP's
  // parallel requests do not reorder them.
  slowDown(item, retryAfter) {
    if (this.released === item.client_id) this.released = null;
    this.hold(item);
    const wait = Math.max(1, Number(retryAfter) || 1) * 1000;
    clearTimeout(this.slowTimer);
    this.slowTimer = setTimeout(() => { this.slowTimer = null; this.sendNextWaiting(); }, wait + Math.random() * 250);
  }

  hold(item) {
    this.sentAt.delete(item.client_id);
    this.waiting.add(item.client_id);
    if (item.type === "message") this.list.notePending(item.client_id, SLOW_DOWN_NOTE);
  }

  sendNextWaiting() {
    if (this.slowTimer || this.released || !this.waiting.size) return;
    const next = [...this.items.values()].find((item) => this.waiting.has(item.client_id));
    if (!next) { this.waiting.clear(); return; } // what waited was stored meanwhile
    this.waiting.delete(next.client_id);
    this.released = next.client_id;
    this.sendOne(next);
  }

  sendOne(item) {
    if (this.sendFrame(item)) {
      this.sentAt.set(item.client_id, Date.now());
      this.schedule(ACK_TIMEOUT_MS);
      return;
    }
    this.viaHttp(item);
  }

  async viaHttp(item) {
    try {
      const message = await this.post(item);
      this.retryDelay = 1000;
      this.acked(item.client_id, message);
    } catch (error) {
      if (error.code === "rate_limited" || error.final) {
        this.refused(item.client_id, error.code, error.message, error.retryAfter);
        return;
      }
      this.schedule(); // offline, or the server is restarting: again with backoff
    }
  }

  // Send everything still pending (after a reconnect, or when its time came).
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    for (const item of this.items.values()) if (!this.waiting.has(item.client_id)) this.sendOne(item);
    this.sendNextWaiting();
  }

  schedule(ms = null) {
    if (this.timer) return;
    const wait = ms ?? this.retryDelay;
    if (ms === null) this.retryDelay = Math.min(this.retryDelay * 2, 15000);
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = Date.now();
      for (const item of this.items.values()) {
        if (this.waiting.has(item.client_id)) continue; // its turn comes after the wait
        const sent = this.sentAt.get(item.client_id);
        if (sent === undefined || now - sent >= ACK_TIMEOUT_MS - 50) this.sendOne(item);
      }
      if (this.items.size) this.schedule(ACK_TIMEOUT_MS);
    }, wait);
  }
}

// fetch() for the pages' JSON endpoints: the stored answer, or an error that says
// whether sending again can help ({final, code, message}).
export async function fetchJson(url, options = {}) {
  const response = await fetch(url, { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } });
  let data = null;
  try { data = await response.json(); } catch { /* not JSON: a proxy's error page */ }
  if (!response.ok) {
    const error = new Error(data?.error?.message || "Something went wrong. Please try again.");
    error.code = data?.error?.code || `http_${response.status}`;
    error.final = response.status >= 400 && response.status < 500 && response.status !== 429;
    error.retryAfter = (data?.error?.retry_after ?? Number(response.headers.get("Retry-After"))) || null;
    throw error;
  }
  return data;
}

// A server-rendered page (or part) to take parts from: the pages re-read themselves
// on live events and swap what changed. Null unless it answered 200.
export async function fetchDocument(url) {
  const response = await fetch(url, { headers: { Accept: "text/html" } });
  if (response.status !== 200) return null;
  return new DOMParser().parseFromString(await response.text(), "text/html");
}

// Typing indicators, never stored: a page tells the other side at most once every
// TYPING_EVERY_MS while its person types, and shows the other side's for
// TYPING_SHOWN_MS after the last it heard (or until their message arrives).
const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;

export function typingSender(sendFrame) {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last < TYPING_EVERY_MS) return;
    if (sendFrame()) last = now;
  };
}

export function typingNote(el) {
  let timer = null;
  return {
    show(text) {
      el.textContent = text;
      el.hidden = false;
      clearTimeout(timer);
      timer = setTimeout(() => { el.hidden = true; }, TYPING_SHOWN_MS);
    },
    hide() {
      clearTimeout(timer);
      el.hidden = true;
    },
  };
}

// "5 minutes ago" that stays true: every <time data-relative> under ``root``, in the
// page's language, from its datetime (the server's text is only the first draw).
const RELATIVE_STEPS = [[60, "second"], [3600, "minute"], [86400, "hour"], [Infinity, "day"]];
export function tickRelativeTimes(root = document) {
  const format = new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, { numeric: "auto" });
  const now = Date.now();
  for (const el of root.querySelectorAll("time[data-relative]")) {
    const seconds = Math.round((Date.parse(el.dateTime) - now) / 1000);
    if (Number.isNaN(seconds)) continue;
    let unit = 1;
    for (const [limit, name] of RELATIVE_STEPS) {
      if (Math.abs(seconds) < limit) {
        const text = format.format(Math.trunc(seconds / unit), name); // 59 min 58 s: "59 minutes ago"
        if (el.textContent !== text) el.textContent = text;
        break;
      }
      unit = limit;
    }
  }
}

export function toast(text, { kind = "info", href = null } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = document.createElement(href ? "a" : "div");
  el.className = `toast toast-${kind}`;
  el.textContent = text;
  if (href) el.href = href;
  el.setAttribute("role", "status");
  box.append(el);
  setTimeout(() => el.remove(), 8000);
}

export function showError(el, text) {
  if (!el) return;
  el.textContent = text;
  el.hidden = !text;
}
