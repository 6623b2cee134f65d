"""Text shared by every rendering of a report: numbers, tolerances and plain-text tables."""

from __future__ import annotations

import math
from typing import Any

from scaling.report.results import UNKNOWN_EVIDENCE, headline_measurement, verdict_label


def fmt(x: Any) -> str:
    """A value for people: "—" for none, yes/no, thousands separators, 4 significant digits."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return str(x)
        return f"{x:.4g}"
    return str(x)


def fmt_tolerance(m: dict[str, Any]) -> str:
    """A measurement's tolerance as "±5%" (relative) or "±0.02" (absolute); "—" without one."""
    if m.get("tolerance") is None:
        return "—"
    if m.get("relative"):
        return f"±{100 * m['tolerance']:.3g}%"
    return f"±{fmt(m['tolerance'])}"


def fmt_value(value: Any, unit: str = "") -> str:
    """A value with its unit (none after a missing value)."""
    return fmt(value) + (f" {unit}" if unit and value is not None else "")


def text_table(rows: list[tuple[str, ...]], right: set[int] = frozenset(), indent: str = "") -> str:
    """Rows of strings as aligned columns (the first row is the header); `right` aligns right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(indent + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                        for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)


def summary_text(report: dict[str, Any]) -> str:
    """The report's verdict counts and one row per claim, as plain text for a terminal."""
    rows = [("claim", "device", "evidence", "verdict", "headline: measured vs published")]
    for c in report["claims"]:
        m = headline_measurement(c)
        key = "—"
        if m is not None:
            key = f"{m['name']}: {fmt_value(m['value'], m.get('unit', ''))}"
            if m.get("expected") is not None:
                key += f" vs {fmt(m['expected'])} ({fmt_tolerance(m)})"
        rows.append((c["id"], c["device"], c.get("evidence", UNKNOWN_EVIDENCE),
                     verdict_label(c["verdict"], "mark"), key))
    counts = ", ".join(f"{n} {verdict_label(v)}" for v, n in (report.get("summary") or {}).items() if n)
    return f"Tier {report.get('tier')}: {counts}\n{text_table(rows)}"
