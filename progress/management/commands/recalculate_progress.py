"""`manage.py recalculate_progress`: repair sessions' totals from their steps."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from progress.totals import BATCH_SIZE, recalculate_all_sessions, recalculate_session
from workshop.models import WorkshopSession


class Command(BaseCommand):
    help = (
        "Recalculate completion_rate, total_time_spent and current_step from the steps, for "
        "one session (--session TOKEN) or all of them (in batches; only wrong rows are written)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--session", metavar="TOKEN", help="only this session")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="count the sessions needing repair, change nothing",
        )

    def handle(self, *args, **options):
        token = options["session"]
        if token is not None:
            if not WorkshopSession.objects.filter(pk=token).exists():
                raise CommandError(f"No session with token {token!r}.")
            if options["dry_run"]:
                self.stdout.write("Dry run: --session with --dry-run changes nothing.")
                return
            totals = recalculate_session(session_token=token)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Session {token}: {totals.completed_steps} steps completed, "
                    f"completion_rate {totals.completion_rate}, total_time_spent "
                    f"{totals.total_time_spent}, current_step {totals.current_step}."
                )
            )
            return
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            report = recalculate_all_sessions(
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                progress=lambda message: self.stdout.write(f"  {message}"),
            )
        except DatabaseError as exc:
            raise CommandError(f"Recalculation failed (finished batches stay done): {exc}") from exc
        verb = "would need repair" if report.dry_run else "repaired"
        self.stdout.write(
            self.style.SUCCESS(f"Checked {report.checked} sessions: {report.repaired} {verb}.")
        )
