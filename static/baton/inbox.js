// Agents' live inbox: on every conversation event, re-render the list and counts
// from the server; toast (and notify, if allowed) on new handoffs.
import { subscribe } from "./hub.js";
import { fetchDocument, tickRelativeTimes, toast } from "./live.js";

const root = document.getElementById("inbox");
const notifyButton = document.getElementById("enable-notifications");
// Every agent's page re-reads the list on every message and change of the whole
// team's queue: at most one read a second each (the first at once, then one for
// whatever came meanwhile), so a busy queue does not turn into a read per event per agent.
const MIN_INTERVAL_MS = 1000;
let refreshing = null;
let again = false;
let timer = null;
let lastStart = 0;

function refresh() {
  if (refreshing) { again = true; return; }
  const wait = lastStart + MIN_INTERVAL_MS - Date.now();
  if (wait > 0) {
    timer ??= setTimeout(() => { timer = null; refresh(); }, wait);
    return;
  }
  lastStart = Date.now();
  refreshing = render().catch((error) => console.warn("inbox: list refresh failed", error)).finally(() => {
    refreshing = null;
    if (again) { again = false; refresh(); }
  });
}

async function render() {
  const query = new URLSearchParams({ view: root.dataset.view || "pending" });
  if (root.dataset.open) query.set("open", root.dataset.open); // the row the thread pane shows
  const doc = await fetchDocument(`${root.dataset.listUrl}?${query}`);
  if (!doc) return;
  const tabs = document.getElementById("inbox-tabs");
  for (const span of doc.querySelectorAll("#inbox-tabs [data-count]")) {
    const old = tabs?.querySelector(`[data-count="${span.dataset.count}"]`);
    if (old && old.textContent !== span.textContent) old.textContent = span.textContent;
  }
  const fresh = doc.getElementById("inbox-rows"), current = document.getElementById("inbox-rows");
  if (fresh && current) updateRows(current, fresh);
  tickRelativeTimes();
  document.title = document.title.replace(/^\(\d+\) /, "");
  const pending = Number(document.querySelector('[data-count="pending"]')?.textContent || 0);
  if (pending) document.title = `(${pending}) ${document.title}`;
  root.dispatchEvent(new CustomEvent("baton:parts", { bubbles: true, detail: { part: "inbox" } }));
}

// The server's HTML of each row as it was put in: other modules decorate rows (SLA
// cells, priority pickers, the keyboard's selection), so the live DOM cannot be compared.
const served = new WeakMap();

// Rows are updated in place, by conversation id: only a row whose server HTML changed
// is swapped, the header (with its sort button) and unchanged rows stay the same nodes.
// Replacing the whole list on every event (at most once a second on a busy queue) lost
// clicks that straddled a swap (mousedown on the old node, mouseup on the new one) and
// closed open pickers.
function updateRows(current, fresh) {
  const body = current.querySelector("tbody"), freshBody = fresh.querySelector("tbody");
  if (!body || !freshBody) {
    // The empty state, or the first row or the last one: swap the whole part.
    if (current.isEqualNode(fresh)) return;
    current.replaceWith(fresh);
    markServed();
    return;
  }
  const existing = new Map([...body.querySelectorAll("tr[data-conversation]")].map((row) => [row.dataset.conversation, row]));
  const wanted = [...freshBody.querySelectorAll("tr[data-conversation]")].map((row) => {
    const html = row.outerHTML;
    const kept = existing.get(row.dataset.conversation);
    existing.delete(row.dataset.conversation);
    if (kept && served.get(kept) === html) return kept;
    const node = document.importNode(row, true);
    served.set(node, html);
    if (kept) kept.replaceWith(node);
    return node;
  });
  for (const gone of existing.values()) gone.remove();
  wanted.forEach((row, i) => {
    if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null);
  });
}

function markServed() {
  for (const row of document.querySelectorAll("#inbox-rows tr[data-conversation]")) served.set(row, row.outerHTML);
}

markServed();

// The newest state version seen of each conversation: an older event arriving late
// (from another process) toasts nothing.
const versions = new Map();

function onEvent(event) {
  if (event.type === "resync") { refresh(); return; } // this process may have missed events
  if (event.type !== "conversation.changed" && event.type !== "conversation.message") return;
  refresh();
  if (event.type === "conversation.changed") {
    const { id, version = 0 } = event.conversation;
    if (version < (versions.get(id) ?? -1)) return;
    versions.set(id, version);
  }
  if (event.type === "conversation.changed" && event.event === "handed_off") {
    const c = event.conversation;
    const text = `New handoff: conversation #${c.id} (P${c.priority})`;
    toast(text, { kind: "handoff", href: `/inbox/c/${c.id}/` });
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      new Notification("Baton", { body: text, tag: `handoff-${c.id}` });
    }
  }
}

subscribe({ onOpen: refresh, onEvent });
tickRelativeTimes();
setInterval(tickRelativeTimes, 1000);

if (notifyButton && "Notification" in window && Notification.permission === "default") {
  notifyButton.hidden = false;
  notifyButton.addEventListener("click", async () => {
    await Notification.requestPermission();
    notifyButton.hidden = true;
  });
}
