"""Routes of the progress API, mounted under /api/.

Paths are fixed by the frontend and other clients, without trailing slashes (the schema and
docs pages keep Django's usual slash). Anything else under /api/ is a JSON 404, so
APPEND_SLASH never turns an API call into an HTML redirect.
"""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from progress.api import frontend_views, views

urlpatterns = [
    path("student-progress", views.StudentProgressView.as_view(), name="student-progress"),
    path("sessions", views.SessionsView.as_view(), name="sessions"),
    path("sessions/<str:token>", views.SessionDetailView.as_view(), name="session-detail"),
    path(
        "sessions/<str:token>/bug-reports",
        views.BugReportsView.as_view(),
        name="session-bug-reports",
    ),
    path(
        "sessions/<str:token>/deployments",
        views.DeploymentsView.as_view(),
        name="session-deployments",
    ),
    path("health", views.HealthView.as_view(), name="health"),
    # The real frontend's own paths (docs/frontend.md).
    path(
        "generate-session",
        frontend_views.GenerateSessionView.as_view(),
        name="frontend-generate-session",
    ),
    path(
        "student-config-get",
        frontend_views.ConfigurationGetView.as_view(),
        name="frontend-config-get",
    ),
    path(
        "student-config-save",
        frontend_views.ConfigurationSaveView.as_view(),
        name="frontend-config-save",
    ),
    path(
        "student-config-update",
        frontend_views.ConfigurationUpdateView.as_view(),
        name="frontend-config-update",
    ),
    path("report-bug", frontend_views.ReportBugView.as_view(), name="frontend-report-bug"),
    path(
        "submit-feedback",
        frontend_views.SubmitFeedbackView.as_view(),
        name="frontend-submit-feedback",
    ),
    path("session-log", frontend_views.SessionLogView.as_view(), name="frontend-session-log"),
    path(
        "get-student-ai-settings",
        frontend_views.AISettingsView.as_view(),
        name="voice-runtime-ai-settings",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not-found"),
]
