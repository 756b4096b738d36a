// Agents' live inbox: on every conversation event, re-render the list and counts
// from the server; toast (and notify, if allowed) on new handoffs.
import { liveSocket, toast } from "./live.js";

const root = document.getElementById("inbox");
const notifyButton = document.getElementById("enable-notifications");
let refreshing = null;
let again = false;

async function refresh() {
  // One fetch at a time; events arriving meanwhile trigger one more afterwards.
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    const view = root.dataset.view || "pending";
    const response = await fetch(`${root.dataset.listUrl}?view=${encodeURIComponent(view)}`, { headers: { Accept: "text/html" } });
    if (response.ok) {
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of ["inbox-tabs", "inbox-rows"]) {
        const fresh = doc.getElementById(id), current = document.getElementById(id);
        if (!fresh || !current) continue;
        if (id === "inbox-tabs" && !root.dataset.view) {
          // On a conversation page only the counts change.
          for (const span of fresh.querySelectorAll("[data-count]")) {
            const old = current.querySelector(`[data-count="${span.dataset.count}"]`);
            if (old) old.textContent = span.textContent;
          }
        } else {
          current.replaceWith(fresh);
        }
      }
      document.title = document.title.replace(/^\(\d+\) /, "");
      const pending = Number(document.querySelector('[data-count="pending"]')?.textContent || 0);
      if (pending) document.title = `(${pending}) ${document.title}`;
    }
  })();
  try { await refreshing; } finally {
    refreshing = null;
    if (again) { again = false; refresh(); }
  }
}

function onEvent(event) {
  // The apps above conversations (sla.js, ...) hear this socket's events through the page.
  window.dispatchEvent(new CustomEvent("baton:inbox-event", { detail: event }));
  if (event.type !== "conversation.changed" && event.type !== "conversation.message") return;
  refresh();
  if (event.type === "conversation.changed" && event.event === "handed_off") {
    const c = event.conversation;
    const text = `New handoff: conversation #${c.id} (P${c.priority})`;
    toast(text, { kind: "handoff", href: `/inbox/c/${c.id}/` });
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      new Notification("Baton", { body: text, tag: `handoff-${c.id}` });
    }
  }
}

liveSocket("/ws/inbox/", {
  onOpen() { // a reconnect may have missed events: re-read the state
    refresh();
    window.dispatchEvent(new CustomEvent("baton:inbox-open"));
  },
  onEvent,
});

if (notifyButton && "Notification" in window && Notification.permission === "default") {
  notifyButton.hidden = false;
  notifyButton.addEventListener("click", async () => {
    await Notification.requestPermission();
    notifyButton.hidden = true;
  });
}
