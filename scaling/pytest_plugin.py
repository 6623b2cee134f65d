"""The pytest plugin: `--scaling-*` options, device/tier fixtures, claim recording, reports, baselines.

Registered through the `pytest11` entry point, so an installed `scaling` works in any project's
pytest. Conventions follow pytest-benchmark (one option prefix, parse-time validation) and
pytest-regressions/syrupy (baselines, the update flag named in every failure, exit status set in
`pytest_sessionfinish`). Docs: https://docs.pytest.org/en/stable/how-to/writing_plugins.html

A claim test carries `@pytest.mark.claim(id, title=, source=, quote=, evidence=, headline=,
rule=)`: `evidence` is what its numbers rest on (trained, published-data, measured, simulated,
published-numbers; `claim.measure(..., evidence=)` overrides it per number), `headline` names
the measurement the claim is about, and `rule` states the decision rule. A test's outcome
becomes its verdict in `scaling.claim_recorder`: a failed check is not_reproduced, an exception
before any measurement is error, an xfail that passes is reproduced_unexpectedly (and fails the
run), a plain skip is inconclusive, and `claim.not_applicable(reason)` leaves the claim to its
other tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from scaling.claim_recorder import ClaimRecorder, NotApplicable, outcome_verdict
from scaling.report import ClaimResult, build_report, environment_info, worst_verdict, write_report
from scaling.report import baseline as baseline_mod
from scaling.report.results import UNKNOWN_EVIDENCE, check_evidence
from scaling.report.safe_io import writable_problem
from scaling.tiers import TIERS, Tier, get_tier

DEVICES = ("cpu", "cuda")
DEFAULT_STORE = ".scaling/runs.sqlite"
DEFAULT_SOURCE = "synthetic"  # the source the recorded expectations were measured on

_state_key = pytest.StashKey["ScalingState"]()
_recorder_key = pytest.StashKey["ClaimRecorder"]()


# --- option parsing (a bad value is a usage error naming the option and the value) -----------

def _parse_devices(value: str) -> tuple[str, ...]:
    if value == "auto":
        return ("auto",)
    names = tuple(v.strip() for v in value.split(","))
    bad = [n for n in names if n not in DEVICES]
    if bad or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"Could not parse value: {value!r} (expected auto, cpu, cuda or cpu,cuda)"
        )
    return names


def _parse_tier(value: str) -> str:
    if value not in TIERS:
        raise argparse.ArgumentTypeError(
            f"Could not parse value: {value!r} (expected one of {', '.join(TIERS)})"
        )
    return value


def _parse_source(value: str) -> str:
    if value in ("synthetic", "stdlib") or Path(value).exists():
        return value
    raise argparse.ArgumentTypeError(
        f"Could not parse value: {value!r} (expected synthetic, stdlib or an existing file or folder)"
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scaling", "scaling-law claims")
    group.addoption("--scaling-device", type=_parse_devices, default=("auto",), metavar="DEVICES",
                    help="devices the `device` fixture runs on: auto (cpu, plus cuda when "
                         "present), cpu, cuda or cpu,cuda; an absent device is a skip")
    group.addoption("--scaling-tier", type=_parse_tier, default="smoke", metavar="TIER",
                    help="budget tier: smoke (CI), standard (the main job) or full (a GPU or a long run)")
    group.addoption("--scaling-report", default=None, metavar="DIR",
                    help="write report.json, report.md and report.html (figures beside them) into DIR")
    group.addoption("--scaling-baseline", default=None, metavar="FILE",
                    help="compare every measurement with the baseline FILE; a drift past its "
                         "tolerance fails the session")
    group.addoption("--scaling-update-baseline", action="store_true", default=False,
                    help="write this session's measurements into the --scaling-baseline FILE")
    group.addoption("--scaling-store", default=DEFAULT_STORE, metavar="PATH",
                    help=f"the run store of trained runs (default {DEFAULT_STORE})")
    group.addoption("--scaling-source", type=_parse_source, default=DEFAULT_SOURCE, metavar="SOURCE",
                    help="data for the empirical claims: synthetic, stdlib or a file/folder of text")


# --- session state ------------------------------------------------------------------------

class ScalingState:
    def __init__(self, config: pytest.Config) -> None:
        opt = config.option
        self.devices: tuple[str, ...] = opt.scaling_device
        self.tier: Tier = get_tier(opt.scaling_tier)
        self.report_dir = Path(opt.scaling_report) if opt.scaling_report else None
        self.baseline_path = Path(opt.scaling_baseline) if opt.scaling_baseline else None
        self.update_baseline: bool = opt.scaling_update_baseline
        self.store_path = Path(opt.scaling_store)
        self.source: str = opt.scaling_source
        self.claims: dict[tuple[str, str], ClaimResult] = {}
        self.environment_extra: dict[str, object] = {}
        self.baseline_entries: dict | None = None
        self.drifts: list[baseline_mod.Drift] = []
        self.new_keys: list[str] = []
        self.written: list[Path] = []
        self.baseline_written = 0
        self.write_errors: list[str] = []  # one line each: what could not be written, and why

    def resolved_devices(self) -> list[str]:
        return list(DEVICES) if self.devices == ("auto",) else list(self.devices)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "claim(id, title, source, quote='', evidence=KIND, headline=NAME, rule=TEXT): "
        "the paper claim a test checks; evidence is trained, measured, published-data, simulated "
        "or published-numbers; headline names the measurement the claim is about; rule is the "
        "decision rule, printed in the report"
    )
    if not hasattr(config.option, "scaling_device"):  # loaded without our options (e.g. -p no:)
        return
    state = ScalingState(config)
    if state.update_baseline and state.baseline_path is None:
        raise pytest.UsageError("--scaling-update-baseline needs --scaling-baseline=FILE to write to")
    # an unwritable destination is found now, not after the whole session has run
    targets = [("--scaling-report", state.report_dir)]
    if state.update_baseline:
        targets.append(("--scaling-baseline", state.baseline_path.parent))
        if state.baseline_path.is_dir():
            raise pytest.UsageError(f"--scaling-baseline: {state.baseline_path} is a directory, not a file")
    for option, target in targets:
        if target is not None and (problem := writable_problem(target)) is not None:
            raise pytest.UsageError(f"{option}: cannot write to {target}: {problem}")
    if state.baseline_path is not None:
        try:
            if state.update_baseline:
                if state.baseline_path.exists():  # refuse to overwrite a malformed file
                    baseline_mod.load(state.baseline_path)
            else:
                state.baseline_entries = baseline_mod.load(state.baseline_path)
        except baseline_mod.BaselineError as e:
            raise pytest.UsageError(f"--scaling-baseline: {e}") from None
    config.stash[_state_key] = state


def _state(config: pytest.Config) -> ScalingState:
    return config.stash[_state_key]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every claim marker's keywords before anything runs: a usage error names the test."""
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is None:
            continue
        kw = marker.kwargs
        try:
            if "evidence" in kw:
                check_evidence(kw["evidence"], "claim marker evidence=")
            for name in ("headline", "rule"):
                if name in kw and not isinstance(kw[name], str):
                    raise ValueError(f"claim marker {name}= must be a string (got {kw[name]!r})")
        except ValueError as e:
            raise pytest.UsageError(f"{item.nodeid}: {e}") from None


# --- devices ------------------------------------------------------------------------------

def _cuda_available() -> bool:
    try:
        import torch  # deferred: heavy, and only asked for when a test takes `device`
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" not in metafunc.fixturenames or _state_key not in metafunc.config.stash:
        return
    params = []
    state = _state(metafunc.config)
    for name in state.resolved_devices():
        marks = []
        if name == "cuda" and not _cuda_available():
            asked = ",".join(state.devices)
            marks.append(pytest.mark.skip(reason=f"cuda is not available (--scaling-device={asked}; "
                                                 "torch.cuda.is_available() is False)"))
        params.append(pytest.param(name, marks=marks, id=name))
    metafunc.parametrize("device", params)


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tier(pytestconfig: pytest.Config) -> Tier:
    """The budget tier chosen with --scaling-tier."""
    return _state(pytestconfig).tier


@pytest.fixture(scope="session")
def store_path(pytestconfig: pytest.Config) -> Path:
    """The run store chosen with --scaling-store."""
    return _state(pytestconfig).store_path


@pytest.fixture(scope="session")
def scaling_source(pytestconfig: pytest.Config) -> str:
    """The data source of the empirical claims, chosen with --scaling-source."""
    return _state(pytestconfig).source


@pytest.fixture(scope="session")
def model_family():
    """The model family of the empirical claims: a size dial to GPTConfigs.

    Override this fixture in your conftest.py to run the claims on your own architecture.
    """
    from scaling.family import default_model_family  # deferred: imports torch

    return default_model_family()


def _recorder(item: pytest.Item, marker: pytest.Mark) -> ClaimRecorder:
    """The recorder of `item`'s claim (its ClaimResult made on first use), kept in its stash."""
    state = _state(item.config)
    callspec = getattr(item, "callspec", None)
    device = callspec.params.get("device", "cpu") if callspec else "cpu"
    key = (marker.args[0], device)
    kw = marker.kwargs
    evidence = kw.get("evidence", UNKNOWN_EVIDENCE)
    if key not in state.claims:
        state.claims[key] = ClaimResult(
            id=marker.args[0], title=kw.get("title", marker.args[0]), source=kw.get("source", ""),
            quote=kw.get("quote", ""), device=device, tier=state.tier.name,
            declared_evidence=evidence, headline=kw.get("headline"), rule=kw.get("rule", ""),
        )
    recorder = ClaimRecorder(state.claims[key], state, evidence)
    item.stash[_recorder_key] = recorder
    return recorder


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> ClaimRecorder:
    """Records measurements, figures and the verdict of the test's `@pytest.mark.claim`."""
    marker = request.node.get_closest_marker("claim")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses the `claim` fixture but has no "
            "@pytest.mark.claim(id, title=..., source=...) marker"
        )
    return _recorder(request.node, marker)


# --- outcomes, verdicts and durations -----------------------------------------------------

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # tryfirst: the outermost wrapper, so the report already carries the xfail outcome
    report = yield
    recorder = item.stash.get(_recorder_key, None)
    marker = item.get_closest_marker("claim")
    if (recorder is None and report.when == "setup" and report.failed and marker is not None
            and marker.args and _state_key in item.config.stash):
        recorder = _recorder(item, marker)  # a fixture failed before `claim` was made
    if recorder is None:
        return report
    result = recorder._result
    result.duration_s += report.duration
    not_applicable = call.excinfo is not None and call.excinfo.errisinstance(NotApplicable)
    decisive = report.when == "call" or (report.when == "setup" and (
        report.failed or hasattr(report, "wasxfail") or not_applicable))
    if decisive and not any(t["nodeid"] == item.nodeid for t in result.tests):
        verdict, reason = outcome_verdict(item, report, call, recorder)
        outcome = "xfailed" if report.skipped and hasattr(report, "wasxfail") else report.outcome
        result.tests.append({"nodeid": item.nodeid, "outcome": outcome, "verdict": verdict})
        result.verdict = worst_verdict(t["verdict"] for t in result.tests)
        if reason and reason not in result.reasons:
            result.reasons.append(reason)
    return report


# --- end of session: report, baseline -----------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _state_key not in config.stash:
        return
    state = _state(config)
    claims = [c for c in state.claims.values() if c.tests]
    # an xfail that passes fails the run even where xfail is not strict: the marker must go
    _fail_if(session, any(c.verdict == "reproduced_unexpectedly" for c in claims))
    if state.report_dir is not None:
        env = environment_info(state.resolved_devices(), config.rootpath, state.environment_extra)
        env["tier"] = state.tier.name
        try:
            state.written = write_report(state.report_dir, build_report(claims, env, state.tier.name))
        except OSError as e:
            state.write_errors.append(f"scaling report: could not write into {state.report_dir}: "
                                      f"{_os_error(e)}; files already there are kept as they were")
    if state.baseline_path is None:
        _fail_if(session, bool(state.write_errors))
        return
    if state.update_baseline:
        try:
            state.baseline_written = baseline_mod.update(state.baseline_path, claims)
        except OSError as e:
            state.write_errors.append(f"scaling baseline: could not write {state.baseline_path}: "
                                      f"{_os_error(e)}; the previous baseline is kept")
        _fail_if(session, bool(state.write_errors))
        return
    state.drifts, state.new_keys = baseline_mod.compare(state.baseline_entries or {}, claims)
    _fail_if(session, bool(state.drifts or state.write_errors))


def _os_error(e: OSError) -> str:
    return " ".join(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}".split())


def _fail_if(session: pytest.Session, failed: bool) -> None:
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _state_key not in config.stash:
        return
    state = _state(config)
    tr = terminalreporter
    claims = [c for c in state.claims.values() if c.tests]
    if claims:
        tr.section("scaling claims")
        for c in sorted(claims, key=lambda c: (c.id, c.device)):
            tr.write_line(f"{c.verdict:>23}  {c.id} [{c.device}, {c.tier}, {c.evidence}]  "
                          f"({c.duration_s:.1f} s)")
    for line in state.write_errors:
        tr.write_line(line, red=True)
    if state.written:
        tr.write_line(f"scaling report written to {state.written[0].parent}/ "
                      f"({', '.join(p.name for p in state.written)})")
    if state.baseline_path is None:
        return
    if state.update_baseline:
        if not state.write_errors:
            tr.write_line(f"scaling baseline {state.baseline_path}: {state.baseline_written} "
                          "measurements written")
        return
    if state.drifts:
        tr.section("scaling baseline drifts", red=True)
        for d in state.drifts:
            tr.write_line(d.message(state.baseline_path), red=True)
    if state.new_keys:
        tr.write_line(f"{len(state.new_keys)} measurements are not in {state.baseline_path} yet "
                      f"(add them with {baseline_mod.UPDATE_FLAG}): "
                      + ", ".join(state.new_keys[:5]) + (" ..." if len(state.new_keys) > 5 else ""))
    if not state.drifts:
        tr.write_line(f"scaling baseline {state.baseline_path}: no drift past tolerance")
