"""manage.py rotate_encryption_keys: re-encrypt every stored OpenAI key under the first key.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy,
run this command, then drop the old keys once it reports nothing unreadable.
"""

from django.core.management.base import BaseCommand, CommandError

from workshop.services import KeyRotationSummary, rotate_encryption_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored openai_api_key under the first key of FIELD_ENCRYPTION_KEYS. "
        "Never prints a key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change, change nothing."
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Sessions per transaction (default 500)."
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def report(summary: KeyRotationSummary) -> None:
            self.stdout.write(f"  ... {summary.examined} keys examined")

        summary = rotate_encryption_keys(dry_run=dry_run, batch_size=batch_size, on_batch=report)
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary.examined} stored keys: {summary.rotated} {verb}, "
                f"{summary.current} already under the current key, "
                f"{summary.skipped_concurrent} changed meanwhile (left alone), "
                f"{summary.unreadable} unreadable."
            )
        )
        if summary.unreadable:
            raise CommandError(
                f"{summary.unreadable} stored keys cannot be decrypted with any configured key; "
                "they were left unchanged. Keep the old keys until they are dealt with."
            )
