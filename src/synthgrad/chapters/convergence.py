"""Chapter 3 (RQ2): does SG learning converge, and to what?

The chapter's runs (the four models, the diagnosis of the deep linear network, separable
labels, the controlled-error experiment, the phase diagram, the widget's runs), what its claims
and numbers are decided on (:class:`Measures`, extracted by :func:`measure`), the numbers and the
claims, and :func:`finish`. Its figures and tables are in
:mod:`synthgrad.chapters.convergence_figures`; the science (problems, optima, how a run is
judged) in :mod:`synthgrad.convergence`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import chapters, ledger, store
from .. import convergence as cv
from .. import params as P
from ..train import History
from . import Interface

INTERFACE = Interface(
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
        errors=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0],
        phase_lrs=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
        widget_steps=1500,
    ),
    quick=dict(steps=60, sgd_steps=60, n_seeds=2, depth=4, width=4, errors=[0.0, 0.5, 1.5],
               phase_lrs=[0.01, 1.0, 3.0], widget_steps=30),
)  # fmt: skip

# the four models of (a): name on the page -> (loss, deep: `depth` hidden layers, else none)
MODELS = {
    "linear regression": ("mse", False),
    "deep linear network, squared error": ("mse", True),
    "logistic regression": ("log", False),
    "deep linear network, log loss": ("log", True),
}
DEEP = "deep linear network, squared error"  # the model the diagnosis varies
DIMS = (2, 100)
SEPARABLE = ("backprop", "linear SG", "loss-matched SG")  # the methods on separable labels
TRACKING_MODES = ("random", "opposing")  # the controlled error's directions in (b)
# the store's experiment 03_long_budgets: its deep runs (label -> claim id, loss on the page)
LONG_DEEP = {
    "squared error: linear SG": ("C3.1p", "squared error"),
    "log loss: linear SG": ("C3.3p", "log loss"),
}
CLAIM_IDS = ("C3.1", "C3.2", "C3.2b", "C3.3", "C3.4", "C3.5", "C3.6", "C3.2bp", "C3.1p", "C3.3p")
IN_PART = ("C3.1", "C3.2", "C3.3", "C3.5", "C3.1p", "C3.3p")  # claims that can hold in part


# the grid of this chapter in the results store (make paper)
def _experiment() -> store.Experiment:
    """Chapter 3 over 20,000 steps: does the linear SG on separable data diverge, and does the
    deep linear network that stalls with Adam stay stalled?"""
    seeds = [0, 1, 2]

    def run(depth: int, method: str, **problem: Any) -> store.Task:
        training = dict(depth=depth, width=16, method=method, seeds=seeds, steps=20_000, lr=3e-3)
        return store.Task("problem", {**training, "eval_every": 200}, {**problem, "n": 500,
                   "seed": seeds}, runner="convergence")  # fmt: skip

    runs = {
        f"separable/{d}/{method}": run(0, method, loss="log", d=d, separable=True)
        for d in (2, 100)
        for method in ("backprop", "linear SG", "loss-matched SG")
    }
    for loss, name in (("mse", "deep linear, squared error"), ("log", "deep linear, log loss")):
        for method in ("backprop", "linear SG"):
            runs[f"{name}/100/{method}"] = run(10, method, loss=loss, d=100)
    return store.Experiment(
        "03_long_budgets",
        "03_convergence",
        "Chapter 3's problems (500 examples, one draw per seed) trained for 20,000 full-batch "
        "Adam steps at the chapter's learning rate 3e-3: logistic regression on separable "
        "labels (2-D and 100-D; backprop, linear SG, loss-matched SG) and the deep linear "
        "network of 10 layers of 16 in 100-D under both losses (backprop, linear SG); 3 seeds.",
        "20,000 steps: more than six times the chapter's 3,000, the length at which an "
        "independent run saw the linear SG on separable data turn NaN. Small models: a CPU runs "
        "them (a GPU would not be faster).",
        runs,
        "chapter 3's problems, 20,000 steps, 3 seeds",
    )


EXPERIMENT = _experiment()


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
    :func:`synthgrad.convergence.diagnosis` (Adam reuses (a)'s run), and backprop's run."""
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
    """(b): linear regression (2-D) by gradient descent on the true gradient plus an error of
    each relative size in ``p.errors``, random or opposing; keyed ``(mode, error)``."""
    return {
        (mode, eps): cv.train_on(
            problems["mse", 2], 0, p.width, "controlled error", p.seeds, p.sgd_steps, p.sgd_lr,
            optimizer="sgd", error=eps, mode=mode, eval_every=max(1, p.sgd_steps // 20),
        )
        for mode in TRACKING_MODES
        for eps in p.errors
    }  # fmt: skip


def train_phase(problems: Mapping[tuple[str, int], cv.Problem], p: SimpleNamespace) -> pd.DataFrame:
    """(c): linear regression (2-D) with a linear SG, both by gradient descent, at every pair of
    model and SG learning rates in ``p.phase_lrs``: one row per cell with its diverged seeds and
    the worst seed's final distance (inf where a seed diverged)."""
    phase = []
    for model_lr in p.phase_lrs:
        for sg_rate in p.phase_lrs:
            h = cv.train_on(
                problems["mse", 2], 0, p.width, "linear SG", p.seeds, p.sgd_steps, model_lr,
                sg_rate, optimizer="sgd", eval_every=p.sgd_steps,
            )  # fmt: skip
            dist = h.evals["distance"][-1]
            phase.append(
                {
                    "model lr": model_lr,
                    "SG lr": sg_rate,
                    "diverged": int(h.diverged.sum()),
                    "distance": np.inf if h.diverged.any() else float(dist.max()),
                }
            )
    return pd.DataFrame(phase)


# ---- what the claims and numbers are decided on ------------------------------------------------


@dataclass
class Measures:
    """The chapter's runs reduced to what its claims and numbers need: :func:`outcomes
    <synthgrad.convergence.outcomes>` tables (one row per run and seed), the final training
    loss on separable labels, the phase diagram and the controlled errors tried."""

    models: pd.DataFrame  # (a): columns model, dim, method, seed, outcome, final, tracking...
    diagnosis: pd.DataFrame  # (a2): column setting, and the same
    strict: pd.DataFrame  # logistic regression, backprop and linear SG, judged at 0.1%
    separable: dict[tuple[int, str], np.ndarray]  # (dim, method) -> final loss (inf: diverged)
    tracking: pd.DataFrame  # (b): columns mode, error, seed, outcome, final
    phase: pd.DataFrame  # (c): model lr, SG lr, diverged, distance
    errors: list[float]  # the controlled errors' sizes, in the order tried


@dataclass
class Long:
    """The store's longer budgets (experiment 03_long_budgets) reduced likewise."""

    separable: dict[tuple[str, str], np.ndarray]  # (dim, method) -> final loss (inf: diverged)
    diverged: dict[str, list[int]] = field(default_factory=dict)  # run -> steps seeds diverged
    deep: pd.DataFrame | None = None  # outcomes, column run (a key of LONG_DEEP)
    scale: str = ""


def final_loss(h: History) -> np.ndarray:
    """Each seed's final training loss, infinite for a diverged seed."""
    return np.where(h.diverged, np.inf, h.evals["train_loss"][-1])


def model_outcomes(runs: Mapping[tuple, History]) -> pd.DataFrame:
    """Table 1: every run of (a) and seed, its outcome and distances (at the 1% tolerance)."""
    return cv.summary(runs, ["model", "dim", "method"])


def diagnosis_outcomes(diag: Mapping[str, History]) -> pd.DataFrame:
    """Table 2: every setting of the diagnosis and seed, its outcome and distances."""
    return cv.summary(diag, ["setting"])


def tracking_outcomes(tracking_runs: Mapping[tuple[str, float], History]) -> pd.DataFrame:
    """(b): every error mode and size and seed, its outcome and final distance."""
    return cv.summary(tracking_runs, ["mode", "error"], budgets=1)


def long_deep(stored: store.Stored) -> dict[str, History]:
    """The store's deep linear network runs, keyed as :data:`LONG_DEEP`."""
    return {
        f"{k[0].removeprefix('deep linear, ')}: {k[2]}": h
        for k, h in stored.by_part().items()
        if k[0].startswith("deep")
    }


def measure(
    p: SimpleNamespace,
    runs: Mapping[tuple, History],
    diag: Mapping[str, History],
    sep_runs: Mapping[tuple, History],
    tracking_runs: Mapping[tuple[str, float], History],
    phase: pd.DataFrame,
) -> Measures:
    """What the claims and numbers are decided on, from the chapter's runs."""
    log_keys = [
        k for k in runs if k[0] == "logistic regression" and k[2] in ("backprop", "linear SG")
    ]
    return Measures(
        models=model_outcomes(runs),
        diagnosis=diagnosis_outcomes(diag),
        strict=cv.summary({k: runs[k] for k in log_keys}, ["model", "dim", "method"], tol=1e-3),
        separable={k: final_loss(h) for k, h in sep_runs.items()},
        tracking=tracking_outcomes(tracking_runs),
        phase=phase,
        errors=list(p.errors),
    )


def measure_long(stored: store.Stored) -> Long | None:
    """The store's runs reduced as :class:`Long` (None when the store holds none)."""
    long = stored.by_part()
    if not long:
        return None
    deep = long_deep(stored)
    return Long(
        separable={(k[1], k[2]): final_loss(h) for k, h in long.items() if k[0] == "separable"},
        diverged={
            " ".join(k): h.diverged_at[h.diverged].tolist()
            for k, h in long.items()
            if h.diverged.any()
        },
        deep=cv.summary(deep, ["run"]) if deep else None,
        scale=stored.scale(),
    )


# ---- numbers and claims ------------------------------------------------------------------------


def diagnosis_counts(table_diag: pd.DataFrame) -> pd.DataFrame:
    """Per setting of the diagnosis: how many seeds converge ("k/n") and the median tracking
    error (over seeds with one: a diverged seed's is NaN)."""
    diag_by = table_diag.groupby("setting", sort=False)
    diag_converged = diag_by.apply(
        lambda t: f"{int(cv.converges(t).sum())}/{len(t)}", include_groups=False
    )
    diag_tracking = diag_by.tracking.median()
    return pd.DataFrame(
        {"seeds that converge": diag_converged, "median tracking error": diag_tracking}
    )


def _error_ok(tracking: pd.DataFrame) -> pd.Series:
    """Per (mode, error): does every seed converge (on its rate)?"""
    return tracking.groupby(["mode", "error"]).apply(
        lambda t: bool(cv.converges(t).all()), include_groups=False
    )


def _largest_ok(error_ok: pd.Series, errors: list[float]) -> dict[str, float | None]:
    """Per mode: the largest error up to which every error tried converges on every seed."""
    return {
        mode: max(
            [e for e in errors if all(error_ok[mode, f] for f in errors if f <= e)], default=None
        )
        for mode in TRACKING_MODES
    }


def _by_run(m: Measures) -> dict[tuple[str, str], pd.DataFrame]:
    return dict(list(m.models.groupby(["model", "method"], sort=False)))


def numbers(m: Measures) -> dict[str, Any]:
    """The numbers the chapter's prose quotes (shares of seeds as "k/n")."""
    final_a = m.models
    reference = final_a[final_a.method == "backprop"]
    reference_ok = bool(cv.converges(reference).all())
    counts = diagnosis_counts(m.diagnosis)
    diag_converged, diag_tracking = counts["seeds that converge"], counts["median tracking error"]
    stalled_sg = final_a[(final_a.method != "backprop") & (final_a.outcome == "stalled")]
    converged_sg = final_a[(final_a.method != "backprop") & cv.converges(final_a)]
    by_run = _by_run(m)
    log_lin = m.strict[m.strict.method == "linear SG"]
    deep_log = by_run["deep linear network, log loss", "linear SG"]
    matched = by_run["logistic regression", "loss-matched SG"]
    sep_ratio = _separable_ratio(m.separable, DIMS)
    largest_ok = _largest_ok(_error_ok(m.tracking), m.errors)
    tracking = m.tracking
    opposing_15 = tracking[(tracking["mode"] == "opposing") & (tracking.error == 1.5)]
    return {
        "reference_ok": "yes" if reference_ok else "no",
        "reference_worst": float(reference.final.max()),
        "gd_converged": diag_converged["gradient descent"],
        "gd_tracking": float(diag_tracking["gradient descent"]),
        "adam_converged": diag_converged["Adam"],
        "adam_tracking": float(diag_tracking["Adam"]),
        "fast_converged": diag_converged["Adam, SG 10x faster"],
        "fast_tracking": float(diag_tracking["Adam, SG 10x faster"]),
        "both_converged": diag_converged["Adam, both 3x faster"],
        "both_tracking": float(diag_tracking["Adam, both 3x faster"]),
        "control_converged": diag_converged["control: frozen below SG"],
        "stalled_tracking": float(stalled_sg.tracking.median())
        if len(stalled_sg)
        else float("nan"),
        "converged_tracking": float(converged_sg.tracking.median()),
        "stalled_2d": cv.share(by_run[DEEP, "linear SG"].query("dim == 2"), converging=False),
        "mse_shallow": cv.share(by_run["linear regression", "linear SG"]),
        "mse_deep": cv.share(by_run[DEEP, "linear SG"]),
        "log_lin_min": float(log_lin.final.min()),
        "log_lin_max": float(log_lin.final.max()),
        "log_lin_stalled": cv.share(log_lin, converging=False),
        "log_lin_2": cv.share(log_lin[log_lin.dim == 2], converging=False),
        "log_lin_100": cv.share(log_lin[log_lin.dim == 100], converging=False),
        "deep_log_2": cv.share(deep_log[deep_log.dim == 2]),
        "deep_log_100": cv.share(deep_log[deep_log.dim == 100]),
        "matched": cv.share(matched),
        "matched_worst": float(matched.final.max()),
        "sep_ratio_min": float(sep_ratio.min()),
        "sep_ratio_max": float(sep_ratio.max()),
        "largest_random": str(largest_ok["random"]),
        "largest_opposing": str(largest_ok["opposing"]),
        "opposing_15": "not run" if opposing_15.empty else ", ".join(opposing_15.outcome),
    }


def _separable_ratio(final: Mapping[tuple, np.ndarray], dims: tuple) -> np.ndarray:
    """Per dimension and seed: the linear SG's final loss on separable labels over backprop's
    (infinite where the linear SG diverged, NaN where both did)."""
    return np.array([final[d, "linear SG"] / final[d, "backprop"] for d in dims])


def _seeds(rows: pd.DataFrame, passed: np.ndarray) -> dict[str, bool]:
    """A claim's parts: each run and seed of an outcomes table (``"deep linear network, squared
    error, 100-D, seed 0"``), and whether it passes there."""
    keys = [c for c in ("model", "dim", "run") if c in rows]
    labels = [
        ", ".join([*(f"{v}-D" if c == "dim" else str(v) for c, v in zip(keys, r[:-1], strict=True)),
                   f"seed {r[-1]}"])
        for r in rows[[*keys, "seed"]].itertuples(index=False, name=None)
    ]  # fmt: skip
    if len(set(labels)) != len(labels):
        raise ValueError(f"a claim's runs and seeds repeat: {labels}")
    return dict(zip(labels, (bool(ok) for ok in passed), strict=True))


def claims(m: Measures, long: Long | None = None) -> list[ledger.Claim]:
    """The chapter's claims from its measures (and, where the store holds them, the longer
    budgets: C3.2bp, and C3.1p and C3.3p for the deep runs the store holds)."""
    n = numbers(m)
    by_run = _by_run(m)
    mse_sg = pd.concat([by_run["linear regression", "linear SG"], by_run[DEEP, "linear SG"]])
    gd_runs = m.diagnosis[m.diagnosis.setting == "gradient descent"]
    log_lin, log_bp = (
        m.strict[m.strict.method == "linear SG"],
        m.strict[m.strict.method == "backprop"],
    )
    deep_log = by_run["deep linear network, log loss", "linear SG"]
    matched = by_run["logistic regression", "loss-matched SG"]
    sep_ratio = _separable_ratio(m.separable, DIMS)
    error_ok = _error_ok(m.tracking)
    below_ok = error_ok["opposing"][error_ok["opposing"].index < 1.0]
    largest_ok = _largest_ok(error_ok, m.errors)
    phase = m.phase
    smallest = phase[phase["model lr"] == phase["model lr"].min()]
    stable = phase[phase.diverged == 0].groupby("SG lr")["model lr"].max()
    converging_cell = cv.converging_cell(phase, tol=0.01)
    diag_converged = diagnosis_counts(m.diagnosis)["seeds that converge"]
    out = [
        ledger.Claim(
            "C3.1",
            "Linear regression and a deep linear network (MSE) trained with linear SGs converge numerically to backprop's global optimum.",
            "outcome of every seed (each its own data), linear SG, both models, 2-D and 100-D, Adam; the deep network also with the diagnosis settings",
            "every seed converged or converging (within 1%, or on a rate that gets there within 10x the budget)",
            ledger.judge(
                _seeds(mse_sg, cv.converges(mse_sg)),
                also={"gradient descent": bool(cv.converges(gd_runs).any())},
                regime="linear regression {shallow} seed-dimension runs; deep linear network {deep} with Adam, in 100-D {gd} with gradient descent",
                shallow=n["mse_shallow"], deep=n["mse_deep"], gd=n["gd_converged"],
            ),
            {"outcomes": mse_sg[["model", "dim", "seed", "outcome", "final", "tracking"]].to_dict("records"),
             "deep_by_setting": diag_converged.to_dict()},
        ),
        ledger.Claim(
            "C3.2",
            "Logistic regression trained with a linear SG does not reach the global optimum.",
            "outcome at a 0.1% tolerance, linear SG and backprop, 2-D and 100-D, every seed",
            "linear SG stalled (or diverged) on every seed and dimension, backprop converged or converging on every one",
            ledger.judge(
                _seeds(log_lin, ~cv.converges(log_lin)),
                required=cv.converges(log_bp),
                regime="the linear SG stalls on {d2} seeds in 2-D and {d100} in 100-D",
                d2=n["log_lin_2"], d100=n["log_lin_100"],
            ),
            {"linear_sg": log_lin[["dim", "seed", "outcome", "final"]].to_dict("records"),
             "backprop": log_bp[["dim", "seed", "outcome", "final"]].to_dict("records")},
        ),
        ledger.Claim(
            "C3.2b",
            "(Separable data) a linear SG struggles to overfit the training data under log loss.",
            "final training loss on separable data, linear SG divided by backprop's, every seed, 2-D and 100-D (a diverged run's loss is infinite)",
            "ratio at least 10",
            ledger.judge(sep_ratio >= 10),
            {"loss_ratio": sep_ratio},
        ),
        ledger.Claim(
            "C3.3",
            "The deep linear network (10 hidden layers) with log loss also converges with linear SGs (as the paper reports).",
            "outcome of every seed, deep linear network, linear SG, log loss, 2-D and 100-D",
            "every seed converged or converging",
            ledger.judge(
                _seeds(deep_log, cv.converges(deep_log)),
                regime="2-D {d2} seeds, 100-D {d100}", d2=n["deep_log_2"], d100=n["deep_log_100"],
            ),
            {"outcomes": deep_log[["dim", "seed", "outcome", "final", "tracking"]].to_dict("records")},
        ),
        ledger.Claim(
            "C3.4",
            "An SG whose form matches the loss (a sigmoid added) fixes logistic regression.",
            "outcome of every seed, loss-matched SG, logistic regression, 2-D and 100-D",
            "every seed converged or converging",
            ledger.judge(cv.converges(matched)),
            {"outcomes": matched[["dim", "seed", "outcome", "final", "tracking"]].to_dict("records")},
        ),
        ledger.Claim(
            "C3.5",
            "If the SG tracks the true gradient closely enough (error below the gradient's size), training converges to the critical point.",
            "outcome of every seed with an SG error of relative size below 1 that meets the argument's condition on the update (the opposing error, s = (1 - ε) g), gradient descent; random per-example errors reported beside it",
            "every seed converged or converging, for every opposing error below 1",
            ledger.judge(
                {e: bool(ok) for e, ok in below_ok.items()},
                regime="every seed converges for opposing errors up to {opposing}; random per-example errors up to {random}{beyond}",
                opposing=n["largest_opposing"], random=n["largest_random"],
                beyond=" (beyond, a noise floor near 1%)" if (largest_ok["random"] or 0) < max(m.errors) else "",
            ),
            {"converges_by_error": {f"{mode} {e}": ok for (mode, e), ok in error_ok.items()},
             "largest_error_all_converge": largest_ok},
        ),
        ledger.Claim(
            "C3.6",
            "A shallow linear model with a linear SG converges to the global solution when the learning rate is small enough.",
            "phase diagram over model and SG learning rates (plain gradient descent): worst-seed distance after the budget, divergence",
            "some cell converges (at most 1% on every seed), and no cell with both learning rates at most that cell's diverges",
            ledger.judge(converging_cell is not None),
            {"converging_cell": converging_cell,
             "smallest_model_lr": smallest.set_index("SG lr").distance.to_dict(),
             "largest_stable_model_lr": stable.to_dict()},
        ),
    ]  # fmt: skip
    return out + (_long_claims(long) if long is not None else [])


def _long_claims(long: Long) -> list[ledger.Claim]:
    """C3.2bp, C3.1p and C3.3p: the same questions over the store's 20,000 steps (each where
    the store holds its runs)."""
    out = []
    if all((d, m) in long.separable for d in ("2", "100") for m in ("backprop", "linear SG")):
        ratio_long = _separable_ratio(long.separable, ("2", "100"))
        out.append(
            ledger.Claim(
                "C3.2bp",
                "(Separable data) a linear SG struggles to overfit the training data under log loss (over 20,000 steps).",
                "store: final training loss on separable data after 20,000 steps, linear SG divided by backprop's, every seed, 2-D and 100-D (a diverged run's loss is infinite)",
                "ratio at least 10",
                ledger.judge(ratio_long >= 10),
                {"loss_ratio": ratio_long, "diverged_at": long.diverged},
                scale=long.scale,
            )
        )  # fmt: skip
    deep = long.deep if long.deep is not None else pd.DataFrame(columns=["run"])
    for key, (cid, text) in LONG_DEEP.items():
        rows = deep[deep.run == key]
        if rows.empty:  # not in the store: no verdict
            continue
        out.append(
            ledger.Claim(
                cid,
                f"The deep linear network ({text}) trained with a linear SG converges to the optimum (over 20,000 steps).",
                "store: outcome of every seed after 20,000 Adam steps, deep linear network, 100-D, linear SG (judged on rate as above)",
                "every seed converged or converging",
                ledger.judge(
                    _seeds(rows, cv.converges(rows)),
                    regime="{share} seeds", share=cv.share(rows),
                ),
                {"outcomes": rows[["seed", "outcome", "final"]].to_dict("records")},
                scale=long.scale,
            )
        )  # fmt: skip
    return out


def finish(
    p: SimpleNamespace,
    runs: Mapping[tuple, History],
    diag: Mapping[str, History],
    sep_runs: Mapping[tuple, History],
    tracking_runs: Mapping[tuple[str, float], History],
    phase: pd.DataFrame,
    stored: store.Stored,
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the runs and the store, the ledger
    written and every number glued; returns the claims table."""
    m = measure(p, runs, diag, sep_runs, tracking_runs, phase)
    return chapters.finish(p, claims(m, measure_long(stored)), numbers(m))
