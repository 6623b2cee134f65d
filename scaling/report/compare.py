"""Comparing two claim reports (e.g. two commits): verdict changes, moved measurements, and
claims added or removed.

Claims are matched on (id, device); measurements within a claim on their name (the same keys
the baseline uses). A moved measurement carries its absolute and relative change and whether
the change exceeds its drift tolerance, so a reader sees at once which moves matter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scaling.report.format import fmt_value, text_table
from scaling.report.results import UNKNOWN_EVIDENCE, Tolerance, as_number, verdict_label, verdict_rank


@dataclass(frozen=True)
class VerdictChange:
    claim: str
    device: str
    title: str
    old: str
    new: str
    evidence: str = UNKNOWN_EVIDENCE  # the claim's kind in the new report
    old_evidence: str = UNKNOWN_EVIDENCE

    @property
    def regressed(self) -> bool:
        """True when the new verdict is worse than the old (reproduced > inconclusive > not)."""
        return verdict_rank(self.new) > verdict_rank(self.old)


@dataclass(frozen=True)
class MeasurementChange:
    claim: str
    device: str
    name: str
    old: Any
    new: Any
    unit: str = ""
    absolute: float | None = None  # new - old; None for non-numbers
    relative: float | None = None  # (new - old) / |old|; None when old is 0 or not a number
    beyond_drift: bool | None = None  # |new - old| past the CI drift tolerance; None: not numbers
    status: str = "moved"  # "moved" | "added" | "removed"
    evidence: str = UNKNOWN_EVIDENCE


@dataclass(frozen=True)
class ReportDiff:
    old_label: str
    new_label: str
    old_tier: str | None
    new_tier: str | None
    verdict_changes: tuple[VerdictChange, ...]
    moved: tuple[MeasurementChange, ...]
    claims_added: tuple[tuple[str, str], ...]  # (id, device)
    claims_removed: tuple[tuple[str, str], ...]
    n_common: int  # claims present in both
    n_unchanged_measurements: int

    @property
    def regressions(self) -> tuple[VerdictChange, ...]:
        """Verdict changes for the worse."""
        return tuple(v for v in self.verdict_changes if v.regressed)

    @property
    def empty(self) -> bool:
        """Nothing changed: same claims, same verdicts, same values."""
        return not (self.verdict_changes or self.moved or self.claims_added or self.claims_removed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for `scaling report --compare --json`)."""
        d = asdict(self)
        for v, src in zip(d["verdict_changes"], self.verdict_changes):
            v["regressed"] = src.regressed
        d["claims_added"] = [list(k) for k in self.claims_added]
        d["claims_removed"] = [list(k) for k in self.claims_removed]
        return d


def _measurement_change(key: tuple[str, str], old: dict[str, Any] | None,
                        new: dict[str, Any] | None) -> MeasurementChange | None:
    ref = new if new is not None else old
    ev = ref.get("evidence", UNKNOWN_EVIDENCE)
    if old is None or new is None:
        return MeasurementChange(key[0], key[1], ref["name"], None if old is None else old.get("value"),
                                 None if new is None else new.get("value"), ref.get("unit", ""),
                                 status="added" if old is None else "removed", evidence=ev)
    a, b = old.get("value"), new.get("value")
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None:
        if na == nb or (na != na and nb != nb):  # equal, or nan both times
            return None
        # the CI baseline gate's rule, so "beyond drift" here means a red gate there
        tol = Tolerance.for_drift(new.get("drift"), new.get("tolerance"), new.get("relative", False))
        beyond = tol.fails(na, nb) is not None
        absolute = nb - na
        if absolute != absolute or abs(absolute) == float("inf"):  # to or from nan/inf: no size
            return MeasurementChange(key[0], key[1], new["name"], a, b, new.get("unit", ""),
                                     beyond_drift=beyond, evidence=ev)
        relative = absolute / abs(na) if na != 0 else None
        return MeasurementChange(key[0], key[1], new["name"], a, b, new.get("unit", ""),
                                 absolute, relative, beyond, evidence=ev)
    if a == b:
        return None
    return MeasurementChange(key[0], key[1], new["name"], a, b, new.get("unit", ""), evidence=ev)


def _label(report: dict[str, Any], fallback: str) -> str:
    commit = (report.get("environment") or {}).get("git_commit")
    return str(commit)[:12] if commit else fallback


def compare_reports(old: dict[str, Any], new: dict[str, Any], *, old_label: str | None = None,
                    new_label: str | None = None) -> ReportDiff:
    """The difference from report `old` to report `new` (both as `load_report` returns them)."""
    def index(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(c["id"], c.get("device", "")): c for c in report.get("claims", [])}

    olds, news = index(old), index(new)
    verdicts, moved, unchanged = [], [], 0
    common = [k for k in news if k in olds]
    for key in common:
        o, n = olds[key], news[key]
        kinds = (o.get("evidence", UNKNOWN_EVIDENCE), n.get("evidence", UNKNOWN_EVIDENCE))
        if o.get("verdict") != n.get("verdict") or kinds[0] != kinds[1]:
            verdicts.append(VerdictChange(key[0], key[1], n.get("title", key[0]),
                                          o.get("verdict"), n.get("verdict"), kinds[1], kinds[0]))
        om = {m["name"]: m for m in o.get("measurements", [])}
        nm = {m["name"]: m for m in n.get("measurements", [])}
        names = list(nm) + [name for name in om if name not in nm]
        for name in names:
            change = _measurement_change(key, om.get(name), nm.get(name))
            if change is None:
                unchanged += 1
            else:
                moved.append(change)
    return ReportDiff(
        old_label=old_label or _label(old, "old"), new_label=new_label or _label(new, "new"),
        old_tier=old.get("tier"), new_tier=new.get("tier"),
        verdict_changes=tuple(verdicts), moved=tuple(moved),
        claims_added=tuple(k for k in news if k not in olds),
        claims_removed=tuple(k for k in olds if k not in news),
        n_common=len(common), n_unchanged_measurements=unchanged)


def _change_cells(m: MeasurementChange) -> tuple[str, str, str]:
    """(absolute, relative, flag) as display strings."""
    if m.status != "moved":
        return "—", "—", m.status
    absolute = "—" if m.absolute is None else f"{m.absolute:+.4g}"
    relative = "—" if m.relative is None else f"{100 * m.relative:+.3g}%"
    flag = {True: "beyond drift", False: "within drift", None: ""}[m.beyond_drift]
    return absolute, relative, flag


def _verdict_change(v: VerdictChange) -> tuple[str, str]:
    """(direction, "old → new") for a verdict change, the evidence kinds added when they moved."""
    direction = "WORSE" if v.regressed else "same" if v.old == v.new else "better"
    text = f"{verdict_label(v.old)} → {verdict_label(v.new)}"
    if v.evidence != v.old_evidence:
        text += f" (evidence {v.old_evidence} → {v.evidence})"
    return direction, text


def _header(diff: ReportDiff) -> str:
    tiers = (f"tier {diff.new_tier}" if diff.old_tier == diff.new_tier
             else f"tiers {diff.old_tier} → {diff.new_tier} (budgets differ; expect moves)")
    moved = sum(m.status == "moved" for m in diff.moved)
    return (f"Comparing {diff.old_label} → {diff.new_label} ({tiers}): "
            f"{_n(diff.n_common, 'claim')} in both, "
            f"{_n(len(diff.verdict_changes), 'verdict change')} ({len(diff.regressions)} worse), "
            f"{_n(moved, 'measurement')} moved, {diff.n_unchanged_measurements} unchanged.")


def _n(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def render_text(diff: ReportDiff) -> str:
    """The comparison as plain text for a terminal."""
    lines = [_header(diff)]
    if diff.empty:
        return lines[0] + "\nNo differences.\n"
    if diff.verdict_changes:
        lines += ["", "Verdict changes:"]
        for v in diff.verdict_changes:
            direction, text = _verdict_change(v)
            lines.append(f"  {direction:<6}  {v.claim} [{v.device}, {v.evidence}]: {text}")
    if diff.moved:
        lines += ["", "Measurements:"]
        rows = [(f"{m.claim} [{m.device}]", m.name, m.evidence, fmt_value(m.old, m.unit),
                 fmt_value(m.new, m.unit), *_change_cells(m)) for m in diff.moved]
        head = ("claim", "measurement", "evidence", "old", "new", "change", "relative", "")
        lines.append(text_table([head, *rows], indent="  "))
    for title, keys in (("Claims added", diff.claims_added), ("Claims removed", diff.claims_removed)):
        if keys:
            lines += ["", f"{title}:"] + [f"  {cid} [{dev}]" for cid, dev in keys]
    return "\n".join(lines) + "\n"


def render_markdown(diff: ReportDiff) -> str:
    """The comparison as Markdown (for a PR comment or a CI summary)."""
    lines = ["## Claims report comparison", "", _header(diff), ""]
    if diff.empty:
        return "\n".join(lines + ["No differences.", ""])
    if diff.verdict_changes:
        lines += ["### Verdict changes", "", "| claim | device | evidence | change | |",
                  "|---|---|---|---|---|"]
        for v in diff.verdict_changes:
            direction, text = _verdict_change(v)
            lines.append(f"| {v.title} (`{v.claim}`) | {v.device} | {v.evidence} | {text} "
                         f"| {'⚠️ worse' if v.regressed else direction} |")
        lines.append("")
    if diff.moved:
        lines += ["### Measurements", "",
                  "| claim | device | measurement | evidence | old | new | change | relative | |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for m in diff.moved:
            a, r, flag = _change_cells(m)
            lines.append(f"| `{m.claim}` | {m.device} | {m.name} | {m.evidence} | {fmt_value(m.old, m.unit)} | "
                         f"{fmt_value(m.new, m.unit)} | {a} | {r} | {flag} |")
        lines.append("")
    for title, keys in (("Claims added", diff.claims_added), ("Claims removed", diff.claims_removed)):
        if keys:
            lines += [f"### {title}", ""] + [f"- `{cid}` ({dev})" for cid, dev in keys] + [""]
    return "\n".join(lines)
