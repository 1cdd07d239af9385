"""Throttling as a classroom meets it: 60 students behind one public address.

The burst runs with the production settings: the default rates and a Redis cache shared by
the workers (REDIS_TEST_URL, default redis://127.0.0.1:6379/2). It is skipped, saying so,
when no Redis answers there.
"""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from progress.tests import frontend_requests as fe

pytestmark = pytest.mark.django_db

CLASSROOM_ADDRESS = "198.51.100.20"
STUDENTS = 60
POSTS_EACH = 25


class ThrottledProbe(APIView):
    """The API's throttles (the project's DEFAULT_THROTTLE_CLASSES and rates) in front of a
    view that does nothing else: the burst measures the throttling decision alone, 1,500
    times, without 1,500 progress writes (those have the tests below and bench/)."""

    def post(self, request: Request) -> Response:
        return Response({"success": True})


def test_a_classroom_behind_one_address_posting_in_a_burst_meets_no_429(redis_cache):
    probe = ThrottledProbe.as_view()
    factory = APIRequestFactory(REMOTE_ADDR=CLASSROOM_ADDRESS)
    tokens = [f"ws_1732870000000_classroom_{number:02d}" for number in range(STUDENTS)]

    statuses = [
        probe(
            factory.post("/api/student-progress", fe.student_progress(token, 1), format="json")
        ).status_code
        for _ in range(POSTS_EACH)
        for token in tokens
    ]

    assert len(statuses) == 1_500
    assert statuses.count(429) == 0


def test_one_students_token_is_throttled_alone(rates):
    rates(anon="3/minute", address="100/minute")
    classroom = APIClient(REMOTE_ADDR=CLASSROOM_ADDRESS)

    def send(token: str) -> int:
        return classroom.post(
            "/api/student-progress", fe.student_progress(token, 0), format="json"
        ).status_code

    assert [send("ws_fast_typist_token") for _ in range(4)] == [200, 200, 200, 429]
    assert send("ws_classmate_token_01") == 200


def test_calls_without_a_token_are_counted_per_address(rates):
    rates(anon="2/minute", address="100/minute")

    def feedback(address: str) -> int:
        client = APIClient(REMOTE_ADDR=address)
        return client.post(
            "/api/submit-feedback", fe.submit_feedback(3, rating=5), format="json"
        ).status_code

    assert [feedback(CLASSROOM_ADDRESS) for _ in range(3)] == [200, 200, 429]
    assert feedback("192.0.2.99") == 200


def test_inventing_tokens_does_not_escape_the_per_address_ceiling(rates):
    rates(anon="100/minute", address="3/minute")
    client = APIClient(REMOTE_ADDR=CLASSROOM_ADDRESS)

    statuses = [
        client.post(
            "/api/student-progress", fe.student_progress(f"ws_invented_{n:04d}", 0), format="json"
        ).status_code
        for n in range(4)
    ]

    assert statuses == [200, 200, 200, 429]


def test_logged_in_non_staff_users_have_a_rate(rates, django_user_model):
    rates(anon="100/minute", address="100/minute", user="2/minute")
    user = django_user_model.objects.create_user(username="voice-runtime")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    statuses = [
        client.get("/api/student-progress", {"sessionToken": "ws_nobody_here"}).status_code
        for _ in range(3)
    ]

    assert statuses == [404, 404, 429]


def test_staff_are_not_throttled(rates, staff_api):
    rates(anon="1/minute", address="1/minute", user="1/minute")

    statuses = {
        staff_api.get("/api/student-progress", {"sessionToken": "ws_nobody_here"}).status_code
        for _ in range(3)
    }

    assert statuses == {404}
