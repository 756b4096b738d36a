// Canned responses in the agent's reply box: "/" and a few letters (at the start or
// after a space) list the matching responses; ArrowUp/Down choose, Enter or Tab
// insert, Escape closes. Bodies come filled from the server; drawn with textContent.

// The "/word" that ends at the caret, and where it starts.
const TRIGGER = /(^|\s)\/([\w-]{1,100})$/u;

function attach(form) {
  const textarea = form.querySelector("textarea");
  if (!textarea || form.dataset.cannedReady) return;
  form.dataset.cannedReady = "1";
  const url = form.dataset.cannedUrl;
  form.classList.add("canned-anchor");
  const listbox = document.createElement("ul");
  listbox.id = "canned-suggestions";
  listbox.className = "canned-suggestions";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", "Canned responses");
  listbox.hidden = true;
  form.prepend(listbox);
  textarea.setAttribute("aria-autocomplete", "list");
  textarea.setAttribute("aria-controls", listbox.id);

  let items = [];
  let active = -1;
  let token = null; // {start, end} of the "/word" being completed
  let asked = 0; // the latest request's number: older answers are dropped
  let controller = null;

  const close = () => {
    listbox.hidden = true;
    listbox.replaceChildren();
    items = [];
    active = -1;
    token = null;
    textarea.removeAttribute("aria-activedescendant");
  };

  const select = (index) => {
    active = index;
    for (const [i, li] of [...listbox.children].entries()) li.setAttribute("aria-selected", String(i === index));
    const li = listbox.children[index];
    textarea.setAttribute("aria-activedescendant", li.id);
    li.scrollIntoView({ block: "nearest" });
  };

  const insert = (index) => {
    const item = items[index];
    if (!item || !token) return;
    textarea.setRangeText(item.body, token.start, token.end, "end");
    close();
    textarea.dispatchEvent(new Event("input", { bubbles: true })); // the draft keeps it (conversation.js)
    textarea.focus();
  };

  const show = (found) => {
    if (!found.length) return close();
    items = found;
    listbox.replaceChildren(
      ...found.map((item, i) => {
        const li = document.createElement("li");
        li.id = `canned-option-${item.id}`;
        li.className = "canned-option";
        li.setAttribute("role", "option");
        const shortcut = document.createElement("span");
        shortcut.className = "canned-shortcut";
        shortcut.textContent = `/${item.shortcut}`;
        const title = document.createElement("span");
        title.textContent = item.title;
        const preview = document.createElement("span");
        preview.className = "canned-preview";
        preview.textContent = item.body;
        li.append(shortcut, title, preview);
        // mousedown, not click: the textarea keeps its focus and caret.
        li.addEventListener("mousedown", (e) => { e.preventDefault(); insert(i); });
        return li;
      }),
    );
    listbox.hidden = false;
    select(0);
  };

  const update = async () => {
    const caret = textarea.selectionStart;
    const match = textarea.selectionEnd === caret && TRIGGER.exec(textarea.value.slice(0, caret));
    controller?.abort();
    if (!match) return close();
    const found = { start: caret - match[2].length - 1, end: caret };
    const number = ++asked;
    controller = new AbortController();
    try {
      const response = await fetch(`${url}?q=${encodeURIComponent(match[2])}`, {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const answer = await response.json();
      if (number !== asked) return;
      token = found;
      show(answer);
    } catch (e) {
      if (e.name !== "AbortError" && number === asked) close();
    }
  };

  textarea.addEventListener("input", update);
  textarea.addEventListener("click", update);
  textarea.addEventListener("blur", close);
  // Capture phase, before conversation.js's Enter-to-send: a key the list handles goes no further.
  textarea.addEventListener(
    "keydown",
    (e) => {
      if (listbox.hidden || e.isComposing) return;
      if (e.key === "ArrowDown") select((active + 1) % items.length);
      else if (e.key === "ArrowUp") select((active - 1 + items.length) % items.length);
      else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") insert(active);
      else if (e.key === "Escape") { asked++; controller?.abort(); close(); }
      else return;
      e.preventDefault();
      e.stopImmediatePropagation();
    },
    { capture: true },
  );
}

const composer = () => document.querySelector("form[data-canned-url]");
if (composer()) attach(composer());
// The reply area is swapped when the conversation becomes this agent's (conversation.js).
document.addEventListener("baton:parts", () => { if (composer()) attach(composer()); });
