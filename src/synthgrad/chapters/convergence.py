"""Chapter 3 (RQ2): does SG learning converge, and to what?

The chapter's runs (the four models, the diagnosis of the deep linear network, separable
labels, the controlled-error experiment, the phase diagram), their reduction to what its claims
and numbers are decided on (:func:`measure`; the store's, :func:`measure_long`, with its grid
in :mod:`synthgrad.chapters.convergence_store`), and :func:`finish`. The
claims, the numbers and the measures they read (:class:`Measures`, :class:`Long`) are in
:mod:`synthgrad.chapters.convergence_claims`, imported here, so that the notebook and the tests
find them on this module; its figures, tables and widget in
:mod:`synthgrad.chapters.convergence_figures`; the science (problems, optima, how a run is
judged) in :mod:`synthgrad.convergence`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .. import blocks, chapters, shallow, store
from .. import convergence as cv
from .. import params as P
from ..train import History
from . import Interface
from .convergence_claims import (
    DEEP,
    DIMS,
    GD_REFERENCE,
    IN_2D,
    TRACKING_MODES,
    Measures,
    Shallow,
    claims,
    numbers,
)
from .convergence_claims import Long as Long  # the tests' constructed store measures
from .convergence_claims import diagnosis_counts as diagnosis_counts  # the notebook's table
from .convergence_store import EXPERIMENT as EXPERIMENT  # make paper's, the notebook's
from .convergence_store import final_loss, long_numbers, measure_long

INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 3, "n_points": 500, "steps": 3000, "lr": 0.003,
        "sg_lr": None, "depth": 10, "width": 16, "sgd_lr": 0.05, "sgd_steps": 1000,
        "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "n_points": P.integer(500, 20000),
        "steps": P.integer(1), "lr": P.number(0, 1, low_open=True),
        "sg_lr": P.positive(optional=True), "depth": P.integer(2, 50), "width": P.integer(1),
        "sgd_lr": P.number(0, 10, low_open=True), "sgd_steps": P.integer(1),
        "quick": P.flag(),
    },
    record=("seed", "n_seeds", "n_points", "steps", "lr", "sg_lr", "depth", "width",
            "sgd_lr", "sgd_steps", "errors", "phase_lrs", "widget_steps"),
    settings=dict(
        errors=[0.0, 0.5, 0.9, 1.0, 1.5, 2.0],
        phase_lrs=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
        widget_steps=1500,
    ),
    quick=dict(steps=30, sgd_steps=30, n_seeds=2, depth=4, width=4, errors=[0.0, 0.5, 1.5],
               phase_lrs=[0.01, 1.0, 3.0], widget_steps=30),
)  # fmt: skip

# the four models of (a): name on the page -> (loss, deep: `depth` hidden layers, else none)
MODELS = {
    "linear regression": ("mse", False),
    "deep linear network, squared error": ("mse", True),
    "logistic regression": ("log", False),
    "deep linear network, log loss": ("log", True),
}
SEPARABLE = ("backprop", "linear SG", "loss-matched SG")  # the methods on separable labels
CLAIM_IDS = ("C3.1", "C3.2", "C3.2b", "C3.3", "C3.4", "C3.5", "C3.6", "C3.2bp", "C3.1p", "C3.3p",
             "C3.2p", "C3.4p", "C3.5p", "C3.6p")  # fmt: skip
IN_PART = (
    "C3.1",
    "C3.2",
    "C3.2b",
    "C3.3",
    "C3.5",
    "C3.1p",
    "C3.2bp",
    "C3.3p",
    "C3.2p",
    "C3.5p",
)  # claims that can hold in part
EIGHT_SEED_IDS = ("C3.2p", "C3.4p", "C3.5p", "C3.6p")  # from the store's 03_eight_seeds
PAIRED = ("C3.2b", "C3.2bp")  # decided on paired intervals: undecided (inconclusive) on noise


def eval_every(p: SimpleNamespace) -> int:
    """Steps between two evaluations of an Adam run: 30 evaluations per run."""
    return max(1, p.steps // 30)


def make_problems(p: SimpleNamespace) -> dict[tuple[str, int], cv.Problem]:
    """Each loss's problem in 2-D and 100-D, one draw per seed (each with its own optimum)."""
    return {
        (loss, d): cv.make_problem(loss, d, n=p.n_points, seed=p.seeds)
        for loss in ("mse", "log")
        for d in DIMS
    }


def train_models(
    problems: Mapping[tuple[str, int], cv.Problem], p: SimpleNamespace
) -> tuple[dict[tuple, History], dict[tuple, tuple]]:
    """(a): every model of :data:`MODELS` in both dimensions with backprop and a linear SG (and
    the loss-matched SG for logistic regression). Returns the runs and, by the same key
    ``(model, dim, method)``, each trained network and its learning rule."""
    runs, trained = {}, {}
    for model, (loss, deep) in MODELS.items():
        hidden = p.depth if deep else 0
        for d in DIMS:
            matched = loss == "log" and hidden == 0  # (C3.4 is about logistic regression)
            methods = ["backprop", "linear SG"] + (["loss-matched SG"] if matched else [])
            for method in methods:
                *trained[model, d, method], runs[model, d, method] = cv.train_model(
                    problems[loss, d], hidden, p.width, method, p.seeds, p.steps, p.lr,
                    p.sg_lr, eval_every=eval_every(p),
                )  # fmt: skip
    return runs, trained


def train_diagnosis(
    problems: Mapping[tuple[str, int], cv.Problem],
    runs: Mapping[tuple, History],
    p: SimpleNamespace,
) -> dict[str, History]:
    """(a2): the deep linear network (squared error, 100-D) under each setting of
    :func:`synthgrad.convergence.diagnosis` (Adam reuses (a)'s run), and backprop's runs, with
    Adam ((a)'s) and with the diagnosis's plain gradient descent (:data:`GD_REFERENCE`); and
    the 2-D network with Adam ((a)'s) and with plain gradient descent (names ending
    :data:`IN_2D`)."""
    conditions = cv.diagnosis(p.lr, p.sgd_lr)
    diag = {
        name: runs[DEEP, 100, "linear SG"]
        if name == "Adam" and p.sg_lr is None
        else cv.train_on(
            problems["mse", 100], p.depth, p.width, seeds=p.seeds, steps=p.steps,
            eval_every=eval_every(p), **kw,
        )
        for name, kw in conditions.items()
    }  # fmt: skip
    diag["backprop (Adam)"] = runs[DEEP, 100, "backprop"]
    diag[GD_REFERENCE] = cv.train_on(  # is the budget enough for gradient descent at all?
        problems["mse", 100], p.depth, p.width, seeds=p.seeds, steps=p.steps,
        eval_every=eval_every(p), method="backprop", lr=p.sgd_lr, optimizer="sgd",
    )  # fmt: skip
    # the 2-D network, whose linear SG also fails with Adam in (a): does gradient descent help?
    diag["Adam" + IN_2D] = runs[DEEP, 2, "linear SG"]
    diag["gradient descent" + IN_2D] = cv.train_on(
        problems["mse", 2], p.depth, p.width, seeds=p.seeds, steps=p.steps,
        eval_every=eval_every(p), **conditions["gradient descent"],
    )  # fmt: skip
    return diag


def train_separable(
    p: SimpleNamespace,
) -> tuple[dict[int, cv.Problem], dict[tuple, History], dict[tuple, tuple]]:
    """(a3): logistic regression on separable labels (2-D and 100-D) with each of
    :data:`SEPARABLE`. Returns the problems, the runs and the trained networks and rules, both
    keyed ``(dim, method)``."""
    separable = {
        d: cv.make_problem("log", d, n=p.n_points, seed=p.seeds, separable=True) for d in DIMS
    }
    sep_runs, sep_trained = {}, {}
    for d in DIMS:
        for m in SEPARABLE:
            *sep_trained[d, m], sep_runs[d, m] = cv.train_model(
                separable[d], 0, p.width, m, p.seeds, p.steps, p.lr, p.sg_lr,
                eval_every=eval_every(p),
            )  # fmt: skip
    return separable, sep_runs, sep_trained


def train_tracking(
    problems: Mapping[tuple[str, int], cv.Problem], p: SimpleNamespace
) -> dict[tuple[str, float], History]:
    """(b): linear regression (2-D) by gradient descent with an update of each relative error
    in ``p.errors`` and each kind of :data:`TRACKING_MODES`
    (:func:`synthgrad.shallow.tracking_run`), keyed ``(mode, error)``: each size the numbers of
    a run of its own."""
    runs = {mode: shallow.tracking_run(problems["mse", 2], p.seeds, p.errors, mode, p.sgd_steps,
                                       p.sgd_lr) for mode in TRACKING_MODES}  # fmt: skip
    return tracking_blocks(runs, len(p.seeds), p.errors)


def tracking_blocks(
    runs: Mapping[str, History], n: int, errors: Sequence[float]
) -> dict[tuple[str, float], History]:
    """Each mode's run of :func:`synthgrad.shallow.tracking_run` cut into its blocks of ``n``
    seeds, keyed ``(mode, error)``."""
    return {(mode, eps): blocks.block(run, slice(j * n, (j + 1) * n))
            for mode, run in runs.items() for j, eps in enumerate(errors)}  # fmt: skip


def train_phase(problems: Mapping[tuple[str, int], cv.Problem], p: SimpleNamespace) -> pd.DataFrame:
    """(c): linear regression (2-D) with a linear SG, both by gradient descent, at every pair of
    model and SG learning rates in ``p.phase_lrs`` (:func:`synthgrad.shallow.phase_run`; here bit
    for bit the numbers of a run per cell, tested, which matters at model rate 3, where the last
    bit of a step decides where a run ends): see :func:`phase_table`."""
    cells = shallow.phase_cells(p.phase_lrs)
    run = shallow.phase_run(problems["mse", 2], p.seeds, cells, p.width, p.sgd_steps)
    return phase_table(run, len(p.seeds), cells)


def phase_table(h: History, n: int, cells: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """One row per cell of :func:`synthgrad.shallow.phase_run`'s run (blocks of ``n`` seeds)
    with its diverged seeds and the worst seed's final distance (inf where a seed diverged)."""
    dist = h.evals["distance"][-1]
    phase = []
    for j, (model_lr, sg_rate) in enumerate(cells):
        block = slice(j * n, (j + 1) * n)
        diverged = h.diverged[block]
        phase.append(
            {
                "model lr": model_lr,
                "SG lr": sg_rate,
                "diverged": int(diverged.sum()),
                "distance": np.inf if diverged.any() else float(dist[block].max()),
            }
        )
    return pd.DataFrame(phase)


def fixed_points(
    problems: Mapping[tuple[str, int], cv.Problem],
    trained: Mapping[tuple, tuple],
    seeds: Sequence[int],
) -> pd.DataFrame:
    """Where (a)'s logistic-regression runs with a linear SG ended, against the two points they
    could go to: per dimension and seed, the end's distance to the optimum ``w*`` and to the
    exact fixed point of SG learning nearest it (:func:`synthgrad.shallow.fixed_points`), and
    the fixed point's own distance to the optimum, all in function space on the training inputs
    (:func:`synthgrad.shallow.distances`). NaN where no fixed point is found or the run diverged.
    (Linear regression needs no search: its gradient ``h - y`` is linear in ``(h, y)``, so a
    linear cDNI SG fits it exactly and the fixed point is the optimum;
    ``tests/test_critical.py`` checks it.)"""
    frames = []
    for d in DIMS:
        net, _ = trained["logistic regression", d, "linear SG"]
        problem = problems["log", d]
        ends = shallow.distances(problem, shallow.fixed_points(problem), shallow.weights(net))
        frames.append(ends_frame(d, seeds, ends))
    return pd.concat(frames, ignore_index=True)


def ends_frame(d: int, seeds: Sequence[int], ends: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Table 1b's rows for dimension ``d``: per seed, where the linear SG's run ended
    (the distances of :func:`synthgrad.shallow.distances`)."""
    return pd.DataFrame({"dim": d, "seed": list(seeds), **ends})


# ---- what the claims and numbers are decided on ------------------------------------------------


def halfway(h: History) -> History:
    """The run as it stood at its last evaluation at or before half its steps."""
    return h.upto(int(h.eval_steps[h.eval_steps <= h.eval_steps[-1] // 2][-1]))


def model_outcomes(runs: Mapping[tuple, History]) -> pd.DataFrame:
    """Table 1: every run of (a) and seed, its outcome and distances (at the 1% tolerance)."""
    return cv.summary(runs, ["model", "dim", "method"])


def diagnosis_outcomes(diag: Mapping[str, History]) -> pd.DataFrame:
    """Table 2: every setting of the diagnosis and seed, its outcome and distances."""
    return cv.summary(diag, ["setting"])


def tracking_outcomes(tracking_runs: Mapping[tuple[str, float], History]) -> pd.DataFrame:
    """(b): every error mode and size and seed, its outcome and final distance, and the largest
    error of the update over the second half of training (NaN once a seed diverged)."""
    table = cv.summary(tracking_runs, ["mode", "error"], budgets=1)
    largest = [np.max(h.evals["update_error"][len(h.eval_steps) // 2 :], axis=0)
               for h in tracking_runs.values()]  # fmt: skip
    return table.assign(update_error=np.concatenate(largest) if largest else [])


def measure(
    p: SimpleNamespace,
    runs: Mapping[tuple, History],
    diag: Mapping[str, History],
    sep_runs: Mapping[tuple, History],
    tracking_runs: Mapping[tuple[str, float], History],
    phase: pd.DataFrame,
    fixed: pd.DataFrame,
) -> Measures:
    """What the claims and numbers are decided on, from the chapter's runs (and
    :func:`fixed_points`)."""
    return Measures(
        models=model_outcomes(runs),
        diagnosis=diagnosis_outcomes(diag),
        fixed=fixed,
        separable={k: final_loss(h) for k, h in sep_runs.items()},
        separable_half={k: final_loss(halfway(h)) for k, h in sep_runs.items()},
        tracking=tracking_outcomes(tracking_runs),
        phase=phase,
        errors=list(p.errors),
    )


def finish(
    p: SimpleNamespace,
    runs: Mapping[tuple, History],
    diag: Mapping[str, History],
    sep_runs: Mapping[tuple, History],
    tracking_runs: Mapping[tuple[str, float], History],
    phase: pd.DataFrame,
    fixed: pd.DataFrame,
    stored: store.Stored,
    eight: Shallow | None = None,
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the runs, the fixed points and the
    store (``stored``: its longer budgets; ``eight``: its shallow models at eight seeds,
    :func:`synthgrad.chapters.convergence_seeds.measure`), the ledger written and every number
    glued; returns the claims table."""
    m = measure(p, runs, diag, sep_runs, tracking_runs, phase, fixed)
    n = numbers(m)
    budget = INTERFACE.defaults["steps"]  # where C3.2bp reads the store's early ratio
    long = measure_long(stored, budget)
    extra = {**long_numbers(stored, budget), "n_seeds": p.n_seeds}
    found = claims(m, long, n, eight)
    of_record = [f"{c.id} {c.status}" for c in found if c.id in EIGHT_SEED_IDS]
    extra["eight_verdicts"] = ", ".join(of_record) or (
        "not decided (the store's grid is not complete and current: section d says which runs)"
    )
    return chapters.finish(p, found, {**n, **extra})
