"""Streamed CSV downloads shared by the admin and the dashboards.

Cells are escaped against CSV formula injection: a spreadsheet treats a cell starting with
`=`, `+`, `-`, `@` (or a tab/carriage return) as a formula, and student-supplied text can
start with anything, so such cells get a leading single quote.
"""

import csv
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import StreamingHttpResponse

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """The text of one CSV cell, defused if a spreadsheet would run it as a formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # Numbers are ours, not student input: a negative number stays a number.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer streaming."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    """A streamed `text/csv` download: rows are written as they are produced, so a large
    export never sits in memory whole."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
