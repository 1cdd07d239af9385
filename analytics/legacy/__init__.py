"""Import of the legacy Node service's data (docs/spec/legacy.md), one pipeline.

- columns, exercises, identity, secrets: the rules' Python side (column detection, exercise
  keys to steps, the identity constants, secret conversion); nothing there touches the database.
- migration: the set-based SQL pipeline. Rows are staged as text in the temp table
  `legacy_raw`, then run_pipeline() parses, merges and writes all four tables; the table
  migration (`manage.py migrate_legacy`) stages the legacy tables and renames them after.
- backup: the backup-file import (`manage.py import_legacy_backup`): stages the file's items
  into `legacy_raw` and runs the same pipeline.
- report: the human-readable report of either.
"""
