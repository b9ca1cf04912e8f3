"""Sub-command groups of the ``tessera-db`` CLI, one module per area; registered in
tessera_db/cli.py."""
