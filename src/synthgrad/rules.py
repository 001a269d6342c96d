"""Learning rules: how the gradient signal reaching each layer is made.

A rule is an ``nn.Module`` (its own trainable parts, e.g. SG modules, are its parameters) with
one method, :meth:`LearningRule.backward`, which fills ``.grad`` of the model's (and its own)
parameters for one minibatch and returns per-seed metrics. The training loop only calls that,
so backprop, synthetic gradients, Feedback Alignment, DFA and Kickback are interchangeable.

Every rule gives each hidden layer a *gradient signal* for its output ``h_k``: the true
gradient (backprop) or a proxy for it. :func:`received` records that signal for any rule,
:func:`true_gradients` computes the true one, and :func:`alignment` compares the two.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .losses import LossFn
from .models import BatchedLinear, Net, generators
from .sg import LossMatchedSG, SyntheticGradient, describe


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

    def signals(self, net, x, y, context, loss_fn) -> SGSignals:
        """Fill all gradients (model and SGs) and return what was computed."""
        batch = x.shape[1]
        outs, ins, start, h = [], [], 0, x
        for p in self.positions:
            out = net.run(h, start, p + 1)
            h = out.detach().requires_grad_(True)
            outs.append(out)
            ins.append(h)
            start = p + 1
        loss = loss_fn(net.run(h, start), y)
        loss.sum().backward()  # top segment: true gradient; fills ins[-1].grad
        ctx = context if any(sg.conditioned for sg in self.sgs) else None
        preds = [sg(a.detach(), ctx) for sg, a in zip(self.sgs, ins, strict=True)]
        for out, pred in zip(outs, preds, strict=True):
            # the segment below each SG learns from its prediction (of the per-example gradient,
            # hence / batch for the batch-mean loss); this also fills the input .grad of that
            # segment with the bootstrapped target of the SG below.
            out.backward(pred.detach() / batch)
        targets = [a.grad * batch for a in ins]
        sg_losses = [
            0.5 * (pred - t).pow(2).sum(-1).mean(-1) for pred, t in zip(preds, targets, strict=True)
        ]
        torch.stack(sg_losses).sum().backward()
        return SGSignals(
            loss.detach(),
            [a.detach() for a in ins],
            [p.detach() for p in preds],
            targets,
            [s.detach() for s in sg_losses],
        )

    def backward(self, net, x, y, context, loss_fn):
        sig = self.signals(net, x, y, context, loss_fn)
        out = {"loss": sig.loss, "sg_loss": torch.stack(sig.sg_losses).mean(0)}
        for p, s in zip(self.positions, sig.sg_losses, strict=True):
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


SG_RULES = ("sg_middle", "sg_every")


def sg_positions(kind: str, n_hidden: int) -> list[int]:
    """The hidden blocks an SG rule puts its SGs after: ``sg_middle`` the middle one,
    ``sg_every`` every one."""
    if kind == "sg_middle":
        return [(n_hidden - 1) // 2]
    if kind == "sg_every":
        return list(range(n_hidden))
    raise ValueError(f"{kind!r} is not an SG rule; SG rules: {', '.join(SG_RULES)}")


def make_rule(
    kind: str,
    net: Net,
    seeds: Sequence[int],
    d_context: int = 0,
    sg_hidden: int = 0,
    sg_depth: int = 1,
) -> LearningRule:
    """Build a rule by name: ``backprop``, ``sg_middle`` (one SG after the middle hidden block),
    ``sg_every`` (an SG after every hidden block, bootstrapped), ``fa``, ``dfa``,
    ``dfa_as_sg`` (DFA written as a fixed error-conditioned SG), ``error_sg`` (the same SG,
    learned), ``kickback``, ``kickback_as_sg``. ``d_context>0`` conditions the SGs on the label
    (cDNI)."""
    simple = {
        "backprop": lambda: Backprop(),
        "fa": lambda: FeedbackAlignment(net, seeds),
        "dfa": lambda: DirectFeedbackAlignment(net, seeds),
        "dfa_as_sg": lambda: ErrorSG(net, seeds, learned=False),
        "error_sg": lambda: ErrorSG(net, seeds, learned=True),
        "kickback": lambda: Kickback(net),
        "kickback_as_sg": lambda: KickbackSG(),
    }
    if kind in simple:
        return simple[kind]()
    if kind not in SG_RULES:
        raise ValueError(f"unknown rule {kind!r}; known: {', '.join([*simple, *SG_RULES])}")
    positions = sg_positions(kind, net.n_hidden)
    return SyntheticGradients(net, positions, seeds, d_context, sg_hidden, sg_depth)
