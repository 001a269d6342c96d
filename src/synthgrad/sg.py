"""Synthetic-gradient modules: SG(h, y) predicts the per-example gradient dl/dh.

An SG is a small network over a layer's activation ``h`` (and, for cDNI, the label ``y``).
Its capacity is ``hidden``: 0 gives a linear SG (``[h, y] W + b``), a positive value an MLP
with ``depth`` ReLU layers of that width. The output layer (weights and bias) starts at zero,
so training begins with a zero synthetic gradient, as in the DNI paper.

The SG predicts the gradient of the *per-example* loss ``l_i`` (not of the batch mean), so its
target does not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .models import BatchedLinear

# A vector field over a tensor, (..., d) -> (..., d): an SG with its label fixed (chapter 4),
# or an update direction over the weights (chapter 2).
Field = Callable[[torch.Tensor], torch.Tensor]


class SyntheticGradient(nn.Module):
    """A batched-over-seeds SG module for an activation of width ``d_h``."""

    def __init__(
        self,
        d_h: int,
        gens: Sequence[torch.Generator],
        d_context: int = 0,
        hidden: int = 0,
        depth: int = 1,
    ) -> None:
        super().__init__()
        if hidden < 0 or depth < 1:
            raise ValueError(f"SG capacity needs hidden >= 0 and depth >= 1, got {hidden}, {depth}")
        self.d_context = d_context
        self.hidden = hidden
        d = d_h + d_context
        layers: list[nn.Module] = []
        if hidden > 0:
            for _ in range(depth):
                layers += [BatchedLinear(d, hidden, gens, std=(2.0 / d) ** 0.5), nn.ReLU()]
                d = hidden
        layers.append(BatchedLinear(d, d_h, gens, zero=True))
        self.net = nn.Sequential(*layers)

    @property
    def conditioned(self) -> bool:
        return self.d_context > 0

    def forward(self, h: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditioned:
            if context is None:
                raise ValueError("this SG is label-conditioned (cDNI): pass the context")
            if context.dim() == h.dim() - 1:  # one context shared by all seeds
                context = context.expand(h.shape[0], *context.shape)
            h = torch.cat([h, context], dim=-1)
        return self.net(h)

    @property
    def output_layer(self) -> BatchedLinear:
        return self.net[-1]


def describe(hidden: int, conditioned: bool) -> str:
    """A short human name for an SG configuration, used in figure legends."""
    kind = "linear SG" if hidden == 0 else f"MLP SG ({hidden} hidden)"
    return f"{kind}, {'label-conditioned (cDNI)' if conditioned else 'unconditioned (DNI)'}"


class LossMatchedSG(nn.Module):
    """An SG whose form matches the log loss: ``s(h, y) = (sigmoid(h A + c) - y) B``.

    Under log loss on ``k`` logits that are linear in ``h`` (``out = h V + b``), the true
    per-example gradient is ``(sigmoid(h V + b) - y) V^T``: a linear SG cannot represent the
    sigmoid, this form can, exactly (``A = V``, ``c = b``, ``B = V^T``). ``B`` and ``c`` start at
    zero, so the SG starts at zero as the DNI recipe asks. ``y`` is the 0/1 target (k columns)."""

    def __init__(self, d_h: int, k: int, gens: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.d_context = k
        self.inner = BatchedLinear(d_h, k, gens)  # A, c
        self.outer = BatchedLinear(k, d_h, gens, bias=False, zero=True)  # B
        with torch.no_grad():
            self.inner.bias.zero_()

    conditioned = True

    def forward(self, h: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if context is None:
            raise ValueError("a loss-matched SG needs the label (context)")
        if context.dim() == h.dim() - 1:
            context = context.expand(h.shape[0], *context.shape)
        return self.outer(torch.sigmoid(self.inner(h)) - context)

    @property
    def output_layer(self) -> BatchedLinear:
        return self.outer
