"""Chapter 2 (RQ1): do synthetic gradients change the critical points?

The chapter's problems and runs, their reduction to what its numbers and claims are decided on
(:func:`measure`), and :func:`finish`. The claims, the numbers and the measurements they read
(:class:`Measured`) are in :mod:`synthgrad.chapters.critical_points_claims`, imported here, so
that the notebook and the tests find them on this module; the figures and tables in
:mod:`synthgrad.chapters.critical_points_figures`. The exact computations (SG update fields,
their zeros) are in :mod:`synthgrad.critical`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from .. import chapters, critical, data, losses, optima
from .. import params as P
from ..data import Dataset
from . import Interface
from .critical_points_claims import FLOOR, H_ONLY, LIN, Measured, claims, numbers

INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 8, "n_points": 500, "anisotropy": 0.1, "flip": 0.05,
        "noise": 0.2, "steps": 2000, "lr": 0.05, "sg_lr": None, "grid_size": 5,
        "mlp_hidden": 64, "max_width": 256, "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "n_points": P.integer(50, 20000),
        "anisotropy": P.number(0, 1, low_open=True), "flip": P.number(0.01, 0.45),
        "noise": P.number(0, 2, low_open=True), "steps": P.integer(1),
        "lr": P.number(0, 1, low_open=True), "sg_lr": P.positive(optional=True),
        "grid_size": P.integer(2, 15), "mlp_hidden": P.integer(1),
        "max_width": P.integer(4, 4096), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "n_points", "anisotropy", "flip", "noise", "steps", "lr",
            "sg_lr", "grid_size", "mlp_hidden", "max_width", "sizes"),
    settings=dict(sizes=[500, 5_000, 50_000, 500_000]),  # (c2): training examples
    quick=dict(steps=150, grid_size=3, n_seeds=2, max_width=16, n_points=200, mlp_hidden=8,
               sizes=[200, 2_000]),
)  # fmt: skip

CLAIM_IDS = ("C2.1", "C2.1r", "C2.2", "C2.3", "C2.3b")
IN_PART = ("C2.1", "C2.1r")  # claims that can hold in part
PAIRED = ("C2.1", "C2.1r")  # claims decided on an interval (BOOK.md section 6)
INPUTS = ("Gaussian", "mixture")  # (c2): the logistic problem's input distributions

# (b): the learning rules trained jointly with the model: name -> SG (label context, hidden)
TANH_TRAINED = {"backprop": None, H_ONLY: (0, 0), LIN: (1, 0)}
SIZES = INTERFACE.settings["sizes"]  # (c2): training examples of the logistic problem
DESIGNS = dict(anisotropy=(1.0, 0.3, 0.1), flips=(0.02, 0.05, 0.1, 0.2))  # (c): shift table
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
    runs, diverged = {}, {}
    runs["backprop", p.lr], diverged["backprop", p.lr] = _joint(prob, None, p.steps, p.lr, p.sg_lr)
    n = len(prob.starts)
    for name, (sg, _) in prob.classes.items():  # each class at every rate of the grid, as one run
        ends, h = critical.joint_training(
            prob.data["logistic"], prob.starts, "none", sg, p.steps, lr_grid, p.sg_lr
        )
        for j, r in enumerate(lr_grid):
            runs[name, r] = ends[j * n : (j + 1) * n]
            diverged[name, r] = int(h.diverged[j * n : (j + 1) * n].sum())
    order = [("backprop", p.lr)] + [(name, r) for r in lr_grid for name in prob.classes]
    runs, diverged = {k: runs[k] for k in order}, {k: diverged[k] for k in order}
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


def rerun(
    a: Logistic, prob: Problems, p: SimpleNamespace, lr_value: float, sg_class: str
) -> Logistic:
    """The live widget: a shorter joint training of one SG class at one learning rate, returned
    as a copy of ``a`` with that point's end points and diverged runs replaced, for
    :func:`~.critical_points_figures.panel` (``a`` itself, which the claims read, is left as
    the chapter trained it)."""
    sg, steps = prob.classes[sg_class][0], max(10, p.steps // 2)
    ends, diverged = _joint(prob, sg, steps, lr_value, p.sg_lr)
    key = (sg_class, lr_value)
    return replace(a, runs={**a.runs, key: ends}, diverged={**a.diverged, key: diverged})


@dataclass
class Tanh:
    """(b): the exact SG update at w_true per SG class and problem (``fields``: absolute, and
    relative to its median size 10% of |w_true| away), and per start of joint training its
    final loss, last-half loss ratio, highest loss after reaching the floor (:func:`end_loss`)
    and distance to w_true (``final``)."""

    fields: pd.DataFrame
    final: pd.DataFrame


def end_loss(loss: np.ndarray, diverged: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per start, from the training loss of every step (steps, starts): the end loss, the
    lowest over the last tenth of the budget (a window, BOOK.md section 6: C2.3b asks whether a
    run *reaches* the zero-loss point, so a run that touched it in that window has); its ratio
    to the lowest over the tenth that ends at mid-training (its fall over the second half); and
    the highest loss after the run first got to the data's precision (:data:`FLOOR`; NaN if it
    never did). Lowest over a window, not the last step's: near an exact zero of the gradient
    Adam turns float32 rounding noise into steps of the learning rate's size and leaves the
    point for a hundred steps or more, with backprop as with an SG, so one step's loss is a
    draw from that cycle (it decided C2.3b differently on two CPUs); for a run that falls
    steadily the two are the same. A run that diverged: infinite loss, ratio and rise."""
    steps = len(loss)
    width, mid = max(1, -(-steps // 10)), max(1, steps // 2)
    end = loss[-width:].min(axis=0)
    ratio = end / loss[max(0, mid - width) : mid].min(axis=0)
    at_floor = loss <= FLOOR
    first = np.where(at_floor.any(axis=0), at_floor.argmax(axis=0), steps)
    after = np.where(np.arange(steps)[:, None] >= first, loss, -np.inf)
    rise = np.where(first < steps, after.max(axis=0), np.nan)
    bad = diverged | ~np.isfinite(end) | np.isinf(rise)
    return np.where(bad, np.inf, end), np.where(bad, np.inf, ratio), np.where(bad, np.inf, rise)


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
            end, ratio, rise = end_loss(h.train["loss"], h.diverged)
            final.append(
                pd.DataFrame(
                    {
                        "problem": problem,
                        "learning": name,
                        "final loss": end,
                        "last-half loss ratio": ratio,
                        "highest loss after reaching the floor": rise,
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


def logistic_draw(inputs: str, n: int, seed: int, p: SimpleNamespace) -> Dataset:
    """One draw of the logistic problem with ``n`` training examples (and 20,000 held out), on
    ``inputs``: "Gaussian" (the chapter's, with its ``anisotropy``) or "mixture"
    (:func:`synthgrad.data.mixture_labels`, not Gaussian); the same draw wherever a section uses
    the same ``(inputs, n, seed)``."""
    if inputs == "Gaussian":
        return data.noisy_linear_labels(
            n=n, d=2, flip=p.flip, scales=[1.0, p.anisotropy], seed=seed, n_test=20_000
        )
    if inputs == "mixture":
        return data.mixture_labels(n=n, flip=p.flip, seed=seed, n_test=20_000)
    raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")


def capacity_sweep(prob: Problems, p: SimpleNamespace) -> pd.DataFrame:
    """(c): on ``n_seeds`` draws of the logistic problem, the distance to w* of the exact fixed
    point nearest it, for the linear cDNI SG (0 features) and random-feature SGs of 4, 16, ...
    up to ``max_width`` features (one row per draw and class)."""
    widths = [0] + [4**k for k in range(1, 10) if 4**k <= p.max_width]
    sweep = []
    for s in p.seeds:
        x_s, y_s = xy(logistic_draw("Gaussian", p.n_points, s, p))  # the draws of (c2)
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
    """(c2): the linear cDNI SG's fixed point nearest w* on the logistic problem drawn on each
    of :data:`INPUTS` with each of ``p.sizes`` training examples (:data:`SIZES` by default)
    and the chapter's ``n_points``, ``n_seeds`` draws each
    (:func:`synthgrad.critical.linear_sg_shift`: one row per draw)."""
    rows = []
    for inputs in INPUTS:
        for n in sorted({*p.sizes, p.n_points}):  # the chapter's own size too (C2.1r)
            for s in p.seeds:
                d = logistic_draw(inputs, n, s, p)
                report = critical.linear_sg_shift(*xy(d), *xy(d, "test"))
                rows.append({"inputs": inputs, "examples": n, "seed": s, **report})
    return pd.DataFrame(rows)


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
        n_points=p.n_points,
        lr=p.lr,
        steps=p.steps,
    )


def finish(
    p: SimpleNamespace, a: Logistic, tanh: Tanh, sweep: pd.DataFrame, by_n: pd.DataFrame
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the runs of (a), (b) (``tanh``, as
    :func:`train_tanh` returns it), (c) and (c2), the ledger written and every number glued;
    returns the claims table."""
    m = measure(a, tanh, sweep, by_n, p)
    return chapters.finish(p, claims(m), numbers(m))
