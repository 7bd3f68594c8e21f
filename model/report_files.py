"""The files a study writes: ``<stem>.json``, ``.csv``, ``.md`` and ``.png`` in one folder, the JSON first.

Ref: docs/architecture.md §8 (a new study).
"""
import json
from pathlib import Path

__all__ = ["REPORT_EXTENSIONS", "start_report"]

REPORT_EXTENSIONS = ("json", "csv", "md", "png")


def start_report(result, out_dir, stem):
    """Create ``out_dir``, write ``result`` as ``<stem>.json`` and return every report path by extension."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in REPORT_EXTENSIONS}
    paths["json"].write_text(json.dumps(result, indent=1) + "\n")
    return paths
