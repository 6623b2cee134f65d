"""The claim report as Markdown (`report.md`): a summary table, then one section per claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaling.report.format import fmt, fmt_tolerance
from scaling.report.results import verdict_label


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a summary table, then one section per claim."""
    env = report["environment"]
    lines = [
        "# Scaling-law claims report",
        "",
        f"Tier **{report['tier']}** · "
        + " · ".join(f"{n} {verdict_label(v)}" for v, n in report["summary"].items()),
        "",
        "| claim | device | source | verdict |",
        "|---|---|---|---|",
    ]
    for c in report["claims"]:
        lines.append(f"| [{c['title']}](#{c['id']}-{c['device']}) | {c['device']} | {c['source']} "
                     f"| {verdict_label(c['verdict'], 'mark')} |")
    for c in report["claims"]:
        lines += [
            "",
            f'<a id="{c["id"]}-{c["device"]}"></a>',
            f"## {c['title']} (`{c['id']}`, {c['device']})",
            "",
            f"> {c['quote']}" if c["quote"] else "",
            "",
            f"Source: {c['source']}. Tier {c['tier']}, {c['duration_s']:.1f} s.",
            "",
            f"**Verdict: {verdict_label(c['verdict'], 'mark')}**"
            + (f" — {'; '.join(c['reasons'])}" if c["reasons"] else ""),
            "",
        ]
        if c["measurements"]:
            lines += ["| measurement | measured | published / expected | tolerance | within |",
                      "|---|---|---|---|---|"]
            for m in c["measurements"]:
                unit = f" {m['unit']}" if m["unit"] else ""
                note = f" ({m['note']})" if m["note"] else ""
                lines.append(f"| {m['name']}{note} | {fmt(m['value'])}{unit} | "
                             f"{fmt(m['expected'])} | {fmt_tolerance(m)} | {fmt(m['within'])} |")
            lines.append("")
        for n in c["notes"]:
            lines += [n, ""]
        for f in c["figures"]:
            lines += [f"![{Path(f).stem}]({f})", ""]
    lines += ["", "## Environment", "", "| | |", "|---|---|"]
    for k, v in env.items():
        if isinstance(v, dict):
            v = ", ".join(f"{dk}: {dv}" for dk, dv in v.items()) or "—"
        lines.append(f"| {k} | {fmt(v)} |")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
