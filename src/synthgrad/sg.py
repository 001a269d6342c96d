"""Synthetic-gradient modules: SG(h, y) predicts the per-example gradient dl/dh.

An SG is a small network over a layer's activation ``h`` (and, for cDNI, the label ``y``).
Its capacity is ``hidden``: 0 gives a linear SG (``[h, y] W + b``), a positive value an MLP
with ``depth`` ReLU layers of that width. The output layer (weights and bias) starts at zero,
so training begins with a zero synthetic gradient, as in the DNI paper.

The SG predicts the gradient of the *per-example* loss ``l_i`` (not of the batch mean), so its
target does not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .models import BatchedLinear


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
