"""Routes of the integrations, mounted under /dashboard/notifications/."""

from django.urls import path

from analytics.integrations import views

app_name = "integrations"

urlpatterns = [path("", views.notification_settings, name="notifications")]
