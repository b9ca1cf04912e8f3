"""Reading cut-off: an issued reading keeps the cut-off of the rows it covers (issue 16 item 4).

Revision ID: 0012_reading_cutoff
Revises: 0011_operations
Create Date: 2026-12-05

Frozen SQL: alembic/sql/0012_reading_cutoff.sql (and .down.sql), written by hand
as the delta; record its hash with `python -m tessera_db.freeze`. Never edit it once merged.
"""

from tessera_db.migrations import run_frozen

revision = "0012_reading_cutoff"
down_revision = "0011_operations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0012_reading_cutoff.sql")


def downgrade() -> None:
    run_frozen("0012_reading_cutoff.down.sql")
