"""Chapter 3's claims and the numbers its prose quotes, decided on the chapter's measures.

What the claims and numbers are decided on (:class:`Measures`, and :class:`Long` for the
store's longer budgets; the claims on shallow models, C3.2 and C3.4-C3.6, and their eight-seed
versions are :mod:`.convergence_shallow`'s), the names on the page they refer to (:data:`DEEP`, :data:`DIMS`,
:data:`TRACKING_MODES`, :data:`LONG_DEEP`), :func:`numbers` and :func:`claims`. Pure functions
of plain tables and arrays, so that tests decide every claim on constructed measures without
training. The runs, and :func:`~synthgrad.chapters.convergence.measure` that reduces them to
:class:`Measures`, are in :mod:`synthgrad.chapters.convergence`, which imports what it shares
from here (this module imports nothing from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, ledger, stats
from .. import convergence as cv
from .convergence_shallow import DIMS as DIMS
from .convergence_shallow import STORE_SUFFIX, Shallow, per_seed, shallow_claims, shallow_numbers
from .convergence_shallow import TRACKING_MODES as TRACKING_MODES

DEEP = "deep linear network, squared error"  # the model the diagnosis varies
GD_REFERENCE = "backprop (gradient descent)"  # the diagnosis's reference for its GD budget
IN_2D = " (2-D)"  # the diagnosis's 2-D rows: (a)'s Adam run, and plain gradient descent
# the store's experiment 03_long_budgets: its deep runs (label -> claim id, loss on the page)
LONG_DEEP = {
    "squared error: linear SG": ("C3.1p", "squared error"),
    "log loss: linear SG": ("C3.3p", "log loss"),
}


# ---- what the claims and numbers are decided on ------------------------------------------------


@dataclass
class Measures:
    """The chapter's runs reduced to what its claims and numbers need: :func:`outcomes
    <synthgrad.convergence.outcomes>` tables (one row per run and seed), the final training
    loss on separable labels, the phase diagram and the controlled errors tried."""

    models: pd.DataFrame  # (a): columns model, dim, method, seed, outcome, final, tracking...
    diagnosis: pd.DataFrame  # (a2): column setting, and the same
    fixed: pd.DataFrame  # logistic regression, linear SG: dim, seed, to_optimum, to_fixed_point...
    separable: dict[tuple[int, str], np.ndarray]  # (dim, method) -> final loss (inf: diverged)
    separable_half: dict[tuple[int, str], np.ndarray]  # the same at half the budget
    tracking: pd.DataFrame  # (b): columns mode, error, seed, outcome, final
    phase: pd.DataFrame  # (c): model lr, SG lr, diverged, distance
    errors: list[float]  # the controlled errors' sizes, in the order tried

    def shallow(self, scale: str = "") -> Shallow:
        """What the claims on shallow models (C3.2, C3.4-C3.6) are decided on."""
        logistic = self.models[self.models.model == "logistic regression"]
        return Shallow(logistic, self.fixed, self.tracking, self.phase, self.errors, scale)


@dataclass
class Long:
    """The store's longer budgets (experiment 03_long_budgets) reduced likewise."""

    separable: dict[tuple[str, str], np.ndarray]  # (dim, method) -> final loss (inf: diverged)
    separable_early: dict[tuple[str, str], np.ndarray]  # the same at the chapter's budget
    diverged: dict[str, list[int]] = field(default_factory=dict)  # run -> steps seeds diverged
    deep: pd.DataFrame | None = None  # outcomes, column run (a key of LONG_DEEP)
    scale: str = ""


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
    deep_log = by_run["deep linear network, log loss", "linear SG"]
    matched = by_run["logistic regression", "loss-matched SG"]
    sep_ratio = _separable_ratio(m.separable, DIMS)
    return {
        "reference_ok": "yes" if reference_ok else "no",
        "reference_worst": float(reference.final.max()),
        "gd_converged": diag_converged["gradient descent"],
        "gd_tracking": float(diag_tracking["gradient descent"]),
        "gd_backprop_converged": diag_converged[GD_REFERENCE],
        "gd_2d_converged": diag_converged["gradient descent" + IN_2D],
        "adam_2d_outcomes": ", ".join(
            m.diagnosis.loc[m.diagnosis.setting == "Adam" + IN_2D, "outcome"]
        ),
        "adam_converged": diag_converged["Adam"],
        "adam_tracking": float(diag_tracking["Adam"]),
        "fast_converged": diag_converged["Adam, SG 10x faster"],
        "fast_tracking": float(diag_tracking["Adam, SG 10x faster"]),
        "both_converged": diag_converged["Adam, both 3x faster"],
        "both_tracking": float(diag_tracking["Adam, both 3x faster"]),
        "control_converged": diag_converged[analysis.CONTROL],
        "stalled_tracking": float(stalled_sg.tracking.median())
        if len(stalled_sg)
        else float("nan"),
        "converged_tracking": float(converged_sg.tracking.median()),
        "stalled_2d": cv.share(by_run[DEEP, "linear SG"].query("dim == 2"), converging=False),
        "mse_shallow": cv.share(by_run["linear regression", "linear SG"]),
        "mse_deep": cv.share(by_run[DEEP, "linear SG"]),
        **shallow_numbers(m.shallow()),
        "deep_log_2": cv.share(deep_log[deep_log.dim == 2]),
        "deep_log_100": cv.share(deep_log[deep_log.dim == 100]),
        "matched": cv.share(matched),
        "matched_worst": float(matched.final.max()),
        "sep_ratio_min": float(sep_ratio.min()),
        "sep_ratio_max": float(sep_ratio.max()),
    }


def _separable_ratio(final: Mapping[tuple, np.ndarray], dims: tuple) -> np.ndarray:
    """Every dimension's and seed's ratio of the linear SG's final loss on separable labels to
    backprop's, one flat array (infinite where the linear SG diverged, NaN where both did)."""
    return np.concatenate([final[d, "linear SG"] / final[d, "backprop"] for d in dims])


def overfit_gap(
    early: Mapping[tuple, np.ndarray], late: Mapping[tuple, np.ndarray], dims: tuple
) -> dict[str, stats.Paired]:
    """C3.2b's decision, per dimension: does the linear SG's training loss on separable labels
    fall behind backprop's as the budget grows? Paired by seed, the fall of each method's log
    loss between the two budgets: the SG's minus backprop's (the growth of their log-ratio),
    positive when the gap grows. A diverged SG fails the comparison; a diverged backprop seed
    is left out and named."""
    out = {}
    for d in dims:
        fall = {m: np.log(late[d, m]) - np.log(early[d, m]) for m in ("linear SG", "backprop")}
        with np.errstate(invalid="ignore"):
            out[f"{d}-D"] = stats.paired(fall["linear SG"], fall["backprop"])
    return out


def _ends_above(late: Mapping[tuple, np.ndarray], dims: tuple) -> bool:
    """Whether the linear SG's loss ends above backprop's on every seed whose backprop run did
    not diverge (C3.2b's condition: an SG that ends below backprop has no struggle to show)."""
    return all(
        bool(
            np.all((late[d, "linear SG"] > late[d, "backprop"]) | ~np.isfinite(late[d, "backprop"]))
        )
        for d in dims
    )


def gap_verdict(
    early: Mapping[tuple, np.ndarray], late: Mapping[tuple, np.ndarray], dims: tuple
) -> tuple[ledger.Verdict, dict[str, Any]]:
    """C3.2b's (and C3.2bp's) verdict and evidence between two budgets: the gap must grow in
    every dimension (:func:`overfit_gap`) and the SG's loss end above backprop's."""
    gap, above = overfit_gap(early, late, dims), _ends_above(late, dims)
    verdict = ledger.judge(
        gap,
        required=above,
        regime="the SG's loss ends {ends}; the gap grows in {held}; not shown in {failed}; "
        "reversed in {reversed}",
        ends="above backprop's" if above else "below backprop's on some seed",
    )
    ratio = {when: {f"{d}-D": losses[d, "linear SG"] / losses[d, "backprop"] for d in dims}
             for when, losses in (("early", early), ("late", late))}  # fmt: skip
    growth = {k: list(v.differences) for k, v in gap.items()}
    return verdict, {"loss_ratio": ratio, "log_ratio_growth": growth}


def claims(
    m: Measures,
    long: Long | None = None,
    n: Mapping[str, Any] | None = None,
    eight: Shallow | None = None,
) -> list[ledger.Claim]:
    """The chapter's claims from its measures (and, where the store holds them, the longer
    budgets: C3.2bp, and C3.1p and C3.3p for the deep runs the store holds; and with ``eight``,
    the store's shallow models at eight seeds, C3.2p and C3.4p-C3.6p); ``n``: the
    chapter's :func:`numbers`, where the caller has them already."""
    n = numbers(m) if n is None else n
    by_run = _by_run(m)
    mse_sg = pd.concat([by_run["linear regression", "linear SG"], by_run[DEEP, "linear SG"]])
    gd_runs = m.diagnosis[m.diagnosis.setting == "gradient descent"]
    deep_log = by_run["deep linear network, log loss", "linear SG"]
    shallow = shallow_claims(m.shallow(), n)
    diag_converged = diagnosis_counts(m.diagnosis)["seeds that converge"]
    out = [
        ledger.Claim(
            "C3.1",
            "Linear regression and a deep linear network (MSE) trained with linear SGs converge numerically to backprop's global optimum.",
            "outcome of every seed (each its own data), linear SG, both models, 2-D and 100-D, Adam; the deep network also with the diagnosis settings",
            "every seed converged or converging (within 1%, or on a rate that gets there within 10x the budget)",
            ledger.judge(
                per_seed(mse_sg, cv.converges(mse_sg)),
                also={"gradient descent": bool(cv.converges(gd_runs).any())},
                regime="linear regression {shallow} seed-dimension runs; deep linear network {deep} with Adam, in 100-D {gd} with gradient descent",
                shallow=n["mse_shallow"], deep=n["mse_deep"], gd=n["gd_converged"],
            ),
            {"outcomes": mse_sg[["model", "dim", "seed", "outcome", "final", "tracking"]].to_dict("records"),
             "deep_by_setting": diag_converged.to_dict()},
        ),
        shallow["C3.2"],
        ledger.Claim(
            "C3.2b",
            "(Separable data) a linear SG struggles to overfit the training data under log loss.",
            "small version (the book's budget; the verdict of record is C3.2bp): training loss on separable data, linear SG over backprop, between half the budget and the whole, every seed, 2-D and 100-D",
            "the ratio grows: 95% t-interval of its log's growth, paired by seed, above 0 in both dimensions (reversed in either: does not hold); the SG's loss above backprop's at the end",
            *gap_verdict(m.separable_half, m.separable, DIMS),
        ),
        ledger.Claim(
            "C3.3",
            "The deep linear network (10 hidden layers) with log loss also converges with linear SGs (as the paper reports).",
            "outcome of every seed, deep linear network, linear SG, log loss, 2-D and 100-D",
            "every seed converged or converging",
            ledger.judge(
                per_seed(deep_log, cv.converges(deep_log)),
                regime="2-D {d2} seeds, 100-D {d100}", d2=n["deep_log_2"], d100=n["deep_log_100"],
            ),
            {"outcomes": deep_log[["dim", "seed", "outcome", "final", "tracking"]].to_dict("records")},
        ),
        *(shallow[c] for c in ("C3.4", "C3.5", "C3.6")),
    ]  # fmt: skip
    out += _long_claims(long) if long is not None else []
    if eight is not None:  # the verdicts of record of the claims on shallow models
        out += shallow_claims(eight, shallow_numbers(eight), STORE_SUFFIX).values()
    return out


def _long_claims(long: Long) -> list[ledger.Claim]:
    """C3.2bp, C3.1p and C3.3p: the same questions over the store's 20,000 steps (each where
    the store holds its runs)."""
    out = []
    if all((d, m) in long.separable for d in ("2", "100") for m in ("backprop", "linear SG")):
        verdict, evidence = gap_verdict(long.separable_early, long.separable, ("2", "100"))
        out.append(
            ledger.Claim(
                "C3.2bp",
                "(Separable data) a linear SG struggles to overfit the training data under log loss (over 20,000 steps).",
                "store: training loss on separable data, linear SG over backprop, after 3,000 steps (the chapter's budget) and after 20,000, every seed, 2-D and 100-D",
                "the ratio grows: 95% t-interval of its log's growth, paired by seed, above 0 in both dimensions (reversed in either: does not hold); the SG's loss above backprop's at 20,000 steps",
                verdict,
                {**evidence, "diverged_at": long.diverged},
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
                    per_seed(rows, cv.converges(rows)),
                    regime="{share} seeds", share=cv.share(rows),
                ),
                {"outcomes": rows[["seed", "outcome", "final"]].to_dict("records")},
                scale=long.scale,
            )
        )  # fmt: skip
    return out
