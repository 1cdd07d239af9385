"""The Redis the throttle tests count in (REDIS_TEST_URL), as production's cache."""

import os
import socket
from urllib.parse import urlsplit

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/2")
REDIS_CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_TEST_URL}
SKIP_REASON = f"needs Redis at {REDIS_TEST_URL} (set REDIS_TEST_URL)"


def redis_answers(url: str = REDIS_TEST_URL, timeout: float = 1) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout).close()
    except OSError:
        return False
    return True
