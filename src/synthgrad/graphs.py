"""Training steps captured in a CUDA graph: the paper-scale runs on a GPU without the launch cost.

At 50 hidden layers of 256 a training step is launch-bound on a GPU: about a thousand small
kernels (each layer's matrix product, batch norm and activation, forward and backward), each
launched from Python, take ~19 ms where the arithmetic takes well under one. A CUDA graph
records those launches once and replays them with one call
(https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs).

:class:`Graphed` wraps a learning rule: its :meth:`~synthgrad.rules.LearningRule.backward`
(forward pass, backward pass, SG regression; everything of a step but the optimiser's update)
is captured at the first call and replayed at every later one, with the minibatch copied into
the graph's static input tensors: ``train.fit(..., wrap_rule=graphs.Graphed)``. The training
loop (:func:`synthgrad.train.train`) is the same: it samples the minibatch, steps the optimiser, checks for divergence and logs, so a
graphed run has the same minibatches, the same initial weights and the same numbers as an
eager one up to float rounding (tested on an H200; on a CPU the same wrapper runs its static
buffers eagerly, which the CPU tests use to check everything but the capture itself).

Only rules whose step draws no random numbers on the CPU and makes no host decision can be
captured: :data:`CAPTURABLE`.
"""

from __future__ import annotations

from typing import Any

import torch

from .losses import LossFn
from .models import Net
from .rules import Backprop, FrozenBelow, LearningRule, SyntheticGradients

CAPTURABLE = (Backprop, SyntheticGradients, FrozenBelow)
WARMUP = 3  # eager steps before the capture (on a side stream, as CUDA graphs need)


class Graphed(LearningRule):
    """``rule`` with its step captured once in a CUDA graph and replayed (see the module).

    ``capture=None`` captures where the minibatch lives on a CUDA device; ``capture=False``
    runs the same static-buffer path eagerly (the CPU tests). The warm-up steps before the
    capture run on the first minibatch and are undone: batch-norm running statistics and the
    gradients they leave are restored, so the run's numbers are those of the eager rule."""

    def __init__(self, rule: LearningRule, capture: bool | None = None) -> None:
        super().__init__()
        if not isinstance(rule, CAPTURABLE):
            names = ", ".join(c.__name__ for c in CAPTURABLE)
            raise ValueError(
                f"the {rule.name!r} rule cannot be captured in a CUDA graph (it draws random "
                f"numbers on the CPU or decides on the host during its step); capturable: "
                f"{names}. Train it eagerly (synthgrad.train.fit)."
            )
        self.inner = rule
        self.name = rule.name
        self.capture = capture
        self._net: Net | None = None
        self._loss_fn: LossFn | None = None
        self._static: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._graph: Any = None
        self._out: dict[str, torch.Tensor] = {}
        self._grads: list[tuple[torch.nn.Parameter, torch.Tensor]] = []

    @property
    def captured(self) -> bool:
        """Whether the step runs as a CUDA graph (known after the first call)."""
        return self._graph is not None

    @property
    def step(self) -> str:
        """How the steps ran, as a run's settings record it: ``"CUDA graph"`` or ``"eager"``."""
        return "CUDA graph" if self.captured else "eager"

    def _params(self) -> list[torch.nn.Parameter]:
        return [*self._net.parameters(), *self.inner.parameters()]

    def _eager(self) -> dict[str, torch.Tensor]:
        x, y, context = self._static
        return self.inner.backward(self._net, x, y, context, self._loss_fn)

    def _record(self, net: Net, x: torch.Tensor, y: torch.Tensor, context: torch.Tensor,
                loss_fn: LossFn) -> None:  # fmt: skip
        self._net, self._loss_fn = net, loss_fn
        self._static = (x.clone(), y.clone(), context.clone())
        capture = x.is_cuda if self.capture is None else self.capture
        if capture and not x.is_cuda:
            raise ValueError("capture=True needs the minibatch on a CUDA device")
        params = self._params()
        if any(p.grad is not None for p in params):
            raise RuntimeError("gradients must be cleared (None) before the first graphed step")
        buffers = [b for m in (net, self.inner) for b in m.buffers()]
        saved = [b.clone() for b in buffers]
        stream = torch.cuda.Stream() if capture else None
        if capture:
            stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # (None: no stream, on the CPU)
            for _ in range(WARMUP):
                for p in params:
                    p.grad = None
                self._eager()
        if capture:
            torch.cuda.current_stream().wait_stream(stream)
        with torch.no_grad():  # undo the warm-up: running statistics, step counters
            for b, s in zip(buffers, saved, strict=True):
                b.copy_(s)
        for p in params:
            p.grad = None
        if capture:
            self._graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self._graph, stream=stream):
                self._out = self._eager()  # recorded, not run: the first replay runs it
            self._grads = [(p, p.grad) for p in params if p.grad is not None]

    def backward(self, net, x, y, context, loss_fn):
        if self._static is None:
            self._record(net, x, y, context, loss_fn)
        elif net is not self._net or loss_fn is not self._loss_fn:
            raise ValueError("a graphed rule trains the network and loss it was captured with")
        static = self._static
        if x.shape != static[0].shape or y.shape != static[1].shape:
            raise ValueError(
                f"a CUDA graph replays fixed shapes: minibatch {tuple(x.shape)}, captured "
                f"with {tuple(static[0].shape)}"
            )
        for buffer, value in zip(static, (x, y, context), strict=True):
            buffer.copy_(value)
        if self._graph is None:
            return self._eager()
        self._graph.replay()
        for p, grad in self._grads:  # the loop clears .grad each step; the graph wrote these
            p.grad = grad
        return self._out
