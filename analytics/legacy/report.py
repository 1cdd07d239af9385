"""The operator's summary of a legacy migration or backup import (shared by both commands)."""

from analytics.legacy.migration import MigrationReport


def report_lines(report: MigrationReport) -> list[str]:
    lines = []
    for table, columns in report.tables.items():
        lines.append(f"Found {table} ({len(columns)} columns): {', '.join(columns)}")
    for table, rows in sorted(report.rows_read.items()):
        lines.append(f"Read {rows} rows from {table}")
    lines.append(
        f"Sessions: {report.sessions_found} found, {report.sessions_existing} already migrated "
        f"(left alone), {report.sessions_created} created"
    )
    lines.append(
        f"Created {report.students_created} students, {report.steps_created} steps, "
        f"{report.events_created} data_migrated events"
    )
    if report.token_conflicts:
        lines.append(
            f"{report.token_conflicts} tokens carried several emails: the first source's "
            "email was used"
        )
    if report.bad_row_count:
        lines.append(f"Skipped {report.bad_row_count} bad rows:")
        lines.extend(f"  {table} {key}: {why}" for table, key, why in report.bad_rows)
        if report.bad_row_count > len(report.bad_rows):
            lines.append(f"  ... and {report.bad_row_count - len(report.bad_rows)} more")
    if report.skipped_keys:
        total = sum(report.skipped_keys.values())
        lines.append(f"Skipped {total} exercise entries with unmappable keys or values:")
        lines.extend(
            f"  {key!r}: {count}" for key, count in sorted(report.skipped_keys.items())[:50]
        )
    for outcome, count in sorted(report.secrets.items()):
        lines.append(f"openai_api_key {outcome.replace('_', ' ')}: {count}")
    for old, new in report.renamed.items():
        lines.append(f"Renamed {old} to {new}")
    return lines


def write_report(command, report: MigrationReport) -> None:
    for line in report_lines(report):
        command.stdout.write(line)
    if report.dry_run:
        command.stdout.write(command.style.WARNING("Dry run: everything was rolled back."))
    elif report.nothing_to_do:
        command.stdout.write(command.style.SUCCESS("Nothing to migrate: no new sessions."))
    else:
        command.stdout.write(
            command.style.SUCCESS(
                f"Migrated {report.sessions_created} sessions in {report.seconds:.1f}s."
            )
        )
