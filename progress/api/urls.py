"""Routes of the progress API, mounted under /api/."""

urlpatterns: list = []
