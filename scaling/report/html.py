"""The claim report as one self-contained HTML page: `report.html` beside `report.json`.

Figures are embedded as base64 data URIs so the file can be mailed, attached to a CI run or
opened offline. The verdict counts come first, overall and per evidence kind, then a summary
table (claim, evidence, verdict, the headline measured beside the published value), then one
section per claim (the paper's words, the decision rule, the measurements, notes, figures, the
tests behind the verdict), then the environment. The page
needs no script and no network; a print stylesheet keeps it readable on paper.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from scaling.report.format import fmt, fmt_tolerance
from scaling.report.safe_io import atomic_write
from scaling.report.results import (
    FIGURES_DIR,
    UNKNOWN_EVIDENCE,
    VERDICTS,
    check_figure_entry,
    headline_measurement,
    verdict_label,
)

HTML_NAME = "report.html"

# Kept in the page: a report must open anywhere, with no network and no build step.
CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg-alt: #f5f7fa;
  --ok: #17663a; --ok-bg: #e3f4e8; --bad: #a4211d; --bad-bg: #fbe6e4;
  --unk: #7a5300; --unk-bg: #fdf1d6; --accent: #2851a3; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0 auto; padding: 2rem 1.5rem 4rem; max-width: 70rem; color: var(--fg);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; margin: 0 0 .4rem; }
h3 { font-size: 1.02rem; margin: 1.2rem 0 .4rem; color: var(--muted); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
.meta { color: var(--muted); margin: 0 0 1.2rem; }
.counts { display: flex; gap: .6rem; flex-wrap: wrap; margin: .6rem 0 1.4rem; }
.badge { display: inline-block; padding: .1rem .55rem; border-radius: 999px; font-weight: 600;
  font-size: .85em; white-space: nowrap; border: 1px solid transparent; }
.v-reproduced { color: var(--ok); background: var(--ok-bg); border-color: #b5dfc2; }
.v-not_reproduced { color: var(--bad); background: var(--bad-bg); border-color: #f0bcb7; }
.v-inconclusive { color: var(--unk); background: var(--unk-bg); border-color: #efd9a2; }
.counts .badge { font-size: .95em; padding: .25rem .8rem; }
.table-wrap { overflow-x: auto; margin: .4rem 0 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .93em; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
th.num { text-align: right; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.outside td { background: var(--bad-bg); }
.within-yes { color: var(--ok); font-weight: 600; }
.within-no { color: var(--bad); font-weight: 600; }
.claim { border: 1px solid var(--line); border-radius: 10px; padding: 1.2rem 1.4rem; margin: 1.6rem 0; }
.claim-head { display: flex; justify-content: space-between; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
blockquote { margin: .8rem 0; padding: .5rem 1rem; border-left: 4px solid var(--accent);
  background: var(--bg-alt); font-family: Georgia, "Times New Roman", serif; font-size: 1.02em; }
blockquote cite { display: block; margin-top: .3rem; font: .85em system-ui, sans-serif; color: var(--muted); font-style: normal; }
.reasons { margin: .3rem 0 .6rem; }
.note { margin: .4rem 0; }
figure { margin: 1rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: .85em; margin-top: .3rem; }
.missing { color: var(--bad); font-style: italic; }
.small { font-size: .85em; color: var(--muted); }
.env td:first-child { white-space: nowrap; color: var(--muted); width: 12rem; }
ul.plain { margin: 0; padding-left: 1.1rem; }
.v-reproduced_unexpectedly { color: #6b3fa0; background: #efe6fa; border-color: #d5c2ef; }
.v-error { color: #fff; background: var(--bad); border-color: var(--bad); }
.ev { display: inline-block; padding: .05rem .45rem; border-radius: 4px; font-size: .8em;
  white-space: nowrap; border: 1px solid var(--line); color: var(--muted); background: #fff; }
.ev-trained { color: #0d4f8b; border-color: #9cc1e6; background: #eaf3fc; font-weight: 600; }
.ev-published-data { color: #155e63; border-color: #9fd3d6; background: #e8f6f7; }
.ev-measured { color: #3d5a1e; border-color: #bcd89c; background: #f1f8e8; }
.ev-simulated, .ev-published-numbers, .ev-unknown { color: var(--muted); background: var(--bg-alt); }
.rule { margin: .2rem 0 .6rem; padding: .45rem .8rem; background: var(--bg-alt); border-radius: 6px;
  white-space: pre-wrap; }
tr.headline td:first-child { font-weight: 600; }
#summary td:first-child { min-width: 11rem; } #summary td:nth-child(5) { min-width: 12rem; }
table.by-evidence { width: auto; margin-bottom: 1.4rem; }
table.by-evidence caption { text-align: left; padding: 0 0 .3rem; }
table.by-evidence td.zero { color: #b8bec9; }
@media (max-width: 640px) { body { padding: 1rem .7rem 3rem; } .claim { padding: .9rem; } }
@media print {
  @page { margin: 1.5cm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  a { color: inherit; }
  .claim { border: none; border-top: 2px solid #888; border-radius: 0; padding: .8rem 0 0; break-before: auto; }
  h1, h2, h3 { break-after: avoid; }
  figure, tr, blockquote { break-inside: avoid; }
  figure img { max-height: 12cm; width: auto; border: none; }
  .table-wrap { overflow: visible; }
  .badge, tr.outside td, th, blockquote { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _anchor(claim: dict[str, Any]) -> str:
    return f"{claim['id']}-{claim['device']}"


def _badge(verdict: str) -> str:
    return (f'<span class="badge v-{_e(verdict)}">{verdict_label(verdict, "icon")} '
            f'{_e(verdict_label(verdict))}</span>')


def _value(m: dict[str, Any], key: str = "value") -> str:
    unit = f" {m['unit']}" if m.get("unit") and m.get(key) is not None else ""
    return _e(fmt(m.get(key)) + unit)


def _deviation(m: dict[str, Any]) -> str:
    """Measured minus expected, relative when the expectation is a nonzero number."""
    v, x = m.get("value"), m.get("expected")
    if (not isinstance(v, (int, float)) or not isinstance(x, (int, float))
            or isinstance(v, bool) or isinstance(x, bool)):
        return "—"
    if not (math.isfinite(v) and math.isfinite(x)):
        return "—"
    if x != 0:
        return f"{100 * (v - x) / abs(x):+.3g}%"
    return f"{v - x:+.4g}"


def _evidence(kind: str | None) -> str:
    kind = kind or UNKNOWN_EVIDENCE
    return f'<span class="ev ev-{_e(kind)}">{_e(kind)}</span>'


def _summary_row(c: dict[str, Any]) -> str:
    m = headline_measurement(c)
    if m is None:
        missing = f"{c['headline']} not measured" if c.get("headline") else "no measurements"
        cells = f'<td colspan="3" class="small">{_e(missing)}</td>'
    else:
        published = _value(m, "expected")
        if m.get("expected") is not None and m.get("tolerance") is not None:
            published += f' <span class="small">{_e(fmt_tolerance(m))}</span>'
        n_exp = sum(x.get("within") is not None for x in c["measurements"])
        n_in = sum(x.get("within") is True for x in c["measurements"])
        within = f'<br><span class="small">{n_in}/{n_exp} within tolerance</span>' if n_exp > 1 else ""
        cells = (f"<td>{_e(m['name'])}{within}</td><td class=\"num\"><b>{_value(m)}</b></td>"
                 f'<td class="num">{published}</td>')
    return (f'<tr><td><a href="#{_e(_anchor(c))}">{_e(c["title"])}</a>'
            f'<br><code class="small">{_e(c["id"])}</code></td>'
            f"<td>{_e(c['device'])}</td><td>{_evidence(c.get('evidence'))}</td>"
            f"<td>{_badge(c['verdict'])}</td>{cells}</tr>")


def _by_evidence(by: dict[str, dict[str, int]]) -> str:
    """Verdict counts per evidence kind: which verdicts rest on training, which on arithmetic."""
    if not by:
        return ""
    shown = [v for v in VERDICTS if any(n.get(v) for n in by.values())]
    head = "".join(f"<th class=\"num\">{_e(verdict_label(v))}</th>" for v in shown)
    rows = "".join(
        f"<tr><td>{_evidence(k)}</td>"
        + "".join(f'<td class="num{" zero" if not n.get(v) else ""}">{n.get(v, 0)}</td>' for v in shown)
        + f'<td class="num">{sum(n.values())}</td></tr>' for k, n in by.items())
    return ('<div class="table-wrap"><table class="by-evidence"><caption class="small">Verdicts by '
            "evidence, strongest first: trained here, a refit of published data, measured here, "
            "simulated, arithmetic on published numbers</caption><thead><tr><th>evidence</th>"
            f'{head}<th class="num">claims</th></tr></thead><tbody>{rows}</tbody></table></div>')


def _measurements_table(ms: list[dict[str, Any]], headline: str | None) -> str:
    rows = []
    for m in ms:
        within = m.get("within")
        classes = " ".join(k for k, on in (("outside", within is False),
                                           ("headline", m.get("name") == headline)) if on)
        cls = f' class="{classes}"' if classes else ""
        star = ' <span class="small" title="headline">★ headline</span>' if m.get("name") == headline else ""
        within_cell = ("—" if within is None else
                       '<span class="within-yes">yes</span>' if within else
                       '<span class="within-no">no</span>')
        note = f'<br><span class="small">{_e(m["note"])}</span>' if m.get("note") else ""
        rows.append(
            f"<tr{cls}><td>{_e(m['name'])}{star}{note}</td><td class=\"num\">{_value(m)}</td>"
            f"<td class=\"num\">{_value(m, 'expected')}</td>"
            f"<td class=\"num\">{_e(fmt_tolerance(m))}</td>"
            f"<td class=\"num\">{_e(_deviation(m))}</td><td>{within_cell}</td>"
            f"<td>{_evidence(m.get('evidence'))}</td></tr>")
    return ('<div class="table-wrap"><table><thead><tr><th>measurement</th><th class="num">measured</th>'
            '<th class="num">published / expected</th><th class="num">tolerance</th>'
            '<th class="num">deviation</th><th>within</th><th>evidence</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def figure_file(report_dir: Path, entry: str) -> Path:
    """The file a claim's figure entry names, refused (ValueError naming the entry) unless it
    lies inside `report_dir`/figures/, symlinks followed."""
    if (problem := check_figure_entry(entry)) is not None:
        raise ValueError(f"{problem}: only files inside {report_dir / FIGURES_DIR}/ are embedded")
    root = (report_dir / FIGURES_DIR).resolve()
    path = (report_dir / entry).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"figure entry {entry!r} points outside {report_dir / FIGURES_DIR}/ "
                         f"(to {path}): only files inside it are embedded")
    return path


def _figure(rel: str, report_dir: Path | None) -> str:
    caption = _e(Path(rel).stem)
    if report_dir is None:
        return f'<p class="missing">figure not embedded (no report directory): {_e(rel)}</p>'
    path = figure_file(report_dir, rel)
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return f'<p class="missing">figure missing: {_e(rel)}</p>'
    mime = "image/svg+xml" if path.suffix.lower() == ".svg" else "image/png"
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{caption}" loading="eager">'
            f"<figcaption>{caption}</figcaption></figure>")


def _claim_section(c: dict[str, Any], report_dir: Path | None) -> str:
    parts = [f'<section class="claim" id="{_e(_anchor(c))}">',
             f'<div class="claim-head"><h2>{_e(c["title"])}</h2>{_badge(c["verdict"])}</div>',
             f'<p class="meta"><code>{_e(c["id"])}</code> · {_evidence(c.get("evidence"))} · '
             f'device {_e(c["device"])} · tier {_e(c["tier"])} · '
             f'{float(c.get("duration_s") or 0):.1f} s</p>']
    if c.get("quote"):
        parts.append(f"<blockquote>“{_e(c['quote'])}”<cite>— {_e(c['source'])}</cite></blockquote>")
    else:
        parts.append(f"<p>Source: {_e(c['source'])}</p>")
    if c.get("reasons"):
        parts.append('<p class="reasons"><b>Why:</b> ' + "; ".join(_e(r) for r in c["reasons"]) + "</p>")
    if c.get("rule"):
        parts += ["<h3>Decision rule</h3>", f'<p class="rule">{_e(c["rule"])}</p>']
    if c.get("measurements"):
        parts += ["<h3>Measurements</h3>", _measurements_table(c["measurements"], c.get("headline"))]
    for n in c.get("notes") or []:
        parts.append(f'<p class="note">{_e(n)}</p>')
    if c.get("figures"):
        parts.append("<h3>Figures</h3>")
        parts += [_figure(f, report_dir) for f in c["figures"]]
    if c.get("tests"):
        items = "".join(f"<li><code>{_e(t.get('nodeid', ''))}</code> — {_e(t.get('outcome', ''))}"
                        f"{', ' + _e(verdict_label(t['verdict'])) if t.get('verdict') else ''}</li>"
                        for t in c["tests"])
        parts.append(f'<h3>Tests</h3><ul class="plain small">{items}</ul>')
    parts.append("</section>")
    return "\n".join(parts)


def _env_value(v: Any) -> str:
    if isinstance(v, dict):
        if not v:
            return "—"
        return "<br>".join(f"{_e(k)}: {_env_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_env_value(x) for x in v) or "—"
    return _e(fmt(v))


def _environment(env: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{_e(k)}</td><td class=\"mono\">{_env_value(v)}</td></tr>"
                   for k, v in env.items())
    return ('<section id="environment"><h2>Environment</h2><div class="table-wrap">'
            f'<table class="env"><tbody>{rows}</tbody></table></div></section>')


def render_html(report: dict[str, Any], report_dir: Path | str | None = None) -> str:
    """The report as a self-contained HTML page; figures are read from `report_dir` (paths in
    the report are relative to it) and embedded; a missing one is shown as missing."""
    report_dir = None if report_dir is None else Path(report_dir)
    env = report.get("environment") or {}
    claims = report.get("claims") or []
    summary = report.get("summary") or {}
    commit = env.get("git_commit")
    meta = [f"tier <b>{_e(report.get('tier', '?'))}</b>", f"{len(claims)} claim results"]
    if commit:
        meta.append(f"commit <code>{_e(str(commit)[:12])}</code>")
    counts = "".join(f'<span class="badge v-{_e(v)}">{_e(n)} {_e(verdict_label(v))}</span>'
                     for v, n in summary.items() if n)
    body = [
        "<header><h1>Scaling-law claims report</h1>",
        f'<p class="meta">{" · ".join(meta)}</p>',
        f'<div class="counts">{counts}</div>',
        _by_evidence(report.get("by_evidence") or {}) + "</header>",
        '<section id="summary"><div class="table-wrap"><table><thead><tr><th>claim</th>'
        "<th>device</th><th>evidence</th><th>verdict</th><th>headline</th><th class=\"num\">measured</th>"
        "<th class=\"num\">published</th></tr></thead><tbody>"
        + "".join(_summary_row(c) for c in claims) + "</tbody></table></div></section>",
        *(_claim_section(c, report_dir) for c in claims),
        _environment(env),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Scaling-law claims report ({_e(report.get('tier', ''))})</title>"
            f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_html(report_dir: Path | str, report: dict[str, Any]) -> Path:
    """Write `report.html` into `report_dir` (created), figures embedded; return its path."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write(report_dir / HTML_NAME, render_html(report, report_dir))
