"""Audit log with signed checkpoints (issue 5); API keys, settlement secrets, exact cache
and worker config (issue 6).

Revision ID: 0004_audit_keys_secrets
Revises: 0003_record_request_speed
Create Date: 2026-11-23

Frozen SQL: alembic/sql/0004_audit_keys_secrets.sql (and .down.sql). Never edit once
merged; alembic/sql/SHA256SUMS and tests/test_migrations.py enforce that.
"""

from tessera_db.migrations import run_frozen

revision = "0004_audit_keys_secrets"
down_revision = "0003_record_request_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0004_audit_keys_secrets.sql")


def downgrade() -> None:
    run_frozen("0004_audit_keys_secrets.down.sql")
