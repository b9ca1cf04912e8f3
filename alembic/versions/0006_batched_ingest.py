"""Batched, loss-free request ingest: record_requests, dead letters and their replay.

Revision ID: 0006_batched_ingest
Revises: 0005_parallel_rls_audit_speed
Create Date: 2026-12-04

Frozen SQL: alembic/sql/0006_batched_ingest.sql (and .down.sql). Never edit once
merged; alembic/sql/SHA256SUMS and tests/test_migrations.py enforce that.
"""

from tessera_db.migrations import run_frozen

revision = "0006_batched_ingest"
down_revision = "0005_parallel_rls_audit_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0006_batched_ingest.sql")


def downgrade() -> None:
    run_frozen("0006_batched_ingest.down.sql")
