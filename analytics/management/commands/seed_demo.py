"""manage.py seed_demo: demo students, sessions, steps and events for a first look."""

import time

from django.core.management.base import BaseCommand, CommandError

from analytics.demo.seed import DemoSummary, seed_demo_data
from workshop.models import Student


class Command(BaseCommand):
    help = (
        "Add realistic demo data: students spread over the 9 steps (some finished, some "
        "working now, some idle for hours or days), demo-mode sessions and their events."
    )

    def add_arguments(self, parser):
        parser.add_argument("--students", type=int, default=200, help="How many students (200).")
        parser.add_argument("--seed", type=int, help="Random seed, for repeatable data.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already has students (used by `make run`).",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=2_000, help="Students per transaction (2,000)."
        )

    def handle(self, *args, **options):
        count = options["students"]
        if count < 1:
            raise CommandError("--students must be at least 1.")
        if options["if_empty"] and Student.objects.exists():
            self.stdout.write("The database already has students: no demo data added.")
            return
        started = time.monotonic()
        every = max(options["chunk_size"], count // 10)

        def report(summary: DemoSummary) -> None:
            if summary.students % every < options["chunk_size"] and summary.students < count:
                self.stdout.write(f"  {summary.students:,} / {count:,} students…")

        summary = seed_demo_data(
            students=count, seed=options["seed"], chunk_size=options["chunk_size"], progress=report
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {summary.students:,} students, {summary.sessions:,} sessions, "
                f"{summary.steps:,} step rows and {summary.events:,} events "
                f"in {time.monotonic() - started:.1f} s."
            )
        )
