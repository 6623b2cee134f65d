"""Tests for scaling.report.html: the self-contained HTML claim report."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scaling.report import ClaimResult, Measurement, build_report  # noqa: E402
from scaling.report import headline_measurement, render_html, write_html  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def make_report(report_dir: Path, *, with_figure: bool = True) -> dict:
    """A two-claim report with one figure saved the way the plugin saves them."""
    figures = []
    if with_figure:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        n = np.logspace(4, 8, 20)
        ax.loglog(n, 1.7 + 400 / n**0.34, "o-", label="measured")
        ax.set_xlabel("parameters N")
        ax.set_ylabel("loss (nats)")
        ax.legend()
        rel = Path("figures") / "chinchilla-cpu-fit.png"
        (report_dir / "figures").mkdir(parents=True, exist_ok=True)
        fig.savefig(report_dir / rel, dpi=80, bbox_inches="tight")
        plt.close(fig)
        figures.append(str(rel))
    claims = [
        ClaimResult(
            id="chinchilla-approach3", title="Chinchilla parametric fit <L(N,D)>",
            source="Hoffmann et al. 2022, §3.3, eq. 10",
            quote="L(N, D) = E + A/N^α + B/D^β with E = 1.69, A = 406.4 & B = 410.7",
            device="cpu", tier="smoke", verdict="reproduced", duration_s=1.234,
            headline="E", rule="E within 0.05 nats of 1.69 (the paper's bootstrap interval)",
            measurements=[
                Measurement("alpha", 0.3392, expected=0.34, tolerance=0.02, note="bootstrap median",
                            evidence="published-data"),
                Measurement("E", 1.81, expected=1.69, tolerance=0.05, unit="nats", evidence="published-data"),
            ],
            figures=figures, notes=["Refit on the 240 points of Fig. 4 & friends."],
            tests=[{"nodeid": "claims/test_chinchilla.py::test_fit", "outcome": "passed",
                    "verdict": "reproduced"}]),
        ClaimResult(
            id="params-12ld2", title="Non-embedding parameters ≈ 12·L·d²",
            source="Kaplan et al. 2020, §2.1", quote="", device="cpu", tier="smoke",
            verdict="not_reproduced", reasons=["tiny models are embedding-dominated"],
            headline="GPT-2 small total",
            measurements=[Measurement("GPT-2 small total", 124439808, expected=124439808,
                                      tolerance=0, unit="params", evidence="measured")]),
    ]
    env = {"python": "3.11.7", "torch": "2.13.0+cpu", "devices": {"cpu": "AMD EPYC"},
           "git_commit": "0123456789abcdef0123", "corpus_fingerprint": "deadbeef"}
    return build_report(claims, env, "smoke")


def test_render_contains_summary_sections_and_environment(tmp_path):
    """The page has a summary row per claim, a section per claim with its quote, and the environment."""
    page = render_html(make_report(tmp_path), tmp_path)
    assert page.startswith("<!DOCTYPE html>")
    summary = page.split('id="summary"')[1].split("</section>")[0]
    assert summary.count("<tr>") == 3  # header + two claims
    assert 'href="#chinchilla-approach3-cpu"' in summary and 'href="#params-12ld2-cpu"' in summary
    assert 'id="chinchilla-approach3-cpu"' in page and 'id="params-12ld2-cpu"' in page
    assert "E = 1.69, A = 406.4 &amp; B = 410.7" in page  # the paper's words, escaped
    assert "tiny models are embedding-dominated" in page
    assert "corpus_fingerprint" in page and "deadbeef" in page and "0123456789ab" in page
    assert "@media print" in page


def test_summary_shows_evidence_and_headline_beside_published(tmp_path):
    """Each summary row shows the claim's evidence kind and its headline, measured beside published;
    verdicts are counted per evidence kind; the decision rule heads the claim's section."""
    page = render_html(make_report(tmp_path, with_figure=False), tmp_path)
    summary = page.split('id="summary"')[1].split("</section>")[0]
    row = summary.split("chinchilla-approach3-cpu")[1].split("</tr>")[0]
    assert "published-data" in row and ">E<" in row and "1.81 nats" in row and "1.69 nats" in row
    by = page.split('class="by-evidence"')[1].split("</table>")[0]
    assert "published-data" in by and "measured" in by and "not reproduced" in by
    assert "<h3>Decision rule</h3>" in page and "the paper&#x27;s bootstrap interval" in page


def test_figures_are_embedded_as_data_uris(tmp_path):
    """Every figure becomes a base64 PNG data URI; the page references no external file."""
    report = make_report(tmp_path)
    page = render_html(report, tmp_path)
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 1
    assert base64.b64decode(uris[0]) == (tmp_path / report["claims"][0]["figures"][0]).read_bytes()
    assert not re.search(r'(src|href)="(?!data:|#)', page)


def test_missing_figure_is_reported_not_fatal(tmp_path):
    """A figure path that does not exist renders as a visible 'figure missing' line."""
    report = make_report(tmp_path, with_figure=False)
    report["claims"][0]["figures"] = ["figures/gone.png"]
    assert "figure missing: figures/gone.png" in render_html(report, tmp_path)


def test_user_text_is_escaped(tmp_path):
    """Titles, quotes and notes with HTML characters are escaped, never injected."""
    report = make_report(tmp_path, with_figure=False)
    report["claims"][0]["notes"] = ["<script>alert(1)</script>"]
    page = render_html(report, tmp_path)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "&lt;L(N,D)&gt;" in page


def test_headline_measurement_falls_back_for_old_reports():
    """The named headline wins; without one, the first outside tolerance, else the first with an expectation."""
    named = [{"name": "a", "expected": None, "within": None}, {"name": "b", "expected": 1, "within": False}]
    assert headline_measurement({"headline": "a", "measurements": named})["name"] == "a"
    assert headline_measurement({"headline": "gone", "measurements": named}) is None
    ms = [{"name": "a", "expected": None, "within": None},
          {"name": "b", "expected": 1, "within": True},
          {"name": "c", "expected": 1, "within": False}]
    assert headline_measurement({"measurements": ms})["name"] == "c"
    assert headline_measurement({"measurements": ms[:2]})["name"] == "b"
    assert headline_measurement({"measurements": ms[:1]})["name"] == "a"
    assert headline_measurement({"measurements": []}) is None


def test_write_html_writes_beside_report(tmp_path):
    """write_html writes report.html into the report directory and returns its path."""
    path = write_html(tmp_path / "rep", make_report(tmp_path, with_figure=False))
    assert path == tmp_path / "rep" / "report.html"
    assert "Scaling-law claims report" in path.read_text(encoding="utf-8")


def _chromium(*args: str, user_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    # root needs --no-sandbox; the rest keeps a headless run offline and quick
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={user_dir}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_renders_in_headless_chromium(tmp_path):
    """Headless Chromium draws a non-blank page, and every embedded figure decodes (naturalWidth > 0)."""
    report_dir = tmp_path / "rep"
    report_dir.mkdir()
    page = write_html(report_dir, make_report(report_dir))

    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars",
              page.as_uri(), user_dir=tmp_path / "profile1")
    assert shot.exists(), "chromium wrote no screenshot"
    pixels = mpimg.imread(shot)[..., :3]
    non_white = float(np.mean(pixels.min(axis=-1) < 0.95))
    assert pixels.std() > 0.05 and non_white > 0.02, f"blank page (non-white {non_white:.3f})"

    # the report itself has no script; a probe copy adds one that writes whether each image
    # decoded (naturalWidth > 0) into the DOM, read back with --dump-dom
    probe = report_dir / "probe.html"
    script = ("<script>window.addEventListener('load',()=>{const r=[...document.images]"
              ".map(i=>i.complete&&i.naturalWidth>0?'ok':'broken');"
              "document.body.setAttribute('data-images',r.join(','));});</script>")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"),
                     encoding="utf-8")
    out = _chromium("--dump-dom", "--virtual-time-budget=5000", probe.as_uri(),
                    user_dir=tmp_path / "profile2")
    m = re.search(r'data-images="([^"]*)"', out.stdout)
    assert m, f"probe script did not run: {out.stderr[-500:]}"
    assert m.group(1) == "ok", f"figures not rendered: {m.group(1)!r}"
