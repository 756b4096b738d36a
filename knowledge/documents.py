"""Knowledge-base entries from documents: Markdown, HTML and plain-text files.

Each file is one entry: its title is the first top-level heading (or the HTML
<title>, or the file name), its id the slug of its path below the imported folder,
and its body keeps the headings, which chunking uses as context.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

from django.utils.text import slugify

from knowledge.services import EntryData, KbFormatError

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".txt": "text"}


class _HtmlToMarkdown(HTMLParser):
    """Headings become Markdown headings, blocks become paragraphs; scripts and
    styles are dropped. Enough for help-centre articles, not a renderer."""

    _BLOCKS = {"p", "div", "li", "br", "tr", "section", "article", "blockquote", "pre", "table", "ul", "ol"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style", "nav", "footer", "noscript"}:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCKS:
            self.out.append("\n\n- " if tag == "li" else "\n\n")

    def handle_endtag(self, tag):
        if tag in {"script", "style", "nav", "footer", "noscript"}:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def _markdown_entry(text: str, fallback_title: str) -> tuple[str, str]:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    if match:
        return match.group(1).strip(), (text[: match.start()] + text[match.end() :]).strip()
    return fallback_title, text.strip()


def entry_from_file(path: Path, *, root: Path) -> EntryData:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise KbFormatError(f"{path}: unsupported file type (use .md, .html or .txt, or .jsonl for a whole KB)")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KbFormatError(f"{path}: not UTF-8 text") from None
    fallback = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if kind == "html":
        parser = _HtmlToMarkdown()
        parser.feed(raw)
        markdown = re.sub(r"\n{3,}", "\n\n", "".join(parser.out))
        title, body = _markdown_entry(markdown, parser.title.strip() or fallback)
    elif kind == "markdown":
        title, body = _markdown_entry(raw, fallback)
    else:
        title, body = fallback, raw.strip()
    if not body:
        raise KbFormatError(f"{path}: the document is empty")
    relative = path.relative_to(root) if path != root else Path(path.name)
    external_id = slugify(str(relative.with_suffix("")).replace("/", "-"))[:200]
    return EntryData(external_id=external_id, title=title[:300], body=body)


def entries_from_path(path: Path) -> list[EntryData]:
    """One file, or every supported file below a folder (sorted, so ids are stable)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise KbFormatError(f"{path}: no .md, .html or .txt files in this folder")
        return [entry_from_file(p, root=path) for p in files]
    return [entry_from_file(path, root=path.parent)]
