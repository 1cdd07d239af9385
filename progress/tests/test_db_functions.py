"""The PostgreSQL functions of progress/db_functions.py against their Python forms.

The write rule of the progress POST has one home per backend: the Python service
(`services.record_progress_in_python`, SQLite) and the function `wp_record_progress`
(PostgreSQL); the reply likewise (`replies.session_body` and `wp_session_reply`). Here both
run on PostgreSQL on the same cases, and the rows they leave (students, sessions, steps,
events, creator records, outbox), the dispatch they queue and the replies they give must be
equal, but for generated ids and the moments of "now".
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection, transaction

from analytics.integrations.models import OutboxMessage
from analytics.models import Event
from progress import db_functions, replies, selectors, services
from progress.models import StepProgress, StudentCreator
from progress.services import StepUpdate
from progress.tests.clock import DatabaseClock
from progress.totals import MAX_SECONDS
from workshop.errors import ApplicationError
from workshop.models import ANONYMOUS_EMAIL_DOMAIN, Student, WorkshopSession

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

A, B = "ws_cmp_a", "ws_cmp_b"


# --------------------------------------------------------------------------------------------
# Cases: rows to start from, then calls (a POST's arguments, or the clock moving)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ago:
    """The session's last request on this step was `seconds` ago (progress.tests.clock)."""

    session_token: str
    step_number: int
    seconds: int


@dataclass(frozen=True)
class Case:
    setup: Callable[[dt.datetime], None] = lambda anchor: None
    calls: tuple[Any, ...] = field(default_factory=tuple)
    refusals: int = 0  # how many calls are refused (409, 410)


def post(session_token: str, **kwargs: Any) -> dict[str, Any]:
    return {"session_token": session_token, **kwargs}


def student(email: str, name: str | None = None) -> Student:
    return Student.objects.create(student_email=email, student_name=name)


# A case's sessions were last active at `anchor` (3 days ago) and expire after LATER.
LATER = dt.timedelta(days=5)


def session(token: str, owner: Student, anchor: dt.datetime, **changes: Any) -> WorkshopSession:
    values = {"last_activity": anchor, "expires_at": anchor + LATER, **changes}
    return WorkshopSession.objects.create(session_token=token, student=owner, **values)


def steps(token: str, numbers, **changes: Any) -> None:
    owner = WorkshopSession.objects.get(pk=token).student_id
    for number in numbers:
        values = {"step_name": f"Step {number}", "attempts": 1, "time_spent": 60, **changes}
        StepProgress.objects.create(
            session_id=token, student_id=owner, step_number=number, **values
        )


def setup_graces_session(anchor):
    session(A, student("grace@example.com", "Grace"), anchor)


def setup_owned_by_another(anchor):
    session(A, student("owner@example.com", "Owner"), anchor)
    steps(A, [1])


def setup_closed(anchor):
    session(A, student("old@example.com"), anchor, is_active=False)
    session(B, student("late@example.com"), anchor, expires_at=anchor)


def setup_eight_passed(anchor):
    session(A, student("ada@example.com", "Ada"), anchor)
    steps(A, range(1, 9), validation_passed=True, completed_at=anchor)


def setup_nearly_saturated(anchor):
    session(A, student("long@example.com"), anchor)
    steps(A, [4], validation_passed=True, completed_at=anchor, time_spent=MAX_SECONDS - 5)


def setup_anonymous_with_two_sessions(anchor):
    anonymous = student(f"anonymous+k@{ANONYMOUS_EMAIL_DOMAIN}", "Anon")
    session(A, anonymous, anchor)
    session(B, anonymous, anchor)
    steps(A, [1, 2])


def setup_nameless_student_of_another_session(anchor):
    nameless = student("nameless@example.com")
    session(B, nameless, anchor)
    StudentCreator.objects.create(student=nameless, session_id=B)
    session(A, nameless, anchor)


CASES = {
    "new anonymous, then its first step": Case(
        calls=(post(A, name="Guest"), post(A, step=StepUpdate(1)))
    ),
    "new with email, a name and a step": Case(
        calls=(
            post(
                A,
                email="  Ada@Example.COM ",
                name="Ada",
                step=StepUpdate(3, time_spent=120),
            ),
        )
    ),
    "new with email and a completed first step": Case(
        calls=(post(A, email="ada@example.com", step=StepUpdate(1, completed=True)),)
    ),
    "an existing student's email on a new session": Case(
        setup=setup_graces_session,
        calls=(post(B, email="grace@example.com", name="Not Grace", step=StepUpdate(2)),),
    ),
    "claim of an anonymous session by a new student": Case(
        calls=(
            post(A, step=StepUpdate(1, completed=True)),
            post(A, step=StepUpdate(2)),
            post(A, email="Grace@Example.com", name="Grace", step=StepUpdate(2, completed=True)),
        )
    ),
    "claim of an anonymous session by an existing student": Case(
        setup=setup_graces_session,
        calls=(
            post(B, step=StepUpdate(1)),
            post(B, email="grace@example.com", name="Other", step=StepUpdate(1)),
        ),
    ),
    "claim of one of an anonymous student's two sessions": Case(
        setup=setup_anonymous_with_two_sessions,
        calls=(post(A, email="new@example.com", step=StepUpdate(2, code_submitted="x = 1")),),
    ),
    "409: the token of another identified student": Case(
        setup=setup_owned_by_another,
        calls=(
            post(A, email="intruder@example.com", step=StepUpdate(1, completed=True)),
            post(A, email="OWNER@example.com", step=StepUpdate(1, time_spent=5)),
        ),
        refusals=1,
    ),
    "410: inactive and expired sessions": Case(
        setup=setup_closed,
        calls=(post(A, step=StepUpdate(1)), post(B, email="late@example.com")),
        refusals=2,
    ),
    "heartbeats: nothing new but the activity (a step name still counts)": Case(
        calls=(
            post(A, step=StepUpdate(1)),
            post(A, step=StepUpdate(1)),
            post(A, step=StepUpdate(1, step_name="Renamed step")),
            post(A, step=StepUpdate(1, completed=True)),
            post(A, step=StepUpdate(1, completed=True)),
        )
    ),
    "measured time, an idle gap, another step, a client time": Case(
        calls=(
            post(A, step=StepUpdate(2)),
            Ago(A, 2, 45),
            post(A, step=StepUpdate(2)),
            Ago(A, 2, 700),
            post(A, step=StepUpdate(2)),
            Ago(A, 2, 30),
            post(A, step=StepUpdate(3)),
            Ago(A, 3, 20),
            post(A, step=StepUpdate(3, time_spent=10)),
            Ago(A, 3, 15),
            post(A, step=StepUpdate(3, completed=True)),
        )
    ),
    "the first completion reaching 100, then again, then its deployment": Case(
        setup=setup_eight_passed,
        calls=(
            post(A, step=StepUpdate(9, completed=True, time_spent=30)),
            post(A, step=StepUpdate(9, completed=True)),
            post(A, step=StepUpdate(9, completed=True, code_submitted="done()")),
            post(A, step=StepUpdate(9, deployment_url="https://app.example.com")),
        ),
    ),
    "code, deployment URL and step name on a new and an existing step": Case(
        calls=(
            post(
                A,
                step=StepUpdate(
                    9,
                    step_name="Deploy it",
                    code_submitted="print(1)",
                    deployment_url="https://one.example.com",
                ),
            ),
            post(A, step=StepUpdate(9, code_submitted="print(2)")),
            post(A, step=StepUpdate(9, deployment_url="https://two.example.com")),
        )
    ),
    "demo mode: set at creation, toggled, unchanged, not sent": Case(
        calls=(
            post(A, demo_mode=True),
            post(A, demo_mode=False, step=StepUpdate(1)),
            post(A, demo_mode=False),
            post(A, demo_mode=True),
            post(A),
        )
    ),
    "timeSpent saturates at 2^31-1, the session's total too": Case(
        setup=setup_nearly_saturated,
        calls=(post(A, step=StepUpdate(4, time_spent=100)),),
    ),
    "a missing name is filled only by the session that created the student": Case(
        setup=setup_nameless_student_of_another_session,
        calls=(
            post(A, email="nameless@example.com", name="Not Me"),
            post(B, email="nameless@example.com", name="Me At Last", step=StepUpdate(1)),
            post(B, email="nameless@example.com", name="Not Again"),
            post("ws_cmp_c", email="fresh@example.com"),
            post("ws_cmp_c", email="fresh@example.com", name="Fresh"),
            post("ws_cmp_c", email="fresh@example.com", name="Anonymous Student"),
        ),
    ),
}


# --------------------------------------------------------------------------------------------
# Running a case with one implementation, and what is compared
# --------------------------------------------------------------------------------------------
def python_rule(**kwargs: Any) -> dict[str, Any]:
    session = services.record_progress_in_python(**kwargs)
    return replies.session_body(session)


def database_rule(**kwargs: Any) -> dict[str, Any]:
    assert connection.vendor == "postgresql"
    return services.record_progress(**kwargs)


class Normaliser:
    """Generated ids as stable labels, moments of "now" as one mark."""

    def __init__(self, anchor: dt.datetime) -> None:
        self.anchor = anchor
        self.labels: dict[str, str] = {}

    def student(self, student_id: Any) -> str | None:
        if student_id is None:
            return None
        key = str(student_id)
        if key not in self.labels:
            found = Student.objects.filter(pk=key).first()
            if found is None:
                self.labels[key] = f"gone-{len(self.labels)}"
            elif found.is_anonymous and not found.student_email.startswith("anonymous+k@"):
                tokens = sorted(found.sessions.values_list("session_token", flat=True))
                self.labels[key] = f"anonymous of {tokens}"
            else:
                self.labels[key] = found.student_email
        return self.labels[key]

    def moment(self, value: dt.datetime | str | None) -> Any:
        # Moments a case set up stay exact; a write's "now" (the app's or the database's
        # clock, which the two implementations read differently) is one mark.
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value in (self.anchor, self.anchor + LATER):
            return value.isoformat()
        assert value > self.anchor + dt.timedelta(days=2), value
        return "now"

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        moments = {"started_at", "last_activity", "expires_at", "created_at", "updated_at"}
        reply = {
            key: (self.moment(value) if key in moments else value) for key, value in body.items()
        }
        reply["student_id"] = self.student(body["student_id"])
        reply["step_progress"] = [
            {
                **entry,
                "startedAt": self.moment(entry["startedAt"]),
                "completedAt": self.moment(entry["completedAt"]),
            }
            for entry in body["step_progress"]
        ]
        return reply


def rows(n: Normaliser, queued: list[Any]) -> dict[str, list]:
    outbox = list(OutboxMessage.objects.order_by("id"))
    position = {message.pk: i for i, message in enumerate(outbox)}
    return {
        "students": sorted(
            (
                n.student(s.pk),
                n.student(s.pk) if s.is_anonymous else s.student_email,
                s.student_name,
            )
            for s in Student.objects.all()
        ),
        "sessions": [
            (
                s.pk,
                n.student(s.student_id),
                s.is_active,
                s.demo_mode,
                s.current_step,
                s.total_time_spent,
                s.completion_rate,
                n.moment(s.started_at),
                n.moment(s.last_activity),
                n.moment(s.expires_at),
                # The slide: now + SESSION_LIFETIME_HOURS (to the hour: the two clocks).
                round((s.expires_at - s.last_activity).total_seconds() / 3600),
            )
            for s in WorkshopSession.objects.order_by("pk")
        ],
        "steps": [
            (
                p.session_id,
                n.student(p.student_id),
                p.step_number,
                p.step_name,
                p.attempts,
                p.time_spent,
                p.validation_passed,
                n.moment(p.started_at),
                n.moment(p.completed_at),
                n.moment(p.updated_at),
                p.code_submitted,
                p.deployment_url,
            )
            for p in StepProgress.objects.order_by("session_id", "step_number")
        ],
        "events": [
            (e.session_id, n.student(e.student_id), e.event_type, e.event_data)
            for e in Event.objects.order_by("id")
        ],
        "creators": sorted(
            (n.student(c.student_id), c.session_id) for c in StudentCreator.objects.all()
        ),
        "outbox": [
            (
                m.topic,
                n.student(m.student_id),
                m.session_token,
                m.data,
                m.dedupe_key,
                n.moment(m.created_at),
                m.dispatched_at,
                m.body,
            )
            for m in outbox
        ],
        # What is queued for after the commit: the dispatch of which outbox rows.
        "queued": [
            (callback.func.__name__, [position[i] for i in callback.args[0]]) for callback in queued
        ],
    }


class Rollback(Exception):
    pass


def run(case: Case, rule, anchor: dt.datetime, clock: DatabaseClock, capture) -> dict:
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            case.setup(anchor)
            n = Normaliser(anchor)
            results = []
            with capture() as queued:
                for call in case.calls:
                    if isinstance(call, Ago):
                        clock.last_seen_ago(call.session_token, call.step_number, call.seconds)
                        continue
                    try:
                        results.append(n.reply(rule(**call)))
                    except ApplicationError as error:
                        results.append(("refused", error.status, error.message))
            outcome = {"replies": results, **rows(n, queued)}
            raise Rollback
    except Rollback:
        pass
    return outcome


@pytest.mark.parametrize("name", CASES)
def test_both_implementations_write_the_same_rows_and_replies(
    name, database_clock, django_capture_on_commit_callbacks
):
    anchor = database_clock.now() - dt.timedelta(days=3)
    case = CASES[name]

    in_python = run(case, python_rule, anchor, database_clock, django_capture_on_commit_callbacks)
    in_database = run(
        case, database_rule, anchor, database_clock, django_capture_on_commit_callbacks
    )

    assert in_database == in_python
    # The case ran as meant (a setup that made every call a refusal would compare little).
    refused = [r for r in in_python["replies"] if isinstance(r, tuple)]
    assert len(refused) == case.refusals


def test_the_cases_cover_every_outcome():
    # Not a rule: a guard that the comparison above meets each branch of the rule at least
    # once (a case list that lost them would compare nothing).
    calls = [call for case in CASES.values() for call in case.calls if isinstance(call, dict)]
    steps_sent = [call["step"] for call in calls if call.get("step")]
    assert {1, 9} <= {step.step_number for step in steps_sent}
    assert any(step.code_submitted for step in steps_sent)
    assert any(step.deployment_url for step in steps_sent)
    assert any(step.step_name for step in steps_sent)
    assert any(isinstance(call, Ago) for case in CASES.values() for call in case.calls)


# --------------------------------------------------------------------------------------------
# The reply alone, on sessions the write rule never makes
# --------------------------------------------------------------------------------------------
def test_the_reply_function_gives_session_body_for_odd_stored_values():
    anchor = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    owner = student("odd@example.com", "Odd")
    odd = session(
        A,
        owner,
        anchor,
        started_at=anchor.replace(microsecond=120),
        is_active=None,
        demo_mode=None,
        current_step=None,
        total_time_spent=None,
        completion_rate=None,
        openai_api_key="",
        use_case_description='Dentist \u2028 booking "quoted" \\ é',
        call_direction="inbound",
        tools='[{"name": "lookup", "n": 1.50}]',  # double-encoded, as legacy data holds it
        voice_settings="not json",
        bug_reports={"not": "a list"},
    )
    steps(A, [2, 1], attempts=None, time_spent=None, validation_passed=None)
    other = session(B, owner, anchor, openai_api_key="gAAAA-ciphertext", voice_settings=[1])
    StudentCreator.objects.create(student=owner, session_id=B)

    for token in (odd.pk, other.pk):
        expected = replies.session_body(selectors.session_progress(session_token=token))
        assert db_functions.session_reply(session_token=token) == expected
    assert db_functions.session_reply(session_token="ws_unknown") is None


def test_get_by_token_reads_the_reply_in_one_statement(api, django_assert_num_queries):
    session(A, student("ada@example.com", "Ada"), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    steps(A, range(1, 10))

    with django_assert_num_queries(1):
        response = api.get("/api/student-progress", {"sessionToken": A})
    assert response.status_code == 200
    assert [s["stepNumber"] for s in response.json()["progress"]["step_progress"]] == list(
        range(1, 10)
    )


# --------------------------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------------------------
def test_the_installed_functions_are_the_code_s():
    with connection.cursor() as cursor:
        for function in db_functions.FUNCTIONS:
            cursor.execute(
                "SELECT prosrc, pg_get_function_arguments(oid), pg_get_function_result(oid)"
                " FROM pg_proc WHERE proname = %s",
                [function.name],
            )
            installed = cursor.fetchall()
            assert installed == [(function.body, function.arguments, function.returns)]


def test_installing_again_changes_nothing():
    db_functions.install()
    db_functions.install()
    test_the_installed_functions_are_the_code_s()


def test_installing_drops_versions_under_another_signature_or_result():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION wp_session_reply(p_session_token text, p_old integer) RETURNS json"
            " LANGUAGE sql AS 'SELECT NULL::json'"
        )
        cursor.execute("DROP FUNCTION wp_iso_z(timestamp with time zone)")
        cursor.execute(
            "CREATE FUNCTION wp_iso_z(value timestamp with time zone) RETURNS varchar"
            " LANGUAGE sql AS 'SELECT NULL::varchar'"
        )

    db_functions.install()

    test_the_installed_functions_are_the_code_s()


def test_the_rule_writes_only_events_whose_outbox_data_is_their_step():
    # The function builds each outbox row's data as {"step": n}: true of the topics of the
    # events it writes (analytics.integrations.services.outbox_entries_for_events).
    assert set(db_functions._NEWS_TOPICS.values()) == {"step_completed"}


@pytest.mark.django_db(transaction=True)
def test_a_post_is_one_statement_in_autocommit(api, django_assert_num_queries):
    # Outside a test's transaction (as in production), no BEGIN, COMMIT or savepoint: the
    # function's call is the whole transaction.
    for body in ({"studentEmail": "ada@example.com", "stepNumber": 1}, {"stepNumber": 2}):
        with django_assert_num_queries(1):
            response = api.post("/api/student-progress", {"sessionToken": A, **body}, format="json")
        assert response.status_code == 200

    # Its outbox row is queued once the statement has committed (the tests' Celery runs
    # tasks at once, so the dispatch has happened).
    response = api.post(
        "/api/student-progress",
        {"sessionToken": A, "stepNumber": 9, "completed": True},
        format="json",
    )
    assert response.status_code == 200
    message = OutboxMessage.objects.get()
    assert (message.data, message.dispatched_at is not None) == ({"step": 9}, True)


@pytest.mark.django_db(transaction=True)
def test_a_refusal_in_autocommit_writes_nothing(api):
    session(A, student("owner@example.com"), dt.datetime.now(dt.UTC))
    response = api.post(
        "/api/student-progress",
        {"sessionToken": A, "studentEmail": "intruder@example.com", "stepNumber": 1},
        format="json",
    )
    assert response.status_code == 409
    assert not Student.objects.filter(student_email="intruder@example.com").exists()
    assert not StepProgress.objects.exists()
    assert WorkshopSession.objects.get().student.student_email == "owner@example.com"
