"""Routes of the instructors' dashboards, mounted under /dashboard/."""

urlpatterns: list = []
