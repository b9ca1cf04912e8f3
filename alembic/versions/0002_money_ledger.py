"""Money ledger: versioned pricing catalog with sources and confidence, per-request
savings (partitioned by month), balance ledger, monthly readings and share tokens.

Revision ID: 0002_money_ledger
Revises: 0001_foundation
Create Date: 2026-11-23

Frozen SQL: alembic/sql/0002_money_ledger.sql (and .down.sql). Never edit once merged;
alembic/sql/SHA256SUMS and tests/test_migrations.py enforce that.
"""

from tessera_db.migrations import run_frozen

revision = "0002_money_ledger"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0002_money_ledger.sql")


def downgrade() -> None:
    run_frozen("0002_money_ledger.down.sql")
