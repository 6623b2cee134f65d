"""Claim reports: results gathered by the pytest plugin, rendered as JSON, Markdown and HTML,
compared with a stored baseline (CI) or with another report (`scaling report --compare`).

    results   verdicts, Tolerance, Measurement, ClaimResult, build_report
    format    numbers, tolerances and text tables shared by every rendering
    markdown  report.md          html  report.html (figures embedded)
    files     write_report / load_report
    baseline  the CI baseline file and its drifts
    compare   the difference between two reports

Imports point down this list's dependencies: results <- format <- markdown, html <- files;
baseline and compare use results and format only.
"""

from scaling.report.files import load_report, write_report, write_views
from scaling.report.format import fmt, fmt_tolerance, summary_text, text_table
from scaling.report.html import render_html, write_html
from scaling.report.markdown import render_markdown
from scaling.report.results import (
    REPORT_VERSION,
    VERDICTS,
    ClaimResult,
    Measurement,
    Tolerance,
    build_report,
    environment_info,
    headline_measurement,
    verdict_label,
    worst_verdict,
)

__all__ = [
    "REPORT_VERSION", "VERDICTS", "ClaimResult", "Measurement", "Tolerance", "build_report",
    "environment_info", "fmt", "fmt_tolerance", "headline_measurement", "load_report",
    "render_html", "render_markdown", "summary_text", "text_table", "verdict_label", "worst_verdict",
    "write_html", "write_report", "write_views",
]
