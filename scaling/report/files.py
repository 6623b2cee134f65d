"""Reading and writing a report directory: report.json, report.md, report.html, figures/.

A report.json is input like any other file: its shape is checked (the first thing missing is
named with its JSON path), control characters are stripped from its text so that nothing it
holds can drive a terminal, and it may only point at figures inside its own `figures/`.
Files are written whole or not at all (a temporary file beside the target, then a rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scaling.report.html import write_html
from scaling.report.markdown import render_markdown
from scaling.report.safe_io import atomic_write, clean, dumps, strict_json
from scaling.report.results import UNKNOWN_EVIDENCE, VERDICTS, check_figure_entry, counts_by_evidence

REQUIRED = object()
_NUMBER = (int, float)
# key: (accepted types, default when absent; REQUIRED: absence is an error)
TOP_FIELDS = {"claims": (list, REQUIRED), "environment": (dict, REQUIRED), "tier": (str, "?")}
CLAIM_FIELDS = {
    "id": (str, REQUIRED), "device": (str, REQUIRED), "verdict": (str, REQUIRED),
    "measurements": (list, REQUIRED), "title": (str, None), "source": (str, ""), "quote": (str, ""),
    "tier": (str, "?"), "reasons": (list, []), "duration_s": (_NUMBER, 0.0), "figures": (list, []),
    "notes": (list, []), "tests": (list, []), "evidence": (str, UNKNOWN_EVIDENCE),
    "headline": ((str, type(None)), None), "rule": (str, ""),
}
_VALUE = (int, float, str, bool, type(None))
MEASUREMENT_FIELDS = {
    "name": (str, REQUIRED), "value": (_VALUE, REQUIRED), "expected": (_VALUE, None),
    "tolerance": ((*_NUMBER, type(None)), None), "relative": (bool, False), "unit": (str, ""),
    "note": (str, ""), "drift": ((*_NUMBER, type(None)), None), "within": ((bool, type(None)), None),
    "evidence": (str, UNKNOWN_EVIDENCE),
}
def write_report(directory: Path, report: dict[str, Any]) -> list[Path]:
    """Write report.json, report.md and report.html into `directory` (created); return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = strict_json(report)
    return [atomic_write(directory / "report.json", dumps(report)), *write_views(directory, report)]


def write_views(directory: Path, report: dict[str, Any]) -> list[Path]:
    """(Re)write report.md and report.html from `report` into the existing `directory`."""
    return [atomic_write(Path(directory) / "report.md", render_markdown(report)),
            write_html(directory, report)]


def load_report(path: Path) -> dict[str, Any]:
    """Read a report.json (or the directory holding one); ValueError names the file and, for a
    report of the wrong shape, the JSON path of the first thing missing or wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read report {path}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ValueError(f"{path} is not a scaling report (no 'claims' list)")
    try:
        return validate_report(clean(data))
    except ValueError as e:
        raise ValueError(f"report {path}: {e}") from None


def _fields(obj: Any, spec: dict[str, tuple[Any, Any]], where: str) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object (got {type(obj).__name__})")
    for key, (types, default) in spec.items():
        if key not in obj:
            if default is REQUIRED:
                raise ValueError(f"{where}: missing {key!r}")
            obj[key] = list(default) if isinstance(default, list) else default
        elif not isinstance(obj[key], types) or (types is _NUMBER and isinstance(obj[key], bool)):
            raise ValueError(f"{where}.{key}: wrong type {type(obj[key]).__name__} ({obj[key]!r:.60})")


def _strings(items: list[Any], where: str) -> None:
    for i, x in enumerate(items):
        if not isinstance(x, str):
            raise ValueError(f"{where}[{i}]: expected a string (got {x!r:.60})")


def validate_report(report: dict[str, Any]) -> dict[str, Any]:
    """Check a parsed report's shape and fill the fields older reports lack (evidence "unknown",
    no headline, no rule); ValueError names the JSON path of the first problem."""
    _fields(report, TOP_FIELDS, "$")
    for i, c in enumerate(report["claims"]):
        where = f"$.claims[{i}]"
        _fields(c, CLAIM_FIELDS, where)
        if c["verdict"] not in VERDICTS:
            raise ValueError(f"{where}.verdict: expected one of {', '.join(VERDICTS)} (got {c['verdict']!r})")
        c["title"] = c["title"] if c["title"] is not None else c["id"]
        for key in ("reasons", "figures", "notes"):
            _strings(c[key], f"{where}.{key}")
        for j, f in enumerate(c["figures"]):
            if (problem := check_figure_entry(f)) is not None:
                raise ValueError(f"{where}.figures[{j}]: {problem}")
        for j, t in enumerate(c["tests"]):
            if not isinstance(t, dict):
                raise ValueError(f"{where}.tests[{j}]: expected an object (got {t!r:.60})")
        for j, m in enumerate(c["measurements"]):
            _fields(m, MEASUREMENT_FIELDS, f"{where}.measurements[{j}]")
    if not isinstance(report.get("summary"), dict):
        report["summary"] = {v: sum(c["verdict"] == v for c in report["claims"]) for v in VERDICTS}
    if not isinstance(report.get("by_evidence"), dict):
        report["by_evidence"] = counts_by_evidence(report["claims"])
    return report
