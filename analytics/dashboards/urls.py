"""Routes of the instructors' dashboards, mounted under /dashboard/."""

from django.urls import path

from analytics.dashboards import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("live/", views.overview_live, name="overview-live"),
    path("funnel/", views.funnel, name="funnel"),
    path("funnel.csv", views.funnel_csv, name="funnel-csv"),
    path("funnel/<int:step_number>/<str:kind>/", views.funnel_step, name="funnel-step"),
    path("stuck/", views.stuck, name="stuck"),
    path("stuck.csv", views.stuck_csv, name="stuck-csv"),
    path("students/", views.students, name="students"),
    path("students.csv", views.students_csv, name="students-csv"),
    path("students/<uuid:student_id>/", views.student, name="student"),
]
