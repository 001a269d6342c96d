"""Rules that send each hidden layer a signal built from the output error: Feedback Alignment,
Direct Feedback Alignment (directly and as a fixed or learned error-conditioned SG), and
Kickback (directly and as the paper's fixed SG)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..losses import LossFn
from ..models import BatchedLinear, Net, generators
from .base import LearningRule, _forward


def output_error(logits: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
    """The per-example error at the output, ``e = dl_i / d logits`` (S, B, k): for softmax
    cross-entropy ``softmax(logits) - onehot(y)``. The signal FA, DFA and Kickback send down."""
    lg = logits.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(lg, y).sum(), lg)
    return grad * logits.shape[1]


def feedback_maps(net: Net, seeds: Sequence[int]) -> nn.ModuleList:
    """One fixed random linear map per hidden layer, from the output error (``d_out``) to the
    layer (``d_k``), entries N(0, 1/d_out), no bias; each seed its own (stream 5). DFA's
    matrices ``B_k``, shared by its direct form and its SG form so the two can be compared."""
    gens = generators(seeds, stream=5)
    d_out = net.widths[-1]
    return nn.ModuleList(
        BatchedLinear(d_out, net.widths[k], gens, std=1.0 / math.sqrt(d_out), bias=False)
        for k in range(net.n_hidden)
    )


class FeedbackAlignment(LearningRule):
    """Feedback Alignment (Lillicrap et al. 2016): backprop, except that the error crosses each
    weight matrix above the first on the way down through a fixed random matrix ``B`` instead
    of ``W^T``. ``feedback[k]`` (S, d_out, d_in) serves block ``k + 1``; set it to the weights'
    transposes and FA is backprop (tested)."""

    name = "fa"

    def __init__(self, net: Net, seeds: Sequence[int]) -> None:
        super().__init__()
        gens = generators(seeds, stream=6)
        self.n_feedback = net.n_hidden
        for k, lin in enumerate(self._linears(net)):
            d_in, d_out = lin.weight.shape[1:]
            b = torch.stack([torch.randn(d_out, d_in, generator=g) for g in gens])
            self.register_buffer(f"feedback_{k}", b / math.sqrt(d_out))

    @property
    def feedback(self) -> list[torch.Tensor]:
        """The fixed matrices (buffers, so that they move with ``.to(device)``)."""
        return [getattr(self, f"feedback_{k}") for k in range(self.n_feedback)]

    @staticmethod
    def _linears(net: Net) -> list[BatchedLinear]:
        return [block[0] for block in net.blocks[1:]]

    @classmethod
    def transposed(cls, net: Net, seeds: Sequence[int]) -> FeedbackAlignment:
        """FA whose feedback matrices are the forward weights' transposes *now*: backprop, for
        this step (the weights move on, the feedback does not)."""
        rule = cls(net, seeds)
        with torch.no_grad():
            for b, lin in zip(rule.feedback, cls._linears(net), strict=True):
                b.copy_(lin.weight.transpose(1, 2))
        return rule

    def backward(self, net, x, y, context, loss_fn):
        linears = self._linears(net)
        for lin, b in zip(linears, self.feedback, strict=True):
            lin.feedback = b
        try:
            loss = loss_fn(net(x), y)
            loss.sum().backward()
        finally:
            for lin in linears:
                lin.feedback = None
        return {"loss": loss.detach()}


class DirectFeedbackAlignment(LearningRule):
    """Direct Feedback Alignment (Nokland 2016), written directly: the output layer learns from
    the true gradient; every hidden layer ``k`` receives ``e B_k``, the output error sent
    straight down through a fixed random matrix (:func:`feedback_maps`)."""

    name = "dfa"

    def __init__(self, net: Net, seeds: Sequence[int]) -> None:
        super().__init__()
        self.n_feedback = net.n_hidden
        for k, m in enumerate(feedback_maps(net, seeds)):
            self.register_buffer(f"feedback_{k}", m.weight.detach())

    @property
    def feedback(self) -> list[torch.Tensor]:
        """The fixed matrices ``B_k`` (buffers, so that they move with ``.to(device)``)."""
        return [getattr(self, f"feedback_{k}") for k in range(self.n_feedback)]

    def backward(self, net, x, y, context, loss_fn):
        outs, logits = _forward(net, x, cut=True)
        lg = logits.detach().requires_grad_(True)
        loss = loss_fn(lg, y)
        loss.sum().backward()
        logits.backward(lg.grad)  # the output layer: true gradient
        for out, b in zip(outs, self.feedback, strict=True):
            out.backward(torch.bmm(lg.grad, b))  # e B_k, with the batch mean's 1/B
        return {"loss": loss.detach()}


class ErrorSG(LearningRule):
    """A synthetic gradient conditioned on the output error: hidden layer ``k`` receives
    ``SG_k(e) = e A_k``, a linear map of the per-example output error. ``A_k`` starts as DFA's
    ``B_k``. With ``learned=False`` it never changes, and this *is* DFA, written as an SG
    (tested: identical updates). With ``learned=True`` each ``A_k`` regresses the true gradient
    ``dl/dh_k`` (from a backprop pass that only the SGs see), as an SG regresses its target.

    Unlike :class:`DirectFeedbackAlignment`, this keeps one graph for the whole network and
    restricts each backward pass to one block's parameters."""

    name = "error_sg"

    def __init__(self, net: Net, seeds: Sequence[int], learned: bool = False) -> None:
        super().__init__()
        self.learned = learned
        self.sgs = feedback_maps(net, seeds)
        self.sgs.requires_grad_(learned)
        self.name = "error_sg" if learned else "dfa_as_sg"

    def backward(self, net, x, y, context, loss_fn):
        batch = x.shape[1]
        outs, logits = _forward(net, x)
        loss = loss_fn(logits, y)
        wanted = [logits, *outs] if self.learned else [logits]
        grads = torch.autograd.grad(loss.sum(), wanted, retain_graph=True)
        e = grads[0].detach() * batch
        loss.sum().backward(inputs=list(net.blocks[-1].parameters()), retain_graph=True)
        preds = [sg(e) for sg in self.sgs]
        for out, block, pred in zip(outs, net.blocks[:-1], preds, strict=True):
            out.backward(pred.detach() / batch, inputs=list(block.parameters()), retain_graph=True)
        metrics = {"loss": loss.detach()}
        if self.learned:
            sg_losses = [
                0.5 * (p - g.detach() * batch).pow(2).sum(-1).mean(-1)
                for p, g in zip(preds, grads[1:], strict=True)
            ]
            torch.stack(sg_losses).sum().backward()
            metrics["sg_loss"] = torch.stack(sg_losses).mean(0).detach()
        return metrics


def kickback_error(e: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Kickback's scalar error per example (S, B, 1). Kickback is defined for one output; with a
    softmax over classes the sum of the error vector is always 0, so the single output used here
    is the logit of the correct class: the error is ``e_y = softmax(z)_y - 1``. For a network with
    one output, this is that output's error."""
    if y.dtype != torch.int64:  # one output (regression or binary): its own error
        if e.shape[-1] != 1:
            raise ValueError("Kickback needs one output, or class labels to pick the correct one")
        return e
    return e.gather(-1, y.expand(e.shape[:-1]).unsqueeze(-1))


class Kickback(LearningRule):
    """Kickback (Balduzzi et al. 2015), written directly for ReLU networks without batch norm.

    Every hidden unit ``j`` of layer ``k`` gets the global scalar error ``beta`` times its
    *kickback* ``tau_j = sum_m W_{k+1}[j, m] 1[a_{k+1,m} > 0]``, the sum of its outgoing weights
    to the active units of the next layer (for the top hidden layer, the weight to the single
    output). It is backprop with every downstream error replaced by ``beta``: no error is sent
    down. Here the single output is the correct class's logit (:func:`kickback_error`); the
    output layer learns from the true gradient."""

    name = "kickback"

    def __init__(self, net: Net) -> None:
        super().__init__()
        for block in net.blocks[:-1]:
            kinds = [type(m).__name__ for m in block]
            if kinds != ["BatchedLinear", "ReLU"]:
                raise ValueError(f"Kickback is defined for linear + ReLU blocks, got {kinds}")

    def backward(self, net, x, y, context, loss_fn):
        outs, logits = _forward(net, x, cut=True)
        e = output_error(logits, y, loss_fn)
        loss = loss_fn(logits, y)
        loss.sum().backward(inputs=list(net.blocks[-1].parameters()))
        beta = kickback_error(e, y)
        w_out = net.blocks[-1][0].weight.detach()  # (S, d_L, k)
        if y.dtype == torch.int64:
            cols = y.expand(e.shape[:-1])  # (S, B): each example's output unit
            top = torch.gather(w_out, 2, cols.unsqueeze(1).expand(-1, w_out.shape[1], -1))
            taus = [top.transpose(1, 2)]  # (S, B, d_L)
        else:
            taus = [w_out.transpose(1, 2).expand(-1, x.shape[1], -1)]
        for k in range(net.n_hidden - 1, 0, -1):  # tau for layer k-1 from layer k's activity
            active = (outs[k].detach() > 0).to(x.dtype)  # ReLU: a > 0 exactly where h > 0
            taus.insert(0, torch.bmm(active, net.blocks[k][0].weight.detach().transpose(1, 2)))
        for out, tau in zip(outs, taus, strict=True):
            out.backward(beta * tau / x.shape[1])
        return {"loss": loss.detach()}


class KickbackSG(LearningRule):
    """Kickback written as the paper writes it: a fixed synthetic gradient conditioned on the
    error and on the activations, ``SG(h_k, e) = beta 1^T dh_{k+1}/dh_k``, the scalar error
    pushed back through one layer's Jacobian and no further (``h_{L+1}`` is the single output).
    Computed with autograd, so it checks :class:`Kickback`'s hand-written kickbacks."""

    name = "kickback_as_sg"

    def backward(self, net, x, y, context, loss_fn):
        batch = x.shape[1]
        outs, logits = _forward(net, x)
        loss = loss_fn(logits, y)
        e = output_error(logits, y, loss_fn)
        loss.sum().backward(inputs=list(net.blocks[-1].parameters()), retain_graph=True)
        beta = kickback_error(e, y)
        if y.dtype == torch.int64:
            single = logits.gather(-1, y.expand(e.shape[:-1]).unsqueeze(-1))
        else:
            single = logits
        above = [*outs[1:], single]
        for k, (out, nxt) in enumerate(zip(outs, above, strict=True)):
            (sg,) = torch.autograd.grad(
                nxt, out, grad_outputs=beta.expand_as(nxt), retain_graph=True
            )
            out.backward(
                sg.detach() / batch, inputs=list(net.blocks[k].parameters()), retain_graph=True
            )
        return {"loss": loss.detach()}
