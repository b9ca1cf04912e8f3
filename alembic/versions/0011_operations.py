"""Operations: quality-SLA auto-rollback with service credits, anomalies, kill-switch
and consent compliance (issue 15).

Revision ID: 0011_operations
Revises: 0010_advisor_clean
Create Date: 2026-12-05

Frozen SQL: alembic/sql/0011_operations.sql (and .down.sql), written by hand
as the delta; record its hash with `python -m tessera_db.freeze`. Never edit it once merged.
"""

from tessera_db.migrations import run_frozen

revision = "0011_operations"
down_revision = "0010_advisor_clean"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0011_operations.sql")


def downgrade() -> None:
    run_frozen("0011_operations.down.sql")
