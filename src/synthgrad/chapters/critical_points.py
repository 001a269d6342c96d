"""Chapter 2 (RQ1): do synthetic gradients change the critical points?

The chapter's problems and runs, the numbers its prose quotes and its claims; the figures and
tables are in :mod:`synthgrad.chapters.critical_points_figures`. The exact computations (SG
update fields, their zeros) are in :mod:`synthgrad.critical`."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import chapters, critical, data, ledger, losses, optima
from .. import params as P
from ..data import Dataset
from . import Interface

INTERFACE = Interface(
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "n_points": P.integer(50, 20000),
        "anisotropy": P.number(0, 1, low_open=True), "flip": P.number(0.01, 0.45),
        "noise": P.number(0, 2, low_open=True), "steps": P.integer(1),
        "lr": P.number(0, 1, low_open=True), "sg_lr": P.positive(optional=True),
        "grid_size": P.integer(2, 15), "mlp_hidden": P.integer(1),
        "max_width": P.integer(4, 4096), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "n_points", "anisotropy", "flip", "noise", "steps", "lr",
            "sg_lr", "grid_size", "mlp_hidden", "max_width"),
    quick=dict(steps=150, grid_size=3, n_seeds=2, max_width=16, n_points=200, mlp_hidden=8),
)  # fmt: skip

CLAIM_IDS = ("C2.1", "C2.2", "C2.3", "C2.3b")
IN_PART = ("C2.1",)  # claims that can hold in part

LIN = "linear SG, cDNI"
H_ONLY = "linear SG, h only"
# (b): the learning rules trained jointly with the model: name -> SG (label context, hidden)
TANH_TRAINED = {"backprop": None, H_ONLY: (0, 0), LIN: (1, 0)}
SIZES = [500, 5_000, 50_000, 500_000]  # (c2): training examples of the logistic problem
DESIGNS = dict(anisotropy=(1.0, 0.3, 0.1), flips=(0.02, 0.05, 0.1, 0.2))  # (c): shift table
FLOAT_LIMIT = 100 * float(np.finfo(np.float32).eps)  # the data are float32: targets carry ~1e-7
WIDGET_LABELS = {"lr_value": "model learning rate", "sg_class": "SG class"}
LIVE_LRS = [0.01, 0.05, 0.2, 0.5]  # the live widget's model learning rates


def sg_classes(mlp_hidden: int) -> dict[str, tuple[tuple[int, int], str | None]]:
    """The SG classes trained jointly with the model in (a): name -> ((label context, MLP
    hidden units; 0 = linear), the exact class of :mod:`synthgrad.critical` for its fixed
    points, or None where there is none)."""
    return {
        H_ONLY: ((0, 0), "h"),
        LIN: ((1, 0), "h,y"),
        f"MLP SG ({max(1, mlp_hidden // 8)} hidden), cDNI": ((1, max(1, mlp_hidden // 8)), None),
        f"MLP SG ({mlp_hidden} hidden), cDNI": ((1, mlp_hidden), None),
    }


def tanh_field_classes(max_width: int) -> dict[str, tuple[str, int]]:
    """The SG classes whose exact update at w_true (b) computes: name -> (class, features)."""
    return {
        H_ONLY: ("h", 0),
        LIN: ("h,y", 0),
        f"random-feature SG ({max_width})": ("relu", max_width),
    }


def xy(d: Dataset, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """A dataset's inputs and targets (``part``: "train" or "test") in float64, targets flat."""
    return getattr(d, f"x_{part}").double(), getattr(d, f"y_{part}").double().reshape(-1)


@dataclass
class Problems:
    """The chapter's three two-weight problems (``data``: logistic, realisable, noisy), their
    float64 training data, the logistic optimum ``w_star``, the tanh teacher ``w_true``, the
    plotted half-box around ``w_star`` and the grid of starts in it, and the SG classes."""

    data: dict[str, Dataset]
    xy: dict[str, tuple[torch.Tensor, torch.Tensor]]
    scales: list[float]
    w_star: torch.Tensor
    w_true: torch.Tensor
    half: torch.Tensor
    starts: torch.Tensor
    classes: dict[str, tuple[tuple[int, int], str | None]]


def problems(p: SimpleNamespace) -> Problems:
    """The problems of (a) and (b), drawn with the chapter's ``seed``."""
    torch.set_default_dtype(torch.float32)
    scales = [1.0, p.anisotropy]
    logistic = data.noisy_linear_labels(n=p.n_points, d=2, flip=p.flip, scales=scales, seed=p.seed)
    realisable = data.tanh_teacher(n=p.n_points, noise=0.0, scales=scales, seed=p.seed)
    noisy = data.tanh_teacher(n=p.n_points, noise=p.noise, scales=scales, seed=p.seed)
    sets = {"logistic": logistic, "realisable": realisable, "noisy": noisy}
    pairs = {name: xy(d) for name, d in sets.items()}
    w_star = optima.logistic_optimum(*pairs["logistic"])
    half = torch.tensor([6.0, 3.0 / p.anisotropy], dtype=torch.float64)  # plotted box around w*
    starts = critical.grid(tuple(w_star - 0.8 * half), tuple(w_star + 0.8 * half), p.grid_size)
    w_true = torch.tensor([1.5, -2.0], dtype=torch.float64)
    return Problems(sets, pairs, scales, w_star, w_true, half, starts, sg_classes(p.mlp_hidden))


@dataclass
class Logistic:
    """(a): the end points of joint training per (SG class or "backprop", model lr) and how
    many runs diverged; the exact fixed points in view per linear class; the loss surface on
    the plotted box; each end point's distance to w* (relative), computed after training."""

    lr_grid: list[float]
    runs: dict[tuple[str, float], torch.Tensor]
    diverged: dict[tuple[str, float], int]
    exact: dict[str, torch.Tensor]
    w1: torch.Tensor
    w2: torch.Tensor
    surface: torch.Tensor
    to_star: dict[tuple[str, float], np.ndarray]


def train_logistic(prob: Problems, p: SimpleNamespace) -> Logistic:
    """(a): backprop at the chapter's ``lr`` and every SG class at three model learning rates,
    jointly with the model from the grid of starts; the exact fixed points of the linear
    classes; the loss surface."""
    lr_grid = sorted({p.lr / 5, p.lr, min(1.0, p.lr * 4)})
    jobs = [("backprop", p.lr, None)]
    jobs += [(name, r, sg) for r in lr_grid for name, (sg, _) in prob.classes.items()]
    runs, diverged = {}, {}
    for name, r, sg in jobs:
        runs[name, r], diverged[name, r] = _joint(prob, sg, p.steps, r, p.sg_lr)
    x, y = prob.xy["logistic"]
    lo, hi = prob.w_star - prob.half, prob.w_star + prob.half
    exact = {
        name: critical.in_box(
            critical.sg_fixed_points(x, y, losses.log_loss_elementwise, kind, prob.starts), lo, hi
        )
        for name, (_, kind) in prob.classes.items()
        if kind is not None
    }
    w1 = torch.linspace(lo[0], hi[0], 150, dtype=torch.float64)
    w2 = torch.linspace(lo[1], hi[1], 150, dtype=torch.float64)
    surface = critical.loss_surface(x, y, losses.log_loss_elementwise, w1, w2)
    to_star = {k: optima.relative_distance(e, prob.w_star).numpy() for k, e in runs.items()}
    return Logistic(lr_grid, runs, diverged, exact, w1, w2, surface, to_star)


def _joint(
    prob: Problems, sg: tuple[int, int] | None, steps: int, lr: float, sg_lr: float | None
) -> tuple[torch.Tensor, int]:
    """Joint training on the logistic problem from the grid of starts: end points, diverged."""
    ends, h = critical.joint_training(
        prob.data["logistic"], prob.starts, "none", sg, steps, lr, sg_lr
    )
    return ends, int(h.diverged.sum())


def rerun(a: Logistic, prob: Problems, p: SimpleNamespace, lr_value: float, sg_class: str) -> None:
    """The live widget: a shorter joint training of one SG class at one learning rate, stored
    in ``a`` (its end points and diverged runs) for :func:`~.critical_points_figures.panel`."""
    sg, steps = prob.classes[sg_class][0], max(10, p.steps // 2)
    a.runs[sg_class, lr_value], a.diverged[sg_class, lr_value] = _joint(
        prob, sg, steps, lr_value, p.sg_lr
    )


@dataclass
class Tanh:
    """(b): the exact SG update at w_true per SG class and problem (``fields``: absolute, and
    relative to its median size 10% of |w_true| away), and per start of joint training its
    final loss, last-half loss ratio and distance to w_true (``final``)."""

    fields: pd.DataFrame
    final: pd.DataFrame


def train_tanh(prob: Problems, p: SimpleNamespace) -> Tanh:
    """(b), on the realisable and the noisy tanh problem: the exact SG update at w_true of every
    class of :func:`tanh_field_classes`, and joint training (:data:`TANH_TRAINED`) from a grid
    of starts around w_true."""
    w_true = prob.w_true
    tanh_half = torch.tensor([3.0, 1.0 / p.anisotropy], dtype=torch.float64)
    tanh_starts = critical.grid(tuple(w_true - tanh_half), tuple(w_true + tanh_half), p.grid_size)
    field_rows, final = [], []
    for problem in ("realisable", "noisy"):
        d, (x, y) = prob.data[problem], prob.xy[problem]
        for name, (kind, width) in tanh_field_classes(p.max_width).items():
            f = critical.sg_field(w_true, x, y, critical.tanh_mse, kind, width, p.seed)
            field = critical.update_field(x, y, critical.tanh_mse, kind, width, p.seed)
            field_rows.append(
                {
                    "problem": problem,
                    "SG class": name,
                    "|SG update at w_true|": float(f.detach().norm()),
                    "relative to 10% away": critical.relative_update(field, w_true),
                }
            )
        for name, sg in TANH_TRAINED.items():
            ends, h = critical.joint_training(d, tanh_starts, "tanh", sg, p.steps, p.lr, p.sg_lr)
            loss = h.train["loss"]
            final.append(
                pd.DataFrame(
                    {
                        "problem": problem,
                        "learning": name,
                        "final loss": loss[-1],
                        "last-half loss ratio": loss[-1] / loss[len(loss) // 2],
                        "distance to w_true": optima.relative_distance(ends, w_true).numpy(),
                    }
                )
            )
    fields = pd.DataFrame(field_rows).pivot(
        index="SG class",
        columns="problem",
        values=["|SG update at w_true|", "relative to 10% away"],
    )
    return Tanh(fields, pd.concat(final, ignore_index=True))


def capacity_sweep(prob: Problems, p: SimpleNamespace) -> pd.DataFrame:
    """(c): on ``n_seeds`` draws of the logistic problem, the distance to w* of the exact fixed
    point nearest it, for the linear cDNI SG (0 features) and random-feature SGs of 4, 16, ...
    up to ``max_width`` features (one row per draw and class)."""
    widths = [0] + [4**k for k in range(1, 10) if 4**k <= p.max_width]
    sweep = []
    for s in p.seeds:
        d = data.noisy_linear_labels(n=p.n_points, d=2, flip=p.flip, scales=prob.scales, seed=s)
        x_s, y_s = xy(d)
        ws = optima.logistic_optimum(x_s, y_s)
        for width in widths:
            kind = "h,y" if width == 0 else "relu"
            dist = critical.fixed_point_shift(x_s, y_s, ws, kind, width, s)
            sweep.append({"seed": s, "SG features": width, "distance to w* (relative)": dist})
    return pd.DataFrame(sweep)


def shift_designs(p: SimpleNamespace) -> pd.DataFrame:
    """(c): the linear cDNI SG's fixed-point shift for designs of the logistic problem
    (:data:`DESIGNS`), drawn with the chapter's ``seed`` (one row per design)."""
    designs = []
    for aniso in DESIGNS["anisotropy"]:
        for f in DESIGNS["flips"]:
            d = data.noisy_linear_labels(
                n=p.n_points, d=2, flip=f, scales=[1.0, aniso], seed=p.seed
            )
            x_d, y_d = xy(d)
            ws = optima.logistic_optimum(x_d, y_d)
            shift = critical.fixed_point_shift(x_d, y_d, ws)
            designs.append({"anisotropy": aniso, "label flips": f, "shift": shift})
    return pd.DataFrame(designs)


def shift_by_size(p: SimpleNamespace) -> pd.DataFrame:
    """(c2): the linear cDNI SG's fixed point nearest w* on the logistic problem drawn with
    each of :data:`SIZES` training examples, ``n_seeds`` draws each
    (:func:`synthgrad.critical.linear_sg_shift`: one row per draw)."""
    rows = []
    for n in SIZES:
        for s in p.seeds:
            d = data.noisy_linear_labels(
                n=n, d=2, flip=p.flip, scales=[1.0, p.anisotropy], seed=s, n_test=20_000
            )
            report = critical.linear_sg_shift(*xy(d), *xy(d, "test"))
            rows.append({"examples": n, "seed": s, **report})
    return pd.DataFrame(rows)


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


def measure(
    a: Logistic, tanh: Tanh, sweep: pd.DataFrame, by_n: pd.DataFrame, p: SimpleNamespace
) -> Measured:
    """The plain inputs of :func:`numbers` and :func:`claims` from the chapter's runs."""
    big = f"MLP SG ({p.mlp_hidden} hidden), cDNI"
    return Measured(
        ends={name: a.to_star[name, p.lr] for name in ("backprop", H_ONLY, LIN)},
        mlp_ends={r: a.to_star[big, r] for r in a.lr_grid},
        final=tanh.final,
        real_field=tanh.fields["relative to 10% away", "realisable"].to_numpy(),
        sweep=sweep,
        by_n=by_n,
        lr=p.lr,
        steps=p.steps,
    )


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


def finish(
    p: SimpleNamespace, a: Logistic, tanh: Tanh, sweep: pd.DataFrame, by_n: pd.DataFrame
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the runs of (a), (b) (``tanh``, as
    :func:`train_tanh` returns it), (c) and (c2), the ledger written and every number glued;
    returns the claims table."""
    m = measure(a, tanh, sweep, by_n, p)
    return chapters.finish(p, claims(m), numbers(m))
