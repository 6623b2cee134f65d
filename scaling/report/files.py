"""Reading and writing a report directory: report.json, report.md, report.html, figures/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scaling.report.html import write_html
from scaling.report.markdown import render_markdown
from scaling.report.results import UNKNOWN_EVIDENCE, counts_by_evidence


def write_report(directory: Path, report: dict[str, Any]) -> list[Path]:
    """Write report.json, report.md and report.html into `directory` (created); return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "report.json", directory / "report.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return [json_path, md_path, write_html(directory, report)]


def load_report(path: Path) -> dict[str, Any]:
    """Read a report.json (or the directory holding one); ValueError names a malformed file."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read report {path}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ValueError(f"{path} is not a scaling report (no 'claims' list)")
    return _upgrade(data)


def _upgrade(report: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields a report from before evidence kinds lacks: evidence "unknown", no
    headline, no stated rule."""
    for c in report["claims"]:
        c.setdefault("evidence", UNKNOWN_EVIDENCE)
        c.setdefault("headline", None)
        c.setdefault("rule", "")
        for m in c.get("measurements") or []:
            m.setdefault("evidence", UNKNOWN_EVIDENCE)
    report.setdefault("by_evidence", counts_by_evidence(report["claims"]))
    return report
