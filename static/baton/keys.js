// Keyboard first, on the inbox and a conversation page: single keys as in Gmail or
// Zendesk, never while typing in a field nor with Ctrl/Meta/Alt held (the browser's
// and the system's shortcuts stay theirs). Keys only click or focus what the page
// already shows, so the server's rules and the forms' write paths stay the only ones.
// "/" opens search: the list pane's search box, or the search page where none is shown.
import { toast } from "./live.js";

const inbox = document.getElementById("inbox");
const conversation = document.getElementById("conversation");
const onInbox = Boolean(inbox) && !conversation; // a conversation page has the list pane beside it
const RESOLVE_TEXT = "Resolve this conversation? The customer is told, and their next message goes to the bot.";

function typingIn(target) {
  return target instanceof Element && Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
}

const visible = (el) => Boolean(el && el.getClientRects().length);

// --- The inbox's selection --------------------------------------------------------

const rows = () => [...document.querySelectorAll("#inbox-rows tr[data-conversation]")];
let selectedId = null;
let selectedIndex = -1;

function select(row, { focus = true } = {}) {
  for (const old of document.querySelectorAll("#inbox-rows tr[aria-current]")) old.removeAttribute("aria-current");
  if (!row) { selectedId = null; selectedIndex = -1; return; }
  row.setAttribute("aria-current", "true");
  selectedId = row.dataset.conversation;
  selectedIndex = rows().indexOf(row);
  // The row's link takes the focus: screen readers announce it, and the page scrolls to it.
  if (focus) row.querySelector("a.customer-name")?.focus();
}

function move(step) {
  const all = rows();
  if (!all.length) return;
  const at = all.findIndex((row) => row.dataset.conversation === selectedId);
  select(all[at < 0 ? 0 : Math.min(Math.max(at + step, 0), all.length - 1)]);
}

// inbox.js swaps rows that changed on live events: select the same conversation
// again, or the row now where it was when it left the list (taken, resolved).
function reselect() {
  if (selectedId === null) return;
  const all = rows();
  const row = all.find((r) => r.dataset.conversation === selectedId) ?? all[Math.min(selectedIndex, all.length - 1)];
  const focusLost = document.activeElement === document.body || !document.activeElement;
  select(row, { focus: focusLost });
}

function openSelected() {
  const link = document.querySelector("#inbox-rows tr[aria-current] a.customer-name");
  if (!link) return false;
  location.assign(link.href);
  return true;
}

// --- Next / previous from a conversation page ---------------------------------------

// The list pane beside the thread is live: its rows are the list j/k walk.
function neighbour(step) {
  const ids = rows().map((row) => row.dataset.conversation);
  const at = ids.indexOf(conversation.dataset.id);
  // Not in the list any more (accepted from Pending, resolved): the list's first or last.
  const next = at < 0 ? ids.at(step > 0 ? 0 : -1) : ids[at + step];
  if (next && next !== conversation.dataset.id) location.assign(`/inbox/c/${next}/?view=${encodeURIComponent(inbox.dataset.view)}`);
  else toast(step > 0 ? "No next conversation in this list." : "No previous conversation in this list.");
}

// --- Actions on the conversation -------------------------------------------------------

// On the inbox, the selected row if it waits for an agent (the same take form the
// conversation page posts); else the page's Accept, or the offer shown.
function accept() {
  const row = onInbox ? document.querySelector("#inbox-rows tr[aria-current][data-status=pending_handoff]") : null;
  if (row) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/routing/c/${row.dataset.conversation}/take/`;
    const csrf = document.createElement("input");
    csrf.type = "hidden";
    csrf.name = "csrfmiddlewaretoken";
    csrf.value = document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
    form.append(csrf);
    document.body.append(form);
    form.submit();
    return;
  }
  const button = [document.querySelector("[data-testid=accept]"), document.querySelector("[data-testid=offer-accept]")].find(visible);
  button?.click();
}

// Resolving tells the customer and hands their next message to the bot: a key press
// asks first, in a native dialog (focus moves to it and returns, Escape cancels, a
// screen reader reads the question), rather than a second "e" the agent must know of.
let resolveDialog = null;
function resolve() {
  const button = document.querySelector("[data-testid=resolve]");
  if (!visible(button)) return;
  if (!resolveDialog) {
    resolveDialog = dialog("keys-resolve-title", "Resolve?", "resolve-dialog");
    const text = document.createElement("p");
    text.textContent = RESOLVE_TEXT;
    const form = document.createElement("form");
    form.method = "dialog";
    form.className = "keys-dialog-actions";
    const yes = button_("Resolve", "btn", "resolve-confirm");
    yes.value = "resolve";
    yes.autofocus = true;
    const no = button_("Cancel", "btn btn-secondary", "resolve-cancel");
    no.value = "cancel";
    form.append(yes, no);
    resolveDialog.append(text, form);
    resolveDialog.addEventListener("close", () => {
      // The button is looked up again: the actions are swapped when who may act changes.
      if (resolveDialog.returnValue === "resolve") document.querySelector("[data-testid=resolve]")?.click();
    });
  }
  resolveDialog.returnValue = "";
  resolveDialog.showModal();
}

function focusReply() {
  const box = document.querySelector("#reply-area textarea");
  if (!visible(box)) return false;
  box.focus();
  return true;
}

// Keys 1-4 go through the priority picker sla.js draws, so its one write path (and
// its error toast) is the keys' too.
function priority(key) {
  const picker = document.querySelector("#sla-panel [data-testid=priority-select]");
  if (!picker) return false;
  picker.value = key;
  picker.dispatchEvent(new Event("change"));
  return true;
}

// The list pane's box takes the focus; where it is hidden (a phone's conversation page) the search page.
function openSearch() {
  const box = document.querySelector("[data-search-box]");
  if (visible(box)) {
    box.focus();
    box.select();
  } else {
    location.assign("/inbox/search/");
  }
}

// --- The bindings and their overlay ------------------------------------------------------

const BINDINGS = [
  { keys: ["j"], text: onInbox ? "Select the next conversation" : "Open the next conversation of the list", run: () => (onInbox ? move(1) : neighbour(1)) },
  { keys: ["k"], text: onInbox ? "Select the previous conversation" : "Open the previous conversation of the list", run: () => (onInbox ? move(-1) : neighbour(-1)) },
  ...(onInbox ? [{ keys: ["Enter", "o"], text: "Open the selected conversation", run: openSelected }] : []),
  { keys: ["a"], text: onInbox ? "Accept the selected conversation (or the offer shown)" : "Accept the conversation or the offer shown", run: accept },
  ...(conversation
    ? [
        { keys: ["e"], text: "Resolve the conversation (asks first)", run: resolve },
        { keys: ["r"], text: "Write a reply", run: focusReply },
        { keys: ["Escape"], text: "Leave the reply box", run: null },
        { keys: ["1", "2", "3", "4"], text: "Set the priority P1–P4", run: priority },
      ]
    : []),
  { keys: ["/"], text: "Search conversations", run: openSearch },
  { keys: ["?"], text: "Show these shortcuts", run: () => help() },
];
const byKey = new Map(BINDINGS.flatMap((b) => b.keys.map((k) => [k, b])));

function button_(text, className, testid) {
  const b = document.createElement("button");
  b.textContent = text;
  b.className = className;
  b.dataset.testid = testid;
  return b;
}

function dialog(titleId, title, testid) {
  const d = document.createElement("dialog");
  d.className = "keys-dialog";
  d.dataset.testid = testid;
  d.setAttribute("aria-labelledby", titleId);
  const h = document.createElement("h2");
  h.id = titleId;
  h.textContent = title;
  d.append(h);
  document.body.append(d);
  return d;
}

let helpDialog = null;
function help() {
  if (!helpDialog) {
    helpDialog = dialog("keys-help-title", "Keyboard shortcuts", "keys-help");
    const list = document.createElement("dl");
    list.className = "keys-list";
    for (const binding of BINDINGS) {
      const dt = document.createElement("dt");
      binding.keys.forEach((key, i) => {
        const kbd = document.createElement("kbd");
        kbd.textContent = key;
        dt.append(...(i ? [" ", kbd] : [kbd]));
      });
      const dd = document.createElement("dd");
      dd.textContent = binding.text;
      list.append(dt, dd);
    }
    const form = document.createElement("form");
    form.method = "dialog";
    form.className = "keys-dialog-actions";
    form.append(button_("Close", "btn btn-secondary", "keys-help-close"));
    helpDialog.append(list, form);
  }
  helpDialog.showModal();
}

// --- Wiring ----------------------------------------------------------------------------

function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
  if (document.querySelector("dialog[open]")) return; // the dialog has the keyboard (Escape closes it)
  if (e.key === "Escape") {
    if (typingIn(e.target)) e.target.blur();
    return;
  }
  if (typingIn(e.target)) return;
  const binding = byKey.get(e.key);
  if (!binding?.run) return;
  // Enter on another link or button keeps its own meaning.
  if (e.key === "Enter" && e.target !== document.body && !e.target.closest?.("#inbox-rows tr[aria-current]")) return;
  if (binding.run(e.key) === false) return;
  e.preventDefault();
}

document.addEventListener("keydown", onKey);

if (onInbox) {
  inbox.addEventListener("baton:parts", reselect);
}

const opener = button_("Keyboard shortcuts (?)", "btn-link keys-open", "keys-open");
opener.type = "button";
opener.addEventListener("click", help);
document.querySelector(".topbar-right")?.prepend(opener);
