"""Reads that may come from a PostgreSQL read replica (DATABASE_REPLICA_URL), and the router
that sends them there.

Routing is opt-in per read site: only code running inside `reads_from_replica()` (the
dashboards' read-only pages, their CSV downloads, the public share-link read) reads from the
replica. Everything else, and every write wherever it happens, uses the primary: the router
answers "default" for every write and for every read outside the context, so a forgotten
context costs a replica read, never a write sent to a read-only server. Migrations run on the
primary only; the replica follows through streaming replication.

Without DATABASE_REPLICA_URL there is no replica alias and the context changes nothing.
"""

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse, StreamingHttpResponse

REPLICA = "replica"

# Only the project's own tables are read from the replica. Logins, sessions, django-axes,
# DRF tokens and the integrations' outbox stay on the primary even inside the context: they
# are written on the same request, or read right after a write elsewhere.
REPLICA_APP_LABELS = frozenset({"workshop", "progress", "analytics"})

_reading_from_replica = contextvars.ContextVar("reading_from_replica", default=False)


@contextlib.contextmanager
def reads_from_replica() -> Iterator[None]:
    """Reads of the project's tables inside this block go to the replica (when configured).

    Only for reads that may be a moment stale (replication lag): never around code that shows
    a user what they just wrote."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


def _chunks_from_replica(chunks: Iterable) -> Iterator:
    # A streamed CSV runs its queries while the server sends the body, after the view has
    # returned: each chunk is produced inside the context, and nothing else runs in it.
    iterator = iter(chunks)
    while True:
        with reads_from_replica():
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


def served_from_replica(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A read-only page or download whose reads go to the replica, streamed body included."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs) -> HttpResponse:
        with reads_from_replica():
            response = view(*args, **kwargs)
        if isinstance(response, StreamingHttpResponse):
            response.streaming_content = _chunks_from_replica(response.streaming_content)
        return response

    return wrapper


class ReplicaRouter:
    """Reads inside `reads_from_replica()` go to the replica; writes and migrations never do."""

    def db_for_read(self, model, **hints) -> str:
        if (
            _reading_from_replica.get()
            and model._meta.app_label in REPLICA_APP_LABELS
            and REPLICA in connections.settings
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # Both aliases hold the same data: an object read from the replica may be related to
        # one from the primary.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db != REPLICA
