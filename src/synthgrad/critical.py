"""Critical points of backprop and fixed points of SG learning, on problems small enough to
solve exactly.

Setting: an SG sits at an activation ``h = x . w`` (one linear unit; ``w`` are the
parameters below the SG) and a per-example loss ``l(h, y)`` lies above it. Backprop moves
``w`` along ``-E[g x]`` with ``g = dl/dh``. SG learning moves ``w`` along ``-E[s(h, y) x]``,
where ``s`` is the SG. At a fixed point of joint (model + SG) learning the SG has also
stopped learning, so ``s`` is the best fit of ``g`` in the SG's hypothesis class. The SG
classes here are linear in their parameters (a feature map and a least-squares readout), so
that best fit is exact and the *SG update field* is a closed-form function of ``w``:
its zeros are exactly the fixed points of SG learning.

SG classes (``kind``): ``"h"`` (linear in h: ``a h + c``), ``"h,y"`` (linear, label-
conditioned: ``a h + b y + c``), ``"relu"`` (``h``, ``y``, 1 and ``width`` random ReLU
features of ``(h, y)``: capacity grows with ``width``, and with enough of them any
continuous gradient field of (h, y) can be fitted).

Per-example losses ``l(h, y)`` of the unit: :func:`~synthgrad.losses.squared_error_elementwise`,
:func:`~synthgrad.losses.log_loss_elementwise`, and :func:`tanh_mse` (a tanh above the SG).
The optima they are compared with are in :mod:`synthgrad.optima`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn

from .blocks import rates_by_block
from .losses import LossFn, log_loss_elementwise
from .models import BatchedLinear, Block, Net, generators, set_weights
from .optima import logistic_optimum, relative_distance
from .rules import Backprop, SyntheticGradients
from .sg import Field
from .train import train

KINDS = ("h", "h,y", "relu")


def sg_features(
    h: torch.Tensor, y: torch.Tensor, kind: str, width: int = 0, seed: int = 0
) -> torch.Tensor:
    """The feature map of an SG class: (n,) activations and labels -> (n, p) features."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    one = torch.ones_like(h)
    if kind == "h":
        return torch.stack([h, one], 1)
    base = torch.stack([h, y, one], 1)
    if kind == "h,y" or width == 0:
        return base
    # drawn row by row from two streams, so the first k features are the same for every
    # width >= k: the classes are nested
    ga, gb = torch.Generator().manual_seed(2 * seed), torch.Generator().manual_seed(2 * seed + 1)
    a = torch.randn(width, 2, generator=ga, dtype=h.dtype).T
    b = (torch.rand(width, generator=gb, dtype=h.dtype) * 2 - 1) * 4.0
    return torch.cat([base, torch.relu(torch.stack([h, y], 1) @ a + b)], 1)


def true_gradient(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: LossFn) -> torch.Tensor:
    """Per-example dl/dh at h = x w (differentiable in w)."""
    h = x @ w
    if not h.requires_grad:
        h = h.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(h, y).sum(), h, create_graph=True)
    return g


def best_sg(features: torch.Tensor, target: torch.Tensor, ridge: float = 1e-12) -> torch.Tensor:
    """The least-squares SG in the class: its predictions ``features @ coef`` of ``target``."""
    p = features.shape[1]
    gram = features.T @ features / len(target)
    rhs = features.T @ target / len(target)
    coef = torch.linalg.solve(gram + ridge * torch.eye(p, dtype=gram.dtype), rhs)
    return features @ coef


def backprop_field(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, loss: LossFn) -> torch.Tensor:
    """E[g x]: the backprop update direction (the loss gradient) at w."""
    return (true_gradient(w, x, y, loss)[:, None] * x).mean(0)


def sg_field(
    w: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: LossFn,
    kind: str,
    width: int = 0,
    seed: int = 0,
) -> torch.Tensor:
    """E[s x] with s the best SG of the class at w: the SG-learning update direction at w."""
    g = true_gradient(w, x, y, loss)
    s = best_sg(sg_features(x @ w, y, kind, width, seed), g)
    return (s[:, None] * x).mean(0)


def update_field(
    x: torch.Tensor, y: torch.Tensor, loss: LossFn, kind: str, width: int = 0, seed: int = 0
) -> Field:
    """The SG update field of a class on a dataset, as a function of ``w`` (:func:`sg_field`)."""
    return lambda w: sg_field(w, x, y, loss, kind, width, seed)


def relative_update(field: Field, w: torch.Tensor, radius: float = 0.1, n_dirs: int = 8) -> float:
    """An update field's size at ``w`` relative to its typical size nearby: ``|field(w)|`` over
    the median ``|field|`` at ``n_dirs`` points ``radius * |w|`` away (evenly spaced directions
    in the plane of the first two weights). A fixed point gives a ratio at the level of the
    data's float rounding (about 1e-8 for float32 data, 1e-16 for float64); a mere slow region
    does not."""
    here = float(field(w).detach().norm())
    angles = torch.arange(n_dirs, dtype=w.dtype) * (2 * torch.pi / n_dirs)
    dirs = torch.zeros(n_dirs, w.numel(), dtype=w.dtype)
    dirs[:, 0], dirs[:, 1] = torch.cos(angles), torch.sin(angles)
    step = radius * w.norm()
    around = [float(field(w + step * u).detach().norm()) for u in dirs]
    return here / float(torch.tensor(around).median())


def find_zeros(
    field: Field, starts: torch.Tensor, tol: float = 1e-9, iters: int = 60, merge: float = 1e-4
) -> torch.Tensor:
    """Zeros of a vector field by damped Newton steps from every start (rows of ``starts``).

    Returns the distinct zeros found (rows), those where ``|field| < tol``; zeros closer than
    ``merge`` are merged. A singular Jacobian (a curve of zeros) is handled by least squares,
    with LAPACK's SVD driver ``gelsd``: torch's default on the CPU, ``gelsy``, answers the same
    100 x 100 system differently from call to call in the last bits (15 answers in 30 calls),
    and a fixed point found twice must be the same twice."""
    found: list[torch.Tensor] = []
    for w0 in starts:
        w = w0.clone().to(torch.float64)
        for _ in range(iters):
            f = field(w).detach()
            norm = f.norm()
            if norm < tol:
                break
            jac = torch.autograd.functional.jacobian(field, w)
            step = torch.linalg.lstsq(jac, -f[:, None], driver="gelsd").solution[:, 0]
            t = 1.0
            while t > 1e-4 and field(w + t * step).detach().norm() >= norm:
                t /= 2
            w = w + t * step
        if field(w).detach().norm() < tol and all((w - z).norm() > merge for z in found):
            found.append(w.detach())
    return torch.stack(found) if found else torch.empty(0, starts.shape[1], dtype=torch.float64)


def loss_surface(
    x: torch.Tensor, y: torch.Tensor, loss: LossFn, w1: torch.Tensor, w2: torch.Tensor
) -> torch.Tensor:
    """Mean loss of h = x w over a grid of two-weight models (len(w2), len(w1))."""
    grid = torch.stack(torch.meshgrid(w1, w2, indexing="xy"), -1)  # (n2, n1, 2)
    h = grid.to(x.dtype) @ x.T  # (n2, n1, n)
    return loss(h, y.reshape(-1)).mean(-1)


def tanh_mse(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """0.5 (tanh(h) - y)^2 per example: a squared error with a non-linearity above the SG."""
    return 0.5 * (torch.tanh(h) - y) ** 2


# ------------------------------------------------------------------ joint model + SG training


def two_weight_net(starts: torch.Tensor, top: str = "none"):
    """One seed per row of ``starts`` (S, 2): the model h = x . w (w = that row, no bias),
    with ``top="tanh"`` a tanh above it. An SG at position 0 sits at h."""
    if top not in ("none", "tanh"):
        raise ValueError(f"top must be 'none' or 'tanh', got {top!r}")
    n = len(starts)
    lin = BatchedLinear(starts.shape[1], 1, generators(range(n), 0), bias=False)
    set_weights(lin, starts.to(torch.float32)[:, :, None])
    blocks = [Block(lin)] + ([Block(nn.Tanh())] if top == "tanh" else [])
    return Net(blocks, n, [1] * len(blocks))


def joint_training(
    data,
    starts: torch.Tensor,
    top: str,
    sg: tuple[int, int] | None,
    steps: int,
    lr: float | Sequence[float],
    sg_lr: float | None = None,
):
    """Train the two-weight model from every start at once (full batch, Adam), with backprop
    (``sg=None``) or with an SG at h: ``sg=(d_context, hidden)`` (``d_context=1``: cDNI;
    ``hidden=0``: linear). Returns the end points (S, 2) and the training history. Several
    learning rates ``lr`` train as one run, every start at each (the SG's rate each of them,
    or ``sg_lr``): the end points are then rate by rate, (len(lr) * S, 2), each rate's those
    of a run of its own to float rounding (:func:`~synthgrad.blocks.rates_by_block`)."""
    rates = [lr] if isinstance(lr, int | float) else list(lr)
    n = len(starts)
    net = two_weight_net(starts.repeat(len(rates), 1), top)
    seeds = list(range(n)) * len(rates)
    rule = Backprop() if sg is None else SyntheticGradients(net, [0], seeds, sg[0], sg[1])
    sg_rates = rates if sg_lr is None else [sg_lr] * len(rates)
    one = len(rates) == 1
    with contextlib.nullcontext() if one else rates_by_block(rates, sg_rates, n):
        history = train(
            net,
            rule,
            data,
            seeds,
            steps=steps,
            lr=rates[0] if one else 1.0,
            sg_lr=sg_lr if one else 1.0,
            batch_size=0,
            eval_every=max(1, steps // 10),
            on_divergence="mark",
            progress=False,
        )
    return net.blocks[0][0].weight.detach()[:, :, 0].to(torch.float64), history


def grid(lo: tuple[float, float], hi: tuple[float, float], n: int) -> torch.Tensor:
    """An n x n grid of two-weight starting points, as rows."""
    a = torch.linspace(lo[0], hi[0], n, dtype=torch.float64)
    b = torch.linspace(lo[1], hi[1], n, dtype=torch.float64)
    return torch.cartesian_prod(a, b)


def sg_fixed_points(
    x: torch.Tensor,
    y: torch.Tensor,
    loss: LossFn,
    kind: str,
    starts: torch.Tensor,
    width: int = 0,
    seed: int = 0,
) -> torch.Tensor:
    """The fixed points of SG learning (zeros of :func:`sg_field`) found from ``starts``."""
    return find_zeros(update_field(x, y, loss, kind, width, seed), starts)


def fixed_point_shift(
    x: torch.Tensor,
    y: torch.Tensor,
    w_star: torch.Tensor,
    kind: str = "h,y",
    width: int = 0,
    seed: int = 0,
) -> float:
    """On a logistic problem with optimum ``w_star``: the distance of the SG class's fixed point
    nearest ``w_star`` (:func:`nearest_fixed_point`) to it, relative to ``|w_star|``; NaN if no
    fixed point is found there."""
    w = nearest_fixed_point(x, y, w_star, kind, width, seed)
    return float("nan") if w is None else float(relative_distance(w, w_star))


def nearest_fixed_point(
    x: torch.Tensor,
    y: torch.Tensor,
    w_star: torch.Tensor,
    kind: str = "h,y",
    width: int = 0,
    seed: int = 0,
) -> torch.Tensor | None:
    """On a logistic problem with optimum ``w_star``: the SG class's fixed point nearest it
    (Newton's method from ``1.05 w_star``), or None if none is found there."""
    z = sg_fixed_points(x, y, log_loss_elementwise, kind, w_star[None] * 1.05, width, seed)
    return z[(z - w_star).norm(dim=1).argmin()] if len(z) else None


def in_box(points: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The points (n, 2) that lie in the box ``lo <= w <= hi`` (e.g. the plotted view)."""
    if not len(points):
        return points
    return points[((points >= lo) & (points <= hi)).all(1)]


def linear_sg_shift(
    x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor
) -> dict[str, float]:
    """On a logistic problem (float64 inputs ``x`` (n, 2), 0/1 labels ``y`` (n,)): the fixed
    point of SG learning with a linear cDNI SG nearest the optimum ``w*``, and what it changes.
    ``shift``: ``|w_SG - w*| / |w*|``; ``excess_train_loss``: the training log loss at
    ``w_SG`` minus the optimum's (positive: ``w*`` minimises it); ``held_out_change``: the
    same on held-out data (negative would mean the SG's fixed point generalises better, the
    "regulariser" reading); ``norm_ratio``: ``|w_SG| / |w*|`` (below 1: it shrinks the
    weights); ``angle``: the angle between them in degrees. NaN everywhere if Newton's method
    finds no fixed point near ``w*``."""
    w_star = logistic_optimum(x, y)
    w = nearest_fixed_point(x, y, w_star)
    if w is None:
        keys = ("shift", "excess_train_loss", "held_out_change", "norm_ratio", "angle")
        return dict.fromkeys(keys, float("nan"))

    def mean_loss(v: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> float:
        return float(log_loss_elementwise(xs @ v, ys).mean())

    cos = float(w @ w_star / (w.norm() * w_star.norm()))
    return {
        "shift": float((w - w_star).norm() / w_star.norm()),
        "excess_train_loss": mean_loss(w, x, y) - mean_loss(w_star, x, y),
        "held_out_change": mean_loss(w, x_test, y_test) - mean_loss(w_star, x_test, y_test),
        "norm_ratio": float(w.norm() / w_star.norm()),
        "angle": float(torch.rad2deg(torch.arccos(torch.tensor(min(1.0, max(-1.0, cos)))))),
    }
