"""PostgreSQL-only parts of docs/spec/schema-v2.md for `step_progress`.

ON DELETE CASCADE foreign keys, SERIAL id, the `updated_at` trigger and the spec's
`update_session_progress(text)` function, verbatim. No-ops on SQLite.
"""

from django.db import migrations

from workshop.migration_ops import (
    PostgresOnlySQL,
    cascade_foreign_keys_sql,
    serial_id_sql,
    updated_at_trigger_sql,
)

# Exactly as docs/spec/schema-v2.md writes it. progress.totals.recalculate_session is the Python
# twin, and a test keeps the two in agreement.
UPDATE_SESSION_PROGRESS = """
CREATE OR REPLACE FUNCTION update_session_progress(p_session_token TEXT)
RETURNS VOID AS $$
DECLARE
  total_steps INTEGER := 9;
  completed_steps INTEGER;
  total_time INTEGER;
BEGIN
  -- Count completed steps
  SELECT COUNT(*), COALESCE(SUM(time_spent), 0)
  INTO completed_steps, total_time
  FROM step_progress
  WHERE session_token = p_session_token
    AND validation_passed = TRUE;

  -- Update session
  UPDATE sessions
  SET
    completion_rate = ROUND((completed_steps::NUMERIC / total_steps) * 100),
    total_time_spent = total_time,
    last_activity = NOW()
  WHERE session_token = p_session_token;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("progress", "0001_initial"),
        ("workshop", "0002_postgres_schema"),
    ]

    operations = [
        PostgresOnlySQL(
            *cascade_foreign_keys_sql(
                "step_progress",
                [
                    ("session_token", "sessions", "session_token"),
                    ("student_id", "students", "student_id"),
                ],
            )
        ),
        PostgresOnlySQL(*serial_id_sql("step_progress")),
        PostgresOnlySQL(*updated_at_trigger_sql("step_progress")),
        PostgresOnlySQL(
            UPDATE_SESSION_PROGRESS, "DROP FUNCTION IF EXISTS update_session_progress(TEXT);"
        ),
    ]
