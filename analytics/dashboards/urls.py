"""Routes of the instructors' dashboards, mounted under /dashboard/."""

from django.urls import path

from analytics.dashboards import cockpit_views, views

app_name = "dashboard"

urlpatterns = [
    path("help/", cockpit_views.help_queue, name="help-queue"),
    path("help/live/", cockpit_views.help_queue_live, name="help-queue-live"),
    path("help/<str:session_token>/claim/", cockpit_views.claim, name="help-claim"),
    path("help/<str:session_token>/release/", cockpit_views.release, name="help-release"),
    path("help/<str:session_token>/resolve/", cockpit_views.resolve, name="help-resolve"),
    path(
        "help/<str:session_token>/reports/<str:report_id>/close/",
        cockpit_views.close_report,
        name="help-close-report",
    ),
    path("grid/", cockpit_views.grid, name="grid"),
    path("report/", cockpit_views.run_report, name="run-report"),
    path("sessions/<str:session_token>/move/", cockpit_views.move_session, name="session-move"),
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
