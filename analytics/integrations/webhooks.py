"""Outbound webhooks on the wire: the signature, the URL guard (SSRF) and the HTTP POSTs.

Signature (docs/webhooks.md): header `Workshop-Signature: t=<unix seconds>,v1=<hex>` where
hex = HMAC-SHA256(secret, "<t>.<body>"), Stripe's scheme: the timestamp is signed with the
body, so a receiver can refuse replays older than five minutes.
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

SIGNATURE_HEADER = "Workshop-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "WorkshopProgress-Webhooks/1"
RESPONSE_EXCERPT_CHARS = 500

URL_NOT_HTTP = "Only http:// and https:// URLs can receive webhooks."
URL_NO_HOST = "The URL has no host name."
URL_UNRESOLVABLE = "The host name does not resolve."
URL_PRIVATE = (
    "The URL points to a private, loopback or link-local address; webhooks only go to "
    "public addresses."
)


class UnsafeURLError(ValueError):
    """A webhook URL that must not be called (wrong scheme, private address, ...)."""


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    *,
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (docs/webhooks.md has the same in a few lines): the header's
    timestamp is recent and one of its v1 signatures matches."""
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for key, value in parts if key == "t"]
    signatures = [value for key, value in parts if key == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return False
    timestamp = int(timestamps[0])
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> str:
    """Refuse what a webhook must never call: a scheme other than http(s), or a host that has
    any non-public address (every address the name resolves to is checked). Returns the
    address to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError(URL_NOT_HTTP)
    if not parts.hostname:
        raise UnsafeURLError(URL_NO_HOST)
    return resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def resolve(host: str, port: int) -> str:
    """The address to connect to, after checking every address of the host: the connection
    then goes to that address, so a DNS answer that changes in between cannot redirect it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURLError(URL_UNRESOLVABLE) from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise UnsafeURLError(URL_UNRESOLVABLE)
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS and not all(map(_is_public, addresses)):
        raise UnsafeURLError(URL_PRIVATE)
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a checked address, with the host name for SNI and certificate verification."""

    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    latency_ms: int
    error: str
    response_excerpt: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# A kept-alive connection idle longer than this is not reused: receivers close idle ones
# (often after 5 to 60 s), and a request on a half-closed socket fails.
KEEPALIVE_IDLE_SECONDS = 4.0
# Connections one process (or thread) keeps open at most, to different endpoints.
POOL_SIZE = 16
# Replies are read whole so the connection can carry the next request; longer ones close it.
MAX_REPLY_BYTES = 64 * 1024
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only
# What a reused connection that the receiver closed in the meantime raises on its next request.
_STALE_ERRORS = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


class _Pooled:
    __slots__ = ("connection", "requests", "used_at")

    def __init__(self, connection):
        self.connection = connection
        self.used_at = time.monotonic()
        self.requests = 0


# Per thread (a prefork child has one; a threads pool one per thread): http.client
# connections are not thread-safe.
_pools = threading.local()


def _pool() -> dict:
    if not hasattr(_pools, "connections"):
        _pools.connections = {}
    return _pools.connections


def close_pooled_connections() -> None:
    """Close this thread's kept-alive connections (tests; a worker lets them die with it)."""
    pool = _pool()
    for pooled in pool.values():
        pooled.connection.close()
    pool.clear()


class Sender:
    """POSTs to one endpoint URL over one kept-alive connection.

    The URL is checked (scheme, every resolved address public) once when the sender is made,
    that is once per batch, and the connection goes to the checked address: a pooled
    connection is reused only if it was opened to that same address. Redirects are never
    followed (a 3xx is a failure: the target could be anywhere). Errors come back in the
    result, never as exceptions."""

    def __init__(self, url: str, *, timeout: float):
        self.timeout = timeout
        self.error = ""
        parts = urlsplit(url)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            self.address = check_url(url)
        except UnsafeURLError as exc:
            self.error = str(exc)
            return
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.key = (parts.scheme, self.host, self.port, self.address)

    def _connection(self) -> _Pooled:
        pool = _pool()
        pooled = pool.pop(self.key, None)
        if pooled is not None and time.monotonic() - pooled.used_at > KEEPALIVE_IDLE_SECONDS:
            pooled.connection.close()
            pooled = None
        return pooled or self._connection_fresh()

    def _keep(self, pooled: _Pooled) -> None:
        pool = _pool()
        pooled.used_at = time.monotonic()
        pool[self.key] = pooled
        while len(pool) > POOL_SIZE:
            oldest = min(pool, key=lambda key: pool[key].used_at)
            pool.pop(oldest).connection.close()

    def post(self, body: bytes, headers: dict[str, str]) -> PostResult:
        started = time.monotonic()

        def result(status=None, error="", excerpt=""):
            latency = int((time.monotonic() - started) * 1000)
            return PostResult(status, latency, error, excerpt)

        if self.error:
            return result(error=self.error)
        pooled = self._connection()
        try:
            try:
                status, excerpt, reusable = self._exchange(pooled, body, headers)
            except _STALE_ERRORS:
                if not pooled.requests:
                    raise
                # The receiver closed the idle connection as we used it: once more on a new
                # one (at least once: a receiver that did get the first deduplicates by id).
                pooled.connection.close()
                pooled = self._connection_fresh()
                status, excerpt, reusable = self._exchange(pooled, body, headers)
        except TimeoutError:
            pooled.connection.close()
            return result(error=f"timed out after {self.timeout:g} s")
        except (OSError, http.client.HTTPException) as exc:
            pooled.connection.close()
            return result(error=f"{type(exc).__name__}: {exc}"[:RESPONSE_EXCERPT_CHARS])
        if reusable:
            pooled.requests += 1
            self._keep(pooled)
        else:
            pooled.connection.close()
        return result(status, "", excerpt)

    def _connection_fresh(self) -> _Pooled:
        connection_class = _PinnedHTTPSConnection if self.https else _PinnedHTTPConnection
        return _Pooled(connection_class(self.host, self.port, self.address, timeout=self.timeout))

    def _exchange(self, pooled: _Pooled, body: bytes, headers: dict[str, str]):
        connection = pooled.connection
        connection.request("POST", self.path, body=body, headers=headers)
        if _QUICKACK is not None and connection.sock is not None:
            # A receiver that writes its reply's headers and body in two segments without
            # TCP_NODELAY (Python's http.server does) waits for our ACK of the first, which
            # Linux delays 40 ms on a kept-alive connection: acknowledge at once instead.
            connection.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        response = connection.getresponse()
        data = response.read(MAX_REPLY_BYTES)
        reusable = response.isclosed() and not response.will_close
        excerpt = data[: RESPONSE_EXCERPT_CHARS * 4].decode("utf-8", "replace")
        return response.status, excerpt[:RESPONSE_EXCERPT_CHARS], reusable


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
    """One POST to `url` (a Sender for one request; its connection is kept for the next)."""
    return Sender(url, timeout=timeout).post(body, headers)
