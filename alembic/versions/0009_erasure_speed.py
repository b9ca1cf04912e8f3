"""Erasure speed: the append-only guard does its lifecycle lookups once per statement.

Revision ID: 0009_erasure_speed
Revises: 0008_lifecycle
Create Date: 2026-12-05

Frozen SQL: alembic/sql/0009_erasure_speed.sql (and .down.sql), written by hand
as the delta; record its hash with `python -m tessera_db.freeze`. Never edit it once merged.
"""

from tessera_db.migrations import run_frozen

revision = "0009_erasure_speed"
down_revision = "0008_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0009_erasure_speed.sql")


def downgrade() -> None:
    run_frozen("0009_erasure_speed.down.sql")
