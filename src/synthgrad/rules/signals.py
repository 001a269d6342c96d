"""Diagnostics of any rule: the updates it computes, the gradient signal each hidden layer
receives under it, the true gradients, and how well the two align."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence

import torch

from ..losses import LossFn
from ..models import Net
from .base import LearningRule, _forward


def updates(
    rule: LearningRule, net: Net, x: torch.Tensor, y: torch.Tensor, context, loss_fn: LossFn
) -> list[torch.Tensor]:
    """The parameter gradients ``rule`` computes for ``net`` on one batch (on a copy of the
    network: ``net`` itself is left as it was), in the order of ``net.parameters()``."""
    net = copy.deepcopy(net)
    net.zero_grad(set_to_none=True)
    rule.backward(net, x, y, context, loss_fn)
    return [
        p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        for p in net.parameters()
    ]


def relative_difference(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """Largest absolute difference between two sets of updates, relative to the largest entry
    of ``b``: about 1e-7 for updates equal up to float32 rounding."""
    diff = max(float((u - v).abs().max()) for u, v in zip(a, b, strict=True))
    scale = max(float(v.abs().max()) for v in b)
    return diff / scale if scale > 0 else diff


@contextlib.contextmanager
def _recording(net: Net) -> Iterator[list[torch.Tensor]]:
    """Keep every hidden block's output (and its gradient) produced while inside."""
    outs: list[torch.Tensor] = []

    def keep(module, inputs, out):
        if out.requires_grad:
            out.retain_grad()
        outs.append(out)

    handles = [b.register_forward_hook(keep) for b in net.blocks[:-1]]
    try:
        yield outs
    finally:
        for handle in handles:
            handle.remove()


def received(
    rule: LearningRule, net: Net, x: torch.Tensor, y: torch.Tensor, context, loss_fn: LossFn
) -> list[torch.Tensor]:
    """The gradient signal each hidden layer's output receives under ``rule`` for this batch,
    per example (S, B, d_k): whatever reaches ``h_k`` in the rule's backward pass. The rule's
    own updates are computed on the way and left in ``.grad`` (the training loop clears them)."""
    with _recording(net) as outs:
        rule.backward(net, x, y, context, loss_fn)
    if len(outs) != net.n_hidden:
        raise RuntimeError(f"rule {rule.name} ran {len(outs)} hidden blocks, not {net.n_hidden}")
    missing = [k for k, o in enumerate(outs) if o.grad is None]
    if missing:
        raise RuntimeError(f"rule {rule.name} sent no signal to hidden layer(s) {missing}")
    return [o.grad.detach() * x.shape[1] for o in outs]


def true_gradients(
    net: Net, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> list[torch.Tensor]:
    """The true per-example gradient ``dl_i/dh_k`` (S, B, d_k) at every hidden layer's output."""
    outs, logits = _forward(net, x)
    loss = loss_fn(logits, y)
    return [g * x.shape[1] for g in torch.autograd.grad(loss.sum(), outs)]


def alignment(
    rule: LearningRule, net: Net, x: torch.Tensor, y: torch.Tensor, context, loss_fn: LossFn
) -> torch.Tensor:
    """Cosine between the signal each hidden layer receives under ``rule`` and the true
    gradient, per example, averaged over the batch: (S, n_hidden). 1 is backprop's signal.
    Examples whose true gradient at a layer is zero (every unit above it off) have no direction
    to align with and are left out of that layer's mean (NaN if that leaves none)."""
    with torch.enable_grad():
        truth = true_gradients(net, x, y, loss_fn)
        got = received(rule, net, x, y, context, loss_fn)
    cos = []
    for a, t in zip(got, truth, strict=True):
        c = torch.nn.functional.cosine_similarity(a, t, dim=-1, eps=1e-12)
        defined = t.norm(dim=-1) > 0
        cos.append((c * defined).sum(-1) / defined.sum(-1))
    return torch.stack(cos, 1).detach()


def tracking_error(
    rule: LearningRule, net: Net, x: torch.Tensor, y: torch.Tensor, context, loss_fn: LossFn
) -> torch.Tensor:
    """How well each SG of an SG rule tracks the true gradient where it sits: the relative
    error ``|SG(h, y) - dl/dh| / |dl/dh|`` over the batch (norms over examples and units),
    (S, n_SGs). The target is the true gradient (backprop through everything above), not the
    bootstrapped one an SG below the top is trained on. The convergence argument needs it
    below 1: then the SG's signal still points downhill."""
    positions, sgs = rule.positions, rule.sgs
    with torch.enable_grad():
        outs, logits = _forward(net, x)
        loss = loss_fn(logits, y)
        acts = [*outs, logits]
        truth = torch.autograd.grad(loss.sum(), [acts[p] for p in positions])
    errors = []
    for sg, p, g in zip(sgs, positions, truth, strict=True):
        g = g * x.shape[1]  # per-example gradient
        s = sg(acts[p].detach(), context if sg.conditioned else None)
        errors.append((s - g).flatten(1).norm(dim=1) / g.flatten(1).norm(dim=1))
    return torch.stack(errors, 1).detach()
