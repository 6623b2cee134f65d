"""Claim results and how they are written: `report.json` for machines, `report.md` for people.

The pytest plugin gathers a `ClaimResult` per (claim, device, tier); this module knows nothing
of pytest. The HTML report and report comparison build on `load_report`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VERDICTS = ("reproduced", "inconclusive", "not_reproduced")  # best to worst
REPORT_VERSION = 1


def worst_verdict(verdicts) -> str:
    """The worst of `verdicts` (a claim is only as reproduced as its weakest test)."""
    verdicts = list(verdicts)
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)} (got {v!r})")
    return max(verdicts, key=VERDICTS.index) if verdicts else "inconclusive"


@dataclass
class Measurement:
    name: str
    value: float | int | bool | str | None
    expected: float | int | bool | None = None
    tolerance: float | None = None
    relative: bool = False  # tolerance is a fraction of `expected` (else absolute)
    unit: str = ""
    note: str = ""
    drift: float | None = None  # baseline tolerance (same kind); None -> `tolerance`

    @property
    def within(self) -> bool | None:
        """Whether the value lies within tolerance of the expectation; None when either is absent."""
        if self.expected is None or self.tolerance is None or self.value is None:
            return None
        if isinstance(self.value, (bool, str)) or isinstance(self.expected, (bool, str)):
            return self.value == self.expected
        bound = self.tolerance * abs(self.expected) if self.relative else self.tolerance
        return abs(float(self.value) - float(self.expected)) <= bound * (1 + 1e-12)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["within"] = self.within
        return d


@dataclass
class ClaimResult:
    id: str
    title: str
    source: str
    quote: str
    device: str
    tier: str
    verdict: str = "inconclusive"
    reasons: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # paths relative to the report directory
    notes: list[str] = field(default_factory=list)
    tests: list[dict[str, str]] = field(default_factory=list)  # nodeid, outcome, verdict

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["measurements"] = [m.to_dict() for m in self.measurements]
        d["duration_s"] = round(self.duration_s, 3)
        return d


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info(devices, cwd: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Versions, device names and the git commit, for the report's environment block."""
    import numpy

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "devices": {},
        "git_commit": _git_commit(cwd),
    }
    try:
        import torch

        env["torch"] = torch.__version__
        if "cuda" in devices and torch.cuda.is_available():
            env["devices"]["cuda"] = torch.cuda.get_device_name(0)
    except ImportError:  # the fitting claims need no torch
        env["torch"] = None
    env["devices"]["cpu"] = _cpu_name()
    env.update(extra or {})
    return env


def build_report(claims: list[ClaimResult], environment: dict[str, Any], tier: str) -> dict[str, Any]:
    """The report as a JSON-ready dict, claims in a stable order."""
    ordered = sorted(claims, key=lambda c: (c.id, c.device))
    counts = {v: sum(c.verdict == v for c in ordered) for v in VERDICTS}
    return {
        "version": REPORT_VERSION,
        "tier": tier,
        "summary": counts,
        "claims": [c.to_dict() for c in ordered],
        "environment": environment,
    }


def _fmt(x: Any) -> str:
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


def _fmt_tolerance(m: dict[str, Any]) -> str:
    if m.get("tolerance") is None:
        return "—"
    if m.get("relative"):
        return f"±{100 * m['tolerance']:.3g}%"
    return f"±{_fmt(m['tolerance'])}"


VERDICT_MARK = {"reproduced": "✅ reproduced", "inconclusive": "❔ inconclusive",
                "not_reproduced": "❌ not reproduced"}


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a summary table, then one section per claim."""
    env = report["environment"]
    lines = [
        "# Scaling-law claims report",
        "",
        f"Tier **{report['tier']}** · "
        + " · ".join(f"{n} {v.replace('_', ' ')}" for v, n in report["summary"].items()),
        "",
        "| claim | device | source | verdict |",
        "|---|---|---|---|",
    ]
    for c in report["claims"]:
        lines.append(f"| [{c['title']}](#{c['id']}-{c['device']}) | {c['device']} | {c['source']} "
                     f"| {VERDICT_MARK[c['verdict']]} |")
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
            f"**Verdict: {VERDICT_MARK[c['verdict']]}**"
            + (f" — {'; '.join(c['reasons'])}" if c["reasons"] else ""),
            "",
        ]
        if c["measurements"]:
            lines += ["| measurement | measured | published / expected | tolerance | within |",
                      "|---|---|---|---|---|"]
            for m in c["measurements"]:
                unit = f" {m['unit']}" if m["unit"] else ""
                note = f" ({m['note']})" if m["note"] else ""
                lines.append(f"| {m['name']}{note} | {_fmt(m['value'])}{unit} | "
                             f"{_fmt(m['expected'])} | {_fmt_tolerance(m)} | {_fmt(m['within'])} |")
            lines.append("")
        for n in c["notes"]:
            lines += [n, ""]
        for f in c["figures"]:
            lines += [f"![{Path(f).stem}]({f})", ""]
    lines += ["", "## Environment", "", "| | |", "|---|---|"]
    for k, v in env.items():
        if isinstance(v, dict):
            v = ", ".join(f"{dk}: {dv}" for dk, dv in v.items()) or "—"
        lines.append(f"| {k} | {_fmt(v)} |")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def write_report(directory: Path, report: dict[str, Any]) -> list[Path]:
    """Write report.json, report.md and report.html into `directory` (created); return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "report.json", directory / "report.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    from scaling.report_html import write_html  # local: report_html imports this module

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
    return data
