// One conversation in the agent's browser: history, live messages, replies.
import { liveSocket, MessageList, showError } from "./live.js";

const root = document.getElementById("conversation");
const list = new MessageList(document.getElementById("messages"), { agentView: true });
const form = document.getElementById("composer");
const errorEl = document.getElementById("chat-error");

for (const m of JSON.parse(document.getElementById("history").textContent)) list.add(m);

liveSocket(root.dataset.ws, {
  onOpen(ws) {
    ws.send(JSON.stringify({ type: "sync", after_seq: list.cursor.seq }));
  },
  onEvent(event) {
    if (event.type === "conversation.message") list.add(event.message);
    else if (event.type === "conversation.changed" && event.conversation.status !== root.dataset.status) {
      // Who may act (accept, reply, resolve) changed: show the page as it now is.
      location.reload();
    }
  },
});

form?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const textarea = form.querySelector("textarea");
  if (!textarea.value.trim()) return showError(errorEl, "Please type a reply first.");
  const response = await fetch(form.action, {
    method: "POST",
    headers: { Accept: "application/json" },
    body: new FormData(form),
  });
  const data = await response.json();
  if (!response.ok) return showError(errorEl, data.error.message);
  showError(errorEl, "");
  list.add(data.message);
  textarea.value = "";
});

form?.querySelector("textarea").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});
