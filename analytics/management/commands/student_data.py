"""`manage.py student_data --email E export|erase [--anonymize]`: data-subject requests."""

from django.core.management.base import BaseCommand, CommandError

from analytics.privacy.subject_requests import (
    StudentNotFound,
    anonymize_student,
    erase_student,
    find_student,
    student_data_json,
)


class Command(BaseCommand):
    help = (
        "A student's data: `export` prints it as JSON (an access request, secrets excluded); "
        "`erase` deletes the student with all sessions, steps and events, or with --anonymize "
        "keeps the numbers and strips email, name, GitHub user, code, prompts, URLs and bug "
        "report text."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "erase"])
        parser.add_argument("--email", required=True, help="the student's email address")
        parser.add_argument("--output", metavar="FILE", help="export: write here, not stdout")
        parser.add_argument("--anonymize", action="store_true", help="erase: anonymize instead")
        parser.add_argument("--dry-run", action="store_true", help="erase: say what would go")

    def handle(self, *args, **options):
        try:
            student = find_student(email=options["email"])
        except StudentNotFound as exc:
            raise CommandError(str(exc)) from exc
        if options["action"] == "export":
            document = student_data_json(student=student)
            if options["output"]:
                try:
                    with open(options["output"], "w", encoding="utf-8") as out:
                        out.write(document + "\n")
                except OSError as exc:
                    raise CommandError(f"Cannot write {options['output']}: {exc}") from exc
                self.stdout.write(self.style.SUCCESS(f"Wrote {options['output']}."))
            else:
                self.stdout.write(document)
            return
        if options["dry_run"]:
            sessions = student.sessions.count()
            verb = "anonymize" if options["anonymize"] else "delete"
            self.stdout.write(f"Dry run: would {verb} the student and {sessions} sessions.")
            return
        result = (anonymize_student if options["anonymize"] else erase_student)(student=student)
        done = ", ".join(f"{count} {label}" for label, count in sorted(result.rows.items()))
        verb = "Anonymized" if result.anonymized else "Deleted"
        self.stdout.write(self.style.SUCCESS(f"{verb}: {done}."))
