"""Throttling of API calls: per session token, per client address, per non-staff user.

A classroom shares one public address, so a student's calls are counted against their own
session token, never against their classmates: 60 students typing behind one NAT do not
throttle each other. Calls without a token (a new session, feedback) are counted per address.
Every anonymous call also counts toward a per-address ceiling far above a classroom's
traffic, so nobody can escape all limits by inventing a new token per request. Logged-in
non-staff users (the voice runtime's service account, for one) have a rate of their own;
staff are not throttled.

The counters are fixed windows: one integer per key and window (`<rate>` calls per
`<period>`, the window aligned on the clock), incremented atomically. DRF's SimpleRateThrottle
kept and pickled the whole list of call times in the window on every call, so its cost grew
with traffic; here a call costs the same however busy the key is. With CACHE_URL=redis://...
every scope of a request is counted in one Redis round trip (one script: INCR + EXPIRE per
key, atomic) and the counts are shared by all workers and app nodes; any other cache (the default
local memory, per process) counts through Django's cache API.

The client address trusts only NUM_PROXIES hops of X-Forwarded-For (DRF's rule). Rates are
read on every request, so an operator's setting and a test's override always apply.
"""

import hashlib
import math
import time
import weakref
from dataclasses import dataclass

import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from redis.exceptions import NoScriptError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from progress.api.tokens import request_session_token

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """ "600/minute" -> (600, 60), as DRF reads a rate; None for a scope without one."""
    if rate is None:
        return None
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


@dataclass(frozen=True)
class Window:
    """One scope's counter for this request: its key, limit and period in seconds."""

    key: str
    limit: int
    period: int


def _is_staff(request: Request) -> bool:
    return bool(request.user and request.user.is_authenticated and request.user.is_staff)


# Every window of the request in one command, atomic: INCR, and EXPIRE a period later (the key
# names its window, so a period after its last call it is surely over).
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[i])
end
return counts
"""
_COUNT_SCRIPT_SHA = hashlib.sha1(_COUNT_SCRIPT.encode()).hexdigest()
# One Redis connection per cache object (Django's caches are per thread, so per worker
# thread), used directly: a redis-py client takes a connection from its pool for every command
# and polls the socket before handing it out, which under load cost more CPU than the counting
# itself (docs/benchmarks.md, "GET by token to half the limit").
_connections: "weakref.WeakKeyDictionary[RedisCache, redis.Connection]" = (
    weakref.WeakKeyDictionary()
)


def _connection(cache: RedisCache) -> redis.Connection:
    connection = _connections.get(cache)
    if connection is None:
        # Django's cache API has no script call: one round trip needs redis-py itself. The
        # connection takes the cache's own settings (address, database, password, timeouts).
        pool = cache._cache.get_client(write=True).connection_pool
        connection = _connections[cache] = pool.connection_class(**pool.connection_kwargs)
    return connection


def _call(connection: redis.Connection, *command) -> list[int]:
    try:
        connection.send_command(*command)
        return connection.read_response()
    except (redis.ConnectionError, redis.TimeoutError):
        # A connection Redis closed (a restart, an idle timeout): redis-py has disconnected
        # it; the next send connects again. Once, as the pooled client retried.
        connection.send_command(*command)
        return connection.read_response()


def _redis_counts(cache: RedisCache, keys: list[str], periods: list[int]) -> list[int]:
    connection = _connection(cache)
    # make_key, not make_and_validate_key: the check is memcached's key rules, character by
    # character; Redis keys are binary-safe.
    keys = [cache.make_key(key) for key in keys]
    try:
        counts = _call(connection, "EVALSHA", _COUNT_SCRIPT_SHA, len(keys), *keys, *periods)
    except NoScriptError:  # the first call since Redis started: send the script itself
        counts = _call(connection, "EVAL", _COUNT_SCRIPT, len(keys), *keys, *periods)
    return [int(count) for count in counts]


def count_calls(cache, windows: list[Window], now: float) -> list[int]:
    """Add this call to every window and return the counts, the call included."""
    keys = [f"{w.key}:{int(now // w.period)}" for w in windows]
    if isinstance(cache, RedisCache):
        return _redis_counts(cache, keys, [w.period for w in windows])
    counts = []
    for key, window in zip(keys, windows, strict=True):
        cache.add(key, 0, window.period)
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.add(key, 1, window.period)
            counts.append(1)
    return counts


class APIThrottle(BaseThrottle):
    """The three scopes ("anon", "address", "user" in DEFAULT_THROTTLE_RATES) of one request,
    counted together; a scope without a rate is not applied."""

    # Tests give two instances two cache connections, as two workers have.
    cache = None
    timer = time.time

    def __init__(self) -> None:
        self._wait: float | None = None

    def windows(self, request: Request, view) -> list[Window]:
        if request.user and request.user.is_authenticated:
            if _is_staff(request):
                return []
            return _windows([("user", str(request.user.pk))])
        return self._anonymous_windows(request, request_session_token(request, view))

    def _anonymous_windows(self, request: HttpRequest, token: str | None) -> list[Window]:
        address = self.get_ident(request)
        # The token is a credential: the key holds its digest, never the token.
        ident = "token-" + hashlib.sha256(token.encode()).hexdigest() if token else address
        return _windows([("anon", ident), ("address", address)])

    def allow_request(self, request: Request, view) -> bool:
        self._wait = self._count(self.windows(request, view))
        return self._wait is None

    def count_anonymous_call(self, request: HttpRequest, token: str | None) -> bool:
        """allow_request for a call known to be anonymous (no credential, no session cookie),
        given the session token it carries: for a view that answers it without DRF's request
        (progress.api.views.StudentProgressView)."""
        self._wait = self._count(self._anonymous_windows(request, token))
        return self._wait is None

    def _count(self, windows: list[Window]) -> float | None:
        """Count the call in every window; None when allowed, else the seconds to wait."""
        if not windows:
            return None
        now = self.timer()
        counts = count_calls(self.cache or caches["default"], windows, now)
        over = [w for w, count in zip(windows, counts, strict=True) if count > w.limit]
        if not over:
            return None
        # Until the longest of the exceeded windows ends.
        return max(w.period - (now % w.period) for w in over)

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait is not None else None


def _windows(scopes: list[tuple[str, str]]) -> list[Window]:
    """The windows of (scope, identity) pairs; a scope without a rate is not applied."""
    rates = api_settings.DEFAULT_THROTTLE_RATES
    windows = []
    for scope, ident in scopes:
        parsed = parse_rate(rates.get(scope))
        if parsed is not None:
            windows.append(Window(f"throttle_{scope}_{ident}", *parsed))
    return windows
