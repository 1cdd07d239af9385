"""The instructor's own notification switches (/dashboard/notifications/)."""

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from analytics.integrations.models import NotificationPreference

SAVED = "Your notification settings are saved."


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ["bug_report", "stuck_student", "session_completed", "run_summary"]


@staff_member_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    preference = NotificationPreference.objects.filter(user=request.user).first()
    preference = preference or NotificationPreference(user=request.user)
    form = PreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, SAVED)
        return redirect("integrations:notifications")
    return render(
        request,
        "integrations/notification_settings.html",
        {"form": form, "email": request.user.email},
        status=400 if form.errors else 200,
    )
