"""Views of the progress API: parse with a serializer, call a service or selector, render.

Domain errors and validation errors travel as exceptions to progress.api.exceptions, which
renders every one of them as `{"success": false, "error": ..., "fields": ...}`.
"""

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from progress import replies, selectors, services
from progress.api import messages
from progress.api.exceptions import error_body
from progress.api.serializers import (
    BugReportSerializer,
    DeploymentSerializer,
    ProgressLookupSerializer,
    ProgressUpdateSerializer,
    SessionConfigurationSerializer,
    SessionCreateSerializer,
    SessionSerializer,
    SharedSessionSerializer,
    session_body,
    shared_session_body,
)
from progress.api.tokens import TOKEN_PATTERN, is_session_token, request_session_token
from workshop.errors import SESSION_NOT_FOUND, NotFoundError
from workshop.models import WorkshopSession
from workshop.replica import reads_from_replica

# --------------------------------------------------------------------------------------------
# Schema pieces
# --------------------------------------------------------------------------------------------
ErrorSerializer = inline_serializer(
    "Error",
    {
        "success": serializers.BooleanField(default=False),
        "error": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)
ProgressReply = inline_serializer(
    "ProgressReply", {"success": serializers.BooleanField(), "progress": SessionSerializer()}
)
LookupReply = inline_serializer(
    "LookupReply",
    {
        "success": serializers.BooleanField(),
        "progress": SessionSerializer(required=False),
        "sessions": PolymorphicProxySerializer(
            component_name="LookupSession",
            serializers=[SharedSessionSerializer, SessionSerializer],
            resource_type_field_name=None,
            many=True,
            required=False,
            help_text="?studentId= (the public share link): progress only (SharedSession); "
            "?studentEmail= (instructors): whole sessions with their tokens (Session).",
        ),
    },
)
UpdateReply = inline_serializer(
    "ProgressUpdateReply",
    {
        "success": serializers.BooleanField(),
        "message": serializers.CharField(),
        "progress": SessionSerializer(),
    },
)
SessionCreatedReply = inline_serializer(
    "SessionCreatedReply",
    {
        "success": serializers.BooleanField(),
        "sessionToken": serializers.CharField(),
        "studentId": serializers.UUIDField(
            allow_null=True,
            help_text="null when the email belongs to a student who already existed (an email "
            "is a claim, not a proof: docs/api.md).",
        ),
        "expiresAt": serializers.DateTimeField(),
    },
)
BugReportReply = inline_serializer(
    "BugReportReply",
    {"success": serializers.BooleanField(), "bugReport": serializers.DictField()},
)
DeploymentReply = inline_serializer(
    "DeploymentReply",
    {
        "success": serializers.BooleanField(),
        "eventType": serializers.ChoiceField(choices=["deployment_success", "deployment_failure"]),
        "progress": SessionSerializer(),
    },
)
HealthReply = inline_serializer(
    "HealthReply", {"success": serializers.BooleanField(), "database": serializers.CharField()}
)

# Every call can meet bad input, a body that is not JSON, the throttle, and a rejected
# credential (an invalid `Authorization: Token`, a session login without its CSRF token).
COMMON_ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    415: ErrorSerializer,
    429: ErrorSerializer,
}
SESSION_WRITE_ERRORS = {**COMMON_ERRORS, 404: ErrorSerializer, 410: ErrorSerializer}
TOKEN_PARAMETER = OpenApiParameter(
    "token",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=TOKEN_PATTERN,
    description="The session token: the student's credential for this session.",
)


def _session_token(token: str) -> str:
    # The URL accepts any segment so a malformed token gets the same 404 as an unknown one.
    if not is_session_token(token):
        raise NotFoundError(SESSION_NOT_FOUND)
    return token


# Parse, call, reply: the spec's views and the frontend's adapters (frontend_views) share these,
# so a call that exists in both shapes parses and answers the same way.
def validated(serializer_class: type[serializers.Serializer], data) -> dict:
    """The data checked by the call's one serializer; its errors are the 400 reply."""
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def success(status_code: int = status.HTTP_200_OK, **fields) -> Response:
    """`{"success": true, ...fields}`."""
    return Response({"success": True, **fields}, status=status_code)


def start_session(request: Request) -> WorkshopSession:
    """sessions_create and the frontend's generate-session: the same body, the same service."""
    data = validated(SessionCreateSerializer, request.data)
    return services.start_session(
        student_email=data.get("studentEmail"),
        student_name=data.get("studentName"),
        demo_mode=data["demoMode"],
    )


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------
class StudentProgressView(APIView):
    @classmethod
    def answer_plain_read(cls, request: HttpRequest, token: str) -> HttpResponseBase:
        """The plain token read (progress.api.plain_read), answered without DRF's request
        wrapping, authentication and rendering: the reply is wp_session_reply's JSON text as
        PostgreSQL sends it. The view's throttles count it, DRF's default headers are added,
        and any error (throttled, unknown token, database unavailable) is answered by DRF's
        own exception handling: the reply DRF's way would give, at a fraction of the CPU
        (docs/benchmarks.md, "GET by token to half the limit")."""
        view = cls._plain(request)
        try:
            view.count_plain_call(request, token)
            progress = replies.session_reply_json(session_token=token)
        except Exception as exc:
            return view.plain_error(view.initialize_request(request), exc)
        body = '{"success":true,"progress":' + progress + "}"
        return view.finalize_response(request, HttpResponse(body, content_type="application/json"))

    @classmethod
    def answer_plain_write(cls, request: HttpRequest) -> HttpResponseBase:
        """The plain progress write (progress.api.plain_read): the body parsed by DRF's request
        (same parser, same errors), counted by the view's throttles after parsing as DRF's
        throttle counts it, then `progress_update`, the POST's own handler; the reply rendered
        by the API's renderer. Skips URL resolving and DRF's dispatch."""
        view = cls._plain(request)
        drf_request = view.initialize_request(request)
        try:
            view.count_plain_call(request, request_session_token(drf_request, view))
            body = JSONRenderer().render(view.progress_update(drf_request.data))
        except Exception as exc:
            return view.plain_error(drf_request, exc)
        return view.finalize_response(request, HttpResponse(body, content_type="application/json"))

    @classmethod
    def _plain(cls, request: HttpRequest) -> "StudentProgressView":
        view = cls()
        view.setup(request)
        view.headers = view.default_response_headers
        view.format_kwarg = None
        return view

    def count_plain_call(self, request: HttpRequest, token: str | None) -> None:
        """DRF's check_throttles for an anonymous call carrying `token`."""
        for throttle in self.get_throttles():
            if not throttle.count_anonymous_call(request, token):
                self.throttled(request, throttle.wait())

    def plain_error(self, request: Request, exc: Exception) -> HttpResponseBase:
        """DRF's dispatch from an exception on: its handler, headers and rendering."""
        self.request = request
        response = self.finalize_response(request, self.handle_exception(exc))
        # Rendered here: Django's handler renders a view's reply, and this one has no view.
        return response.render()

    @extend_schema(
        operation_id="student_progress_read",
        parameters=[
            OpenApiParameter("sessionToken", OpenApiTypes.STR, pattern=TOKEN_PATTERN),
            OpenApiParameter("studentId", OpenApiTypes.UUID),
            OpenApiParameter(
                "studentEmail", OpenApiTypes.EMAIL, description="Instructors (staff) only."
            ),
        ],
        description=(
            "Exactly one of sessionToken (that session, as `progress`), studentId (the public "
            "share link: the student's sessions, progress only) or studentEmail (instructors "
            "only: whole sessions, with tokens)."
        ),
        responses={
            200: LookupReply,
            **COMMON_ERRORS,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        lookup = ProgressLookupSerializer(data=request.query_params)
        lookup.is_valid(raise_exception=True)
        params = lookup.validated_data
        if "sessionToken" in params:
            progress = replies.session_reply(session_token=params["sessionToken"])
            return Response({"success": True, "progress": progress})
        if "studentId" in params:
            # The public share link: nobody reads back a write of their own here.
            with reads_from_replica():
                sessions = selectors.sessions_of_student_id(student_id=params["studentId"])
                body = [shared_session_body(s) for s in sessions]
            return Response({"success": True, "sessions": body})
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(messages.AUTHENTICATION_REQUIRED)
        if not request.user.is_staff:
            raise exceptions.PermissionDenied(messages.INSTRUCTORS_ONLY)
        sessions = selectors.sessions_of_student_email(email=params["studentEmail"])
        return Response(
            {"success": True, "sessions": [session_body(s, instructor=True) for s in sessions]}
        )

    @extend_schema(
        operation_id="student_progress_update",
        request=ProgressUpdateSerializer,
        responses={200: UpdateReply, **COMMON_ERRORS, 409: ErrorSerializer, 410: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        return Response(self.progress_update(request.data))

    def progress_update(self, data) -> dict:
        """The POST's reply body for its request body (validated here; errors raise)."""
        body = ProgressUpdateSerializer(data=data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        step = None
        if data.get("stepNumber") is not None:
            step = services.StepUpdate(
                step_number=data["stepNumber"],
                step_name=data.get("stepName"),
                completed=bool(data.get("completed")),
                time_spent=data.get("timeSpent") or 0,
                code_submitted=data.get("codeSubmitted"),
                deployment_url=data.get("deploymentUrl"),
            )
        progress = services.record_progress(
            session_token=data["sessionToken"],
            email=data.get("studentEmail"),
            name=data.get("studentName"),
            demo_mode=data.get("demoMode"),
            step=step,
        )
        return {"success": True, "message": messages.PROGRESS_UPDATED, "progress": progress}


class SessionsView(APIView):
    @extend_schema(
        operation_id="sessions_create",
        request=SessionCreateSerializer,
        responses={201: SessionCreatedReply, **COMMON_ERRORS},
    )
    def post(self, request: Request) -> Response:
        session = start_session(request)
        return success(
            status.HTTP_201_CREATED,
            sessionToken=session.session_token,
            studentId=str(session.student_id) if selectors.reveals_student(session) else None,
            expiresAt=serializers.DateTimeField().to_representation(session.expires_at),
        )


class SessionDetailView(APIView):
    @extend_schema(
        operation_id="sessions_configure",
        parameters=[TOKEN_PARAMETER],
        request=SessionConfigurationSerializer,
        responses={200: ProgressReply, **SESSION_WRITE_ERRORS},
    )
    def patch(self, request: Request, token: str) -> Response:
        token = _session_token(token)
        body = SessionConfigurationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        session = services.configure_session(session_token=token, changes=body.changes())
        return Response({"success": True, "progress": session_body(session)})


class BugReportsView(APIView):
    @extend_schema(
        operation_id="sessions_bug_reports_create",
        parameters=[TOKEN_PARAMETER],
        request=BugReportSerializer,
        responses={201: BugReportReply, **SESSION_WRITE_ERRORS},
    )
    def post(self, request: Request, token: str) -> Response:
        token = _session_token(token)
        report = validated(BugReportSerializer, request.data)
        entry = services.report_bug(session_token=token, report=report)
        return success(status.HTTP_201_CREATED, bugReport=entry)


class DeploymentsView(APIView):
    @extend_schema(
        operation_id="sessions_deployments_create",
        parameters=[TOKEN_PARAMETER],
        request=DeploymentSerializer,
        responses={201: DeploymentReply, **SESSION_WRITE_ERRORS},
    )
    def post(self, request: Request, token: str) -> Response:
        token = _session_token(token)
        body = DeploymentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        session = services.record_deployment(
            session_token=token,
            step_number=data["stepNumber"],
            url=data["url"],
            succeeded=data["success"],
            error=data.get("error"),
        )
        return Response(
            {
                "success": True,
                "eventType": "deployment_success" if data["success"] else "deployment_failure",
                "progress": session_body(session),
            },
            status=status.HTTP_201_CREATED,
        )


class HealthView(APIView):
    # Load balancers poll this: never throttled, never authenticated.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(operation_id="health", responses={200: HealthReply, 503: ErrorSerializer})
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            return Response(
                error_body(messages.DATABASE_UNAVAILABLE),
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"success": True, "database": "ok"})


class NotFoundView(APIView):
    """Every other path under /api/: a JSON 404 for any method."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None  # not an endpoint: kept out of the OpenAPI schema

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFoundError(messages.ROUTE_NOT_FOUND)

    def get(self, request: Request, *args, **kwargs) -> Response:
        raise NotFoundError(messages.ROUTE_NOT_FOUND)
