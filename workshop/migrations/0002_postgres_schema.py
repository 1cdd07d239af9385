"""PostgreSQL-only parts of docs/spec/schema-v2.md for `students` and `sessions`.

The `gen_random_uuid()` default of students.student_id, ON DELETE CASCADE of sessions.student_id,
the `updated_at` trigger function and its triggers. No-ops on SQLite.
"""

from django.db import migrations

from workshop.migration_ops import PostgresOnlySQL, cascade_foreign_keys_sql, updated_at_trigger_sql

UPDATED_AT_FUNCTION = """
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = NOW();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

# Django adds a text_pattern_ops index to every text primary key; the spec has none, and no
# query here does LIKE 'prefix%' on tokens.
DROP_TOKEN_LIKE_INDEX = """
DO $$
DECLARE idx record;
BEGIN
  FOR idx IN SELECT indexname FROM pg_indexes
             WHERE tablename = 'sessions' AND indexname LIKE 'sessions_session_token_%_like' LOOP
    EXECUTE format('DROP INDEX %I', idx.indexname);
  END LOOP;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("workshop", "0001_initial")]

    operations = [
        PostgresOnlySQL(
            "ALTER TABLE students ALTER COLUMN student_id SET DEFAULT gen_random_uuid();",
            "ALTER TABLE students ALTER COLUMN student_id DROP DEFAULT;",
        ),
        PostgresOnlySQL(
            *cascade_foreign_keys_sql("sessions", [("student_id", "students", "student_id")])
        ),
        PostgresOnlySQL(
            DROP_TOKEN_LIKE_INDEX,
            "CREATE INDEX sessions_session_token_like ON sessions (session_token text_pattern_ops);",
        ),
        PostgresOnlySQL(
            UPDATED_AT_FUNCTION, "DROP FUNCTION IF EXISTS update_updated_at_column() CASCADE;"
        ),
        PostgresOnlySQL(*updated_at_trigger_sql("students")),
        PostgresOnlySQL(*updated_at_trigger_sql("sessions")),
    ]
