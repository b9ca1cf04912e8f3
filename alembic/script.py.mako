"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Frozen SQL: alembic/sql/${up_revision}.sql (and .down.sql), written by hand
as the delta; record its hash with
`python -m tessera_db.freeze`. Never edit it once merged.
"""

from tessera_db.migrations import run_frozen

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("${up_revision}.sql")


def downgrade() -> None:
    run_frozen("${up_revision}.down.sql")
