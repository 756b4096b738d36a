"""Reading what the analytics pages show: table cells by table and column, and figures."""

import csv
import io
from html.parser import HTMLParser


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[dict]] = {}
        self.figures: dict[str, str] = {}
        self._table = None
        self._row = None
        self._cell = None  # (key, [text])
        self._figure = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and (a.get("id") or "").startswith("table-"):
            self._table = a["id"][len("table-") :]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = {}
        elif tag == "td" and self._row is not None and "data-col" in a:
            self._cell = (a["data-col"], [])
        elif tag == "span" and ("data-figure" in a or "data-now" in a):
            self._figure = (a.get("data-figure") or a["data-now"], [])

    def handle_endtag(self, tag):
        if tag == "td" and self._cell:
            self._row[self._cell[0]] = "".join(self._cell[1]).strip()
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "section":
            self._table = None
        elif tag == "span" and self._figure:
            self.figures[self._figure[0]] = "".join(self._figure[1]).strip()
            self._figure = None

    def handle_data(self, data):
        if self._cell:
            self._cell[1].append(data)
        if self._figure:
            self._figure[1].append(data)


def read_page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return list(csv.DictReader(io.StringIO(body)))
