"""Lifecycle: retention classes, client erasure with audit tombstones, the retention job.

Revision ID: 0008_lifecycle
Revises: 0007_key_hygiene_proxy_reads
Create Date: 2026-12-04

Frozen SQL: alembic/sql/0008_lifecycle.sql (and .down.sql), written by hand
as the delta; record its hash with `python -m tessera_db.freeze`. Never edit it once merged.
"""

from tessera_db.migrations import run_frozen

revision = "0008_lifecycle"
down_revision = "0007_key_hygiene_proxy_reads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0008_lifecycle.sql")


def downgrade() -> None:
    run_frozen("0008_lifecycle.down.sql")
