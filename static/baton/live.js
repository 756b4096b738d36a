// Shared pieces of Baton's live pages: a websocket that reconnects and a message
// list that de-duplicates by id and keeps each conversation's messages in sequence.
// Everything user-written is put in the page with textContent, never as HTML.

export function liveSocket(path, { onOpen, onEvent, onDown }) {
  let socket = null;
  let delay = 500;
  let stopped = false;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";

  function open() {
    try {
      socket = new WebSocket(`${scheme}//${location.host}${path}`);
    } catch {
      // No websockets here (an old proxy, a locked-down browser): the page's HTTP fallback takes over.
      socket = null;
      onDown?.({ code: 0 });
      return;
    }
    socket.addEventListener("open", () => {
      delay = 500;
      onOpen?.(socket);
    });
    socket.addEventListener("message", (e) => {
      let event;
      try { event = JSON.parse(e.data); } catch { return; }
      onEvent(event);
    });
    socket.addEventListener("close", (e) => {
      onDown?.(e);
      if (stopped || e.code === 4403 || e.code === 4404) return;
      setTimeout(open, delay);
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

const SENDER_LABEL = { customer: "Customer", bot: "Bot", agent: "Agent", system: "" };

export class MessageList {
  constructor(el, { agentView = false } = {}) {
    this.el = el;
    this.agentView = agentView;
    this.seen = new Set();
    this.cursor = { conversation: 0, seq: 0 }; // the last message seen, for catch-up
  }

  add(message) {
    if (this.seen.has(message.id)) return false;
    this.seen.add(message.id);
    const c = this.cursor;
    if (message.conversation > c.conversation || (message.conversation === c.conversation && message.seq > c.seq)) {
      this.cursor = { conversation: message.conversation, seq: message.seq };
    }
    const li = this.render(message);
    // Insert in (conversation, seq) order, so a replayed message lands in its place.
    const after = [...this.el.children].find((n) => {
      const conv = Number(n.dataset.conversation), seq = Number(n.dataset.seq);
      return conv > message.conversation || (conv === message.conversation && seq > message.seq);
    });
    this.el.insertBefore(li, after || null);
    if (!after) this.el.scrollTop = this.el.scrollHeight;
    return true;
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
    who.textContent = m.sender === "agent" ? m.author : SENDER_LABEL[m.sender];
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = m.body;
    li.append(who, body);
    if (m.sender === "bot" && m.sources?.length) {
      const meta = document.createElement("div");
      meta.className = "bot-meta";
      if (this.agentView) {
        meta.textContent = `confidence ${m.confidence.toFixed(2)} · sources: ` +
          m.sources.map((s) => `${s.title} (${Number(s.score).toFixed(2)})`).join(", ");
      } else {
        meta.textContent = `Source: ${m.sources[0].title}`;
      }
      li.append(meta);
    }
    const time = document.createElement("time");
    time.dateTime = m.created_at;
    time.textContent = new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    li.append(time);
    return li;
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
