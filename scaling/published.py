"""One reader for the published data sets this project refits (numpy only, no torch).

- Besiroglu et al. 2024 (Epoch AI): the 245 (N, C, loss) points they extracted from
  Hoffmann et al. 2022, Fig. 4, `chinchilla_fig4_epoch.csv`.
- Porian et al. 2024 (arXiv:2406.19146): the released IsoFLOP points of their 15
  configurations, `porian2024/porian2024_isoflop.csv`, and their fitted per-budget optima,
  `porian2024/porian2024_optima.csv` (columns described in that folder's README).

The files are never copied into the repository: they live in a `shared/data` folder beside
the checkout (`../shared/data` from the repository root), found by `data_dir`. Every file is
checked against the md5 of the published copy before it is parsed, and every error names the
file: `DataMissing` (a FileNotFoundError) when it is absent, `DataError` (a ValueError) for a
wrong md5, a missing column or a value that is not a number.

    from scaling.published import load_porian_isoflop
    pts = load_porian_isoflop(dataset="rw", config="kaplan_repro")
    pts.C, pts.N, pts.loss  # numpy arrays, one entry per (budget, model)
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EPOCH_FILE = "chinchilla_fig4_epoch.csv"
PORIAN_ISOFLOP_FILE = "porian2024/porian2024_isoflop.csv"
PORIAN_OPTIMA_FILE = "porian2024/porian2024_optima.csv"
# md5 of the published copies: Epoch's computed from the file as released with Besiroglu et
# al. 2024; Porian's as listed in the README of ../shared/data/porian2024.
MD5 = {
    EPOCH_FILE: "0e6c634f7ff189463f2638cb60fc32ab",
    PORIAN_ISOFLOP_FILE: "a89e69e2b55703af6e5adf5e8a4c62b2",
    PORIAN_OPTIMA_FILE: "d5100ba026df7fa04af77106f0563906",
}
CITATION = {
    EPOCH_FILE: "Besiroglu et al. 2024, Chinchilla Fig. 4 points",
    PORIAN_ISOFLOP_FILE: "Porian et al. 2024, released IsoFLOP points",
    PORIAN_OPTIMA_FILE: "Porian et al. 2024, released per-budget optima",
}


class DataMissing(FileNotFoundError):
    """A published data file is not where it was looked for; the message says where."""


class DataError(ValueError):
    """A published data file is not the published copy or cannot be parsed; the message names it."""


def data_dir(start: str | Path | None = None) -> Path:
    """The `shared/data` folder: `<root>/../shared/data`, root being `start` or the repository.

    `start` may be the repository root or any folder inside it: `shared/data` is looked for
    in it and then in each folder above it, the nearest found is taken. The path is returned whether or not it exists,
    so that an error can say where the data was looked for.
    """
    here = Path(start).resolve() if start is not None else Path(__file__).resolve().parents[1]
    for folder in (here, *here.parents):
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return here.parent / "shared" / "data"


def verified_path(name: str, directory: str | Path | None = None) -> Path:
    """The path of published file `name` under the data folder, after its md5 is checked."""
    if name not in MD5:
        raise ValueError(f"'name' must be one of {', '.join(MD5)} (got name={name!r})")
    folder = Path(directory) if directory is not None else data_dir()
    path = folder / name
    if not path.is_file():
        raise DataMissing(f"{CITATION[name]} not found at {path}: the data stay outside the "
                          "repository, in ../shared/data beside the checkout")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    if md5 != MD5[name]:
        raise DataError(f"{path} has md5 {md5}, not the published copy's {MD5[name]}")
    return path


def read_table(path: Path, numeric: tuple[str, ...], text: tuple[str, ...] = (),
               optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Columns of a CSV as arrays: `numeric` as floats, `text` as strings; DataError names the file.

    A column in `optional` may hold empty fields (NaN); any other empty or non-numeric field
    is an error naming the file, the line and the column.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        missing = [c for c in numeric + text if c not in header]
        if missing:
            raise DataError(f"{path} has no column {', '.join(map(repr, missing))} "
                            f"(found: {', '.join(header)})")
        out: dict[str, list] = {c: [] for c in numeric + text}
        for line, row in enumerate(reader, start=2):  # line 1 is the header
            for c in text:
                out[c].append(row[c] or "")
            for c in numeric:
                field = (row[c] or "").strip()
                if not field and c in optional:
                    out[c].append(math.nan)
                    continue
                try:
                    out[c].append(float(field))
                except ValueError:
                    raise DataError(f"{path}, line {line}, column {c!r}: could not parse "
                                    f"{field!r} as a number") from None
    return {c: np.array(v, dtype=float if c in numeric else object) for c, v in out.items()}


# --- Besiroglu et al. 2024: Chinchilla Fig. 4 ---------------------------------------------------

@dataclass(frozen=True, eq=False)
class EpochPoints:
    """Epoch's 245 points: parameters N, training FLOPs C (= 6ND) and loss, in file order."""

    N: np.ndarray
    C: np.ndarray
    loss: np.ndarray
    path: Path

    @property
    def D(self) -> np.ndarray:
        """Training tokens, D = C/(6N) (Hoffmann et al. 2022 count C = 6ND)."""
        return self.C / (6.0 * self.N)


def load_epoch_chinchilla(directory: str | Path | None = None) -> EpochPoints:
    """Epoch's extraction of Chinchilla Fig. 4 (all 245 points; Epoch drop the 5 highest-loss)."""
    path = verified_path(EPOCH_FILE, directory)
    t = read_table(path, ("Model Size", "Training FLOP", "loss"))
    return EpochPoints(N=t["Model Size"], C=t["Training FLOP"], loss=t["loss"], path=path)


# --- Porian et al. 2024 -----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class PorianPoints:
    """IsoFLOP points, one per (dataset, config, budget, model), N in the config's accounting."""

    dataset: np.ndarray
    config: np.ndarray
    C: np.ndarray  # the budget, FLOPs = 6 N D in the config's accounting
    N: np.ndarray  # `params`: the config's parameter count (Porian et al. Table 1 accountings)
    D: np.ndarray  # tokens
    loss: np.ndarray  # nats/token, the minimum over runs of this size at this budget
    loss_noise_std: np.ndarray  # the std of the noise their bootstrap adds to each loss
    width: np.ndarray
    depth: np.ndarray
    path: Path


@dataclass(frozen=True, eq=False)
class PorianOptima:
    """Their per-budget optima, one per (dataset, config, budget); NaN where there is none."""

    dataset: np.ndarray
    config: np.ndarray
    C: np.ndarray
    n_points: np.ndarray
    n_star: np.ndarray  # median of the valid bootstrap argmins of their Akima interpolant
    n_star_std: np.ndarray  # std of log n* over the valid replicates (their fit's weight 1/std²)
    loss_star: np.ndarray
    in_fit: np.ndarray  # True where the budget enters their power-law fit
    path: Path


def load_porian_isoflop(directory: str | Path | None = None, *, dataset: str | None = None,
                        config: str | None = None) -> PorianPoints:
    """Porian et al.'s IsoFLOP points, optionally only one dataset ('rw', 'owt2') or config."""
    path = verified_path(PORIAN_ISOFLOP_FILE, directory)
    t = read_table(path, ("flops", "params", "tokens", "loss", "loss_noise_std", "width", "depth"),
                   ("dataset", "config"))
    keep = _selection(path, t, dataset, config)
    return PorianPoints(dataset=t["dataset"][keep], config=t["config"][keep], C=t["flops"][keep],
                        N=t["params"][keep], D=t["tokens"][keep], loss=t["loss"][keep],
                        loss_noise_std=t["loss_noise_std"][keep], width=t["width"][keep],
                        depth=t["depth"][keep], path=path)


def load_porian_optima(directory: str | Path | None = None, *, dataset: str | None = None,
                       config: str | None = None) -> PorianOptima:
    """Porian et al.'s fitted optimum per budget, optionally only one dataset or config."""
    path = verified_path(PORIAN_OPTIMA_FILE, directory)
    t = read_table(path, ("flops", "n_points", "n_star", "n_star_std", "loss_star", "in_fit"),
                   ("dataset", "config"), optional=("n_star", "n_star_std", "loss_star"))
    keep = _selection(path, t, dataset, config)
    return PorianOptima(dataset=t["dataset"][keep], config=t["config"][keep], C=t["flops"][keep],
                        n_points=t["n_points"][keep], n_star=t["n_star"][keep],
                        n_star_std=t["n_star_std"][keep], loss_star=t["loss_star"][keep],
                        in_fit=t["in_fit"][keep] == 1, path=path)


def porian_configs(directory: str | Path | None = None) -> list[tuple[str, str]]:
    """The (dataset, config) pairs of the released IsoFLOP points, in file order (15)."""
    pts = load_porian_isoflop(directory)
    return list(dict.fromkeys(zip(pts.dataset.tolist(), pts.config.tolist())))


def _selection(path: Path, t: dict[str, np.ndarray], dataset: str | None, config: str | None) -> np.ndarray:
    keep = np.ones(t["dataset"].size, dtype=bool)
    for column, value in (("dataset", dataset), ("config", config)):
        if value is None:
            continue
        hit = keep & (t[column] == value)
        if not hit.any():
            known = ", ".join(dict.fromkeys(t[column][keep].tolist()))
            raise ValueError(f"{path} has no rows with {column}={value!r} (there: {known})")
        keep = hit
    return keep
