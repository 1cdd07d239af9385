"""Import of the legacy Node service's data (docs/spec/legacy.md), one pipeline.

- columns, exercises, identity, secrets: the pure parsing rules (identity, tokens, exercise
  keys, secrets, column detection); nothing there touches the database.
- migration: the set-based SQL pipeline over the legacy tables (`manage.py migrate_legacy`).
- backup: the backup-file import (`manage.py import_legacy_backup`), parsed with the rules
  above and written through the same session-totals rule (progress.totals).
- report: the human-readable report of either.
"""
