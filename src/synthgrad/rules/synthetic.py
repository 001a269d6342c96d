"""Synthetic-gradient rules: SG modules trained alongside the model, and an SG of controlled
precision (the true gradient plus an error of chosen size)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..models import Net, generators
from ..sg import LossMatchedSG, SyntheticGradient, describe
from .base import LearningRule


@dataclass
class SGSignals:
    """What one SG step computed, exposed for tests and analysis (all detached).

    For the SG after block ``positions[i]``: ``activations[i]`` is h, ``predictions[i]`` the
    SG's output and ``targets[i]`` its regression target: the true per-example gradient for the
    topmost SG, and the next SG's prediction back-propagated through one segment (bootstrapping)
    for the others."""

    loss: torch.Tensor
    activations: list[torch.Tensor]
    predictions: list[torch.Tensor]
    targets: list[torch.Tensor]
    sg_losses: list[torch.Tensor]


class SyntheticGradients(LearningRule):
    """SG modules after the blocks in ``positions``; the layers below each SG learn from its
    prediction, and each SG regresses its (possibly bootstrapped) target. Position
    ``net.n_hidden`` is the model's output: an SG there predicts the loss gradient itself.
    ``form="matched"`` uses :class:`~synthgrad.sg.LossMatchedSG` (for the log loss).

    Everything happens in one call, a synchronous simulation of update-unlocked training:
    forward through every segment with the activations detached at each SG, backward the true
    loss through the top segment, inject each SG's prediction into the segment below it."""

    name = "sg"

    def __init__(
        self,
        net: Net,
        positions: Sequence[int],
        seeds: Sequence[int],
        d_context: int = 0,
        hidden: int = 0,
        depth: int = 1,
        form: str = "standard",
    ) -> None:
        super().__init__()
        if form not in ("standard", "matched"):
            raise ValueError(f"form must be 'standard' or 'matched', got {form!r}")
        if form == "matched" and d_context == 0:
            raise ValueError("a loss-matched SG needs the label: pass d_context > 0")
        positions = sorted(set(int(p) for p in positions))
        if not positions:
            raise ValueError("an SG rule needs at least one position")
        if positions[0] < 0 or positions[-1] > net.n_hidden:
            raise ValueError(
                f"SG positions must be blocks 0..{net.n_hidden} (the last is the output), "
                f"got {positions}"
            )
        self.positions = positions
        gens = generators(seeds, stream=1)
        if form == "matched":
            self.sgs = nn.ModuleList(
                LossMatchedSG(net.widths[p], d_context, gens) for p in positions
            )
            self.label = "loss-matched SG (sigmoid form), label-conditioned"
        else:
            self.sgs = nn.ModuleList(
                SyntheticGradient(net.widths[p], gens, d_context, hidden, depth) for p in positions
            )
            self.label = describe(hidden, d_context > 0)

    def _step(self, net, x, y, context, loss_fn):
        """Fill all gradients (model and SGs); return the loss, the SGs' inputs and predictions,
        and each SG's loss gradient ``(prediction - target) / batch``.

        The SG loss ``0.5 |prediction - target|^2`` (per example, averaged over the batch) is
        differentiated by hand: its gradient is one subtraction of tensors this step already
        has, where autograd would add a power, two reductions and their backward passes."""
        batch = x.shape[1]
        outs, ins, start, h = [], [], 0, x
        for p in self.positions:
            out = net.run(h, start, p + 1)
            h = out.detach().requires_grad_(True)
            outs.append(out)
            ins.append(h)
            start = p + 1
        loss = loss_fn(net.run(h, start), y)
        ctx = context if any(sg.conditioned for sg in self.sgs) else None
        preds = [sg(a.detach(), ctx) for sg, a in zip(self.sgs, ins, strict=True)]
        # One backward pass through every segment (they share no tensor): the top one gets the
        # true loss, each one below its SG's prediction (of the per-example gradient, hence
        # / batch for the batch-mean loss). It fills each segment's input .grad with the target
        # of the SG there, divided by the batch size: the true gradient for the topmost SG, the
        # next SG's prediction back-propagated through one segment (bootstrapping) below it.
        scaled = [pred.detach() / batch for pred in preds]
        torch.autograd.backward([loss.sum(), *outs], [None, *scaled])
        grads = [s.sub_(a.grad) for s, a in zip(scaled, ins, strict=True)]  # scaled is spent
        torch.autograd.backward(preds, grads)
        return loss.detach(), ins, preds, grads

    @staticmethod
    def _sg_loss(grad: torch.Tensor) -> torch.Tensor:
        """Per-seed SG loss from its gradient ``(prediction - target) / batch``."""
        batch = grad.shape[1]
        return 0.5 * batch * torch.linalg.vector_norm(grad, dim=(1, 2)).square()

    def signals(self, net, x, y, context, loss_fn) -> SGSignals:
        """Fill all gradients (model and SGs) and return what was computed."""
        batch = x.shape[1]
        loss, ins, preds, grads = self._step(net, x, y, context, loss_fn)
        return SGSignals(
            loss,
            [a.detach() for a in ins],
            [p.detach() for p in preds],
            [a.grad * batch for a in ins],
            [self._sg_loss(g) for g in grads],
        )

    def backward(self, net, x, y, context, loss_fn):
        loss, _, _, grads = self._step(net, x, y, context, loss_fn)
        sg_losses = [self._sg_loss(g) for g in grads]
        out = {"loss": loss, "sg_loss": torch.stack(sg_losses).mean(0)}
        for p, s in zip(self.positions, sg_losses, strict=True):
            out[f"sg_loss_{p}"] = s
        return out


class ControlledError(LearningRule):
    """An SG that tracks the true gradient to a chosen precision: at the block ``position``
    the layers below receive ``g + e`` per example, with ``g`` the true gradient and an error
    of norm exactly ``|e| = error * |g|``. ``mode="random"``: ``e`` points in a random
    direction, fresh each step (zero-mean noise, from each seed's own stream);
    ``mode="opposing"``: ``e = -error * g``, the worst direction. ``error=0`` is backprop.
    For the tracking theorem."""

    name = "controlled_error"
    MODES = ("random", "opposing")

    def __init__(
        self, net: Net, position: int, seeds: Sequence[int], error: float, mode: str = "random"
    ) -> None:
        super().__init__()
        if not 0 <= position <= net.n_hidden:
            raise ValueError(
                f"position must be a block 0..{net.n_hidden} (the last is the output), got {position}"
            )
        if error < 0:
            raise ValueError(f"error must be >= 0, got {error}")
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.position, self.error, self.mode = position, float(error), mode
        self.gens = generators(seeds, stream=3)

    def perturb(self, g: torch.Tensor) -> torch.Tensor:
        """``g`` (S, B, d) plus an error of norm ``error * |g|`` per example."""
        if self.mode == "opposing":
            return (1.0 - self.error) * g
        u = torch.stack([torch.randn(g.shape[1:], generator=gen) for gen in self.gens]).to(g.device)
        u = u / u.norm(dim=-1, keepdim=True)
        return g + self.error * g.norm(dim=-1, keepdim=True) * u

    def backward(self, net, x, y, context, loss_fn):
        batch = x.shape[1]
        out = net.run(x, 0, self.position + 1)
        h = out.detach().requires_grad_(True)
        loss = loss_fn(net.run(h, self.position + 1), y)
        loss.sum().backward()
        g = h.grad * batch  # per-example true gradient
        out.backward(self.perturb(g) / batch)
        return {"loss": loss.detach()}


class FrozenBelow(LearningRule):
    """The control of an SG rule: the blocks up to ``position`` never learn (what they would
    get from an SG whose output stays at zero), the blocks above learn from the true gradient.
    A claim that SG training "works" must beat this network, whose lower layers stay at their
    initialisation."""

    name = "frozen_below"

    def __init__(self, net: Net, position: int) -> None:
        super().__init__()
        if not 0 <= position < net.n_hidden:
            raise ValueError(
                f"position must be a hidden block 0..{net.n_hidden - 1}, got {position}"
            )
        self.position = position

    def backward(self, net, x, y, context, loss_fn):
        with torch.no_grad():
            h = net.run(x, 0, self.position + 1)
        loss = loss_fn(net.run(h, self.position + 1), y)
        loss.sum().backward()
        return {"loss": loss.detach()}
