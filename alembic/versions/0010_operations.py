"""Operations: quality-SLA auto-rollback with service credits, anomalies, kill-switch
and consent compliance (issue 15).

Revision ID: 0010_operations
Revises: 0009_erasure_speed
Create Date: 2026-12-05

Frozen SQL: alembic/sql/0010_operations.sql (and .down.sql), written by hand
as the delta; record its hash with `python -m tessera_db.freeze`. Never edit it once merged.
"""

from tessera_db.migrations import run_frozen

revision = "0010_operations"
down_revision = "0009_erasure_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0010_operations.sql")


def downgrade() -> None:
    run_frozen("0010_operations.down.sql")
