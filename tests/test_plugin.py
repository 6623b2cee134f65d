"""The pytest plugin, tested through whole workflows with pytester (as pytest-regressions does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules a run imported; torch cannot be imported twice
# in one process, so import what the plugin and the demo claims use up front.
import matplotlib.pyplot  # noqa: F401,E402
import torch  # noqa: F401,E402

import scaling.trained  # noqa: F401,E402  (the claims' conftest imports it)

CLAIM_MODULE = '''
import pytest
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

pytestmark = pytest.mark.claim("demo-law", title="A demo law", source="Doe 2020, eq. 1",
                               quote="loss falls as a power law")
VALUE = {value}

def test_measured(claim, device, tier):
    claim.measure("alpha", VALUE, expected=0.076, tolerance=0.01, drift=0.005)
    claim.measure("count", 124439808, expected=124439808, tolerance=0, unit="params")
    fig, ax = plt.subplots()
    ax.loglog([1, 10], [2, 1])
    claim.figure(fig, "fit")
    assert abs(VALUE - 0.076) <= 0.01

@pytest.mark.xfail(strict=True, reason="too small a scale here")
def test_not_at_our_scale(claim):
    claim.verdict("inconclusive", "the sweep spans one decade only")
    claim.measure("decades", 1.0, expected=1.5, tolerance=0.0)
    assert 1.0 >= 1.5
'''


def make_claims(pytester: pytest.Pytester, value: float = 0.076) -> None:
    pytester.makepyfile(test_demo=CLAIM_MODULE.format(value=value))


def test_report_is_written_and_well_formed(pytester: pytest.Pytester) -> None:
    """--scaling-report writes report.json with the contract's fields, report.md and the figure."""
    make_claims(pytester)
    result = pytester.runpytest("--scaling-device=cpu", "--scaling-report=out")
    result.assert_outcomes(passed=1, xfailed=1)
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    (c,) = report["claims"]
    assert {"id", "title", "source", "verdict", "device", "tier", "duration_s",
            "measurements", "figures"} <= set(c)
    assert (c["id"], c["device"], c["tier"]) == ("demo-law", "cpu", "smoke")
    assert c["verdict"] == "inconclusive"  # the worst of its two tests
    assert {m["name"] for m in c["measurements"]} == {"alpha", "count", "decades"}
    for m in c["measurements"]:
        assert {"name", "value", "expected", "tolerance", "unit"} <= set(m)
    assert (pytester.path / "out" / c["figures"][0]).stat().st_size > 0
    assert {"python", "torch", "numpy", "devices", "git_commit"} <= set(report["environment"])
    md = (pytester.path / "out" / "report.md").read_text()
    assert "## A demo law" in md and "loss falls as a power law" in md and "Doe 2020" in md
    assert "figures/demo-law-cpu-fit.png" in md
    result.stdout.fnmatch_lines(["*scaling report written to out*"])


def test_failed_claim_is_not_reproduced(pytester: pytest.Pytester) -> None:
    """A claim test that fails without naming a verdict is reported not_reproduced."""
    make_claims(pytester, value=0.2)
    pytester.runpytest("--scaling-device=cpu", "--scaling-report=out")
    (c,) = json.loads((pytester.path / "out" / "report.json").read_text())["claims"]
    assert c["verdict"] == "not_reproduced"
    assert [m["within"] for m in c["measurements"] if m["name"] == "alpha"] == [False]


def test_baseline_workflow(pytester: pytest.Pytester) -> None:
    """Baseline: created, passes, a drift fails the session naming everything, updated, passes."""
    make_claims(pytester)
    args = ["--scaling-device=cpu", "--scaling-baseline=baseline.json"]
    created = pytester.runpytest(*args, "--scaling-update-baseline")
    assert created.ret == 0
    stored = json.loads((pytester.path / "baseline.json").read_text())
    assert stored["measurements"]["demo-law::cpu::smoke::alpha"]["value"] == 0.076

    assert pytester.runpytest(*args).ret == 0

    make_claims(pytester, value=0.0855)  # within the claim's tolerance, past its drift
    drifted = pytester.runpytest(*args)
    assert drifted.ret == pytest.ExitCode.TESTS_FAILED
    drifted.stdout.fnmatch_lines([
        "*demo-law*'alpha' drifted from the baseline 0.076 to 0.0855 (tolerance ±0.005)*"
        "--scaling-update-baseline*baseline.json*"
    ])

    assert pytester.runpytest(*args, "--scaling-update-baseline").ret == 0
    assert pytester.runpytest(*args).ret == 0


def test_baseline_keeps_entries_it_did_not_measure(pytester: pytest.Pytester) -> None:
    """Updating a baseline keeps the entries of claims that did not run this time."""
    make_claims(pytester)
    path = pytester.path / "baseline.json"
    path.write_text(json.dumps({"version": 1, "measurements": {"other::cpu::smoke::x": {"value": 3}}}))
    pytester.runpytest("--scaling-device=cpu", f"--scaling-baseline={path}", "--scaling-update-baseline")
    assert "other::cpu::smoke::x" in json.loads(path.read_text())["measurements"]


@pytest.mark.parametrize("content, problem", [
    (None, "does not exist"),
    ("{not json", "is not valid JSON"),
    ('{"version": 1, "measurements": {"a": {"value": [1, 2]}}}', "no number or string"),
    ('[1, 2]', "is not a scaling baseline"),
])
def test_bad_baseline_is_a_usage_error(pytester: pytest.Pytester, content, problem) -> None:
    """A missing, malformed or foreign baseline is a usage error naming the file."""
    make_claims(pytester)
    if content is not None:
        (pytester.path / "base.json").write_text(content)
    result = pytester.runpytest("--scaling-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--scaling-baseline*base.json*{problem}*"])


def test_malformed_baseline_is_never_overwritten(pytester: pytest.Pytester) -> None:
    """--scaling-update-baseline refuses to overwrite a file that is not a baseline."""
    make_claims(pytester)
    path = pytester.path / "base.json"
    path.write_text("precious notes")
    result = pytester.runpytest("--scaling-baseline=base.json", "--scaling-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert path.read_text() == "precious notes"


def test_update_without_baseline_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """--scaling-update-baseline alone says which option it needs."""
    make_claims(pytester)
    result = pytester.runpytest("--scaling-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs --scaling-baseline=FILE*"])


@pytest.mark.parametrize("option, value", [
    ("--scaling-device", "tpu"),
    ("--scaling-device", "cpu,cpu"),
    ("--scaling-tier", "huge"),
    ("--scaling-source", "/no/such/corpus"),
])
def test_bad_option_value_is_refused(pytester: pytest.Pytester, option, value) -> None:
    """A bad option value is a usage error naming the option and the value."""
    make_claims(pytester)
    result = pytester.runpytest(f"{option}={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option}*Could not parse value: '{value}'*"])


def test_absent_cuda_is_a_skip_with_reason(pytester: pytest.Pytester) -> None:
    """Asking for cuda where there is none skips the cuda cases with the reason, never passes."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has cuda; the skip path cannot be seen here")
    make_claims(pytester)
    result = pytester.runpytest("--scaling-device=cpu,cuda", "-rs")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*SKIPPED*cuda is not available (--scaling-device=cpu,cuda*"])
    only_cuda = pytester.runpytest("--scaling-device=cuda")
    only_cuda.assert_outcomes(skipped=1, xfailed=1)


def test_device_fixture_is_parametrized(pytester: pytest.Pytester) -> None:
    """The device fixture runs a test once per requested device, named in its id."""
    pytester.makepyfile("def test_d(device):\n    assert device == 'cpu'\n")
    result = pytester.runpytest("--scaling-device=cpu", "-v")
    result.stdout.fnmatch_lines(["*test_d[[]cpu[]] PASSED*"])


def test_tier_fixture_carries_budgets(pytester: pytest.Pytester) -> None:
    """The tier fixture is the Tier chosen on the command line, budgets included."""
    pytester.makepyfile(
        "def test_t(tier):\n"
        "    assert tier.name == 'standard' and tier.hypothesis_examples > 15\n"
    )
    pytester.runpytest("--scaling-tier=standard").assert_outcomes(passed=1)


def test_claim_fixture_needs_a_marker(pytester: pytest.Pytester) -> None:
    """Using `claim` without @pytest.mark.claim is an error that says what is missing."""
    pytester.makepyfile("def test_x(claim):\n    pass\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*has no @pytest.mark.claim*"])
    assert result.ret != 0


def test_duplicate_measurement_name_is_refused(pytester: pytest.Pytester) -> None:
    """Two measurements with one name in a claim are refused: names are baseline keys."""
    pytester.makepyfile(
        "import pytest\n"
        "pytestmark = pytest.mark.claim('c', title='t', source='s')\n"
        "def test_x(claim):\n"
        "    claim.measure('a', 1)\n"
        "    claim.measure('a', 2)\n"
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*already has a measurement named 'a'*"])


def test_claim_marker_is_registered(pytester: pytest.Pytester) -> None:
    """The claim marker is registered, so --strict-markers accepts it."""
    pytester.makepyfile("import pytest\n@pytest.mark.claim('c', title='t', source='s')\ndef test_x():\n    pass\n")
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


@pytest.mark.parametrize("option", ["--scaling-report=afile/out", "--scaling-baseline=afile/b.json"])
def test_unwritable_destination_is_a_usage_error_at_configure(pytester: pytest.Pytester, option) -> None:
    """A report or baseline path that cannot be written is a usage error before any test runs."""
    make_claims(pytester)
    (pytester.path / "afile").write_text("a file, not a folder")
    extra = ["--scaling-update-baseline"] if "baseline" in option else []
    result = pytester.runpytest("--scaling-device=cpu", option, *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option.split('=')[0]}: cannot write to afile*not a directory*"])


def test_failed_final_write_says_so_in_one_line(pytester: pytest.Pytester) -> None:
    """A report that cannot be written at the end fails the run with one line, not an INTERNALERROR."""
    make_claims(pytester)
    pytester.makepyfile(test_zz_block='''
import shutil
from pathlib import Path

def test_block_the_report_dir():
    shutil.rmtree("out", ignore_errors=True)
    Path("out").write_text("now a file")
''')
    result = pytester.runpytest("--scaling-device=cpu", "--scaling-report=out")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["scaling report: could not write into out: *; files already there are kept*"])
    assert (pytester.path / "out").read_text() == "now a file"


# The claims' own conftest (its expect_xfail fixture), and a claim measured to fail at smoke.
CLAIMS_CONFTEST = Path(__file__).resolve().parents[1] / "claims" / "conftest.py"
EXPECTING_CLAIM = '''
import pytest

pytestmark = pytest.mark.claim("demo-expected", title="A demo claim", source="Doe 2020, eq. 1")
HOLDS = {holds}

def test_rule(claim, device, expect_xfail):
    expect_xfail({{"smoke": "measured at smoke on the reference setup: 1.0 decade, 1.5 needed"}})
    claim.measure("decades", 1.5 if HOLDS else 1.0, expected=1.5, tolerance=0.0)
    assert HOLDS
'''
OTHER_FAMILY = '''

@pytest.fixture(scope="session")
def model_family():
    from scaling.family import width_family
    return width_family(n_layer=4)
'''


@pytest.mark.parametrize("options, family, holds, outcome", [
    ((), False, False, "xfailed"),  # the reference setup: the recorded expectation applies
    (("--scaling-source=synthetic",), False, False, "xfailed"),  # the default, named
    ((), False, True, "failed"),  # XPASS(strict): the record notices the change
    (("--scaling-source=stdlib",), False, False, "failed"),  # another source: the rule decides
    (("--scaling-source=stdlib",), False, True, "passed"),
    ((), True, False, "failed"),  # an overridden model family: the rule decides
    ((), True, True, "passed"),
], ids=["reference", "default-named", "reference-holds", "stdlib", "stdlib-holds", "family", "family-holds"])
def test_expectation_applies_only_on_the_reference_setup(pytester: pytest.Pytester, options, family,
                                                        holds, outcome) -> None:
    """expect_xfail applies on the default source and family only; elsewhere the claim's rule decides alone."""
    pytester.makeconftest(CLAIMS_CONFTEST.read_text() + (OTHER_FAMILY if family else ""))
    pytester.makepyfile(test_demo=EXPECTING_CLAIM.format(holds=holds))
    result = pytester.runpytest("--scaling-device=cpu", "-p", "no:cacheprovider", *options)
    result.assert_outcomes(**{outcome: 1})
