"""CSV that spreadsheets open safely: RFC 4180 (``csv`` module, ``\\r\\n`` line ends, fields
quoted when they hold a comma, a quote or a line break) and no formula injection.

A cell a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return, OWASP's list for CSV injection) gets a single quote in front, so a
hostname or an evidence value from a host such as ``=HYPERLINK(...)`` shows as text. Lone
surrogates (a JSON ``\\ud800`` from a host) cannot be written as UTF-8 and become U+FFFD.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

#: the first characters that make a spreadsheet cell a formula (OWASP, CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_cell(value: object) -> str:
    """One value as the text of a CSV cell: ``None`` is empty, lists are joined with ``; ``,
    mappings are compact JSON, and a leading formula character is escaped with ``'``."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, Mapping):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    elif isinstance(value, (list, tuple)):
        text = "; ".join(_plain(v) for v in value)
    else:
        text = str(value)
    text = _SURROGATE.sub("\ufffd", text)
    return "'" + text if _formula(text) else text


def _plain(value: object) -> str:
    return "" if value is None else str(value.value if isinstance(value, Enum) else value)


def _formula(text: str) -> bool:
    return text.startswith(FORMULA_START)


Column = tuple[str, Callable[[Any], object]]


def render_csv(columns: Sequence[Column], rows: Iterable[Any]) -> str:
    """A header line, then one line per row; every cell through ``safe_cell``."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow([name for name, _ in columns])
    for row in rows:
        w.writerow([safe_cell(get(row)) for _, get in columns])
    return out.getvalue()


def path(dotted: str) -> Callable[[Any], object]:
    """A getter for ``a.b.c`` in nested mappings (missing or ``None`` on the way: ``None``)."""
    keys = dotted.split(".")

    def get(doc: Any) -> object:
        cur: Any = doc
        for k in keys:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(k)
        return cur

    return get


def columns(*dotted: str) -> list[Column]:
    """Columns named after their path, dots as underscores (``evidence.found`` ->
    ``evidence_found``)."""
    return [(d.replace(".", "_"), path(d)) for d in dotted]
