"""Synthetic-gradient modules: SG(h, y) predicts the per-example gradient dl/dh.

An SG is a small network over a layer's activation ``h`` (and, for cDNI, the label ``y``).
Its capacity is ``hidden``: 0 gives a linear SG (``h A + y B + c``), a positive value an MLP
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


class ConditionedLinear(nn.Module):
    """An SG's first affine map over an activation and its label, ``h W + y V + b``: one map over
    ``[h, y]``, kept in two parts so that no step copies ``h`` into a wider tensor (and the
    larger product keeps the layer's own, aligned width). Drawn as one matrix over ``[h, y]``,
    so the numbers are those of the concatenated form."""

    def __init__(
        self,
        d_h: int,
        d_context: int,
        d_out: int,
        gens: Sequence[torch.Generator],
        std: float | None = None,
        zero: bool = False,
    ) -> None:
        super().__init__()
        whole = BatchedLinear(d_h + d_context, d_out, gens, std=std, zero=zero)
        self.weight = nn.Parameter(whole.weight.detach()[:, :d_h].clone())  # W, (S, d_h, d_out)
        self.context_weight = nn.Parameter(whole.weight.detach()[:, d_h:].clone())  # V
        self.bias = whole.bias  # b, (S, 1, d_out)

    def forward(self, h: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        # The larger product accumulates in place into the label's term, which its own
        # backward pass does not need: one fresh (S, B, d_out) tensor fewer per call than an
        # out-of-place baddbmm, and the same sums bit for bit.
        return torch.baddbmm(self.bias, context, self.context_weight).baddbmm_(h, self.weight)


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
        widths = [d_h + d_context] + [hidden] * (depth if hidden > 0 else 0) + [d_h]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            last = i == len(widths) - 2
            kw = {"zero": True} if last else {"std": (2.0 / a) ** 0.5}
            if i == 0 and d_context:  # the first map also reads the label
                layers.append(ConditionedLinear(d_h, d_context, b, gens, **kw))
            else:
                layers.append(BatchedLinear(a, b, gens, **kw))
            if not last:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    @property
    def conditioned(self) -> bool:
        return self.d_context > 0

    def forward(self, h: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        first, *rest = self.net
        if self.conditioned:
            if context is None:
                raise ValueError("this SG is label-conditioned (cDNI): pass the context")
            if context.dim() == h.dim() - 1:  # one context shared by all seeds
                context = context.expand(h.shape[0], *context.shape)
            h = first(h, context)
        else:
            h = first(h)
        for layer in rest:
            h = layer(h)
        return h

    @property
    def output_layer(self) -> BatchedLinear | ConditionedLinear:
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
