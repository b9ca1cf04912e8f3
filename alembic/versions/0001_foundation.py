"""Foundation: schemas, tenancy tables, identity helpers, row-level security.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-23

Frozen SQL: alembic/sql/0001_foundation.sql (and .down.sql). Never edit once merged;
alembic/sql/SHA256SUMS and tests/test_migrations.py enforce that.
"""

from tessera_db.migrations import run_frozen

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0001_foundation.sql")


def downgrade() -> None:
    run_frozen("0001_foundation.down.sql")
