"""record_request speed (PL/pgSQL check helpers, one lookup) and late-measurement pricing.

Revision ID: 0003_record_request_speed
Revises: 0002_money_ledger
Create Date: 2026-11-23

Frozen SQL: alembic/sql/0003_record_request_speed.sql (and .down.sql). Never edit once
merged; alembic/sql/SHA256SUMS and tests/test_migrations.py enforce that.
"""

from tessera_db.migrations import run_frozen

revision = "0003_record_request_speed"
down_revision = "0002_money_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0003_record_request_speed.sql")


def downgrade() -> None:
    run_frozen("0003_record_request_speed.down.sql")
