"""Walking a large table in batches."""

from collections.abc import Iterator

from django.db.models import QuerySet


def iter_pk_batches(queryset: QuerySet, batch_size: int, *fields: str) -> Iterator[list]:
    """The rows of `queryset` in primary-key order, `batch_size` at a time: lists of primary
    keys, or of (pk, *fields) tuples when fields are named.

    Keyset pagination: each batch starts after the last key of the one before, so a batch
    costs the same wherever it is, and rows the caller changed (so that they no longer match)
    are not read again. Restarting from the first key re-read every handled row for each new
    batch: quadratic, 100 s for 400,000 expired sessions among 1,000,000 (docs/benchmarks.md,
    "Session cleanup"). Each batch is read when the caller asks for it, after it handled the
    one before.
    """
    last = None
    while True:
        rows = queryset.order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        if fields:
            batch = list(rows.values_list("pk", *fields)[:batch_size])
        else:
            batch = list(rows.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0] if fields else batch[-1]
