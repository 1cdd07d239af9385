"""URL routes: the admin, the progress API and the instructors' dashboards."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/dashboard/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("progress.api.urls")),
    path("dashboard/notifications/", include("analytics.integrations.urls")),
    path("dashboard/", include("analytics.dashboards.urls")),
]
