"""Builders of legacy tables in each documented shape (docs/spec/legacy.md), with raw SQL."""

import base64
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SHAPE_A = """
CREATE TABLE workshop_students (
  id SERIAL PRIMARY KEY, student_email VARCHAR(255), student_name VARCHAR(255),
  exercises JSONB DEFAULT '{}', started_at TIMESTAMPTZ, last_activity TIMESTAMPTZ,
  total_time_spent INT DEFAULT 0, completion_rate INT DEFAULT 0, repo_created BOOL,
  created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW(),
  student_id VARCHAR(64), demo_mode BOOL, session_token TEXT UNIQUE)
"""
SHAPE_C = """
CREATE TABLE workshop_students (
  session_token TEXT PRIMARY KEY, student_email TEXT NOT NULL, student_name TEXT,
  exercises JSONB DEFAULT '{}', bug_reports JSONB DEFAULT '[]', started_at TIMESTAMPTZ,
  last_activity TIMESTAMPTZ, total_time_spent INT, completion_rate INT, repo_created BOOL,
  demo_mode BOOL, created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW())
"""
SHAPE_D_EXTRA = """
ALTER TABLE workshop_students ADD COLUMN openai_api_key TEXT, ADD COLUMN system_prompt TEXT,
  ADD COLUMN use_case_description TEXT, ADD COLUMN call_direction TEXT,
  ADD COLUMN ivr_greeting TEXT, ADD COLUMN tts_provider TEXT, ADD COLUMN selected_voice TEXT,
  ADD COLUMN selected_phone_number TEXT, ADD COLUMN websocket_url TEXT,
  ADD COLUMN codespace_url TEXT, ADD COLUMN github_repo_url TEXT, ADD COLUMN railway_url TEXT,
  ADD COLUMN tools JSONB, ADD COLUMN voice_settings JSONB
"""
WORKSHOP_SESSIONS = """
CREATE TABLE workshop_sessions (
  session_id VARCHAR(64) PRIMARY KEY, student_id VARCHAR(64), account_sid TEXT,
  api_key_sid TEXT, auth_token TEXT, api_key_secret TEXT, created_at TIMESTAMPTZ,
  last_activity TIMESTAMPTZ, expires_at TIMESTAMPTZ, is_demo_mode BOOLEAN DEFAULT FALSE)
"""
STUDENT_CONFIGS = """
CREATE TABLE student_configs (
  session_token TEXT PRIMARY KEY, student_email TEXT, student_name TEXT, openai_api_key TEXT,
  system_prompt TEXT, tools JSONB, voice_settings JSONB, use_case_description TEXT,
  call_direction TEXT, selected_phone_number TEXT, demo_mode BOOLEAN, current_step INT,
  twilio_connected BOOLEAN, openai_connected BOOLEAN, services_ready BOOLEAN,
  twilio_auth_token TEXT, created_at TIMESTAMPTZ DEFAULT NOW())
"""

LEGACY_KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def legacy_ciphertext(plaintext: str, key_hex: str = LEGACY_KEY_HEX) -> str:
    """What the old service stored: base64(iv):base64(tag):base64(ciphertext), AES-256-GCM."""
    iv = os.urandom(16)
    sealed = AESGCM(bytes.fromhex(key_hex)).encrypt(iv, plaintext.encode(), None)
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ":".join(base64.b64encode(part).decode() for part in (iv, tag, ciphertext))


def double_encoded(value) -> str:
    """A JSONB string whose text is the JSON document (as jsonb literal text)."""
    return json.dumps(json.dumps(value))


def run_sql(cursor, *statements) -> None:
    for statement in statements:
        cursor.execute(statement)


def insert(cursor, table: str, **values) -> None:
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    cursor.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))


def derived_token(email: str, started_at: datetime | None) -> str:
    """The token the pipeline derives (migration._DERIVED) for a row without one: what the
    tests expect, written out independently of the SQL."""
    millis = (
        ""
        if started_at is None
        else str((started_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))
    )
    content = f"{email.strip().lower()}|{millis}"
    return "legacy-" + hashlib.md5(content.encode()).hexdigest()[:24]


def anonymous_key(session_token: str) -> str:
    """The key of a placeholder's anonymous student (migration.SESSIONS_SQL)."""
    return "legacy-" + hashlib.md5(session_token.encode()).hexdigest()[:20]
