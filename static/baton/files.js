// Attachments on the page (no imports: live.js draws them in its message lists).
// A message's file: an image previewed (a link to it in full), any other file a
// download link with its size. The link was signed for this page's viewer; it expires,
// and a reload signs a new one. Names are the sender's: text only.
export function renderAttachment(a) {
  const box = document.createElement("div");
  box.className = "attachment";
  box.dataset.testid = a.image ? "attachment-image" : "attachment-file";
  const link = document.createElement("a");
  link.rel = "noopener";
  link.target = "_blank";
  if (a.url) link.href = a.url;
  const meta = document.createElement("span");
  meta.className = "file-meta";
  if (a.image) {
    const img = document.createElement("img");
    img.alt = a.name;
    img.loading = "lazy";
    if (a.url) img.src = a.url;
    link.append(img);
    meta.textContent = `${a.name} · ${a.size_text}`;
    box.append(link, meta);
  } else {
    link.download = a.name;
    link.append(paperclip(), " ", Object.assign(document.createElement("bdi"), { textContent: a.name }));
    meta.textContent = ` (${a.size_text})`;
    box.append(link, meta);
  }
  return box;
}

// Sizes as the server writes them ("10 MB", "512 KB").
export function humanSize(size) {
  if (size < 1024) return `${size} bytes`;
  if (size < 1024 * 1024) return `${Math.round(size / 1024)} KB`;
  return `${(size / (1024 * 1024)).toFixed(1).replace(/\.0$/, "")} MB`;
}

// What is wrong with a chosen file before it is sent (the server checks again, and its type too).
export function fileProblem(file, maxBytes) {
  if (!file.size) return "This file is empty.";
  if (file.size > maxBytes) return `Files can be at most ${humanSize(maxBytes)} (this one is ${humanSize(file.size)}).`;
  return "";
}

const CLIP = "M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5";

// The paperclip of templates/conversations/_attach_input.html, drawn for a file link.
function paperclip() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  for (const [name, value] of Object.entries({ viewBox: "0 0 24 24", width: "14", height: "14", fill: "none", stroke: "currentColor", "stroke-width": "2", "aria-hidden": "true", class: "icon" })) {
    svg.setAttribute(name, value);
  }
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", CLIP);
  svg.append(path);
  return svg;
}
