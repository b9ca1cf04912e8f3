"""Key hygiene (raw keys never cross the connection; key-change NOTIFY), faster proxy reads.

Faster proxy reads: verify_api_key and worker_config.

Revision ID: 0007_key_hygiene_proxy_reads
Revises: 0006_batched_ingest
Create Date: 2026-12-04

Frozen SQL: alembic/sql/0007_key_hygiene_proxy_reads.sql (and .down.sql), written by hand
as the delta; record its hash with `python -m tessera_db.freeze`. Never edit it once merged.
The delta touches only the keys / verify / worker config objects, so it may be re-chained
after 0006 unchanged.
"""

from tessera_db.migrations import run_frozen

revision = "0007_key_hygiene_proxy_reads"
down_revision = "0006_batched_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_frozen("0007_key_hygiene_proxy_reads.sql")


def downgrade() -> None:
    run_frozen("0007_key_hygiene_proxy_reads.down.sql")
