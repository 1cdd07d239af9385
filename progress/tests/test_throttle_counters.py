"""The throttle's counters: fixed windows, exact at the rate, shared by workers through Redis,
and one Redis round trip per request however busy the key is.

Redis tests use REDIS_TEST_URL (default redis://127.0.0.1:6379/2) and are skipped, saying
so, when no Redis answers there.
"""

import pytest
from django.core.cache import caches
from redis.connection import AbstractConnection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from progress.api import messages, throttling
from progress.api.throttling import APIThrottle, parse_rate
from progress.tests.redis_cache import REDIS_CACHE, SKIP_REASON, redis_answers

pytestmark = pytest.mark.django_db

URL = "/api/student-progress"
TOKEN = "ws_throttle_counter_token"
# A minute boundary, so windows are easy to read: [T0, T0 + 60) is one window.
T0 = 1_800_000_000.0 - (1_800_000_000 % 60)


@pytest.fixture(params=["locmem", "redis"])
def any_cache(request, settings):
    """Each test once on the default local-memory cache and once on Redis."""
    if request.param == "redis":
        if not redis_answers():
            pytest.skip(SKIP_REASON)
        settings.CACHES = {"default": REDIS_CACHE}
    caches["default"].clear()
    yield request.param
    caches["default"].clear()


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, set by the test."""
    now = [T0]
    monkeypatch.setattr(APIThrottle, "timer", staticmethod(lambda: now[0]))
    return now


def lookup(client: APIClient, token: str = TOKEN):
    return client.get(URL, {"sessionToken": token})


def test_rates_are_read_as_drf_reads_them():
    assert parse_rate("600/minute") == (600, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("2/hour") == (2, 3600)
    assert parse_rate("1/day") == (1, 86400)
    assert parse_rate(None) is None


def test_the_limit_is_hit_exactly_at_the_rate(any_cache, rates, clock):
    rates(anon="5/minute", address="100/minute")
    client = APIClient()

    statuses = [lookup(client).status_code for _ in range(6)]

    assert statuses == [404] * 5 + [429]


def test_retry_after_is_the_rest_of_the_window(any_cache, rates, clock):
    rates(anon="1/minute")
    client = APIClient()
    lookup(client)
    clock[0] = T0 + 45.5

    refused = lookup(client)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "15"
    assert refused.json() == {
        "success": False,
        "error": messages.THROTTLED.format(seconds=15),
        "fields": {},
    }


def test_the_window_resets(any_cache, rates, clock):
    rates(anon="2/minute")
    client = APIClient()
    first_window = [lookup(client).status_code for _ in range(3)]
    clock[0] = T0 + 59.9
    still_first = lookup(client).status_code
    clock[0] = T0 + 60
    second_window = [lookup(client).status_code for _ in range(3)]

    assert first_window == [404, 404, 429]
    assert still_first == 429
    assert second_window == [404, 404, 429]


def test_a_scope_without_a_rate_is_not_applied(any_cache, rates, clock):
    rates(address="2/minute")
    client = APIClient()

    # The token's scope has no rate: only the per-address ceiling counts.
    statuses = [lookup(client, f"ws_other_token_{n:03d}").status_code for n in range(3)]

    assert statuses == [404, 404, 429]


def test_the_address_ceiling_counts_calls_with_and_without_tokens_together(any_cache, rates, clock):
    rates(anon="100/minute", address="3/minute")
    client = APIClient(REMOTE_ADDR="198.51.100.7")

    statuses = [
        lookup(client, "ws_first_token_01").status_code,
        client.post("/api/submit-feedback", {"rating": 5}, format="json").status_code,
        lookup(client, "ws_second_token_2").status_code,
        lookup(client, "ws_third_token_03").status_code,
    ]

    assert statuses[-1] == 429
    assert 429 not in statuses[:-1]


def test_the_counter_is_one_integer_however_busy_the_key(any_cache, rates, clock):
    rates(anon="100000/minute", address="100000/minute")
    client = APIClient()
    for _ in range(100):
        lookup(client)

    view = APIView()
    request = view.initialize_request(APIRequestFactory().get(URL, {"sessionToken": TOKEN}))
    window = int(T0 // 60)
    stored = {
        w.key: caches["default"].get(f"{w.key}:{window}")
        for w in APIThrottle().windows(request, view)
    }

    # The token's key holds its digest, never the token itself.
    token_key = next(key for key in stored if key.startswith("throttle_anon_"))
    assert TOKEN not in token_key
    assert stored == {token_key: 100, "throttle_address_127.0.0.1": 100}


# --- Redis: shared by workers, one round trip ----------------------------------------------
def _throttle_on(cache) -> APIThrottle:
    throttle = APIThrottle()
    throttle.cache = cache
    return throttle


def test_two_workers_share_the_counts_in_redis(redis_cache, rates, clock):
    rates(anon="4/minute", address="100/minute")
    # Two cache objects, two connection pools: what two gunicorn workers each hold.
    worker_a = caches.create_connection("default")
    worker_b = caches.create_connection("default")
    assert worker_a._cache.get_client() is not worker_b._cache.get_client()
    view = APIView()
    request = view.initialize_request(APIRequestFactory().get(URL, {"sessionToken": TOKEN}))

    allowed = [
        _throttle_on(worker).allow_request(request, view)
        for worker in (worker_a, worker_b, worker_a, worker_b, worker_a, worker_b)
    ]

    assert allowed == [True, True, True, True, False, False]


class RedisTraffic:
    """Round trips (packed sends on a connection) and the commands sent one by one."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.commands: list[str] = []

    def record(self, original):
        def send_packed_command(connection, command, check_health=True):
            self.round_trips += 1
            return original(connection, command, check_health)

        return send_packed_command


@pytest.fixture
def redis_traffic(monkeypatch):
    traffic = RedisTraffic()
    monkeypatch.setattr(
        AbstractConnection,
        "send_packed_command",
        traffic.record(AbstractConnection.send_packed_command),
    )
    original_send = AbstractConnection.send_command

    def send_command(connection, *args, **kwargs):
        traffic.commands.append(str(args[0]))
        return original_send(connection, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", send_command)
    return traffic


def _one_call_traffic(client: APIClient, redis_traffic: RedisTraffic) -> tuple[int, list]:
    redis_traffic.round_trips = 0
    redis_traffic.commands = []
    assert lookup(client).status_code == 404
    return redis_traffic.round_trips, sorted(redis_traffic.commands)


def test_each_request_is_one_redis_round_trip_whatever_the_traffic(
    redis_cache, rates, clock, redis_traffic
):
    rates(anon="100000/minute", address="100000/minute")
    client = APIClient()
    lookup(client)  # the connection is open: what follows counts requests, not the handshake

    quiet = _one_call_traffic(client, redis_traffic)
    for _ in range(200):
        lookup(client)
    busy = _one_call_traffic(client, redis_traffic)

    # Both scopes (the token's and the address's), one script call.
    assert quiet == (1, ["EVALSHA"])
    assert busy == quiet


def _token_client(user) -> APIClient:
    """A client with a real credential (what production authenticates: DRF's
    force_authenticate has no counterpart outside tests)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_logged_in_non_staff_user_is_one_command_pair(
    redis_cache, rates, clock, redis_traffic, django_user_model
):
    rates(anon="100/minute", address="100/minute", user="100/minute")
    client = _token_client(django_user_model.objects.create_user(username="voice-runtime"))
    lookup(client)

    assert _one_call_traffic(client, redis_traffic) == (1, ["EVALSHA"])


def test_each_counter_expires_a_period_after_its_last_call(redis_cache, rates, clock):
    rates(anon="100/minute", address="100/hour")
    lookup(APIClient())

    client = caches["default"]._cache.get_client()
    ttls = {key.decode().split(":")[2]: client.ttl(key) for key in client.keys("*throttle_*")}

    anon = next(key for key in ttls if key.startswith("throttle_anon_"))
    assert ttls == {anon: 60, "throttle_address_127.0.0.1": 3600}


def test_a_redis_without_the_script_is_sent_it(redis_cache, rates, clock, redis_traffic):
    rates(anon="2/minute", address="100/minute")
    client = APIClient()
    lookup(client)
    # As after a Redis restart: the script's digest names nothing Redis knows.
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(throttling, "_COUNT_SCRIPT_SHA", "0" * 40)
    try:
        redis_traffic.round_trips, redis_traffic.commands = 0, []
        statuses = [lookup(client).status_code, lookup(client).status_code]
    finally:
        monkeypatch.undo()

    assert statuses == [404, 429]
    assert redis_traffic.round_trips == 4
    assert redis_traffic.commands == ["EVALSHA", "EVAL", "EVALSHA", "EVAL"]


def test_staff_cost_no_redis_call(redis_cache, rates, clock, redis_traffic, instructor):
    rates(anon="1/minute", address="1/minute", user="1/minute")
    client = _token_client(instructor)

    assert _one_call_traffic(client, redis_traffic) == (0, [])


def test_a_connection_redis_dropped_is_opened_again_and_the_call_counted(redis_cache, rates, clock):
    rates(anon="3/minute", address="100/minute")
    client = APIClient()
    lookup(client)
    # Redis drops the throttle's connection (as a restart or an idle timeout would).
    connection = throttling._connection(caches["default"])
    connection.send_command("CLIENT", "ID")
    client_id = connection.read_response()
    admin = caches["default"]._cache.get_client()
    assert admin.client_kill_filter(_id=client_id) == 1

    statuses = [lookup(client).status_code for _ in range(3)]

    # The second call, on a new connection, was counted: the fourth is over the limit.
    assert statuses == [404, 404, 429]
