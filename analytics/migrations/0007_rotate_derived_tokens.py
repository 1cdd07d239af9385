"""Sessions whose token an earlier import derived from public data get a random one
(analytics/legacy/tokens.py)."""

from django.db import migrations


def rotate(apps, schema_editor):
    from analytics.legacy.tokens import rotate_derived_tokens

    rotate_derived_tokens(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0006_legacy_session_tokens"),
        ("progress", "0004_student_creators"),
        ("workshop", "0005_sessions_started_at_index"),
    ]

    operations = [migrations.RunPython(rotate, migrations.RunPython.noop)]
