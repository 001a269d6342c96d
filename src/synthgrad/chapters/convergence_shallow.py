"""Chapter 3's claims on shallow models, C3.2 and C3.4-C3.6, decided on the chapter's measures
or, by the same rules, on the results store's eight seeds (C3.2p, C3.4p-C3.6p): what they are
decided on (:class:`Shallow`), the numbers their regimes quote (:func:`shallow_numbers`) and the
claims (:func:`shallow_claims`). Pure functions of plain tables, like
:mod:`.convergence_claims`, which gathers every claim of the chapter and imports these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import convergence as cv
from .. import ledger

DIMS = (2, 100)
TRACKING_MODES = ("rotated", "biased", "per-example")  # the update errors of (b)


@dataclass
class Shallow:
    """What the claims on shallow models (C3.2, C3.4-C3.6) are decided on: the chapter's
    measures (:meth:`Measures.shallow`), or the store's at eight seeds (C3.2p, C3.4p-C3.6p,
    :func:`~synthgrad.chapters.convergence_seeds.measure`, with its ``scale``)."""

    logistic: pd.DataFrame  # (a)'s logistic regression outcomes: columns dim, method, seed...
    fixed: pd.DataFrame  # the linear SG's ends: dim, seed, to_optimum, to_fixed_point...
    tracking: pd.DataFrame  # (b): columns mode, error, seed, outcome, final, update_error
    phase: pd.DataFrame  # (c): model lr, SG lr, diverged, distance
    errors: list[float]  # the controlled errors' sizes, in the order tried
    scale: str = ""


def _error_ok(tracking: pd.DataFrame) -> pd.Series:
    """Per (mode, error): does every seed converge (on its rate)?"""
    return tracking.groupby(["mode", "error"]).apply(
        lambda t: bool(cv.converges(t).all()), include_groups=False
    )


def _bounded(tracking: pd.DataFrame) -> pd.Series:
    """Per (mode, error): is the update's error below 1, the argument's condition? For the
    kinds made to an exact size, the size asked for; for per-example errors, the largest
    update error measured over the second half of training on any seed (a run that diverged
    before measuring one is counted in, so that it counts against the claim)."""

    out = {}
    for (mode, error), t in tracking.groupby(["mode", "error"]):
        measured = t.update_error.to_numpy(dtype=float)
        out[mode, error] = bool(
            error < 1
            if mode != "per-example"
            else np.isnan(measured).all() or np.nanmax(measured) < 1
        )
    return pd.Series(out)


def _largest_ok(error_ok: pd.Series, errors: list[float]) -> dict[str, float | None]:
    """Per mode: the largest error up to which every error tried converges on every seed."""
    return {
        mode: max(
            [e for e in errors if all(error_ok[mode, f] for f in errors if f <= e)], default=None
        )
        for mode in TRACKING_MODES
    }


def _beyond(tracking: pd.DataFrame) -> str:
    """What errors of 1 and more gave, per kind made to an exact size: "rotated 1.5: stalled,
    stalled, stalled; ..." (the outcome of each seed)."""
    rows = tracking[(tracking["mode"] != "per-example") & (tracking.error >= 1)]
    return "; ".join(f"{mode} {e:g}: {', '.join(t.outcome)}"
                     for (mode, e), t in rows.groupby(["mode", "error"], sort=False)) or "not run"  # fmt: skip


def shallow_numbers(m: Shallow) -> dict[str, Any]:
    """The numbers of the claims on shallow models (their regimes quote them)."""
    fixed, tracking = m.fixed, m.tracking
    largest_ok = _largest_ok(_error_ok(tracking), m.errors)
    per_example = tracking[tracking["mode"] == "per-example"]
    return {
        "at_fixed_point": f"{int(_at_fixed_point(fixed).sum())}/{len(fixed)}",
        "end_to_fixed_max": float(fixed.to_fixed_point.max()),
        **{
            f"fixed_from_optimum_{d}": _span(fixed[fixed.dim == d].fixed_point_from_optimum)
            for d in DIMS
        },
        **{f"end_to_optimum_{d}": _span(fixed[fixed.dim == d].to_optimum) for d in DIMS},
        **{f"largest_{mode.replace('-', '_')}": str(largest_ok[mode]) for mode in TRACKING_MODES},
        "beyond_1": _beyond(tracking),
        "per_example_update_max": float(np.nanmax(per_example.update_error))
        if per_example.update_error.notna().any()
        else float("nan"),
    }


def _span(values: pd.Series) -> str:
    """A range of relative distances as the prose quotes it: "0.40% to 0.72%"."""
    return f"{values.min():.2%} to {values.max():.2%}"


def _at_fixed_point(fixed: pd.DataFrame) -> np.ndarray:
    """Per run and seed: did it end at the SG's fixed point rather than at the optimum (at least
    twice as close to the one as to the other, which fails where the two coincide)? NaN (no
    fixed point found, a diverged run) is a no."""
    return (fixed.to_fixed_point < fixed.to_optimum / 2).to_numpy()


def per_seed(rows: pd.DataFrame, passed: np.ndarray) -> dict[str, bool]:
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


STORE_SUFFIX = "p"  # C3.2p, C3.4p-C3.6p: the claims on shallow models at eight seeds (store)


def shallow_claims(m: Shallow, n: Mapping[str, Any], suffix: str = "") -> dict[str, ledger.Claim]:
    """C3.2 and C3.4-C3.6 (the chapter's, ``suffix=""``), or the same claims decided by the same
    rules on the store's eight seeds (``suffix="p"``, each marked "(eight seeds)" and measured
    "store: ..."), keyed by the chapter's ids; ``n``: :func:`shallow_numbers` of ``m``."""
    by_method = dict(list(m.logistic.groupby("method", sort=False)))
    log_bp, matched = by_method["backprop"], by_method["loss-matched SG"]
    error_ok = _error_ok(m.tracking)
    bounded = _bounded(m.tracking)
    below_ok = error_ok[bounded[error_ok.index].to_numpy()]
    largest_ok = _largest_ok(error_ok, m.errors)
    phase = m.phase
    smallest = phase[phase["model lr"] == phase["model lr"].min()]
    stable = phase[phase.diverged == 0].groupby("SG lr")["model lr"].max()
    converging_cell = cv.converging_cell(phase, tol=0.01)
    claims = [
        ledger.Claim(
            "C3.2" + suffix,
            "Logistic regression trained with a linear SG does not reach the global optimum.",
            "where each linear-SG run ends, every seed, 2-D and 100-D: its distance to the optimum and to the exact fixed point of SG learning (Newton's method, float64), in function space; backprop's outcome",
            "every run at least twice as close to the SG's fixed point as to the optimum (so the two must differ), backprop converged or converging on every seed",
            ledger.judge(
                per_seed(m.fixed, _at_fixed_point(m.fixed)),
                required=cv.converges(log_bp),
                regime="the runs end at the SG's fixed point ({k} runs, at most {gap:.1e} from it), which lies {f2} from the optimum in 2-D and {f100} in 100-D",
                k=n["at_fixed_point"], gap=n["end_to_fixed_max"],
                f2=n["fixed_from_optimum_2"], f100=n["fixed_from_optimum_100"],
            ),
            {"linear_sg": m.fixed.to_dict("records"),
             "backprop": log_bp[["dim", "seed", "outcome", "final"]].to_dict("records")},
        ),
        ledger.Claim(
            "C3.4" + suffix,
            "An SG whose form matches the loss (a sigmoid added) fixes logistic regression.",
            "outcome of every seed, loss-matched SG, logistic regression, 2-D and 100-D",
            "every seed converged or converging",
            ledger.judge(cv.converges(matched)),
            {"outcomes": matched[["dim", "seed", "outcome", "final", "tracking"]].to_dict("records")},
        ),
        ledger.Claim(
            "C3.5" + suffix,
            "If the SG tracks the true gradient closely enough (error below the gradient's size), training converges to the critical point.",
            "linear regression (2-D) by gradient descent with an update of relative error ε = |u - g| / |g| (the quantity the argument bounds), of three kinds: rotated, biased (a fixed direction), and per-example errors at the output (whose update error is measured); outcome of every seed",
            "every seed converged or converging, for every run whose update error is below 1",
            ledger.judge(
                {f"{mode} {e:g}": bool(ok) for (mode, e), ok in below_ok.items()},
                regime="every seed converges up to an update error of {rotated} rotated and {biased} biased; at 1 and beyond: {beyond}; per-example errors give update errors up to {update:.3g} near the optimum (beyond the condition), and every seed converges up to a per-example error of {per_example}",
                rotated=n["largest_rotated"], biased=n["largest_biased"],
                per_example=n["largest_per_example"], update=n["per_example_update_max"],
                beyond=n["beyond_1"],
            ),
            {"converges_by_error": {f"{mode} {e}": ok for (mode, e), ok in error_ok.items()},
             "update_error_below_1": {f"{mode} {e}": ok for (mode, e), ok in bounded.items()},
             "largest_error_all_converge": largest_ok},
        ),
        ledger.Claim(
            "C3.6" + suffix,
            "A shallow linear model with a linear SG converges to the global solution when the learning rate is small enough.",
            "phase diagram over model and SG learning rates (plain gradient descent): worst-seed distance after the budget, divergence",
            "some cell converges (at most 1% on every seed), and no cell with both learning rates at most that cell's diverges",
            ledger.judge(converging_cell is not None),
            {"converging_cell": converging_cell,
             "smallest_model_lr": smallest.set_index("SG lr").distance.to_dict(),
             "largest_stable_model_lr": stable.to_dict()},
        ),
    ]  # fmt: skip
    if not suffix:
        return {c.id: c for c in claims}
    return {c.id.removesuffix(suffix): ledger.Claim(
        c.id, c.claim.removesuffix(".") + " (eight seeds).", f"store: {c.measured}", c.criterion,
        c.verdict, c.evidence, scale=m.scale) for c in claims}  # fmt: skip
