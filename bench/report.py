"""docs/benchmarks.md, shared by the benches: each owns one section between markers

    <!-- begin:NAME -->
    ...
    <!-- end:NAME -->

``write_section`` replaces that section (or appends it when absent) and keeps the rest
of the file, so running one bench never erases another's figures. The file starts with
a common header (written when the file is new or lacks it).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "docs" / "benchmarks.md"

HEADER = """# Benchmarks

Figures of the benches in `bench/`, each section written by its own script (rerun one and
only its section changes). Sections:

- `money-ledger` (issue 4): `bench/readings_bench.py`
- `audit` (issue 5): `bench/audit_bench.py`
- `write-costs` (issues 4 and 5, the missed write targets): `bench/write_costs.py`
- `proxy-reads` (issue 12, the proxy's per-request reads): `bench/proxy_reads.py`
- `ingest`, `ingest-durable`, `ingest-ablation` (issue 12, the proxy's writes: single and batched):
  `bench/ingest_bench.py`; `ingest-reading` is the hand-written reading of them
"""


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"section name {name!r}: lower-case letters, digits and '-' only")
    return f"<!-- begin:{name} -->", f"<!-- end:{name} -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with section ``name`` replaced by ``body`` (appended when absent), the
    common header first."""
    begin, end = _markers(name)
    block = f"{begin}\n{body.strip()}\n{end}\n"
    if not text.startswith(HEADER):
        # New file, or one written before the sections: the header first, then
        # everything after the old title line (kept, never dropped).
        rest = text.split("\n", 1)[1] if text.startswith("# ") and "\n" in text else text
        text = HEADER + ("\n" + rest.lstrip("\n") if rest.strip() else "")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", flags=re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> Path:
    """Replace (or append) section ``name`` of docs/benchmarks.md with ``body``."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(replace_section(text, name, body), encoding="utf-8")
    return path
