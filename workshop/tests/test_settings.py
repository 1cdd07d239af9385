"""Settings: safe defaults, and a production configuration that passes `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-" + "x" * 40,
    "DJANGO_ALLOWED_HOSTS": "progress.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://progress.example.com",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DATABASE_URL": "sqlite:///:memory:",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_a_required_secret(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert f"{missing} must be set when DJANGO_DEBUG is off" in result.stderr


def test_debug_is_off_unless_asked_for():
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_DEBUG"}

    result = manage(
        "shell", "-c", "from django.conf import settings; print(settings.DEBUG)", env=env
    )

    assert result.stdout.strip().splitlines()[-1] == "False"


def test_development_key_is_used_only_in_debug():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY.startswith('django-insecure'))",
        env={"DJANGO_DEBUG": "true", "DATABASE_URL": "sqlite:///:memory:"},
    )

    assert result.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_connections_run_without_jit():
    """JIT compilation cost more than our queries themselves (docs/benchmarks.md)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)


DATABASE_SETTINGS = (
    "from django.conf import settings; d = settings.DATABASES['default']; "
    "print(d.get('DISABLE_SERVER_SIDE_CURSORS', False), sorted(d['OPTIONS'].items()))"
)


def test_pgbouncer_mode_keeps_nothing_across_transactions():
    """DATABASE_PGBOUNCER=true: the settings PgBouncer's transaction pooling needs."""
    env = {
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:6432/workshop",
        "DATABASE_PGBOUNCER": "true",
    }

    result = manage("shell", "-c", DATABASE_SETTINGS, env=env)

    assert result.stdout.strip().splitlines()[-1] == (
        "True [('connect_timeout', 5), ('prepare_threshold', None)]"
    )


def test_direct_postgres_connections_keep_server_side_cursors_and_jit_off():
    env = {"DJANGO_DEBUG": "true", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/workshop"}

    result = manage("shell", "-c", DATABASE_SETTINGS, env=env)

    assert result.stdout.strip().splitlines()[-1] == (
        "False [('connect_timeout', 5), ('options', '-c jit=off')]"
    )
