"""The loss a synthetic gradient implies (RQ2, chapter 4).

An SG is a vector field ``s(h, y)`` over a layer's activations. Integrating it along a path
``h(t)``, ``t`` in [0, 1], gives the change of loss the SG implies,

    dL_SG = integral_0^1  s(h(t), y) . h'(t) dt,

to be compared with the change of the true loss of the layers above along the same path,
``dL = l(h(1)) - l(h(0))``. If the SG were the gradient of the true loss the two would be
equal for every path; how far apart they are measures how well the SG's implied loss
approximates the true one. Integrals use Gauss-Legendre quadrature.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .losses import PER_EXAMPLE
from .models import broadcast_seeds
from .sg import Field, SyntheticGradient


@contextlib.contextmanager
def evaluating(net):
    """Eval mode (batch norm with running statistics: a per-example loss) for the block."""
    was = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was)


Path = Callable[[float], tuple[torch.Tensor, torch.Tensor]]  # t -> (h(t), h'(t))


def quadrature(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (exact for polynomials of degree 2n - 1)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) / 2, w / 2


def line(h0: torch.Tensor, h1: torch.Tensor) -> Path:
    """The straight path from h0 to h1."""
    return lambda t: (h0 + t * (h1 - h0), h1 - h0)


def path_integral(field: Field, path: Path, n: int = 16) -> torch.Tensor:
    """integral_0^1 field(h(t)) . h'(t) dt for every path in the batch: (...,)."""
    t, w = quadrature(n)
    total = None
    for ti, wi in zip(t, w, strict=True):
        h, dh = path(float(ti))
        term = wi * (field(h) * dh).sum(-1)
        total = term if total is None else total + term
    return total


def along_line(
    field: Field,
    loss: Callable[[torch.Tensor], torch.Tensor],
    h0: torch.Tensor,
    step: torch.Tensor,
    radii: np.ndarray,
    n: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1-D slice: implied and true loss change from h0 to h0 + r * step for every radius r,
    each (len(radii), ...)."""
    implied = torch.stack([path_integral(field, line(h0, h0 + r * step), n) for r in radii])
    base = loss(h0)
    true = torch.stack([loss(h0 + r * step) - base for r in radii])
    return implied, true


def agreement(implied: torch.Tensor, true: torch.Tensor) -> dict[str, torch.Tensor]:
    """How well implied loss changes match true ones, over the last dimension (the paths):
    Pearson correlation and relative error |implied - true| / |true| (ratio of the means)."""
    i = implied - implied.mean(-1, keepdim=True)
    t = true - true.mean(-1, keepdim=True)
    corr = (i * t).sum(-1) / (i.norm(dim=-1) * t.norm(dim=-1)).clamp_min(1e-30)
    rel = (implied - true).abs().mean(-1) / true.abs().mean(-1).clamp_min(1e-30)
    return {"corr": corr, "rel_error": rel}


def sg_layers(net, rule, x: torch.Tensor, y: torch.Tensor, context: torch.Tensor, task: str):
    """For every SG of an SG rule, in eval mode and without gradients: its position, the
    activations ``h0`` of ``x`` there, the SG field, the true per-example loss of the layers
    above as a function of the activation, the true descent direction scaled to |h0|, and the
    true gradient at ``h0``."""
    per_example = PER_EXAMPLE[task]
    with evaluating(net), torch.no_grad():
        h, start = broadcast_seeds(x, net.n_seeds), 0
        for pos, sg in zip(rule.positions, rule.sgs, strict=True):
            h = net.run(h, start, pos + 1)
            start = pos + 1
            h0 = h.detach()
            ctx = context if sg.conditioned else None

            def loss(a, pos=pos):
                return per_example(net.run(a, pos + 1), y)

            def field(a, sg=sg, ctx=ctx):
                return sg(a, ctx)

            with torch.enable_grad():
                a = h0.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(loss(a).sum(), a)
            descent = (
                -g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12) * h0.norm(dim=-1, keepdim=True)
            )
            yield pos, h0, field, loss, descent, g


def layer_agreement(
    net,
    rule,
    x: torch.Tensor,
    y: torch.Tensor,
    context: torch.Tensor,
    task: str,
    radius: float = 0.5,
    n_dirs: int = 4,
    seed: int = 0,
    n: int = 16,
) -> dict[str, torch.Tensor]:
    """For every SG of an SG rule: agreement of its implied loss with the true loss of the
    layers above, over straight paths of length ``radius * |h0|`` from each example's
    activation ``h0``, in ``n_dirs`` random directions (``<pos>_random_*``) and along the true
    descent direction (``<pos>_descent_*``). Returns per-seed ``corr`` and ``rel_error``, and
    along descent the control ``<pos>_descent_corr_first_order``: the correlation of the first
    order prediction ``g0 . step`` (the true gradient at ``h0``, held along the path; what no
    SG learns) with the true changes, the part of the agreement the loss surface alone gives."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for pos, h0, field, loss, descent, g in sg_layers(net, rule, x, y, context, task):
        u = torch.randn((n_dirs, *h0.shape), generator=gen)
        random = u / u.norm(dim=-1, keepdim=True) * radius * h0.norm(dim=-1, keepdim=True)
        for name, steps in (("random", random), ("descent", radius * descent[None])):
            imp = torch.stack([path_integral(field, line(h0, h0 + s), n) for s in steps])
            tru = torch.stack([loss(h0 + s) - loss(h0) for s in steps])
            # paths of every example and direction together: (S, n_dirs * B)
            agree = agreement(imp.transpose(0, 1).flatten(1), tru.transpose(0, 1).flatten(1))
            for k, v in agree.items():
                out[f"{pos}_{name}_{k}"] = v
            if name == "descent":  # the control, on the same paths
                first = torch.stack([(g * s).sum(-1) for s in steps])
                out[f"{pos}_descent_corr_first_order"] = agreement(
                    first.transpose(0, 1).flatten(1), tru.transpose(0, 1).flatten(1)
                )["corr"]
    return out


def layer_slices(
    net,
    rule,
    x: torch.Tensor,
    y: torch.Tensor,
    context: torch.Tensor,
    task: str,
    radii: np.ndarray,
    n: int = 16,
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """1-D slices for every SG of a rule: implied and true change of the loss above, from each
    example's activation along the true descent direction scaled to ``r * |h0|``, for every
    radius r. Returns {position: (implied, true)}, each (len(radii), S, B)."""
    return {
        pos: along_line(field, loss, h0, descent, radii, n)
        for pos, h0, field, loss, descent, _ in sg_layers(net, rule, x, y, context, task)
    }


@dataclass
class Quadratic:
    """The loss a linear label-conditioned SG implies, per seed:
    ``L(h, y) = 1/2 h A h^T + (y B + C) h^T`` (rows ``h``, ``y``), whose gradient in ``h`` is
    the SG ``s(h, y) = h W + y B + C`` when ``W`` is symmetric (``A = (W + W^T) / 2``).
    ``asymmetry`` is ``|W - W^T| / |W + W^T|``: the part of the SG that is the gradient of no
    loss at all (0 for a one-unit ``h``)."""

    A: torch.Tensor  # (S, d, d)
    B: torch.Tensor  # (S, k, d)
    C: torch.Tensor  # (S, 1, d)
    asymmetry: torch.Tensor  # (S,)

    def __call__(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The implied per-example loss of activations ``h`` (S, N, d) with labels ``y``
        ((N, k) or (S, N, k)): (S, N)."""
        quad = 0.5 * ((h @ self.A) * h).sum(-1)
        return quad + ((y @ self.B + self.C) * h).sum(-1)


def quadratic(sg: SyntheticGradient) -> Quadratic:
    """A, B and C of the loss a trained linear cDNI SG implies (see :class:`Quadratic`)."""
    if sg.hidden != 0 or not sg.conditioned:
        raise ValueError("a quadratic implied loss needs a linear, label-conditioned SG")
    lin = sg.output_layer
    w = lin.weight.detach()
    sym, skew = (w + w.transpose(1, 2)) / 2, (w - w.transpose(1, 2)) / 2
    asym = skew.flatten(1).norm(dim=1) / sym.flatten(1).norm(dim=1).clamp_min(1e-30)
    return Quadratic(sym, lin.context_weight.detach(), lin.bias.detach(), asym)


def implied_loss_1d(sg: torch.nn.Module, h: torch.Tensor, y: torch.Tensor, n: int = 16):
    """The loss any SG implies for a one-unit activation (where every field is a gradient):
    ``L(h, y) = integral_0^h s(t, y) dt`` for each entry of ``h`` (S, N, 1), labels ``y``
    (N, 1) or (S, N, 1): (S, N). Zero at ``h = 0``, so compare it with the true loss minus
    its value at 0."""
    if h.shape[-1] != 1:
        raise ValueError(f"implied_loss_1d needs a one-unit activation, got width {h.shape[-1]}")
    with torch.no_grad():
        return path_integral(lambda a: sg(a, y), line(torch.zeros_like(h), h), n)
