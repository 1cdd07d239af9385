"""Throttling of API calls: per session token, per client address, per non-staff user.

A classroom shares one public address, so a student's calls are counted against their own
session token, never against their classmates: 60 students typing behind one NAT do not
throttle each other. Calls without a token (a new session, feedback) are counted per address.
Every anonymous call also counts toward a per-address ceiling far above a classroom's
traffic, so nobody can escape all limits by inventing a new token per request. Logged-in
non-staff users (the voice runtime's service account, for one) have a rate of their own;
staff are not throttled.

DRF keys on the client address trusting only NUM_PROXIES hops of X-Forwarded-For. Rates are
read on every request (DRF reads them once at import time), so an operator's setting and a
test's override always apply. Counters live in the cache: CACHE_URL=redis://... shares them
between workers.
"""

import hashlib

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from progress.api.tokens import request_session_token


class _RatesFromSettings:
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


def _is_staff(request: Request) -> bool:
    return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class AnonymousClientThrottle(_RatesFromSettings, AnonRateThrottle):
    """Anonymous calls: counted per session token when they carry one, else per address."""

    def get_cache_key(self, request: Request, view) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        token = request_session_token(request, view)
        if token is None:
            return super().get_cache_key(request, view)
        # The token is a credential: the cache key holds its digest, never the token.
        ident = "token-" + hashlib.sha256(token.encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ClientAddressThrottle(_RatesFromSettings, AnonRateThrottle):
    """Every anonymous call, token or not: a per-address ceiling far above a classroom."""

    scope = "address"


class NonStaffUserThrottle(_RatesFromSettings, UserRateThrottle):
    """Logged-in users who are not staff: counted per user."""

    def get_cache_key(self, request: Request, view) -> str | None:
        if not (request.user and request.user.is_authenticated) or _is_staff(request):
            return None
        return super().get_cache_key(request, view)
