"""Sweeps: grids of training runs, keyed, stored, and never trained twice.

A `Job` is (config, source spec, settings). `run_key` hashes everything that determines
its result (config, data fingerprint, settings incl. seed and device, engine version), so
a finished run found in the `RunStore` is reused, whoever trained it and wherever.
`run_sweep` checks every job before any training starts, trains the missing ones on an
executor (see `scaling.executors`) and writes each result as soon as it arrives, from
this process only. Planning, keying and storing import no torch: with local workers, only
the workers do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling import data
from scaling.executors import check_executor, execute
from scaling.family import ModelFamily, width_family
from scaling.config import GPTConfig
from scaling.params import count_params
from scaling.scheduling import concurrency, longest_first, sweep_workers, threads_for
from scaling.store import RunStore
from scaling.run import ENGINE_VERSION, Run
from scaling.settings import TrainSettings, validate

__all__ = ["Job", "RunStore", "SweepError", "SweepResult", "job_keys",
           "make_jobs", "run_key", "run_sweep", "sweep", "threads_for"]


class SweepError(RuntimeError):
    """Some runs of a sweep raised; the others finished and are in the store."""


@dataclass(frozen=True)
class Job:
    """One run to do: a model config, a data source spec (for `make_source`) and settings."""

    config: GPTConfig
    source_spec: str
    settings: TrainSettings

    def __post_init__(self):
        if not isinstance(self.config, GPTConfig):
            raise ValueError(f"'config' must be a GPTConfig (got config={self.config!r})")
        if not isinstance(self.source_spec, str) or not self.source_spec:
            raise ValueError(f"'source_spec' must be a non-empty string (got source_spec={self.source_spec!r})")
        if not isinstance(self.settings, TrainSettings):
            raise ValueError(f"'settings' must be a TrainSettings (got settings={self.settings!r})")

    def payload(self, fingerprint: str | None, concurrent_runs: int | None) -> dict[str, Any]:
        """The JSON-able form a worker trains from; it checks its data against `fingerprint`."""
        return {"config": dataclasses.asdict(self.config), "source_spec": self.source_spec,
                "fingerprint": fingerprint, "settings": self.settings.to_dict(),
                "concurrent_runs": concurrent_runs}


def run_key(job: Job, fingerprint: str) -> str:
    """sha256 (hex) of everything that determines the job's result.

    The data enters by its fingerprint, not its spec, so the same corpus reached by two
    paths shares runs and an edited corpus does not.
    """
    ident = {
        "config": dataclasses.asdict(job.config),
        "data": fingerprint,
        "settings": job.settings.to_dict(),
        "engine": ENGINE_VERSION,
    }
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def make_jobs(source_spec: str, sizes: Iterable[int], *, n_layer: int | None = None, n_ctx: int,
              vocab_size: int, tokens: Iterable[int] = (), flops: Iterable[float] = (),
              seeds: Iterable[int] = (0,), family: ModelFamily | None = None, **settings: Any) -> list[Job]:
    """The grid sizes × budgets × seeds; budgets in tokens, or in FLOPs C (D = C / 6N_total).

    Sizes are dial values of `family`; without one, widths d_model of
    `width_family(n_layer)`, the claims' own size dial (heads about 16 wide, d_ff = 4·d_model).
    6N with total parameters is Chinchilla's convention (Hoffmann et al. 2022, §3, C ≈ 6ND).
    """
    tokens, flops, seeds = list(tokens), list(flops), list(seeds)
    if bool(tokens) == bool(flops):
        raise ValueError(f"give token budgets or FLOP budgets, exactly one (got tokens={tokens}, flops={flops})")
    if (family is None) == (n_layer is None):
        raise ValueError(f"give n_layer or family, exactly one (got n_layer={n_layer!r}, family={family!r})")
    dial = "d_model" if family is None else "dial"  # what a size is, for the error message
    family = width_family(n_layer=n_layer) if family is None else family
    jobs = []
    for d in sizes:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ValueError(f"'{dial}' must be a positive integer (got {dial}={d!r})")
        cfg = family.config(d, n_ctx=n_ctx, vocab_size=vocab_size)
        n = count_params(cfg).total
        budgets = tokens or [int(c // (6 * n)) for c in flops]
        for i, t in enumerate(budgets):
            if flops and t <= 0:
                raise ValueError(f"'flops' budget {flops[i]:g} is below one token for d_model={d} "
                                 f"(6N = {6 * n:g} FLOPs per token)")
            for s in seeds:
                jobs.append(Job(cfg, source_spec, TrainSettings(tokens=t, seed=s, **settings)))
    return jobs


def run_sweep(jobs: Sequence[Job], store: RunStore | str | Path, workers: int | None = None,
              executor: str = "local", progress: bool = False) -> list[Run]:
    """Every job's `Run`, in job order: from the store when finished before, else trained.

    Everything is checked (sources, configs against sources, budgets) before anything
    trains. Workers (None: the policy's default for the jobs' device), threads and order
    (longest first) are `scaling.scheduling`'s. Each new result is written to the store the moment it arrives, so a sweep
    killed at any point loses no finished run. Runs that raise do not stop the others;
    a `SweepError` naming them is raised at the end.
    """
    return sweep(jobs, store, workers, executor, progress).runs


@dataclass(frozen=True)
class SweepResult:
    """`run_sweep`'s runs with their keys and which of them came from the store."""

    runs: list[Run]
    keys: list[str]
    reused: frozenset[str]


def sweep(jobs: Sequence[Job], store: RunStore | str | Path, workers: int | None = None,
          executor: str = "local", progress: bool = False) -> SweepResult:
    """`run_sweep`, also telling which runs were reused (for the CLI's summary)."""
    check_executor(executor)
    jobs = list(jobs)
    workers = sweep_workers(workers, [j.settings.device for j in jobs if isinstance(j, Job)])
    keys, sources = _plan(jobs)
    own_store = not isinstance(store, RunStore)
    store = RunStore(store) if own_store else store
    try:
        runs: dict[str, Run] = {}
        for k in dict.fromkeys(keys):
            found = store.get(k)
            if found is not None:
                runs[k] = found
        job_of = dict(zip(keys, jobs))
        todo = [k for k in dict.fromkeys(keys) if k not in runs]  # each distinct run once
        held = set(store.claim(todo))  # the others are being trained by another process
        todo, others = [k for k in todo if k in held], [k for k in todo if k not in held]
        todo = [todo[i] for i in longest_first([job_of[k] for k in todo])]
        concurrent = concurrency(executor, workers, len(todo))
        payloads = [job_of[k].payload(sources[job_of[k].source_spec].fingerprint, concurrent)
                    for k in todo]
        errors = []
        with _progress_bar(len(todo), progress) as bar:
            for i, result in execute(payloads, executor, workers, sources):
                if isinstance(result, BaseException):
                    errors.append((job_of[todo[i]], result))
                else:
                    run = Run.from_dict(result)
                    store.put(todo[i], run)
                    runs[todo[i]] = run
                    bar.set_postfix_str(f"d={run.config['d_model']} loss={run.eval_loss:.4f}")
                bar.update(1)
        if errors:
            lines = "; ".join(f"{_describe(j)}: {type(e).__name__}: {e}" for j, e in errors)
            raise SweepError(f"{len(errors)} of {len(todo)} runs failed: {lines}") from errors[0][1]
        waited, trained_here = _wait_for_others(store, others, job_of, workers, executor, progress)
        runs.update(waited)
        reused = frozenset(runs).difference(todo, trained_here)
        return SweepResult(runs=[runs[k] for k in keys], keys=keys, reused=reused)
    finally:
        store.release()  # leases of runs that failed or were interrupted
        if own_store:
            store.close()


def _wait_for_others(store: RunStore, keys: list[str], job_of: dict[str, Job], workers: int,
                     executor: str, progress: bool) -> tuple[dict[str, Run], set[str]]:
    """The runs another process holds leases on, waited for or (if it dies) trained here; and
    the keys trained here."""
    got: dict[str, Run] = {}
    trained: set[str] = set()
    while keys:
        found, free = store.wait(keys)
        got.update(found)
        if free:  # their owner died or gave up: claim and train them here
            result = sweep([job_of[k] for k in free], store, workers, executor, progress)
            got.update(zip(result.keys, result.runs))
            trained.update(set(result.keys) - result.reused)
        keys = [k for k in keys if k not in got]
    return got, trained


def job_keys(jobs: Sequence[Job]) -> list[str]:
    """Check every job against its source (ValueError naming the value) and return its run key."""
    return _plan(list(jobs))[0]


def _plan(jobs: list[Job]) -> tuple[list[str], dict[str, Any]]:
    """(run key of each job, source of each spec); builds each distinct source once."""

    sources: dict[str, Any] = {}
    keys = []
    for job in jobs:
        if not isinstance(job, Job):
            raise ValueError(f"'jobs' must hold Job objects (got {job!r})")
        if job.source_spec not in sources:
            sources[job.source_spec] = data.make_source(job.source_spec)
        source = sources[job.source_spec]
        try:
            validate(job.config, source, job.settings)
        except ValueError as e:
            raise ValueError(f"{e} [in job {_describe(job)}]") from e
        keys.append(run_key(job, source.fingerprint))
    return keys, sources


def _describe(job: Job) -> str:
    c, s = job.config, job.settings
    return (f"{job.source_spec} L={c.n_layer} d={c.d_model} tokens={s.tokens} "
            f"seed={s.seed} device={s.device}")


class _NoBar:
    """Stands in for a tqdm bar when progress is off."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm  # deferred: only a sweep that shows a bar needs it

    return tqdm(total=total, unit="run", desc="sweep", dynamic_ncols=True)
