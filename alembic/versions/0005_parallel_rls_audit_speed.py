"""Parallel-safe identity helpers (jwt_claims without an exception block) and a faster audited write path.

Revision ID: 0005_parallel_rls_audit_speed
Revises: 0004_audit_keys_secrets
Create Date: 2026-12-03

Frozen SQL: alembic/sql/0005_parallel_rls_audit_speed.sql (and .down.sql). Never edit once
merged; alembic/sql/SHA256SUMS and tests/test_migrations.py enforce that.
"""

from tessera_db.migrations import run_frozen

revision = "0005_parallel_rls_audit_speed"
down_revision = "0004_audit_keys_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0005_parallel_rls_audit_speed.sql")


def downgrade() -> None:
    run_frozen("0005_parallel_rls_audit_speed.down.sql")
