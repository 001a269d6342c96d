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

from .. import ledger

LIN = "linear SG, cDNI"
H_ONLY = "linear SG, h only"
FLOAT_LIMIT = 100 * float(np.finfo(np.float32).eps)  # the data are float32: targets carry ~1e-7


@dataclass
class Measured:
    """What the numbers and claims are decided on (:func:`measure`). ``ends``: per start, the
    end point's distance to w* (relative) at the chapter's ``lr`` for "backprop", :data:`H_ONLY`
    and :data:`LIN`; ``mlp_ends``: the same per model lr for the largest MLP SG; ``final``,
    ``sweep``, ``by_n``: the tables of (b), (c), (c2); ``real_field``: the relative SG update at
    the zero-loss point per SG class; ``lr``, ``steps``: the chapter's."""

    ends: dict[str, np.ndarray]
    mlp_ends: dict[float, np.ndarray]
    final: pd.DataFrame
    real_field: np.ndarray
    sweep: pd.DataFrame
    by_n: pd.DataFrame
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


def numbers(m: Measured) -> dict[str, Any]:
    """The numbers the chapter's prose quotes."""
    shift_lin, shift_big, widest = _shifts(m.sweep)
    real, real_lin_loss, real_lin_ratio = _realisable(m.final)
    real_bp_max = real[real.learning == "backprop"]["final loss"].max()
    final, by_n = m.final, m.by_n
    noisy_gap = (
        final[(final.problem == "noisy") & (final.learning == LIN)]["final loss"].median()
        - final[(final.problem == "noisy") & (final.learning == "backprop")]["final loss"].median()
    )
    shift_median = by_n.groupby("examples")["shift"].median()
    return {
        "shift_lin": float(np.mean(shift_lin)),
        "shift_big": float(np.mean(shift_big)),
        "largest_width": widest,
        "ends_lin": float(np.median(m.ends[LIN])),
        "ends_h": float(np.median(m.ends[H_ONLY])),
        "real_lin_max": float(real_lin_loss.max()),
        "real_lin_median": float(np.median(real_lin_loss)),
        "real_lin_ratio": float(real_lin_ratio.max()),
        "real_bp_max": float(real_bp_max),
        "noisy_gap": float(noisy_gap),
        "mlp_median": float(np.median(m.mlp_ends[m.lr])),
        "mlp_max": float(m.mlp_ends[m.lr].max()),
        "mlp_slow_median": float(np.median(m.mlp_ends[min(m.mlp_ends)])),
        "mlp_slow_lr": min(m.mlp_ends),
        "shift_smallest_n": float(shift_median.iloc[0]),
        "shift_largest_n": float(shift_median.iloc[-1]),
        "largest_n": int(shift_median.index[-1]),
        "excess_min": float(by_n.excess_train_loss.min()),
        "excess_max": float(by_n.excess_train_loss.max()),
        "held_out_better": f"{int((by_n.held_out_change < 0).sum())} of {len(by_n)}",
        "norm_ratio": float(by_n.norm_ratio.median()),
    }


def _c2_1(m: Measured) -> ledger.Verdict:
    """C2.1's verdict: the median shift over draws is at least 1% at every data size (it holds),
    or at least at the smallest, 500 examples (in part). A draw without a fixed point near w*
    (NaN) counts against its size, where the median over draws would skip it."""
    by_size = m.by_n.groupby("examples")["shift"]
    shift_median = by_size.median()
    passes = {
        n: ledger.every(by_size.get_group(n), shift_median[n] >= 0.01) for n in shift_median.index
    }
    first = int(shift_median.index[0])  # the smallest data size
    return ledger.judge(
        all(passes.values()),
        also={first: passes[first]},
        regime="at {first:,} examples (median shift {smallest:.1%}); the shift falls with the data size, to a median {largest:.2%} at {largest_n:,} (a finite-sample effect on these Gaussian inputs)",
        first=first,
        smallest=float(shift_median.iloc[0]),
        largest=float(shift_median.iloc[-1]),
        largest_n=int(shift_median.index[-1]),
    )


def claims(m: Measured) -> list[ledger.Claim]:
    """The chapter's claims (:data:`CLAIM_IDS`) from its measurements."""
    shift_lin, shift_big, widest = _shifts(m.sweep)
    real, real_lin_loss, real_lin_ratio = _realisable(m.final)
    shift_median = m.by_n.groupby("examples")["shift"].median()
    return [
        ledger.Claim(
            "C2.1",
            "With a restricted SG hypothesis space, some critical points of the original problem are no longer fixed points of SG learning (a regularisation effect).",
            "logistic problem, linear cDNI SG: distance of its exact fixed point to the backprop critical point w* (every dataset), and of the joint-training end points from every start",
            "median over datasets of the fixed point's distance to w* at least 1% of |w*| at every data size from 500 to 500,000 (joint training's end points and backprop's beside it)",
            _c2_1(m),
            {
                "fixed_point_shift": shift_lin,
                "joint_end_points_min": float(m.ends[LIN].min()),
                "backprop_end_points_max": float(m.ends["backprop"].max()),
                "median_shift_by_examples": shift_median.to_dict(),
                "excess_train_loss": m.by_n.excess_train_loss.to_numpy(),
                "held_out_change": m.by_n.held_out_change.to_numpy(),
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
            f"realisable tanh problem: final training loss after {m.steps} steps of joint training with the linear cDNI SG, from every start",
            "below 1e-6 from every start",
            ledger.judge(real_lin_loss < 1e-6),
            {
                "final_losses": real_lin_loss,
                "last_half_loss_ratio": real_lin_ratio,
                "backprop_final_losses": real[real.learning == "backprop"]["final loss"].to_numpy(),
            },
            source="this book",
        ),
    ]
