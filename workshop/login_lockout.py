"""Limits on login guesses (django-axes), for the admin and the dashboards' login alike.

Failures count per (username, client address): after AXES_FAILURE_LIMIT of them that pair is
refused, even with the right password, for AXES_COOLOFF_TIME or until an operator unlocks it
(docs/operations.md). Per pair rather than per username, so nobody can lock an instructor
out from elsewhere by guessing their username.
"""

from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_address(request: HttpRequest) -> str:
    """The client's address as the API throttle sees it: X-Forwarded-For trusted for
    NUM_PROXIES hops only, so a client cannot pick a fresh address per guess."""
    return BaseThrottle().get_ident(request)
