"""Synthetic gradients in time (chapter 8, issue 26): an LSTM trained by truncated
backpropagation through time (BPTT) over windows of ``T`` steps, and DNI's synthetic gradient
at each window's boundary (Jaderberg et al. 2017, section 3.1).

Truncated BPTT cuts the sequence into windows, carries the state ``(h, c)`` across each cut
without its gradient, and updates after every window: no loss later than a window teaches the
steps inside it. DNI adds, at each window's end, a prediction of the gradient all later losses
would send to the state, :class:`StateSG`, and back-propagates it through the window with the
window's own loss. The SG regresses a bootstrapped target: the gradient that reaches the next
window's start state, which itself includes the next SG's prediction.

Two identities pin the implementation down (tested): with the SG's output held at zero, DNI
is truncated BPTT, update for update; with an oracle in place of the SG that returns the true
future gradient (from full BPTT) and the windows' gradients accumulated and applied once, DNI's
update is full BPTT's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (batch, hidden)
Loss = Callable[[torch.Tensor, slice], torch.Tensor]  # (a window's outputs, its steps) -> scalar
Oracle = Callable[[int], State]  # window index -> the true gradient at its end state


class Recurrent(nn.Module):
    """An LSTM cell and a linear read-out: a sequence of inputs (steps, batch, d_in) to one
    output per step (steps, batch, d_out)."""

    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(d_in, hidden)
        self.readout = nn.Linear(hidden, d_out)

    def initial(self, batch: int) -> State:
        zeros = self.readout.weight.new_zeros(batch, self.cell.hidden_size)
        return zeros, zeros.clone()

    def run(self, xs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Outputs for every step of ``xs`` from ``state``, and the state after the last."""
        h, c = state
        outs = []
        for x in xs:
            h, c = self.cell(x, (h, c))
            outs.append(self.readout(h))
        return torch.stack(outs), (h, c)


class StateSG(nn.Module):
    """DNI's synthetic gradient for the state: from ``(h, c)``, a prediction of the gradient of
    every later loss with respect to ``(h, c)``. Linear (``hidden=0``) or one hidden ReLU layer;
    the last layer starts at zero, so that DNI starts as truncated BPTT."""

    def __init__(self, hidden_size: int, hidden: int = 0) -> None:
        super().__init__()
        d = 2 * hidden_size
        last = nn.Linear(hidden or d, d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = last if hidden == 0 else nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), last)

    def forward(self, state: State) -> State:
        h, c = state
        g = self.net(torch.cat([h, c], -1))
        return g[..., : h.shape[-1]], g[..., h.shape[-1] :]


def windows(steps: int, length: int) -> list[slice]:
    """The truncation windows of a sequence of ``steps`` steps, ``length`` steps each (the
    last one shorter where ``length`` does not divide ``steps``)."""
    if steps < 1 or length < 1:
        raise ValueError(f"need steps >= 1 and a window of at least 1 step, got {steps}, {length}")
    return [slice(t, min(t + length, steps)) for t in range(0, steps, length)]


def _leaf(state: State) -> State:
    return tuple(s.detach().requires_grad_(True) for s in state)  # type: ignore[return-value]


def full_bptt(
    model: Recurrent, xs: torch.Tensor, loss: Loss, length: int
) -> tuple[torch.Tensor, list[State], list[State]]:
    """Fill the model's gradients with full BPTT over the whole sequence (the sum of every
    window's loss) and return that loss and, per window, the true gradient of every later loss
    with respect to its end state (what an oracle SG would predict) and that end state
    (detached)."""
    cuts = windows(len(xs), length)
    state, carried, total = model.initial(xs.shape[1]), [], 0.0
    for cut in cuts:
        out, state = model.run(xs[cut], state)
        total = total + loss(out, cut)
        # the state as the next window receives it: a copy that only later steps use, so its
        # gradient is the later losses' alone (the end state itself also feeds this window's
        # last output)
        state = tuple(s.clone() for s in state)
        for s in state:
            s.retain_grad()
        carried.append(state)
    total.backward()
    future = [(h.grad, c.grad) for h, c in carried[:-1]]
    ends = [tuple(s.detach() for s in state) for state in carried]
    return total.detach(), [*future, tuple(torch.zeros_like(s) for s in carried[-1])], ends


def train_sequence(
    model: Recurrent,
    xs: torch.Tensor,
    loss: Loss,
    length: int,
    step: Callable[[], None] | None = None,
    sg: StateSG | None = None,
    oracle: Oracle | None = None,
    scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """One sequence (steps, batch, ...) window by window: truncated BPTT (no ``sg``, no
    ``oracle``), DNI (``sg``: its prediction injected at each window's end, and it regresses the
    gradient that reaches the next window's start), or DNI with an ``oracle`` in its place.
    ``step`` (the optimisers' step and zeroing) runs after every window; ``None``: the windows'
    gradients accumulate (applied once by the caller). No SG after the last window: nothing
    comes later. ``scale`` multiplies the SG's prediction where it is injected (the DNI
    reimplementations use 0.1, citing the paper); the gradient that reaches a window's start,
    the SG's target there, carries that scaled prediction from the window's end, as in those
    reimplementations, so the SG learns later losses discounted by ``scale`` per window. ``loss(outputs, steps)``
    gives a window's loss from its outputs and its slice of the sequence; it is a batch mean, so the gradient at a state is each example's divided
    by the batch size; the SG predicts each example's (as :mod:`synthgrad.sg` does): injected
    divided by the batch size, regressing the gradient times the batch size. Returns the
    sequence's loss and the SG's regression loss at each boundary it was trained at."""
    cuts = windows(len(xs), length)
    batch = xs.shape[1]
    state = model.initial(batch)
    losses, sg_losses = [], []
    for w, cut in enumerate(cuts):
        start = _leaf(state)
        out, end = model.run(xs[cut], start)
        window_loss = loss(out, cut)
        inject = None
        if w < len(cuts) - 1 and oracle is not None:
            inject = oracle(w)
        elif w < len(cuts) - 1 and sg is not None:
            with torch.no_grad():
                inject = tuple(scale * g / batch for g in sg(tuple(s.detach() for s in end)))
        if inject is None:
            window_loss.backward()
        else:
            torch.autograd.backward([window_loss, *end], [None, *inject])
        if sg is not None and w > 0:  # the bootstrapped target at this window's start
            pred = sg(tuple(s.detach() for s in start))
            sg_loss = sum(
                0.5 * (p - batch * s.grad).pow(2).sum(-1).mean()
                for p, s in zip(pred, start, strict=True)
            )
            sg_loss.backward()
            sg_losses.append(sg_loss.detach())
        losses.append(window_loss.detach())
        if step is not None:
            step()
        state = tuple(s.detach() for s in end)
    return {
        "loss": torch.stack(losses).sum(),
        "sg_loss": torch.stack(sg_losses) if sg_losses else torch.zeros(0),
    }


def parameters(*modules: nn.Module | None) -> Sequence[nn.Parameter]:
    """Every parameter of the given modules (``None`` skipped), for one optimiser."""
    return [p for m in modules if m is not None for p in m.parameters()]


SG_METHODS = ("dni", "bp_lambda")  # the methods that train a synthetic gradient


def _trainer(
    method: str, seed: int, sizes: tuple[int, int, int], sg_hidden: int, lr: float
) -> tuple[Recurrent, StateSG | None, Callable[[], None]]:
    """What a training run starts from: torch seeded with ``seed`` (a seed gives the same
    initial weights), an LSTM of ``sizes`` (inputs, hidden, outputs), its SG for DNI, and the
    step of one Adam at ``lr`` for both (the update, then zeroed gradients)."""
    torch.manual_seed(seed)
    model = Recurrent(*sizes)
    sg = StateSG(sizes[1], sg_hidden) if method in SG_METHODS else None
    opt = torch.optim.Adam(parameters(model, sg), lr=lr)

    def step() -> None:
        opt.step()
        opt.zero_grad()

    return model, sg, step


def sg_alignment(model: Recurrent, sg: StateSG, xs: torch.Tensor, loss: Loss, length: int) -> float:
    """How well the SG predicts the true future gradient now: at each window boundary but the
    last, the cosine (per example, over ``(h, c)`` together) between the SG's prediction at the
    window's end state and the true gradient of every later loss there (full BPTT over the
    whole sequence, :func:`full_bptt`), averaged over examples and boundaries. Leaves the
    model's gradients as it found them (zero). NaN where the sequence has one window."""
    cuts = windows(len(xs), length)
    if len(cuts) < 2:
        return float("nan")
    _, future, ends = full_bptt(model, xs, loss, length)
    model.zero_grad()
    cosines = []
    with torch.no_grad():
        for w in range(len(cuts) - 1):
            pred = torch.cat(sg(ends[w]), -1)
            true = torch.cat(future[w], -1)
            cosines.append(torch.nn.functional.cosine_similarity(pred, true, dim=-1, eps=1e-12))
    return float(torch.stack(cosines).mean())


@dataclass(frozen=True)
class Identities:
    """The two identities on one small problem: ``zero_sg``, the largest absolute difference of
    any parameter between DNI with its SG's output held at zero and truncated BPTT after
    ``sequences`` sequences of Adam (0 when they are the same update for update);
    ``oracle``, the largest difference, relative to the largest entry, between full BPTT's
    gradient and DNI's with an oracle SG and the windows' gradients accumulated; ``truncated``,
    the same for truncated BPTT (so the oracle identity is seen not to hold trivially)."""

    zero_sg: float
    oracle: float
    truncated: float
    sequences: int  # the problem: sequences of Adam, its length, the windows', the LSTM's
    steps: int  # width and the batch
    length: int
    hidden: int
    batch: int

    @property
    def problem(self) -> str:
        return (f"a random regression problem: {self.steps} steps, windows of {self.length}, "
                f"LSTM {self.hidden}, batch {self.batch}")  # fmt: skip


def _relative(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    top = max(float(x.abs().max()) for x in a)
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True)) / top


def check_identities(
    seed: int = 0, steps: int = 12, batch: int = 4, hidden: int = 8, length: int = 4
) -> Identities:
    """Both identities on a random regression problem (3 inputs, 2 outputs, squared error):
    what chapter 8 reports and the tests pin down."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = torch.randn(steps, batch, 3, generator=g), torch.randn(steps, batch, 2, generator=g)

    def loss(out: torch.Tensor, cut: slice) -> torch.Tensor:
        return (out - ys[cut]).pow(2).sum((0, 2)).mean()

    def model() -> Recurrent:
        torch.manual_seed(seed)
        return Recurrent(3, hidden, 2)

    sequences = 3
    bptt, dni, sg = model(), model(), StateSG(hidden)  # the SG is never stepped: it stays zero
    for m, kw in ((bptt, {}), (dni, {"sg": sg})):
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)

        def step(opt: torch.optim.Optimizer = opt) -> None:
            opt.step()
            opt.zero_grad()
            sg.zero_grad()

        for _ in range(sequences):
            train_sequence(m, xs, loss, length, step, **kw)
    with torch.no_grad():
        pairs = zip(bptt.parameters(), dni.parameters(), strict=True)
        zero = max(float((p - q).abs().max()) for p, q in pairs)
    full, oracle, truncated = model(), model(), model()
    _, future, _ = full_bptt(full, xs, loss, length)
    train_sequence(oracle, xs, loss, length, oracle=lambda w: future[w])
    train_sequence(truncated, xs, loss, length)

    def grads(m: nn.Module) -> list[torch.Tensor]:
        return [p.grad for p in m.parameters()]

    return Identities(
        zero_sg=zero, oracle=_relative(grads(full), grads(oracle)),
        truncated=_relative(grads(full), grads(truncated)),
        sequences=sequences, steps=steps, length=length, hidden=hidden, batch=batch,
    )  # fmt: skip


def language_model(
    method: str,
    length: int,
    text: Any,
    chars: int,
    seed: int = 0,
    hidden: int = 128,
    batch: int = 32,
    lr: float = 3e-3,
    scale: float = 0.1,
    sg_hidden: int = 0,
    eval_every: int = 100,
    eval_steps: int = 100,
) -> dict[str, list[float]]:
    """Character-level language modelling of ``text`` (a :class:`synthgrad.data.text.Text`):
    an LSTM reads ``batch`` contiguous streams of its training part, ``chars`` characters
    each, predicting every next character, trained by truncated BPTT (``"bptt"``) or DNI
    (``"dni"``) over windows of ``length`` steps, the state carried across every cut (one
    sequence: :func:`train_sequence`). At the start, then each time another ``eval_every``
    characters per stream are done (and at the end), the held-out bits per character on
    ``eval_steps`` steps of ``batch`` validation streams, from a zero state. Returns
    ``chars_seen`` (all streams), ``windows`` (the windows trained), ``seconds`` (of training,
    evaluations excluded) and ``valid_bpc`` at each evaluation, and ``train_bpc``, each
    window's training bits per character. ValueError where the text is too short for the
    streams."""
    import time

    from .data.text import streams

    if method not in ("bptt", "dni"):
        raise ValueError(f"method must be 'bptt' or 'dni', got {method!r}")
    for part, need in (("training", chars + 1), ("validation", eval_steps + 1)):
        have = len(getattr(text, "train" if part == "training" else "valid")) // batch
        if have < need:
            raise ValueError(f"the {part} text gives {batch} streams of {have} characters; "
                             f"{need} are needed: fewer streams (batch) or characters")  # fmt: skip
    model, sg, update = _trainer(method, seed, (text.vocab, hidden, text.vocab), sg_hidden, lr)
    ids = streams(text.train, batch)[: chars + 1]
    valid = streams(text.valid, batch)[: eval_steps + 1]
    eye = torch.eye(text.vocab)

    def bits(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        flat = out.reshape(-1, text.vocab)
        return nn.functional.cross_entropy(flat, targets.reshape(-1)) / math.log(2)

    def evaluate() -> float:
        with torch.no_grad():
            out, _ = model.run(eye[valid[:-1]], model.initial(batch))
            return float(bits(out, valid[1:]))

    log: dict[str, list[float]] = {"chars_seen": [0.0], "windows": [0.0], "seconds": [0.0],
                                   "valid_bpc": [evaluate()], "train_bpc": []}  # fmt: skip
    clock = {"done": 0, "windows": 0, "seconds": 0.0, "since": time.perf_counter()}

    def record() -> None:
        clock["seconds"] += time.perf_counter() - clock["since"]
        log["chars_seen"].append(float(clock["done"] * batch))
        log["windows"].append(float(clock["windows"]))
        log["seconds"].append(clock["seconds"])
        log["valid_bpc"].append(evaluate())
        clock["since"] = time.perf_counter()

    def step() -> None:
        update()
        clock["windows"] += 1
        before, clock["done"] = clock["done"], min(clock["done"] + length, chars)
        if clock["done"] // eval_every > before // eval_every and clock["done"] < chars:
            record()

    def window_loss(out: torch.Tensor, cut: slice) -> torch.Tensor:
        value = bits(out, ids[1:][cut])
        log["train_bpc"].append(float(value.detach()))
        return value

    train_sequence(model, eye[ids[:-1]], window_loss, length, step, sg=sg, scale=scale)
    record()  # the end
    return log
