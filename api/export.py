"""GET /api/export: every match of a search streamed as CSV or JSON Lines, in ranked order.

The engine hands over the totals and a generator of passages that holds one index view; this
module turns them into rows and streams them through Flask's stream_with_context, a chunk at a
time, so memory stays flat however many passages match (bench/export.py measures it). Each chunk
is a heartbeat to gunicorn (search/heartbeat.py): an export may outlast BRIEFING_TIMEOUT while a
stuck request still may not.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context

from search import heartbeat
from search.results import ExportHead, SearchRequest
from search.searching import SearchEngine
from search.store import PassageRecord

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
# The columns, in order, of both formats (the list).
COLUMNS = (
    "doc_id",
    "passage_id",
    "title",
    "date",
    "source",
    "countries",
    "subject_countries",
    "topics",
    "page",
    "start",
    "end",
    "score",
    "text",
)
# Tag lists inside one CSV cell: a semicolon never occurs in a country code or topic id.
LIST_SEPARATOR = ";"
LIST_COLUMNS = ("countries", "subject_countries", "topics")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP);
# such a cell gets a leading apostrophe, which spreadsheets show as text and do not display.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows written per chunk sent: large enough that the per-write cost vanishes, small enough
# that a chunk is a few hundred KB at most.
ROWS_PER_CHUNK = 500
BOM = "\ufeff"
_HEADER_DOCS = {
    "X-Export-Total": "passages the search matches",
    "X-Export-Count": "passages this export streams (the total, or the cap)",
    "X-Export-Truncated": "`true` when BRIEFING_EXPORT_MAX_PASSAGES cut the export",
    "X-Export-Timed-Out": "`true` when the search's time budget cut the matching short",
}
# The 200 response as the OpenAPI spec states it: two media types, rows described in text.
EXPORT_RESPONSE = {
    "description": "The rows, streamed: columns " + ", ".join(COLUMNS) + "; tag lists joined "
    "with `;` in CSV; text cells starting with = + - @ prefixed with an apostrophe",
    "content": {
        media: {"schema": {"type": "string"}} for media in ("text/csv", "application/x-ndjson")
    },
    "headers": {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in _HEADER_DOCS.items()
    },
}


def guard_formula(value: str) -> str:
    """The cell as a spreadsheet will show it as text, never evaluate it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def row_of(record: PassageRecord, score: float | None) -> dict[str, Any]:
    """One exported passage: the columns with their JSON values."""
    return {
        "doc_id": record.doc_id,
        "passage_id": record.passage_id,
        "title": record.title,
        "date": record.date,
        "source": record.source,
        **{key: list(record.tags.get(key, [])) for key in LIST_COLUMNS},
        "page": record.page,
        "start": record.start,
        "end": record.end,
        "score": score,
        "text": record.text,
    }


def csv_cells(row: dict[str, Any]) -> list[str]:
    """A row's CSV cells: lists joined, None empty, every text cell guarded against formulas."""
    cells = []
    for key in COLUMNS:
        value = row[key]
        if value is None:
            cells.append("")
        elif isinstance(value, list):
            cells.append(guard_formula(LIST_SEPARATOR.join(value)))
        elif isinstance(value, str):
            cells.append(guard_formula(value))
        else:
            cells.append(str(value))
    return cells


def csv_chunks(rows: Iterable[dict[str, Any]], bom: bool) -> Iterator[str]:
    """The CSV text (header first, RFC 4180 quoting, CRLF line ends) in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:
        buffer.write(BOM)
    writer.writerow(COLUMNS)
    for n, row in enumerate(rows, 1):
        writer.writerow(csv_cells(row))
        if n % ROWS_PER_CHUNK == 0:
            heartbeat.beat()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def jsonl_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per line, in chunks."""
    lines: list[str] = []
    for row in rows:
        lines.append(json.dumps(row, ensure_ascii=False))
        if len(lines) == ROWS_PER_CHUNK:
            heartbeat.beat()
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def export_headers(head: ExportHead, fmt: str) -> dict[str, str]:
    """What the export holds, said before its body: the matches, the rows sent, the cap."""
    return {
        "Content-Disposition": f'attachment; filename="briefing-export.{fmt}"',
        "X-Export-Total": str(head.total),
        "X-Export-Count": str(head.count),
        "X-Export-Truncated": "true" if head.count < head.total else "false",
        "X-Export-Timed-Out": "true" if head.timed_out else "false",
        "Cache-Control": "no-store",
    }


def export_response(
    engine: SearchEngine, request: SearchRequest, fmt: str, bom: bool, cap: int
) -> Response:
    """The streamed export of every match of request (at most cap passages)."""
    head, passages = engine.export(request, cap)
    rows = (row_of(record, score) for record, score in passages)
    chunks = csv_chunks(rows, bom) if fmt == "csv" else jsonl_chunks(rows)
    response = Response(
        stream_with_context(chunks),
        content_type=MEDIA_TYPES[fmt],
        headers=export_headers(head, fmt),
    )
    # Werkzeug would turn the generator into a list the first time anything asks the body's
    # length (the request log does): the whole export in memory. Refused, it stays a stream.
    response.implicit_sequence_conversion = False
    return response
