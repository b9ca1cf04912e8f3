"""Tamper evidence for tessera.audit_events (issue 5 items 4 and 5).

    encoding   content_hash v1, re-implemented independently of the database
    merkle     RFC 6962 trees, inclusion and consistency proofs
    signing    Ed25519 keys and the signed checkpoint message v1
    seal       the sealer: signed checkpoints below the snapshot horizon
    verify     the independent verifier with its own state file
    proof      inclusion proofs a third party checks with only the public key

docs/audit.md describes the procedures; tessera_db/commands/audit.py is the CLI.
"""
