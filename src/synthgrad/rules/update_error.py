"""An update of controlled error: the quantity the paper's convergence argument bounds.

The argument (section 3 of the paper) needs the update the SG gives the parameters to differ from
the true gradient by less than the gradient's size: ``|u - g| < |g|`` for the batch, with ``g``
the gradient of the loss in the parameters and ``u`` the update used. Then ``u . g > 0``: the
update still points downhill. :class:`UpdateError` trains with an update of chosen relative
error ``error = |u - g| / |g|`` and keeps the error it actually gave (``last_error``), so that a
claim can say up to which error size training still converges, for errors of several kinds:

- ``"rotated"``: ``g`` turned by the angle ``2 arcsin(error / 2)`` in each pair of coordinates,
  always the same way round (a systematic error that is never zero-mean);
- ``"biased"``: ``g + error |g| v``, ``v`` a fixed unit vector per seed (an error that always
  pulls the same way);
- ``"noise"``: ``g + error |g| xi``, ``xi`` a fresh random unit vector each step (zero-mean);
- ``"per-example"``: each example's gradient at the output gets its own random error of
  relative size ``error``, as an imperfect SG would give; the update's error, what the argument
  bounds, is then smaller than ``error`` (the examples' errors partly cancel) and is measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..models import Net, generators
from .base import LearningRule


class UpdateError(LearningRule):
    """Train ``net`` with an update of relative error ``error`` of the kind ``mode`` (one of
    :data:`MODES`; see the module's docstring); ``error=0`` is backprop. ``error`` may be one
    size per seed (a list), so that several sizes train as one run. ``last_error`` holds
    the relative error ``|u - g| / |g|`` of the last update, per seed."""

    name = "update_error"
    MODES = ("rotated", "biased", "noise", "per-example")

    def __init__(
        self, net: Net, seeds: Sequence[int], error: float | Sequence[float], mode: str
    ) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        errors = [float(error)] * len(seeds) if isinstance(error, int | float) else list(error)
        if len(errors) != len(seeds):
            raise ValueError(f"{len(errors)} errors for {len(seeds)} seeds")
        for e in errors:
            if e < 0 or (mode == "rotated" and e > 2):
                raise ValueError(
                    f"error must be at least 0 (at most 2 for a rotation, 180 degrees), got {e}"
                )
        size = sum(p[0].numel() for p in net.parameters())
        if mode == "rotated" and size % 2:
            raise ValueError(f"a rotated error turns pairs of parameters: {size} is odd")
        self.mode = mode
        # per seed (a column): the error, and a rotation's cosine and sine (from the float64
        # angle, each rounded to float32 once, as a Python number would be in the product)
        self.error = torch.tensor(errors, dtype=torch.float32)[:, None]
        theta = [2 * math.asin(e / 2) if mode == "rotated" else 0.0 for e in errors]
        self.cos = torch.tensor([math.cos(t) for t in theta], dtype=torch.float32)[:, None]
        self.sin = torch.tensor([math.sin(t) for t in theta], dtype=torch.float32)[:, None]
        self.gens = generators(seeds, stream=4)
        fixed = torch.stack([torch.randn(size, generator=g) for g in self.gens])
        self.register_buffer("direction", fixed / fixed.norm(dim=1, keepdim=True))
        self.last_error = torch.zeros(len(seeds))

    def _unit(self, like: torch.Tensor) -> torch.Tensor:
        """Fresh random unit vectors along the last dimension, from each seed's own stream."""
        u = torch.stack([torch.randn(like.shape[1:], generator=g) for g in self.gens])
        return (u / u.norm(dim=-1, keepdim=True)).to(like.device)

    def _perturb(self, g: torch.Tensor) -> torch.Tensor:
        """The update for the flat per-seed gradient ``g`` (S, P), of error ``error * |g|``."""
        size = g.norm(dim=1, keepdim=True)
        if self.mode == "rotated":
            pairs = g.view(g.shape[0], -1, 2)
            turned = torch.stack([-pairs[..., 1], pairs[..., 0]], -1).view_as(g)  # 90 degrees
            return self.cos.to(g) * g + self.sin.to(g) * turned
        if self.mode == "biased":
            return g + self.error.to(g) * size * self.direction.to(g)
        return g + self.error.to(g) * size * self._unit(g)

    def backward(self, net, x, y, context, loss_fn):
        params = list(net.parameters())
        out = net(x)
        loss = loss_fn(out, y)
        true = torch.autograd.grad(loss.sum(), params, retain_graph=self.mode == "per-example")
        flat = torch.cat([t.flatten(1) for t in true], 1)  # (S, P): seeds are independent
        if self.mode == "per-example":
            (g_out,) = torch.autograd.grad(loss.sum(), out, retain_graph=True)  # (S, B, 1) / B
            e = self.error.to(g_out)[..., None]  # (S, 1, 1)
            noisy = g_out + e * g_out.norm(dim=-1, keepdim=True) * self._unit(g_out)
            used = torch.autograd.grad(out, params, noisy)
            update = torch.cat([t.flatten(1) for t in used], 1)
        else:
            update = self._perturb(flat)
        self.last_error = ((update - flat).norm(dim=1) / flat.norm(dim=1)).detach()
        start = 0
        for p in params:
            n = p[0].numel()
            p.grad = update[:, start : start + n].reshape(p.shape).detach().clone()
            start += n
        return {"loss": loss.detach()}
