// Internal notes on the agent's conversation page: drawn in the thread among the
// messages (after the message that was last when each was written), yellow and
// labelled, for agents only; written in the note box, where "@" and a few letters
// list the team to mention. Notes travel over the page's one socket (hub.js) and
// are acknowledged like replies (PendingSends: sent again after a reconnect or over
// HTTP, stored once by their client id). Everything is put in with textContent.
import { send, subscribe } from "./hub.js";
import { fetchJson, PendingSends, showError } from "./live.js";

const root = document.getElementById("conversation");
const form = document.getElementById("note-form");
const thread = document.getElementById("messages");
const conversationId = Number(root?.dataset.id);
const seen = new Set();

// --- The thread -------------------------------------------------------------------

// "@name" as the server reads it (conversations/services/notes.py, MENTION).
const MENTION = /(?<![\w@.+-])@([\w.+-]*\w)/gu;

function bodyWithMentions(note) {
  const body = document.createElement("div");
  body.className = "body";
  body.dir = "auto";
  const known = new Set((note.mentions || []).map((m) => m.username.toLowerCase()));
  let at = 0;
  for (const match of note.body.matchAll(MENTION)) {
    if (!known.has(match[1].toLowerCase())) continue;
    body.append(note.body.slice(at, match.index));
    const strong = document.createElement("strong");
    strong.className = "mention";
    strong.textContent = match[0];
    body.append(strong);
    at = match.index + match[0].length;
  }
  body.append(note.body.slice(at));
  return body;
}

function render(note) {
  const li = document.createElement("li");
  li.className = "msg msg-note";
  li.dataset.noteId = note.id;
  li.dataset.testid = "note";
  li.dataset.conversation = note.conversation;
  // Between message after_seq and the next one: MessageList keeps messages around it in order.
  li.dataset.seq = note.after_seq + 0.5;
  const label = document.createElement("div");
  label.className = "note-label";
  label.textContent = "Internal note";
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = note.author;
  const time = document.createElement("time");
  time.dateTime = note.created_at;
  time.textContent = new Date(note.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  li.append(label, who, bodyWithMentions(note), time);
  return li;
}

function addNote(note) {
  if (!note || note.conversation !== conversationId || seen.has(note.id)) return;
  seen.add(note.id);
  const key = note.after_seq + 0.5;
  const next = [...thread.children].find((n) => n.dataset.pending === "1" || Number(n.dataset.seq) > key ||
    (n.dataset.noteId && Number(n.dataset.seq) === key && Number(n.dataset.noteId) > note.id));
  thread.insertBefore(render(note), next || null);
  if (!next || next.dataset.pending === "1") thread.scrollTop = thread.scrollHeight;
}

// --- Writing one -------------------------------------------------------------------

const box = form?.querySelector("textarea");
const errorEl = document.getElementById("note-error");
const noList = { addPending() {}, notePending() {}, dropPending() {} }; // a note shows once stored

const pending = form && new PendingSends(`baton.note.pending.${conversationId}`, {
  sendFrame: (frame) => send({ ...frame, conversation: conversationId }),
  async post(item) {
    const body = new FormData();
    body.set("body", item.body);
    body.set("client_id", item.client_id);
    body.set("csrfmiddlewaretoken", root.dataset.csrf);
    return (await fetchJson(form.action, { method: "POST", body })).note;
  },
  list: noList,
  onStored(note) { addNote(note); },
  onFailed(item, text) {
    showError(errorEl, text);
    if (!box.value) box.value = item.body;
  },
});

for (const note of JSON.parse(document.getElementById("notes-data")?.textContent || "[]")) {
  if (note.client_id) pending?.settle(note.client_id);
  addNote(note);
}

form?.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!box.value.trim()) return showError(errorEl, "Please type a note first.");
  showError(errorEl, "");
  pending.add({ type: "note", body: box.value });
  box.value = "";
});
box?.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
});

subscribe({
  onOpen() { pending?.flush(); },
  onEvent(event) {
    if (event.type === "conversation.note") {
      if (event.note.client_id) pending?.acked(event.note.client_id, event.note);
      addNote(event.note);
    } else if (event.type === "note.ack") {
      pending?.acked(event.client_id, event.note);
      addNote(event.note);
    } else if (event.type === "error" && event.client_id && event.frame === "note") {
      pending?.refused(event.client_id, event.code, event.message, event.retry_after);
    }
  },
});

// --- @mentions ---------------------------------------------------------------------

// The "@word" that ends at the caret (not inside a word or an e-mail address).
const TRIGGER = /(?:^|[^\w@.+-])@([\w.+-]{0,150})$/u;

function mentions() {
  const listbox = document.createElement("ul");
  listbox.id = "mention-suggestions";
  listbox.className = "mention-suggestions";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", "Agents to mention");
  listbox.dataset.testid = "mention-suggestions";
  listbox.hidden = true;
  form.prepend(listbox);
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", listbox.id);

  let agents = [];
  let active = -1;
  let token = null; // {start, end} of the "@word" being completed
  let asked = 0; // the latest request's number: older answers are dropped
  let controller = null;

  const close = () => {
    listbox.hidden = true;
    listbox.replaceChildren();
    agents = [];
    active = -1;
    token = null;
    box.removeAttribute("aria-activedescendant");
  };
  const select = (index) => {
    active = index;
    for (const [i, li] of [...listbox.children].entries()) li.setAttribute("aria-selected", String(i === index));
    box.setAttribute("aria-activedescendant", listbox.children[index].id);
  };
  const insert = (index) => {
    const agent = agents[index];
    if (!agent || !token) return;
    box.setRangeText(`@${agent.username} `, token.start, token.end, "end");
    close();
    box.focus();
  };
  const show = (found) => {
    if (!found.length) return close();
    agents = found;
    listbox.replaceChildren(...found.map((agent, i) => {
      const li = document.createElement("li");
      li.id = `mention-option-${agent.id}`;
      li.className = "mention-option";
      li.setAttribute("role", "option");
      li.dataset.testid = "mention-option";
      const username = document.createElement("span");
      username.className = "mention-username";
      username.textContent = `@${agent.username}`;
      li.append(username, agent.name);
      li.addEventListener("mousedown", (e) => { e.preventDefault(); insert(i); }); // the box keeps its caret
      return li;
    }));
    listbox.hidden = false;
    select(0);
  };
  const update = async () => {
    const caret = box.selectionStart;
    const match = box.selectionEnd === caret && TRIGGER.exec(box.value.slice(0, caret));
    controller?.abort();
    if (!match) return close();
    const found = { start: caret - match[1].length - 1, end: caret };
    const number = ++asked;
    controller = new AbortController();
    try {
      const url = `${form.dataset.mentionsUrl}?q=${encodeURIComponent(match[1])}`;
      const answer = await fetchJson(url, { signal: controller.signal });
      if (number !== asked) return;
      token = found;
      show(answer.agents);
    } catch (e) {
      if (e.name !== "AbortError" && number === asked) close();
    }
  };

  box.addEventListener("input", update);
  box.addEventListener("click", update);
  box.addEventListener("blur", close);
  // Capture phase, before Enter-to-add: a key the list handles goes no further.
  box.addEventListener("keydown", (e) => {
    if (listbox.hidden || e.isComposing) return;
    if (e.key === "ArrowDown") select((active + 1) % agents.length);
    else if (e.key === "ArrowUp") select((active - 1 + agents.length) % agents.length);
    else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") insert(active);
    else if (e.key === "Escape") { asked++; controller?.abort(); close(); }
    else return;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, { capture: true });
}

if (form && box) mentions();
