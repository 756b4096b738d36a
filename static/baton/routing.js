// Routing on every agent page: own presence (by hand, plus heartbeats that keep the
// agent online while a tab is open), the agents' board (all agents for admins),
// live offers with Accept/Decline and a countdown, and the transfer form on a
// conversation page. Everything is drawn with textContent; state comes from the
// server on each (re)connect, then from routing.* events.
import { send, subscribe } from "./hub.js";
import { fetchDocument, toast } from "./live.js";

const board = document.getElementById("routing-board");
const offersEl = document.getElementById("routing-offers");
const agentsEl = document.getElementById("routing-agents");
const presenceForm = document.getElementById("presence-form");
const presenceSelect = document.getElementById("presence-select");
const presenceDot = document.getElementById("presence-dot");
const soundBox = document.getElementById("routing-sound");
const heartbeatMs = Number(board?.dataset.heartbeatMs || 15000);
let me = null;
let isStaff = false;
const offers = new Map(); // offer id -> {el, deadline}
// routing.agent events seen, per agent: a board fetched before one of them is older
// than what the page shows, and must not overwrite it.
let eventCount = 0;
const lastEventOf = new Map();

function el(tag, { text = "", cls = "", attrs = {} } = {}) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (cls) node.className = cls;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function postForm(action, label, { testid, cls = "btn" } = {}) {
  const form = el("form", { attrs: { method: "post", action } });
  const csrf = el("input", { attrs: { type: "hidden", name: "csrfmiddlewaretoken" } });
  csrf.value = board.dataset.csrf;
  const next = el("input", { attrs: { type: "hidden", name: "next" } });
  next.value = location.pathname + location.search;
  const button = el("button", { text: label, cls, attrs: { type: "submit", "data-testid": testid } });
  form.append(csrf, next, button);
  return form;
}

function showPresence(presence) {
  if (presenceSelect) presenceSelect.value = presence;
  if (presenceDot) presenceDot.className = `presence-dot presence-${presence}`;
}

function drawAgent(agent) {
  if (agent.id === me) showPresence(agent.presence);
  if (!agentsEl || (!isStaff && agent.id !== me)) return;
  let row = agentsEl.querySelector(`tr[data-agent="${agent.id}"]`);
  if (!row) {
    row = el("tr", { attrs: { "data-agent": String(agent.id) } });
    for (const key of ["name", "presence", "load", "capacity"]) row.append(el("td", { attrs: { "data-field": key } }));
    agentsEl.append(row);
  }
  const busy = agent.active + agent.offered;
  row.dataset.presence = agent.presence;
  row.querySelector('[data-field="name"]').textContent = agent.name;
  const presence = row.querySelector('[data-field="presence"]');
  presence.textContent = agent.presence;
  presence.className = `presence-${agent.presence}`;
  row.querySelector('[data-field="load"]').textContent =
    `${agent.active} active` + (agent.offered ? ` + ${agent.offered} offered` : "") + ` (${Math.round((100 * busy) / Math.max(1, agent.capacity))}%)`;
  row.querySelector('[data-field="capacity"]').textContent = String(agent.capacity);
}

function beep() {
  if (!soundBox?.checked) return;
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.15);
  } catch { /* no audio here */ }
}

function addOffer(offer, { fresh = true } = {}) {
  if (!offersEl || offers.has(offer.id)) return;
  const card = el("div", { cls: "routing-offer", attrs: { "data-offer": String(offer.id), "data-testid": "offer", role: "alert" } });
  card.append(el("strong", { text: `Conversation #${offer.conversation}` }));
  card.append(el("span", { text: ` from ${offer.customer} (P${offer.priority}) is offered to you. ` }));
  if (offer.question) card.append(el("p", { cls: "routing-offer-question", text: `“${offer.question}”`, attrs: { "data-testid": "offer-question" } }));
  const countdown = el("span", { cls: "routing-countdown", attrs: { "data-testid": "offer-countdown" } });
  card.append(countdown);
  const actions = el("div", { cls: "routing-offer-actions" });
  actions.append(postForm(`/routing/c/${offer.conversation}/take/`, "Accept", { testid: "offer-accept" }));
  const decline = postForm(`/routing/offers/${offer.id}/decline/`, "Decline", { testid: "offer-decline", cls: "btn btn-secondary" });
  decline.addEventListener("submit", (e) => {
    // Over the socket when it is up; the form posts otherwise.
    if (send({ type: "routing.decline", offer: offer.id })) e.preventDefault();
  });
  actions.append(decline);
  card.append(actions);
  offersEl.append(card);
  offers.set(offer.id, { card, countdown, deadline: Date.now() + offer.expires_in_ms });
  tickCountdowns();
  if (fresh) beep();
}

function closeOffer(offer) {
  const entry = offers.get(offer.id);
  if (!entry) return;
  entry.card.remove();
  offers.delete(offer.id);
  if (offer.state === "expired") toast(`The offer of conversation #${offer.conversation} timed out.`);
  else if (offer.state === "withdrawn") toast(`Conversation #${offer.conversation} is no longer offered to you.`);
}

// A conversation another agent (or an admin) just transferred to this one: a toast
// to open it, and a desktop notification if allowed and the tab is in the background.
function transferred(transfer) {
  const text = `${transfer.by} transferred conversation #${transfer.conversation} (${transfer.customer}) to you`
    + (transfer.note ? `: ${transfer.note}` : "");
  toast(text, { kind: "transfer", href: `/inbox/c/${transfer.conversation}/` });
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    new Notification("Baton", { body: text, tag: `transfer-${transfer.conversation}` });
  }
}

function tickCountdowns() {
  const now = Date.now();
  for (const { countdown, deadline } of offers.values()) {
    const left = Math.max(0, Math.ceil((deadline - now) / 1000));
    countdown.textContent = `${left} s to accept`;
  }
}
setInterval(tickCountdowns, 250);

async function loadBoard() {
  const fetchedAfter = eventCount;
  const response = await fetch(board.dataset.boardUrl, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const data = await response.json();
  me = data.me;
  isStaff = data.is_staff;
  for (const agent of data.agents) {
    if ((lastEventOf.get(agent.id) || 0) <= fetchedAfter) drawAgent(agent);
  }
  const open = new Set(data.offers.map((o) => o.id));
  for (const [id, entry] of offers) if (!open.has(id)) { entry.card.remove(); offers.delete(id); }
  for (const offer of data.offers) addOffer(offer, { fresh: false });
}

subscribe({
  onOpen() {
    send({ type: "presence.heartbeat" });
    loadBoard(); // a reconnect may have missed events: re-read the state
  },
  onEvent(event) {
    if (event.type === "resync") loadBoard();
    else if (event.type === "routing.agent") {
      lastEventOf.set(event.agent.id, ++eventCount);
      drawAgent(event.agent);
    }
    else if (event.type === "routing.offer") addOffer(event.offer);
    else if (event.type === "routing.offer_closed") closeOffer(event.offer);
    else if (event.type === "routing.transferred") transferred(event.transfer);
  },
});

// Heartbeats keep the agent online while the page is open: over the socket, or
// over HTTP while it is down (a Redis restart must not take the team offline).
function heartbeat() {
  if (send({ type: "presence.heartbeat" }) || !board) return;
  fetch(board.dataset.heartbeatUrl, { method: "POST", headers: { "X-CSRFToken": board.dataset.csrf } }).catch(() => {});
}
setInterval(heartbeat, heartbeatMs);
loadBoard(); // at once, not only when the socket opens

presenceSelect?.addEventListener("change", () => {
  showPresence(presenceSelect.value);
  if (!send({ type: "presence.set", status: presenceSelect.value })) presenceForm.submit();
});

if (soundBox) {
  soundBox.checked = localStorage.getItem("baton.routing.sound") === "1";
  soundBox.addEventListener("change", () => localStorage.setItem("baton.routing.sound", soundBox.checked ? "1" : "0"));
}

// The transfer form, on the page of a conversation this agent (or an admin) may
// transfer; drawn again when who may act changes (conversation.js swaps its parts).
const conversation = document.getElementById("conversation");
async function drawTransfer() {
  conversation.querySelector(".routing-transfer")?.remove();
  if (conversation.dataset.status !== "assigned") return;
  const doc = await fetchDocument(`/routing/c/${conversation.dataset.id}/transfer/`);
  if (!doc) return;
  const form = doc.querySelector(".routing-transfer");
  conversation.querySelector(".routing-transfer")?.remove(); // two draws overlapping
  if (form) conversation.querySelector(".conversation-header .actions")?.append(document.adoptNode(form));
}
if (conversation) {
  conversation.addEventListener("baton:parts", drawTransfer);
  drawTransfer();
}
