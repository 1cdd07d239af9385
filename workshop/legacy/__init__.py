"""The legacy Node service's data (spec/legacy.md): rules for reading it, shared by the table
migration (SQL, analytics.legacy_migration) and the backup-file import (Python,
analytics.legacy_backup).

Nothing here writes to the database or imports progress/analytics: these are the pure rules
(identity, tokens, exercise keys, secrets, column detection) both importers apply.
"""
