"""PostgreSQL-only parts of docs/spec/schema-v2.md for `events`: ON DELETE CASCADE foreign keys
and a SERIAL id. No-ops on SQLite."""

from django.db import migrations

from workshop.migration_ops import PostgresOnlySQL, cascade_foreign_keys_sql, serial_id_sql


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("workshop", "0002_postgres_schema"),
    ]

    operations = [
        PostgresOnlySQL(
            *cascade_foreign_keys_sql(
                "events",
                [
                    ("student_id", "students", "student_id"),
                    ("session_token", "sessions", "session_token"),
                ],
            )
        ),
        PostgresOnlySQL(*serial_id_sql("events")),
    ]
