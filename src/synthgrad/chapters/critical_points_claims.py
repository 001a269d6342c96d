"""Chapter 2's claims and the numbers its prose quotes, decided on the chapter's measurements.

What the numbers and claims are decided on (:class:`Measured`), the names on the page they
refer to (:data:`LIN`, :data:`H_ONLY`) and the float32 limit of C2.3 (:data:`FLOAT_LIMIT`),
:func:`numbers` and :func:`claims`. Pure functions of plain tables and arrays, so that tests
decide every claim on constructed measurements without training. The runs, and
:func:`~synthgrad.chapters.critical_points.measure` that reduces them to :class:`Measured`, are
in :mod:`synthgrad.chapters.critical_points`, which imports what it shares from here (this
module imports nothing from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import ledger, stats

LIN = "linear SG, cDNI"
H_ONLY = "linear SG, h only"
FLOAT_LIMIT = 100 * float(np.finfo(np.float32).eps)  # the data are float32: targets carry ~1e-7
FLOOR = 1e-12  # C2.3b: a squared error this small is float32 rounding of the targets (~1e-7)^2
DECAY = -0.25  # C2.1: a shift falling faster than n^-1/4 is taken for a sampling effect (n^-1/2)


@dataclass
class Measured:
    """What the numbers and claims are decided on (:func:`measure`). ``ends``: per start, the
    end point's distance to w* (relative) at the chapter's ``lr`` for "backprop", :data:`H_ONLY`
    and :data:`LIN`; ``mlp_ends``: the same per model lr for the largest MLP SG; ``final``,
    ``sweep``, ``by_n``: the tables of (b), (c), (c2) (``by_n`` per input distribution, data
    size and draw); ``n_points``: the chapter's data size; ``real_field``: the relative SG update at
    the zero-loss point per SG class; ``lr``, ``steps``: the chapter's."""

    ends: dict[str, np.ndarray]
    mlp_ends: dict[float, np.ndarray]
    final: pd.DataFrame
    real_field: np.ndarray
    sweep: pd.DataFrame
    by_n: pd.DataFrame
    n_points: int
    lr: float
    steps: int


def _shifts(sweep: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Per draw, the fixed point's distance to w* of the linear cDNI SG and of the largest
    random-feature SG, and that SG's number of features."""
    widest = int(sweep["SG features"].max())
    shift_lin = sweep[sweep["SG features"] == 0]["distance to w* (relative)"].to_numpy()
    shift_big = sweep[sweep["SG features"] == widest]["distance to w* (relative)"].to_numpy()
    return shift_lin, shift_big, widest


def _realisable(final: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(b) on the realisable problem: its rows, and per start the linear cDNI SG's final loss
    and last-half loss ratio."""
    real = final[final.problem == "realisable"]
    lin = real[real.learning == LIN]
    return real, lin["final loss"].to_numpy(), lin["last-half loss ratio"].to_numpy()


def _reaches_zero(loss: np.ndarray, ratio: np.ndarray, steps: int) -> np.ndarray:
    """C2.3b per start: at the data's precision (an end loss, the lowest over the last tenth
    of the budget, at most :data:`FLOOR`), or still falling at a rate that gets there within ten
    times the budget (the loss ``ratio`` over the second half of ``steps``, extrapolated). A NaN
    or infinite loss is a no."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.log(ratio) / (steps / 2)  # per step, negative when falling
        needed = np.log(FLOOR / loss) / rate  # steps from the end to the floor
    falling = np.isfinite(loss) & (ratio < 1) & (needed <= 9 * steps)
    return (np.isfinite(loss) & (loss <= FLOOR)) | falling


def numbers(m: Measured) -> dict[str, Any]:
    """The numbers the chapter's prose quotes."""
    shift_lin, shift_big, widest = _shifts(m.sweep)
    real, real_lin_loss, real_lin_ratio = _realisable(m.final)
    real_bp = real[real.learning == "backprop"]
    final, by_n = m.final, m.by_n
    noisy = final[final.problem == "noisy"]
    noisy_bp = noisy[noisy.learning == "backprop"]["final loss"].median()
    noisy_gap = noisy[noisy.learning == LIN]["final loss"].median() - noisy_bp
    gauss = by_n[by_n.inputs == "Gaussian"]
    shift_median = gauss.groupby("examples")["shift"].median()
    trend = _trends(by_n)
    at_n = by_n[by_n.examples == m.n_points]
    return {
        "shift_lin": float(np.mean(shift_lin)),
        "shift_big": float(np.mean(shift_big)),
        "largest_width": widest,
        "ends_lin": float(np.median(m.ends[LIN])),
        "ends_h": float(np.median(m.ends[H_ONLY])),
        "real_lin_max": float(real_lin_loss.max()),
        "real_lin_median": float(np.median(real_lin_loss)),
        "real_lin_at_floor": f"{int((real_lin_loss <= FLOOR).sum())} of {len(real_lin_loss)}",
        "real_lin_ratio": (
            f"{real_lin_ratio[real_lin_loss > FLOOR].max():.2f}"
            if (real_lin_loss > FLOOR).any()
            else "(no run above it)"
        ),  # fmt: skip
        "real_bp_max": float(real_bp["final loss"].max()),
        # NaN: a start that never got to the floor, left out (a diverged one is inf, kept)
        "real_bp_peak": float(real_bp["highest loss after reaching the floor"].max()),
        "noisy_gap": float(noisy_gap),
        "noisy_bp_median": float(noisy_bp),
        "noisy_gap_relative": float(noisy_gap / noisy_bp),
        "floor": FLOOR,
        "mlp_median": float(np.median(m.mlp_ends[m.lr])),
        "mlp_max": float(m.mlp_ends[m.lr].max()),
        "mlp_slow_median": float(np.median(m.mlp_ends[min(m.mlp_ends)])),
        "mlp_slow_lr": min(m.mlp_ends),
        "shift_smallest_n": float(shift_median.iloc[0]),
        "shift_largest_n": float(shift_median.iloc[-1]),
        "largest_n": int(shift_median.index[-1]),
        "excess_min": float(by_n.excess_train_loss.min()),
        "excess_max": float(by_n.excess_train_loss.max()),
        "held_out_better": f"{int((at_n.held_out_change < 0).sum())} of {len(at_n)}",
        "norm_ratio": float(at_n.norm_ratio.median()),
        **{f"slope_{k}": t.text() for k, t in trend.items()},
        **{
            f"median_{k}_largest": float(
                by_n[(by_n.inputs == k) & (by_n.examples == by_n.examples.max())]["shift"].median()
            )
            for k in trend
        },  # fmt: skip
    }


def _trends(by_n: pd.DataFrame) -> dict[str, stats.Slope]:
    """Per input distribution: the slope of log10(shift) against log10(data size) over every
    draw, with its 95% interval, against :data:`DECAY` (a draw without a fixed point near w*,
    NaN, fails it)."""
    return {
        inputs: stats.slope_above(np.log10(t.examples), np.log10(t["shift"]), DECAY)
        for inputs, t in by_n.groupby("inputs", sort=False)
    }


def _c2_1(m: Measured) -> ledger.Verdict:
    """C2.1's verdict: per input distribution, does the linear cDNI SG's fixed-point shift
    survive more data (a property of SG learning) or fall like a sampling effect?"""
    trend = _trends(m.by_n)
    largest = int(m.by_n.examples.max())
    medians = {k: float(t[t.examples == largest]["shift"].median())
               for k, t in m.by_n.groupby("inputs", sort=False)}  # fmt: skip
    return ledger.judge(
        trend,
        regime="a property of SG learning on {held} inputs; it falls with the data like a sampling effect on {short} inputs; undecided on {undecided} inputs; median shift at {largest:,} examples: {medians}",
        largest=largest,
        medians=", ".join(f"{v:.2%} ({k})" for k, v in medians.items()),
    )


def _c2_1r(m: Measured) -> ledger.Verdict:
    """C2.1r's verdict: per input distribution, at the chapter's data size, is the held-out
    loss lower at the SG's fixed point than at w* (paired by draw)?"""
    at_n = m.by_n[m.by_n.examples == m.n_points]
    parts = {
        inputs: stats.paired(-t.held_out_change.to_numpy(), np.zeros(len(t)))
        for inputs, t in at_n.groupby("inputs", sort=False)
    }
    return ledger.judge(
        parts,
        regime="held-out loss lower at the SG's fixed point on {held} inputs; higher on {reversed}; undecided on {undecided}; weights {ratio:.3f} times as long as w* (median)",
        ratio=float(at_n.norm_ratio.median()),
        decide="more draws (papermill -p n_seeds 20)",
    )


def claims(m: Measured) -> list[ledger.Claim]:
    """The chapter's claims (:data:`CLAIM_IDS`) from its measurements."""
    shift_lin, shift_big, widest = _shifts(m.sweep)
    real, real_lin_loss, real_lin_ratio = _realisable(m.final)
    return [
        ledger.Claim(
            "C2.1",
            "With a restricted SG hypothesis space, some critical points of the original problem are no longer fixed points of SG learning (a regularisation effect).",
            "logistic problem, linear cDNI SG: distance of its exact fixed point to the backprop critical point w*, per draw, at 500 to 500,000 examples, on Gaussian inputs and on a non-Gaussian mixture; the slope of log shift against log data size",
            f"95% interval of the slope above {DECAY:g} (the shift does not fall like a sampling effect, n^-1/2): it holds on inputs where the shift is a property of SG learning",
            _c2_1(m),
            {
                "fixed_point_shift": shift_lin,
                "joint_end_points_min": float(m.ends[LIN].min()),
                "backprop_end_points_max": float(m.ends["backprop"].max()),
                "shift_by_inputs_and_examples": m.by_n.groupby(["inputs", "examples"])["shift"]
                .median()
                .to_dict(),
            },
        ),
        ledger.Claim(
            "C2.1r",
            "The restricted SG class acts as a regulariser.",
            f"logistic problem, linear cDNI SG, at the chapter's {m.n_points} examples: held-out log loss (20,000 examples) at its fixed point minus at w*, per draw, on both input distributions; the fixed point's weight length against w*'s",
            "95% interval of w*'s held-out loss minus the fixed point's (paired by draw) above 0",
            _c2_1r(m),
            {
                "held_out_change": m.by_n[m.by_n.examples == m.n_points].held_out_change.to_numpy(),
                "norm_ratio": m.by_n[m.by_n.examples == m.n_points].norm_ratio.to_numpy(),
                "excess_train_loss": m.by_n.excess_train_loss.to_numpy(),
            },
        ),
        ledger.Claim(
            "C2.2",
            "With enough SG capacity, every critical point of the original problem can be represented.",
            f"distance of the exact fixed point to w* for random-feature SGs up to {widest} features, every dataset",
            "at the largest capacity, within 1% of |w*| for every dataset and at most a tenth of the linear cDNI SG's mean shift",
            ledger.judge(
                bool((shift_big < 0.01).all() and np.mean(shift_big) <= 0.1 * np.mean(shift_lin))
            ),
            {
                "largest_width": widest,
                "shift_largest": shift_big,
                "shift_linear": shift_lin,
                "trained_mlp_sg_end_points": {str(r): v for r, v in m.mlp_ends.items()},
            },
        ),
        ledger.Claim(
            "C2.3",
            "Critical points where the loss is zero are preserved even with linear SGs.",
            "realisable tanh problem: exact SG update (float64) at the zero-loss point relative to its median size 10% of |w_true| away, for the linear SG without labels, the linear cDNI SG and a random-feature SG",
            f"ratio below {FLOAT_LIMIT:.1e} (100 float32 epsilons: the targets are float32, so the zero-loss point is zero only to that precision) for every class, where the update nearby is of order 1",
            ledger.judge(m.real_field < FLOAT_LIMIT),
            {"relative_sg_update_at_zero_loss_point": m.real_field},
            kind="identity check",
        ),
        ledger.Claim(
            "C2.3b",
            "(This book's addition) Joint training with a linear SG reaches the zero-loss point.",
            f"realisable tanh problem: training loss of joint training with the linear cDNI SG, the lowest over the last tenth of {m.steps} steps, and its fall over the second half (against the lowest over the tenth that ends at mid-training), from every start",
            f"from every start, at the data's precision (a lowest loss in the last tenth of at most {FLOOR:.0e}: it got there) or still falling at a rate that gets there within ten times the budget",
            ledger.judge(_reaches_zero(real_lin_loss, real_lin_ratio, m.steps)),
            {
                "final_losses": real_lin_loss,
                "last_half_loss_ratio": real_lin_ratio,
                "backprop_final_losses": real[real.learning == "backprop"]["final loss"].to_numpy(),
            },
            source="this book",
        ),
    ]
