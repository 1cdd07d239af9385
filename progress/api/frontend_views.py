"""The real frontend's own paths (docs/frontend.md): thin adapters over the progress services,
answering with the old handlers' reply shapes, minus their leaks.

Errors travel as exceptions to progress.api.exceptions like everywhere else in the API:
`{"success": false, "error": ..., "fields": ...}`, which is what the frontend reads.
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from progress import selectors, services
from progress.api import messages
from progress.api.frontend_serializers import (
    AISettingsOutputSerializer,
    ConfigurationOutputSerializer,
    FeedbackSerializer,
    FrontendBugReportSerializer,
    FrontendConfigurationSerializer,
    SessionLogSerializer,
    SessionTokenSerializer,
    configuration_body,
    configuration_changes,
)
from progress.api.serializers import SessionCreateSerializer
from progress.api.tokens import TOKEN_PATTERN
from progress.api.views import (
    COMMON_ERRORS,
    SESSION_WRITE_ERRORS,
    ErrorSerializer,
    start_session,
    success,
)
from workshop.models import stored_json
from workshop.steps import step_for_name

READ_AI_SETTINGS_PERMISSION = "workshop.read_ai_settings"


def _reply(name: str, **fields) -> serializers.Serializer:
    return inline_serializer(name, {"success": serializers.BooleanField(), **fields})


MessageReply = _reply("FrontendMessageReply", message=serializers.CharField())
ConfigurationSavedReply = _reply(
    "ConfigurationSavedReply",
    message=serializers.CharField(),
    websocketUrl=serializers.CharField(allow_null=True),
)
TOKEN_QUERY = OpenApiParameter(
    "sessionToken", OpenApiTypes.STR, required=True, pattern=TOKEN_PATTERN
)


def _voice_runtime_url(session) -> str | None:
    """Where the shared voice runtime serves this session, as the old handler answered."""
    if settings.VOICE_RUNTIME_DOMAIN:
        return f"wss://{settings.VOICE_RUNTIME_DOMAIN}/ws/{session.session_token}"
    return session.websocket_url


class GenerateSessionView(APIView):
    @extend_schema(
        operation_id="frontend_generate_session",
        request=SessionCreateSerializer,
        responses={
            200: _reply("GeneratedSession", sessionToken=serializers.CharField()),
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        return success(sessionToken=start_session(request).session_token)


class ConfigurationGetView(APIView):
    @extend_schema(
        operation_id="frontend_config_get",
        parameters=[TOKEN_QUERY],
        responses={
            200: _reply("ConfigurationReply", config=ConfigurationOutputSerializer()),
            **COMMON_ERRORS,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        lookup = SessionTokenSerializer(data=request.query_params)
        lookup.is_valid(raise_exception=True)
        session = selectors.session_configuration(
            session_token=lookup.validated_data["sessionToken"]
        )
        return success(config=configuration_body(session))


def _save_configuration(request: Request) -> Response:
    token = SessionTokenSerializer(data=request.data)
    token.is_valid(raise_exception=True)
    session = services.save_configuration(
        session_token=token.validated_data["sessionToken"],
        changes=configuration_changes(request.data),
    )
    return Response(
        {
            "success": True,
            "message": messages.CONFIGURATION_SAVED,
            "websocketUrl": _voice_runtime_url(session),
        }
    )


CONFIGURATION_SCHEMA = {
    "request": FrontendConfigurationSerializer,
    "responses": {200: ConfigurationSavedReply, **SESSION_WRITE_ERRORS},
}


class ConfigurationSaveView(APIView):
    @extend_schema(operation_id="frontend_config_save", **CONFIGURATION_SCHEMA)
    def post(self, request: Request) -> Response:
        return _save_configuration(request)


class ConfigurationUpdateView(APIView):
    @extend_schema(operation_id="frontend_config_update", **CONFIGURATION_SCHEMA)
    def put(self, request: Request) -> Response:
        return _save_configuration(request)


class ReportBugView(APIView):
    @extend_schema(
        operation_id="frontend_report_bug",
        request=FrontendBugReportSerializer,
        responses={200: MessageReply, **COMMON_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = FrontendBugReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.file_bug_report(
            session_token=body.validated_data.get("sessionToken"), report=body.report()
        )
        return success(message=messages.BUG_REPORT_RECEIVED)


class SubmitFeedbackView(APIView):
    @extend_schema(
        operation_id="frontend_submit_feedback",
        request=FeedbackSerializer,
        responses={200: MessageReply, **COMMON_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.record_feedback(
            session_token=body.validated_data.get("sessionToken"),
            step_number=body.step_number(),
            feedback=body.feedback(),
        )
        return success(message=messages.FEEDBACK_RECEIVED)


class SessionLogView(APIView):
    @extend_schema(
        operation_id="frontend_session_log",
        request=SessionLogSerializer,
        responses={200: MessageReply, **COMMON_ERRORS, 404: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        body = SessionLogSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data["eventData"]
        step = step_for_name(
            data.get("stepName") if isinstance(data.get("stepName"), str) else None
        )
        services.record_session_log(
            session_token=body.validated_data["sessionToken"],
            log_type=body.validated_data["eventType"],
            step_number=step.number if step else None,
            data=data,
        )
        return success(message=messages.EVENT_LOGGED)


class CanReadAISettings(BasePermission):
    """A DRF token of a user holding workshop.read_ai_settings: 401 without one, 403 for a
    user without the permission."""

    def has_permission(self, request: Request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated(messages.SERVICE_TOKEN_REQUIRED)
        if not request.user.has_perm(READ_AI_SETTINGS_PERMISSION):
            raise exceptions.PermissionDenied(messages.AI_SETTINGS_FORBIDDEN)
        return True


class AISettingsView(APIView):
    # A service credential only: never a browser's session cookie.
    authentication_classes = [TokenAuthentication]
    permission_classes = [CanReadAISettings]

    @extend_schema(
        operation_id="voice_runtime_ai_settings",
        parameters=[TOKEN_QUERY],
        description=(
            "For the shared voice runtime only: needs `Authorization: Token <key>` of a user "
            "holding workshop.read_ai_settings. The only call that returns the decrypted "
            "OpenAI key; every read is recorded as an ai_settings_read event."
        ),
        responses={
            200: _reply(
                "AISettingsReply",
                settings=AISettingsOutputSerializer(),
                isDefault=serializers.BooleanField(),
            ),
            **COMMON_ERRORS,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        lookup = SessionTokenSerializer(data=request.query_params)
        lookup.is_valid(raise_exception=True)
        read = services.read_ai_settings(
            session_token=lookup.validated_data["sessionToken"],
            reader=request.user.get_username(),
        )
        session = read.session
        response = Response(
            {
                "success": True,
                "settings": {
                    "sessionToken": session.session_token,
                    "openaiApiKey": read.openai_api_key,
                    "systemPrompt": session.system_prompt,
                    "greeting": session.ivr_greeting,
                    "voice": session.selected_voice,
                    "tools": stored_json(session.tools, list),
                },
                "isDefault": False,
            }
        )
        # It carries a secret: no cache on the way may keep a copy.
        response["Cache-Control"] = "no-store"
        return response
