"""Throttling of anonymous API calls per client address.

DRF's AnonRateThrottle keys on the client address, trusting only NUM_PROXIES hops of
X-Forwarded-For. Its rates are read once at import time, though; this subclass reads them on
every request, so an operator's setting (and a test's override) always applies.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle


class AnonymousClientThrottle(AnonRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
