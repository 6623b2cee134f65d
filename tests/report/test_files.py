"""scaling.report.files and safe_io: what a report directory may hold, and how it is written."""

from __future__ import annotations

import json
import os

import pytest

from scaling.cli import main
from scaling.report import ClaimResult, Measurement, build_report, load_report, render_html, write_report
from scaling.report.safe_io import atomic_write, writable_problem


def small_report(**claim) -> dict:
    """A one-claim report as build_report makes it, through JSON."""
    c = ClaimResult("c", "C", "src", "", "cpu", "smoke", verdict="reproduced", **claim)
    c.measurements.append(Measurement("x", 1.0, 1.0, 0.1))
    return json.loads(json.dumps(build_report([c], {"python": "3.11"}, "smoke")))


def write_json(tmp_path, report: dict):
    (tmp_path / "report.json").write_text(json.dumps(report))
    return tmp_path


@pytest.mark.parametrize("entry", ["/etc/passwd", "../secret.png", "figures/../../secret.png",
                                   "other/plot.png", "C:/x.png"])
def test_figure_entries_outside_figures_are_refused(tmp_path, entry) -> None:
    """A figure entry that is absolute, climbs out, or is not under figures/ is refused, named."""
    report = small_report()
    report["claims"][0]["figures"] = [entry]
    with pytest.raises(ValueError, match=r"\$\.claims\[0\]\.figures\[0\]: figure entry") as e:
        load_report(write_json(tmp_path, report))
    assert repr(entry) in str(e.value)
    with pytest.raises(ValueError, match="figure entry"):
        render_html(report, tmp_path)


def test_cli_report_refuses_a_figure_outside_in_one_line(tmp_path, capsys) -> None:
    """`scaling report DIR` with a figure entry naming a system file exits 1 with one line naming it."""
    report = small_report()
    report["claims"][0]["figures"] = ["/etc/passwd"]
    assert main(["report", str(write_json(tmp_path, report))]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'/etc/passwd'" in err
    assert not (tmp_path / "report.html").exists()


def test_symlink_out_of_figures_is_refused(tmp_path) -> None:
    """A figures/ entry that is a symlink to a file outside figures/ is refused, naming the entry."""
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (tmp_path / "rep" / "figures").mkdir(parents=True)
    (tmp_path / "rep" / "figures" / "plot.png").symlink_to(secret)
    report = small_report(figures=["figures/plot.png"])
    with pytest.raises(ValueError, match="'figures/plot.png' points outside"):
        render_html(report, tmp_path / "rep")


@pytest.mark.parametrize("mutate, path", [
    (lambda r: r["claims"].__setitem__(0, {}), r"\$\.claims\[0\]: missing 'id'"),
    (lambda r: r.pop("environment"), r"\$: missing 'environment'"),
    (lambda r: r["claims"][0].pop("measurements"), r"\$\.claims\[0\]: missing 'measurements'"),
    (lambda r: r["claims"][0].pop("device"), r"\$\.claims\[0\]: missing 'device'"),
    (lambda r: r["claims"][0]["measurements"][0].pop("name"), r"\$\.claims\[0\]\.measurements\[0\]: missing 'name'"),
    (lambda r: r["claims"][0].__setitem__("reasons", "no"), r"\$\.claims\[0\]\.reasons: wrong type str"),
    (lambda r: r["claims"][0].__setitem__("verdict", "maybe"), r"\$\.claims\[0\]\.verdict: expected one of"),
    (lambda r: r["claims"][0]["measurements"].__setitem__(0, 3), r"\$\.claims\[0\]\.measurements\[0\]: expected an object"),
])
def test_wrong_shape_names_its_json_path(tmp_path, mutate, path) -> None:
    """A report.json of the wrong shape is a ValueError naming the file and the JSON path."""
    report = small_report()
    mutate(report)
    with pytest.raises(ValueError, match="report.json: " + path):
        load_report(write_json(tmp_path, report))


def test_control_characters_are_stripped_on_load(tmp_path) -> None:
    """ANSI escapes and other control characters in a report's text never reach a terminal."""
    report = small_report()
    report["claims"][0]["title"] = "\x1b[2J\x1b[31mred\x1b[0m\x07 title"
    report["claims"][0]["measurements"][0]["name"] = "x\x1b]0;owned\x07y"
    loaded = load_report(write_json(tmp_path, report))
    assert loaded["claims"][0]["title"] == "red title"
    assert loaded["claims"][0]["measurements"][0]["name"] == "xy"


def test_nan_is_written_as_null(tmp_path) -> None:
    """report.json is standard JSON: a NaN or infinite measurement is written as null."""
    c = ClaimResult("c", "C", "src", "", "cpu", "smoke")
    c.measurements += [Measurement("nan", float("nan")), Measurement("inf", float("inf"))]
    write_report(tmp_path, build_report([c], {}, "smoke"))
    text = (tmp_path / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert [m["value"] for m in json.loads(text)["claims"][0]["measurements"]] == [None, None]


def test_failed_write_keeps_the_old_file_and_no_tmp(tmp_path, monkeypatch) -> None:
    """A write that fails midway (disk full) leaves the previous file and no temporary file."""
    path = tmp_path / "report.json"
    path.write_text("old")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_atomic_write_keeps_permissions(tmp_path) -> None:
    """Rewriting a file keeps its permission bits (a baseline stays 0644, not 0600)."""
    path = tmp_path / "b.json"
    path.write_text("{}")
    path.chmod(0o644)
    atomic_write(path, "{ }")
    assert path.stat().st_mode & 0o777 == 0o644


def test_writable_problem_names_a_file_in_the_way(tmp_path) -> None:
    """A destination below a regular file is reported, and nothing is created."""
    (tmp_path / "afile").write_text("x")
    assert "not a directory" in writable_problem(tmp_path / "afile" / "out")
    assert writable_problem(tmp_path / "new" / "dir") is None
    assert not (tmp_path / "new").exists()


def test_cli_report_json_carries_evidence_and_headline(tmp_path, capsys) -> None:
    """`scaling report --json` lists each claim's evidence kind and headline beside its verdict."""
    report = small_report(headline="x", declared_evidence="measured")
    assert main(["report", str(write_json(tmp_path, report)), "--json", "--no-write"]) == 0
    (c,) = json.loads(capsys.readouterr().out)["claims"]
    assert (c["evidence"], c["headline"]) == ("unknown", "x")  # the measurement's kind wins
