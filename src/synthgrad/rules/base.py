"""The learning-rule interface, backprop, and the forward pass the other rules share."""

from __future__ import annotations

import torch
from torch import nn

from ..losses import LossFn
from ..models import Net


class LearningRule(nn.Module):
    """Interface: fill parameter gradients for one minibatch, return per-seed metrics."""

    name = "rule"

    def backward(
        self, net: Net, x: torch.Tensor, y: torch.Tensor, context: torch.Tensor, loss_fn: LossFn
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class Backprop(LearningRule):
    """Exact gradients by backpropagation through the whole network."""

    name = "backprop"

    def backward(self, net, x, y, context, loss_fn):
        loss = loss_fn(net(x), y)
        loss.sum().backward()  # seeds are independent: the sum keeps each seed's gradient
        return {"loss": loss.detach()}


def _forward(
    net: Net, x: torch.Tensor, cut: bool = False
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """One forward pass: every hidden block's output, and the logits. With ``cut``, each block
    reads a detached copy of the one below, so that no error flows from block to block (the
    rules that send each layer its signal directly); otherwise the graph is kept whole."""
    outs, h = [], x
    for block in net.blocks[:-1]:
        out = block(h)
        outs.append(out)
        h = out.detach() if cut else out
    return outs, net.blocks[-1](h)
