"""Model prices: name normalisation, source file parsers and the importer.

    names       explicit (provider, model) normalisation, tested table-driven
    sources     parsers for LiteLLM, tokencost and OpenRouter files (exact decimals)
    importer    import_file(db_or_conn, source, path) -> ImportSummary
"""

from __future__ import annotations

from tessera_db.pricing.importer import ImportSummary, import_file
from tessera_db.pricing.names import normalise

__all__ = ["ImportSummary", "import_file", "normalise"]
