"""The one CSV writer of the project: streamed downloads (admin, dashboards) and files
(`export_progress --format csv`) alike.

Cells are escaped against CSV formula injection: a spreadsheet treats a cell starting with
`=`, `+`, `-`, `@` (or a tab/carriage return) as a formula, and student-supplied text can
start with anything, so such cells get a leading single quote.
"""

import csv
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import StreamingHttpResponse

_FORMULA_PREFIXES = frozenset("=+-@\t\r")
# Rows per streamed chunk: one chunk per row made the response's per-chunk bookkeeping (and
# a socket write each under gunicorn) cost more than the rows (docs/benchmarks.md).
ROWS_PER_CHUNK = 500


def safe_cell(value: Any) -> str:
    """The text of one CSV cell, defused if a spreadsheet would run it as a formula."""
    # Called for every cell of 100,000-row exports: plain strings take the short path.
    if value is None:
        return ""
    if type(value) is str:
        text = value
    else:
        text = str(value)
        # Numbers are ours, not student input: a negative number stays a number.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return text
    return "'" + text if text and text[0] in _FORMULA_PREFIXES else text


class SafeWriter:
    """csv.writer whose rows are defused cell by cell (the header is ours, written as is)."""

    def __init__(self, out) -> None:
        self._writer = csv.writer(out)

    def writeheader(self, header: Sequence[str]):
        return self._writer.writerow(header)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([safe_cell(value) for value in row])


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer streaming."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    """A streamed `text/csv` download: rows are written as they are produced, so a large
    export never sits in memory whole."""
    writer = SafeWriter(_Echo())

    def lines():
        chunk = [writer.writeheader(header)]
        for row in rows:
            chunk.append(writer.writerow(row))
            if len(chunk) >= ROWS_PER_CHUNK:
                yield "".join(chunk)
                chunk = []
        if chunk:
            yield "".join(chunk)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
