"""Output formatting like docker's CLI: tables, --format templates, json, inspect.

- `tabwrite` is Go's text/tabwriter with docker's settings (minwidth 10, padding 3).
- `write_list` renders rows for `ls`-style commands: 'table', 'table TEMPLATE',
  'json', or a bare TEMPLATE. Rows are context objects whose attributes are the
  template fields; `HEADERS` on the class names the table column titles.
- `write_inspect` prints raw API objects as a JSON array indented by 4, or
  through a template.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable, TextIO

from .gotemplate import Template


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells into columns exactly like Go's tabwriter."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []

    def write(widths: list[int], l0: int, l1: int) -> None:
        for i in range(l0, l1):
            cells = lines[i]
            parts = []
            for j, c in enumerate(cells):
                parts.append(c.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1 else c)
            out.append("".join(parts))

    def fmt(widths: list[int], l0: int, l1: int) -> None:
        col = len(widths)
        this = l0
        while this < l1:
            if col >= len(lines[this]) - 1:
                this += 1
                continue
            write(widths, l0, this)
            l0 = this
            width = minwidth
            while this < l1 and col < len(lines[this]) - 1:
                width = max(width, len(lines[this][col]) + padding)
                this += 1
            fmt(widths + [width], l0, this)
            l0 = this
        write(widths, l0, l1)

    fmt([], 0, len(lines))
    return "\n".join(out)


def _prepare(fmt: str) -> str:
    """Docker's preFormat: trim spaces, turn literal \\t and \\n into tab/newline."""
    return fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def row_json(row: Any) -> str:
    """Docker's `--format json` for a list row: all fields as strings, keys sorted."""
    fields = {}
    for name in row.JSON_FIELDS:
        v = getattr(row, name)
        fields[name] = v if v is None else str(v)
    text = json.dumps(dict(sorted(fields.items())), separators=(",", ":"), ensure_ascii=False)
    # Go's json.Marshal escapes <, > and & for HTML safety; docker prints that as is.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_list(rows: Iterable[Any], fmt: str | None, row_cls: type,
               quiet: bool = False, out: TextIO | None = None) -> None:
    """Print rows of an ls-style command with docker's --format rules.

    `row_cls` gives DEFAULT_TABLE, HEADERS (field -> title) and JSON_FIELDS.
    """
    out = out or sys.stdout
    rows = list(rows)
    if quiet and not fmt:
        fmt = "{{.ID}}"
    fmt = fmt or "table"
    if fmt == "json":
        for r in rows:
            out.write(row_json(r) + "\n")
        return
    if fmt.startswith("table"):
        body = _prepare(fmt[len("table"):]) if fmt.strip() != "table" else row_cls.DEFAULT_TABLE
        if quiet:
            body = "{{.ID}}"
        tmpl = Template(body)
        text = ""
        if not quiet:
            text += tmpl.execute(_Header(row_cls.HEADERS)) + "\n"
        for r in rows:
            text += tmpl.execute(r) + "\n"
        out.write(tabwrite(text))
        return
    tmpl = Template(_prepare(fmt))
    for r in rows:
        out.write(tmpl.execute(r) + "\n")


class _Header:
    """Template data for the header line: each field evaluates to its title."""

    def __init__(self, headers: dict[str, str]):
        self._h = headers

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        title = self._h.get(name, name.upper())
        return _HeaderField(title)


class _HeaderField(str):
    """A header title that also accepts being called (e.g. {{.Label "x"}})."""

    def __call__(self, *args: Any) -> str:
        return str(self)


def write_inspect(items: list[Any], fmt: str | None, out: TextIO | None = None) -> None:
    """Print inspect results: JSON array indented by 4, or one template line each."""
    out = out or sys.stdout
    if not fmt or fmt == "json":
        out.write(json.dumps(items, indent=4, ensure_ascii=False) + "\n")
        return
    tmpl = Template(fmt)
    for item in items:
        out.write(tmpl.execute(item) + "\n")


def human_duration(seconds: float) -> str:
    """go-units HumanDuration ("Less than a second", "2 minutes", "About an hour"...)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(round(seconds / 3600))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(ts: float, now: float | None = None) -> str:
    """Docker's "N units ago" for a unix timestamp."""
    now = time.time() if now is None else now
    return human_duration(now - ts) + " ago"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision(size, precision): decimal units, e.g. 4.26MB."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def trunc_id(i: str) -> str:
    """stringid.TruncateID: drop an algorithm prefix and keep 12 characters."""
    if ":" in i:
        i = i.split(":", 1)[1]
    return i[:12]


def ellipsis(s: str, n: int) -> str:
    """Shorten to n characters, ending with '…', like docker's formatter.Ellipsis."""
    if len(s) <= n:
        return s
    return s[:n - 1] + "…"


def go_quote(s: str) -> str:
    """strconv.Quote for display."""
    return json.dumps(s, ensure_ascii=False)


def natural_key(s: str) -> list:
    """Sort key for docker's natural order (name2 before name10)."""
    import re
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", s) if p]
