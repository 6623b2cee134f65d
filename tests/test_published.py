"""Tests for scaling.published (the md5-checked reader) and scaling.isoflop (local-parabola IsoFLOP fit)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.cli import main
from scaling.fit import FitError
from scaling.isoflop import _replicate_vertices, fit_local_isoflop, local_minimum
from scaling.published import (
    EPOCH_FILE,
    MD5,
    PORIAN_ISOFLOP_FILE,
    DataError,
    DataMissing,
    data_dir,
    load_epoch_chinchilla,
    load_porian_isoflop,
    load_porian_optima,
    porian_configs,
    read_table,
    verified_path,
)

SHARED = data_dir()
needs_data = pytest.mark.skipif(not (SHARED / PORIAN_ISOFLOP_FILE).is_file(),
                                reason=f"the published data are not at {SHARED} (kept outside the repository)")

# A Chinchilla-form surface L = E + A/N^alpha + B/D^beta with D = C/6N has N* ∝ C^(beta/(alpha+beta))
# (Hoffmann et al. 2022, eq. 4): with these exponents a = 0.3/0.65.
ALPHA, BETA, A, B, E = 0.35, 0.30, 400.0, 400.0, 1.7
PLANTED_A = BETA / (ALPHA + BETA)


def _surface(budgets, sizes_per_budget=9, span=30.0, noise=0.0, seed=0, alpha=ALPHA, beta=BETA, offset=1.13):
    """IsoFLOP runs on the planted surface: sizes geometric over `span` about offset x each true optimum."""
    rng = np.random.default_rng(seed)
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))  # Hoffmann et al. 2022, eq. 4
    C, N, L = [], [], []
    for c in budgets:
        n_opt = G * (c / 6) ** (beta / (alpha + beta))
        n = n_opt * np.geomspace(1 / math.sqrt(span), math.sqrt(span), sizes_per_budget) * offset
        d = c / (6 * n)
        C += [c] * n.size
        N += list(n)
        L += list(E + A / n ** alpha + B / d ** beta + noise * rng.standard_normal(n.size))
    return np.array(C), np.array(N), np.array(L)


# --- the reader -----------------------------------------------------------------------------------

def test_missing_file_is_named(tmp_path):
    """A file absent from the data folder raises DataMissing naming the path it looked at."""
    with pytest.raises(DataMissing, match=str(tmp_path / EPOCH_FILE)):
        load_epoch_chinchilla(tmp_path)


def test_md5_mismatch_is_named(tmp_path):
    """A changed copy raises DataError with the file, its md5 and the published md5."""
    (tmp_path / EPOCH_FILE).write_text("x,y,color,Model Size,Training FLOP,hex_color,loss\n")
    with pytest.raises(DataError) as e:
        load_epoch_chinchilla(tmp_path)
    assert str(tmp_path / EPOCH_FILE) in str(e.value) and MD5[EPOCH_FILE] in str(e.value)


def test_unknown_name_is_refused():
    """verified_path only serves the published files it knows the md5 of."""
    with pytest.raises(ValueError, match="'name' must be one of"):
        verified_path("../../etc/passwd")


def test_bad_column_and_bad_value_are_named(tmp_path):
    """read_table names the file and the missing column, or the line, column and field it cannot parse."""
    f = tmp_path / "t.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"t\.csv has no column 'c' \(found: a, b\)"):
        read_table(f, ("a", "c"))
    f.write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(DataError, match=r"t\.csv, line 3, column 'b': could not parse 'oops'"):
        read_table(f, ("a", "b"))
    f.write_text("a,b\n1,\n")
    assert math.isnan(read_table(f, ("a", "b"), optional=("b",))["b"][0])


def test_data_dir_from_a_given_directory(tmp_path):
    """data_dir finds shared/data beside a checkout from the checkout or any folder inside it."""
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo" / "claims").mkdir(parents=True)
    assert data_dir(tmp_path / "repo") == tmp_path / "shared" / "data"
    assert data_dir(tmp_path / "repo" / "claims") == tmp_path / "shared" / "data"


@needs_data
def test_epoch_points_load():
    """Epoch's file loads as 245 points with D = C/(6N)."""
    pts = load_epoch_chinchilla()
    assert pts.N.size == 245 and np.allclose(6 * pts.N * pts.D, pts.C)


@needs_data
def test_porian_filter_and_counts(tmp_path):
    """The dataset/config filter keeps only those rows (README counts); an unknown value is named."""
    pts = load_porian_isoflop(dataset="rw", config="kaplan_repro")
    assert pts.C.size == 107 and set(pts.dataset) == {"rw"} and set(pts.config) == {"kaplan_repro"}
    assert np.allclose(6 * pts.N * pts.D, pts.C, rtol=1e-12)
    assert load_porian_isoflop().C.size == 1745 and len(porian_configs()) == 15
    opt = load_porian_optima(dataset="owt2")
    assert opt.C.size == 60 and np.all(np.isnan(opt.n_star[~opt.in_fit]))
    with pytest.raises(ValueError, match="config='nope'.*kaplan_repro"):
        load_porian_isoflop(config="nope")
    shutil.copy(SHARED / PORIAN_ISOFLOP_FILE, tmp_path / "x.csv")  # the md5 is the file's, not its name's
    with pytest.raises(DataMissing):
        load_porian_isoflop(tmp_path)


# --- the IsoFLOP fit --------------------------------------------------------------------------------

def test_planted_exponent_is_recovered():
    """On a noisy planted surface the local-parabola fit recovers a = beta/(alpha+beta) inside its 95% interval."""
    budgets = 1e17 * 2.0 ** np.arange(10)
    C, N, L = _surface(budgets, noise=0.002)
    fit = fit_local_isoflop(C, N, L, noise_std=0.002, bootstrap=300, level=0.95, seed=1)
    assert len(fit.minima) == 10 and not fit.refused
    assert fit.a == pytest.approx(PLANTED_A, abs=0.02)
    assert fit.interval.contains(PLANTED_A) and fit.interval.high - fit.interval.low < 0.1


def test_noise_free_planted_exponent_is_exact_to_the_parabola_error():
    """Without noise the local parabola on dense profiles recovers a to 0.005."""
    C, N, L = _surface(1e17 * 2.0 ** np.arange(8), sizes_per_budget=15)
    assert fit_local_isoflop(C, N, L).a == pytest.approx(PLANTED_A, abs=0.005)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.2, 0.5), beta=st.floats(0.2, 0.5), offset=st.floats(0.6, 1.6))
def test_any_planted_exponent_is_recovered(alpha, beta, offset):
    """For any planted alpha, beta and an off-centre grid, the noise-free fit recovers beta/(alpha+beta) to 0.01."""
    C, N, L = _surface(1e17 * 2.0 ** np.arange(8), sizes_per_budget=13, alpha=alpha, beta=beta, offset=offset)
    assert fit_local_isoflop(C, N, L).a == pytest.approx(beta / (alpha + beta), abs=0.01)


def test_unbracketed_minimum_is_refused():
    """A budget whose lowest loss is its smallest model is refused by name; fewer than 2 left is a FitError."""
    C, N, L = _surface([1e18, 2e18, 4e18])
    edge = C == 4e18
    L[edge] = L[edge] + np.linspace(0, 1, edge.sum())  # loss rises with N: minimum at the smallest model
    fit = fit_local_isoflop(C, N, L)
    assert len(fit.minima) == 2 and len(fit.refused) == 1 and "C=4e+18" in fit.refused[0]
    assert "add smaller models" in fit.refused[0]
    with pytest.raises(FitError, match="grid edge"):
        local_minimum(N[edge], L[edge], 4e18)
    with pytest.raises(FitError, match="2 or more budgets"):
        fit_local_isoflop(C[C >= 2e18], N[C >= 2e18], np.where(C[C >= 2e18] == 2e18, L[C >= 2e18][::-1], L[C >= 2e18]))


def test_bootstrap_vertices_match_the_point_estimate_without_noise():
    """The vectorized replicate fit gives local_minimum's vertex when no noise is added."""
    C, N, L = _surface([1e18], sizes_per_budget=11)
    v = _replicate_vertices(N, L, np.zeros_like(L), 2, 4, np.random.default_rng(0))
    assert np.allclose(v, math.log(local_minimum(N, L, 1e18).N_opt), atol=1e-9)


def test_bad_arguments_are_named():
    """Bad noise, bootstrap or window values raise ValueError naming the argument."""
    C, N, L = _surface([1e18, 2e18])
    with pytest.raises(ValueError, match="'noise_std'"):
        fit_local_isoflop(C, N, L, noise_std=-1)
    with pytest.raises(ValueError, match="'bootstrap'"):
        fit_local_isoflop(C, N, L, bootstrap=2.5)
    with pytest.raises(ValueError, match="'half_window'"):
        fit_local_isoflop(C, N, L, half_window=0)
    with pytest.raises(ValueError, match="'C', 'N' and 'L'"):
        fit_local_isoflop(C[:-1], N, L)


# --- the CLI --------------------------------------------------------------------------------------

def _write_isoflop_csv(path: Path) -> Path:
    C, N, L = _surface(1e17 * 2.0 ** np.arange(6), noise=0.001)
    lines = ["config,flops,params,loss,loss_noise_std"]
    lines += [f"planted,{c:.17g},{n:.17g},{loss:.17g},0.001" for c, n, loss in zip(C, N, L)]
    lines += [f"other,{c:.17g},{n:.17g},{loss + 0.5 * math.log(n):.17g},0.001" for c, n, loss in zip(C, N, L)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_fit_isoflop_prints_a_with_its_interval(capsys, tmp_path):
    """scaling fit --law isoflop --where config=planted prints the planted a with a 95% interval."""
    f = _write_isoflop_csv(tmp_path / "iso.csv")
    assert main(["fit", str(f), "--law", "isoflop", "--where", "config=planted", "--bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("N* ="))
    a = float(line.split("a = ")[1].split(",")[0])
    assert a == pytest.approx(PLANTED_A, abs=0.02) and "95% interval [" in line and "6 of 6 budgets" in line
    assert "noise = 'loss_noise_std'" in out and "where config=planted" in out


def test_cli_where_errors_are_one_line(capsys, tmp_path):
    """An unknown --where value or column is a one-line error naming it and what is there."""
    f = _write_isoflop_csv(tmp_path / "iso.csv")
    lines = f.read_text().splitlines()
    lines[-1] = lines[-1].replace("0.001", "x")  # a bad field in the last line, kept by the filter
    f.write_text("\n".join(lines) + "\n")
    for where, needles in (("config=nope", ("'config=nope'", "other, planted")),
                           ("colour=red", ("'colour=red'", "config, flops")),
                           ("config=other", (f"line {len(lines)}", "'loss_noise_std'", "'x'"))):
        code = main(["fit", str(f), "--law", "isoflop", "--where", where])
        out, err = capsys.readouterr()
        assert code != 0 and out == "" and len(err.strip().splitlines()) == 1
        assert all(n in err for n in needles), err
