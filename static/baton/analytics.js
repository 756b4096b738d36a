// The analytics "now" panel: re-read from the server whenever the inbox socket reports
// that a conversation, a routing or an SLA state changed (and every 30 s, in case an
// event was lost). The fragment is server-rendered and escaped; the page only swaps it.
import { subscribe } from "./hub.js";
import { fetchDocument } from "./live.js";

const root = document.getElementById("analytics");
const status = document.getElementById("analytics-live");
let refreshing = null;
let again = false;

async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    const doc = await fetchDocument(root.dataset.nowUrl);
    if (!doc) return;
    const fresh = doc.getElementById("analytics-now-body");
    const current = document.getElementById("analytics-now-body");
    if (fresh && current) current.replaceWith(document.adoptNode(fresh));
  })();
  try { await refreshing; } finally {
    refreshing = null;
    if (again) { again = false; refresh(); }
  }
}

const LIVE = /^(conversation\.changed|routing\.|sla\.)/;
let timer = null;
function soon() {
  // Bursts of events (a sweep breaching many timers) cost one fetch.
  clearTimeout(timer);
  timer = setTimeout(refresh, 250);
}

subscribe({
  onOpen() { status.textContent = "live"; status.classList.remove("down"); refresh(); },
  onEvent(event) { if (event.type === "resync" || LIVE.test(event.type || "")) soon(); },
  onDown() { status.textContent = "reconnecting…"; status.classList.add("down"); },
});
setInterval(refresh, 30000);

// Custom dates only matter for the custom period.
const period = document.querySelector("#analytics-filters [name=period]");
function showDates() {
  for (const el of document.querySelectorAll(".an-custom")) el.hidden = period.value !== "custom";
}
period?.addEventListener("change", showDates);
if (period) showDates();
