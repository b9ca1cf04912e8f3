"""The declared database is built and the demo identities see what they should."""

from tessera_db import demo


def test_demo_identities_see_their_own_rows(db):
    demo.load(db)
    alice = demo.visible_counts(db, demo.IDENTITIES[1])
    ops = demo.visible_counts(db, demo.IDENTITIES[4])
    anon = demo.visible_counts(db, demo.IDENTITIES[0])
    assert alice["clients"] == 1 and ops["clients"] == 3
    assert all(v is None for v in anon.values())
