// The page's one agent socket (/ws/inbox/). Every part of an agent page — the list,
// the thread, offers and presence, SLA countdowns and the bell, the analytics panel —
// subscribes here instead of opening its own (a conversation page used to open three, the analytics page two).
// A module is evaluated once per page, so every importer shares this socket.
import { liveSocket, showConnection } from "./live.js";

const parts = [];
let open = false;

function each(hook, arg) {
  for (const part of parts) {
    try { part[hook]?.(arg); } catch (error) { console.error(`hub: a part's ${hook} failed`, error); }
  }
}

const socket = liveSocket("/ws/inbox/", {
  onOpen() { open = true; each("onOpen"); },
  onEvent(event) { each("onEvent", event); },
  onDown(event) { open = false; each("onDown", event); },
  onState: showConnection,
});

// Replies half written (conversation.js keeps them per conversation) hold customers'
// words: logging out of this browser drops them.
document.querySelector("form[data-logout]")?.addEventListener("submit", () => {
  try {
    for (const key of Object.keys(localStorage)) if (key.startsWith("baton.draft.")) localStorage.removeItem(key);
  } catch { /* storage blocked: nothing kept */ }
});

// part: {onOpen(), onEvent(event), onDown(event)}, each optional. onOpen runs on every
// (re)connect — the moment to re-read state — and at once for a part that subscribes
// after the socket opened (page modules load in any order).
export function subscribe(part) {
  parts.push(part);
  if (open) queueMicrotask(() => { try { part.onOpen?.(); } catch (error) { console.error(error); } });
}

// false when the socket is not open: the caller falls back to HTTP.
export function send(frame) {
  return socket.send(frame);
}
