"""The claim report as Markdown (`report.md`): verdict counts, a summary table, one section per claim.

Every text from the report is escaped: Markdown is rendered as HTML on pull-request pages, so
a title or a note holding `<script>` must arrive as text.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from scaling.report.format import fmt, fmt_tolerance, fmt_value
from scaling.report.results import (
    UNKNOWN_EVIDENCE,
    VERDICTS,
    headline_measurement,
    verdict_label,
)


_MD_SPECIAL = re.compile(r"([\\\[\]|])")


def md(text: Any) -> str:
    """`text` safe inside Markdown: HTML escaped; backslash, brackets (links) and pipes (table
    cells) backslash-escaped; line breaks as spaces."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _by_evidence(by: dict[str, dict[str, int]]) -> list[str]:
    shown = [v for v in VERDICTS if any(n.get(v) for n in by.values())]
    if not by or not shown:
        return []
    return [_row("evidence", *(verdict_label(v) for v in shown), "claims"),
            _row(*["---"] * (len(shown) + 2)),
            *(_row(md(k), *(n.get(v, 0) for v in shown), sum(n.values())) for k, n in by.items()), ""]


def _summary(c: dict[str, Any]) -> str:
    m = headline_measurement(c)
    if m is None:
        head, measured, published = (f"{c['headline']} (not measured)" if c.get("headline") else "—"), "—", "—"
    else:
        head, measured = m["name"], fmt_value(m["value"], m.get("unit", ""))
        published = fmt(m.get("expected"))
        if m.get("expected") is not None and m.get("tolerance") is not None:
            published += f" ({fmt_tolerance(m)})"
    return _row(f"[{md(c['title'])}](#{_anchor(c)})", md(c["device"]),
                md(c.get("evidence", UNKNOWN_EVIDENCE)), verdict_label(c["verdict"], "mark"),
                md(head), md(measured), md(published))


def _anchor(c: dict[str, Any]) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{c['id']}-{c['device']}")


def _section(c: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f'<a id="{_anchor(c)}"></a>',
        f"## {md(c['title'])} ({md(c['id'])}, {md(c['device'])})",
        "",
        f"> {md(c['quote'])}" if c["quote"] else "",
        "",
        f"Source: {md(c['source'])}. Evidence: {md(c.get('evidence', UNKNOWN_EVIDENCE))}. "
        f"Tier {md(c['tier'])}, {c['duration_s']:.1f} s.",
        "",
        f"**Verdict: {verdict_label(c['verdict'], 'mark')}**"
        + (f" — {'; '.join(md(r) for r in c['reasons'])}" if c["reasons"] else ""),
        "",
    ]
    if c.get("rule"):
        lines += ["**Decision rule**", "", f"> {md(c['rule'])}", ""]
    if c["measurements"]:
        lines += [_row("measurement", "measured", "published / expected", "tolerance", "within", "evidence"),
                  _row(*["---"] * 6)]
        for m in c["measurements"]:
            star = " ★" if m["name"] == c.get("headline") else ""
            note = f" ({m['note']})" if m["note"] else ""
            lines.append(_row(md(f"{m['name']}{star}{note}"), md(fmt_value(m["value"], m["unit"])),
                              md(fmt(m["expected"])), fmt_tolerance(m), fmt(m["within"]),
                              md(m.get("evidence", UNKNOWN_EVIDENCE))))
        lines.append("")
    for n in c["notes"]:
        lines += [md(n), ""]
    for f in c["figures"]:
        lines += [f"![{md(Path(f).stem)}](<{html.escape(f)}>)", ""]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: verdict counts (overall, per evidence kind), a summary table with
    each claim's headline measured beside published, then one section per claim."""
    env = report["environment"]
    summary = report.get("summary") or {}
    lines = [
        "# Scaling-law claims report",
        "",
        f"Tier **{md(report['tier'])}** · "
        + " · ".join(f"{n} {verdict_label(v)}" for v, n in summary.items() if n),
        "",
        *_by_evidence(report.get("by_evidence") or {}),
        _row("claim", "device", "evidence", "verdict", "headline", "measured", "published"),
        _row(*["---"] * 7),
        *(_summary(c) for c in report["claims"]),
    ]
    for c in report["claims"]:
        lines += _section(c)
    lines += ["", "## Environment", "", "| | |", "|---|---|"]
    for k, v in env.items():
        if isinstance(v, dict):
            v = ", ".join(f"{dk}: {dv}" for dk, dv in v.items()) or "—"
        lines.append(_row(md(k), md(fmt(v))))
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
