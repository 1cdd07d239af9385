"""Students who existed before student_creators: their first session (by creation, then
token) counts as the one that created them, so its token holder keeps seeing the id that
share links use. Later sessions, which a claim by email may have attached, do not."""

from django.db import migrations

from workshop.models import ANONYMOUS_EMAIL_DOMAIN

BACKFILL_SQL = f"""
INSERT INTO student_creators (student_id, session_token)
SELECT first.student_id, first.session_token FROM (
  SELECT s.student_id, s.session_token,
    ROW_NUMBER() OVER (PARTITION BY s.student_id ORDER BY s.created_at, s.session_token) AS n
  FROM sessions s JOIN students st ON st.student_id = s.student_id
  WHERE st.student_email NOT LIKE '%%@{ANONYMOUS_EMAIL_DOMAIN}'
) first
WHERE first.n = 1
  AND NOT EXISTS (SELECT 1 FROM student_creators c WHERE c.student_id = first.student_id)
"""


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL_SQL, params=[])


class Migration(migrations.Migration):
    dependencies = [("progress", "0004_student_creators")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
