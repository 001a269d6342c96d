"""Chapter 3's grid in the results store (``03_long_budgets``, :data:`EXPERIMENT`: its problems
over 20,000 steps) and what the chapter reads from it: the store's runs reduced as
:class:`~synthgrad.chapters.convergence_claims.Long` (:func:`measure_long`), its deep runs
(:func:`long_deep`) and the numbers the prose of (a5) quotes (:func:`long_numbers`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import convergence as cv
from .. import store
from ..train import History
from .convergence_claims import DIMS, Long


def _experiment() -> store.Experiment:
    """Chapter 3 over 20,000 steps: does the linear SG on separable data diverge, and does the
    deep linear network that stalls with Adam stay stalled?"""
    seeds = list(range(8))  # 8 seeds (batched, cheap): a paired t-interval decides (BOOK.md 6)

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
        "network of 10 layers of 16 in 100-D under both losses (backprop, linear SG); 8 seeds "
        "(3 until 2026-11-30). Registered before the 8-seed runs were made: C3.2bp is decided, "
        "per dimension, on the growth of the linear SG's training loss over backprop's between "
        "3,000 steps (the chapter's budget) and 20,000, paired by seed (the 95% t-interval of "
        "the log-ratio's growth above 0: holds; below: reversed).",
        "20,000 steps: more than six times the chapter's 3,000, the length at which an "
        "independent run saw the linear SG on separable data turn NaN. Small models: a CPU runs "
        "them (a GPU would not be faster).",
        runs,
        "chapter 3's problems, 20,000 steps, 8 seeds",
    )


EXPERIMENT = _experiment()


def final_loss(h: History) -> np.ndarray:
    """Each seed's final training loss, infinite for a diverged seed."""
    return np.where(h.diverged, np.inf, h.evals["train_loss"][-1])


def long_deep(stored: store.Stored) -> dict[str, History]:
    """The store's deep linear network runs, keyed as :data:`LONG_DEEP`."""
    return {
        f"{k[0].removeprefix('deep linear, ')}: {k[2]}": h
        for k, h in stored.by_part().items()
        if k[0].startswith("deep")
    }


def measure_long(stored: store.Stored, budget: int) -> Long | None:
    """The store's runs reduced as :class:`Long` (None when the store holds none); ``budget``:
    the chapter's steps, where C3.2bp's early ratio is read."""
    long = stored.by_part()
    if not long:
        return None
    deep = long_deep(stored)
    separable = {(k[1], k[2]): h for k, h in long.items() if k[0] == "separable"}
    return Long(
        separable={k: final_loss(h) for k, h in separable.items()},
        separable_early={k: final_loss(h.upto(budget)) for k, h in separable.items()},
        diverged={
            " ".join(k): h.diverged_at[h.diverged].tolist()
            for k, h in long.items()
            if h.diverged.any()
        },
        deep=cv.summary(deep, ["run"]) if deep else None,
        scale=stored.scale(),
    )


def long_numbers(stored: store.Stored, budget: int) -> dict[str, Any]:
    """What the prose of (a5) quotes about the store's separable runs: its budget and seeds, the
    chapter's default budget (``budget``: where C3.2bp reads its early ratio), and per dimension the first
    evaluation at which the linear SG's loss is above backprop's (median over seeds) and the
    SG's relative tracking error then and at the end (NaN where the store lacks the runs)."""
    fit = next(iter(EXPERIMENT.runs.values())).fit
    out: dict[str, Any] = {"long_steps": fit["steps"], "long_seeds": len(fit["seeds"]),
                           "long_early": budget}  # fmt: skip
    for d in DIMS:
        sg, bp = (stored.runs.get(f"separable/{d}/{m}") for m in ("linear SG", "backprop"))
        if sg is None or bp is None:
            out |= {f"behind_{d}": float("nan"), f"track_behind_{d}": float("nan"),
                    f"track_end_{d}": float("nan")}  # fmt: skip
            continue
        ratio = np.median(sg.evals["train_loss"] / bp.evals["train_loss"], axis=1)
        track = np.median(sg.evals["tracking"], axis=1)
        behind = np.flatnonzero(ratio > 1)
        i = int(behind[0]) if behind.size else -1
        out |= {f"behind_{d}": int(bp.eval_steps[i]) if behind.size else float("nan"),
                f"track_behind_{d}": float(track[i]), f"track_end_{d}": float(track[-1])}  # fmt: skip
    return out
