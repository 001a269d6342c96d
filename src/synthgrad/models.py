"""Models with seeds as a batch dimension.

Every tensor carries a leading seed dimension ``S``: inputs are (S, B, d), weights (S, d_in,
d_out). One forward/backward pass trains all seeds at once, and because the seeds never mix,
a batched run equals the same seeds run one by one, up to float rounding (tested). Each seed draws its weights from
its own generator, so seed 3 gets the same network whether it runs alone or beside others.

A :class:`Net` is a stack of blocks; ``net.run(h, start, stop)`` applies blocks
``start..stop-1``, so a synthetic gradient can sit after any block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def generators(seeds: Sequence[int], stream: int) -> list[torch.Generator]:
    """One torch generator per seed, for an independent named ``stream`` of random numbers
    (0: model weights, 1: SG weights, 2: minibatch order, ...)."""
    out = []
    for s in seeds:
        state = np.random.SeedSequence([int(s), int(stream)]).generate_state(2, np.uint64)[0]
        out.append(torch.Generator().manual_seed(int(state) & ((1 << 63) - 1)))
    return out


class FeedbackLinear(torch.autograd.Function):
    """An affine map whose backward pass sends the gradient to the input through a fixed
    ``feedback`` matrix (S, d_out, d_in) instead of the transposed weights: Feedback Alignment
    (Lillicrap et al. 2016). The weight and bias gradients are the usual ones."""

    @staticmethod
    def forward(ctx, x, weight, bias, feedback):
        ctx.save_for_backward(x, feedback)
        ctx.has_bias = bias is not None
        out = torch.bmm(x, weight)
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad):
        x, feedback = ctx.saved_tensors
        grad_x = torch.bmm(grad, feedback)
        grad_w = torch.bmm(x.transpose(1, 2), grad)
        grad_b = grad.sum(1, keepdim=True) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None


class BatchedLinear(nn.Module):
    """``S`` independent affine maps: (S, B, d_in) -> (S, B, d_out) with one ``baddbmm``.

    If ``feedback`` is set (a tensor (S, d_out, d_in)), the backward pass uses it in place of
    the transposed weights (:class:`FeedbackLinear`); the forward pass is unchanged."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        gens: Sequence[torch.Generator],
        std: float | None = None,
        bias: bool = True,
        zero: bool = False,
    ) -> None:
        super().__init__()
        s = len(gens)
        self.feedback: torch.Tensor | None = None
        self.weight = nn.Parameter(torch.zeros(s, d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(s, 1, d_out)) if bias else None
        if not zero:
            std = 1.0 / math.sqrt(d_in) if std is None else std
            with torch.no_grad():
                for i, g in enumerate(gens):
                    self.weight[i] = torch.randn(d_in, d_out, generator=g) * std

    @property
    def n_seeds(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.feedback is not None:
            return FeedbackLinear.apply(x, self.weight, self.bias, self.feedback)
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)


class BatchedBatchNorm(nn.Module):
    """Batch normalisation per seed and feature: torch's own ``BatchNorm1d`` over S * F channels."""

    def __init__(self, n_seeds: int, features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(n_seeds * features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, b, f = x.shape
        y = self.bn(x.transpose(0, 1).reshape(b, s * f))
        return y.reshape(b, s, f).transpose(0, 1)


ACTIVATIONS = {"relu": nn.ReLU, "linear": nn.Identity, "tanh": nn.Tanh}


class Block(nn.Sequential):
    """One layer: affine map, optional batch norm, activation."""


class Net(nn.Module):
    """A stack of blocks; the last block is the output layer (affine, no activation)."""

    def __init__(self, blocks: Sequence[nn.Module], n_seeds: int, widths: Sequence[int]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.n_seeds = n_seeds
        self.widths = list(widths)  # widths[k] = width of block k's output

    @property
    def n_hidden(self) -> int:
        return len(self.blocks) - 1

    def run(self, h: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        stop = len(self.blocks) if stop is None else stop
        for i in range(start, stop):  # (slicing the ModuleList would build a new module)
            h = self.blocks[i](h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output, hidden layers first, the model output last."""
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def linears(self) -> list[BatchedLinear]:
        return [m for m in self.modules() if isinstance(m, BatchedLinear)]


def mlp(
    d_in: int,
    hidden: Sequence[int],
    d_out: int,
    seeds: Sequence[int],
    activation: str = "relu",
    batch_norm: bool = False,
    bias: bool = True,
) -> Net:
    """A fully connected network, one independent copy per seed.

    ``hidden=[]`` gives a linear model; ``activation="linear"`` a deep linear network. Weights
    are Gaussian with He scaling for ReLU (std sqrt(2/fan_in)) and 1/sqrt(fan_in) otherwise;
    biases start at zero (``bias=False``: no biases at all)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if len(seeds) == 0:
        raise ValueError("need at least one seed")
    gens = generators(seeds, stream=0)
    gain = math.sqrt(2.0) if activation == "relu" else 1.0
    blocks, widths, d = [], [], d_in
    for width in hidden:
        # no bias before batch norm: BN removes it, and Adam would turn its float-noise
        # gradient into full-size steps
        layers = [
            BatchedLinear(d, width, gens, std=gain / math.sqrt(d), bias=bias and not batch_norm)
        ]
        if batch_norm:
            layers.append(BatchedBatchNorm(len(seeds), width))
        layers.append(ACTIVATIONS[activation]())
        blocks.append(Block(*layers))
        widths.append(width)
        d = width
    blocks.append(Block(BatchedLinear(d, d_out, gens, bias=bias)))
    widths.append(d_out)
    return Net(blocks, len(seeds), widths)


def effective_weights(net: Net) -> list[torch.Tensor]:
    """Each block's weight matrix (S, d_in, d_out) with its batch normalisation folded in, as
    the network computes in evaluation mode: ``W diag(gamma / sqrt(running_var + eps))``.

    With batch norm a raw weight matrix's scale is free (the normalisation divides it out);
    the effective weight is the map from a block's input to its pre-activation, whose size is
    not."""
    out = []
    for block in net.blocks:
        lin = next(m for m in block if isinstance(m, BatchedLinear))
        w = lin.weight.detach().clone()
        bn = next((m for m in block if isinstance(m, BatchedBatchNorm)), None)
        if bn is not None:
            s, f = w.shape[0], w.shape[-1]
            scale = bn.bn.weight / torch.sqrt(bn.bn.running_var + bn.bn.eps)
            w = w * scale.reshape(s, 1, f)
        out.append(w)
    return out


def layer_norms(net: Net, start: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per block ``k`` (the hidden blocks, then the output layer) and seed: the raw weight
    matrix's Frobenius norm ``norm_<k>``, the norm with batch norm folded in ``norm_bn_<k>``
    (:func:`effective_weights`: with batch norm the raw scale is free, the folded one is not),
    and how far the raw weights moved from ``start`` (each block's weights at initialisation),
    ``moved_<k>`` = ``|W - W_0| / |W_0|``."""
    out = {}
    blocks = zip(net.linears(), effective_weights(net), start, strict=True)
    for k, (linear, folded, initial) in enumerate(blocks):
        raw = linear.weight.detach()
        out[f"norm_{k}"] = raw.flatten(1).norm(dim=1)
        out[f"norm_bn_{k}"] = folded.flatten(1).norm(dim=1)
        out[f"moved_{k}"] = (raw - initial).flatten(1).norm(dim=1) / initial.flatten(1).norm(dim=1)
    return out


def broadcast_seeds(x: torch.Tensor, n_seeds: int, seeded: bool = False) -> torch.Tensor:
    """Broadcast an (N, d) tensor to (S, N, d) without copying; with ``seeded``, ``x`` is
    already (S, N, d), one slice per seed (a per-seed dataset), and is returned as it is."""
    if seeded:
        if x.shape[0] != n_seeds:
            raise ValueError(f"data for {x.shape[0]} seeds, a network of {n_seeds}")
        return x
    return x.unsqueeze(0).expand(n_seeds, *x.shape)


@torch.no_grad()
def set_weights(layer: BatchedLinear, weights: torch.Tensor) -> None:
    """Set every seed's weight matrix of ``layer`` (S, d_in, d_out), e.g. to start each seed at
    one point of a grid of initialisations."""
    if weights.shape != layer.weight.shape:
        raise ValueError(
            f"weights of shape {tuple(weights.shape)} for a layer of {tuple(layer.weight.shape)}"
        )
    layer.weight.copy_(weights)
