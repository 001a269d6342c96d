"""Update unlocking in wall-clock time: an MLP split into K stages, one process each.

The DNI paper's point is that a module with a synthetic gradient need not wait for the
modules above it. Here that is measured, not simulated: the network of :func:`models.mlp`
(one seed, S=1, no batch norm by default) is cut into ``K`` contiguous stages of blocks
(:func:`split_blocks`), each stage runs in a process of its own on ``torch.distributed``
(gloo on 127.0.0.1; another ``backend``, or several hosts, through ``torchrun``), and every
schedule trains the same initial weights on the same minibatches:

- ``"backprop"``: one process with ``K`` torch threads, the package's own training step
  (:class:`~synthgrad.rules.Backprop`, Adam): the baseline;
- ``"gpipe"`` and ``"1f1b"``: pipelined backprop with ``torch.distributed.pipelining``
  (``ScheduleGPipe``, ``Schedule1F1B``; ``microbatches`` per step);
- ``"dni"``: asynchronous cDNI. Stage ``k`` forwards step ``t``, sends its output up,
  predicts the gradient there with its SG and updates its layers at once; the gradient at
  stage ``k+1``'s input comes back down whenever stage ``k+1`` has it, and trains the SG on
  the stored activation of that step. Stages run ahead of each other, at most ``max_lag``
  unanswered steps;
- ``"dni_sync"``: the same stages, each waiting for the SG target of step ``t`` before step
  ``t+1``: numerically the package's single-process SG rule (tested), so the distributed code
  is shown to compute the package's algorithm.

:func:`run` returns a :class:`Result`: wall-clock seconds, examples per second, per-stage
compute and waiting time, the SG targets' staleness and an accuracy-against-time trace.
Evaluation stays off the clock: stages copy their parameters at evaluation steps and the
parent evaluates the copies after the run. :func:`measure_costs` and :func:`predict` are a
cost model that predicts throughput for other ``K`` from per-block timings.

Failures: every wait for a neighbour has a timeout (``Config.timeout_s``); a stage that
raises sends its traceback to the parent and exits; the parent watches every process, and
when one fails it stops the others and raises :class:`StageFailed` naming the stage. No
stage process outlives :func:`run`.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from multiprocessing.connection import wait as wait_for

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn

from .data import Dataset
from .losses import LOSSES
from .models import Net, generators, mlp
from .rules import Backprop, SyntheticGradients
from .sg import SyntheticGradient
from .train import evaluate, make_optimizer

__all__ = [
    "SCHEDULES",
    "Config",
    "Costs",
    "Result",
    "StageFailed",
    "measure_costs",
    "predict",
    "run",
    "sg_positions",
    "split_blocks",
]

SCHEDULES = ("backprop", "gpipe", "1f1b", "dni", "dni_sync")
PIPELINED = ("gpipe", "1f1b")
_ACT, _GRAD = 0, 1  # message tags: activations go up, gradients come down


class StageFailed(RuntimeError):
    """A stage process raised or died; the message names the stage and what happened."""

    def __init__(self, message: str, stage: int, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.exitcode = exitcode


class _PeerError(RuntimeError):
    """A receive or send failed or timed out: usually a neighbour that died (not the cause)."""


@dataclass
class Config:
    """One timed run. ``widths`` are the hidden widths; the network has ``len(widths) + 1``
    blocks (the last is the output layer), split into ``K`` stages by :func:`split_blocks`.

    ``lr`` is the model's Adam learning rate, ``sg_lr`` the SGs' (default ``lr``);
    ``microbatches`` applies to ``gpipe`` and ``1f1b`` only (it must divide ``batch``; 1F1B
    needs at least ``K``). ``eval_every``: parameters are copied for evaluation at step 0,
    every ``eval_every`` steps and at the last step. ``max_lag`` bounds how many steps a
    ``dni`` stage may run ahead of its oldest unanswered SG target (the staleness of its SG's
    targets is at most that: on a slow link every target is ``max_lag`` steps old, and a stale
    SG learns slower). ``timeout_s`` bounds every wait for a neighbour. ``backprop`` runs on
    ``backprop_threads`` torch threads (default ``K``: the same cores as the stages). ``sg_hidden`` (0: linear SG) and ``conditioned`` (cDNI: the SG also
    reads the one-hot label) choose the SG. ``fail_at=(stage, step, "kill"|"raise")`` is a
    test hook: that stage kills itself with SIGKILL or raises at the start of that step."""

    widths: tuple[int, ...] = (256, 256, 256, 256)
    K: int = 2
    schedule: str = "dni"
    steps: int = 200
    batch: int = 128
    lr: float = 1e-3
    sg_lr: float | None = None
    microbatches: int = 4
    seed: int = 0
    eval_every: int = 50
    max_lag: int = 2
    timeout_s: float = 60.0
    backend: str = "gloo"
    backprop_threads: int | None = None
    sg_hidden: int = 0
    conditioned: bool = True
    batch_norm: bool = False
    fail_at: tuple[int, int, str] | None = None

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if any(w < 1 for w in self.widths):
            raise ValueError(f"hidden widths must be positive, got {self.widths}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if self.K < 1:
            raise ValueError(f"K (the number of stages) must be >= 1, got {self.K}")
        if self.schedule != "backprop" and self.K < 2:
            raise ValueError(f"schedule {self.schedule!r} needs K >= 2 stages, got K={self.K}")
        if self.K > self.n_blocks:
            raise ValueError(
                f"K={self.K} stages but the network has only {self.n_blocks} blocks "
                f"({len(self.widths)} hidden + output): every stage needs at least one block"
            )
        for name in ("steps", "batch", "microbatches", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or (self.sg_lr is not None and self.sg_lr <= 0):
            raise ValueError(f"learning rates must be > 0, got lr={self.lr}, sg_lr={self.sg_lr}")
        if self.schedule in PIPELINED:
            if self.batch % self.microbatches:
                raise ValueError(
                    f"microbatches={self.microbatches} does not divide batch={self.batch}"
                )
            if self.schedule == "1f1b" and self.microbatches < self.K:
                raise ValueError(
                    f"1f1b needs microbatches >= K stages, got {self.microbatches} < {self.K}"
                )
        if self.max_lag < 0:
            raise ValueError(f"max_lag must be >= 0, got {self.max_lag}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.backprop_threads is not None and self.backprop_threads < 1:
            raise ValueError(f"backprop_threads must be >= 1, got {self.backprop_threads}")
        if self.sg_hidden < 0:
            raise ValueError(f"sg_hidden must be >= 0, got {self.sg_hidden}")
        if self.fail_at is not None:
            stage, step, how = self.fail_at
            if not 0 <= stage < self.processes or how not in ("kill", "raise"):
                raise ValueError(
                    f"fail_at must be (stage 0..{self.processes - 1}, step, 'kill' or "
                    f"'raise'), got {self.fail_at}"
                )

    @property
    def n_blocks(self) -> int:
        return len(self.widths) + 1

    @property
    def processes(self) -> int:
        """Processes the schedule runs: ``K`` stages, or one for backprop."""
        return 1 if self.schedule == "backprop" else self.K

    @property
    def eval_steps(self) -> list[int]:
        """Steps whose parameters are evaluated: 0, every ``eval_every``, the last."""
        return sorted(set(range(0, self.steps + 1, self.eval_every)) | {self.steps})


@dataclass
class Result:
    """A timed run. ``seconds``: wall-clock time of the training loop (the slowest stage,
    from a common start after a barrier); ``busy_s[k]``: stage k's compute time (forward,
    backward, SG, optimiser); ``wait_s[k]``: the rest of its loop (blocked on communication,
    plus bookkeeping); ``snapshot_s[k]``: its time copying parameters for evaluation (inside
    ``seconds``, tens of microseconds a copy). ``staleness[k]``: for the SG of stage k (dni
    schedules), per SG update, the stage's current step minus the step of the target.
    ``trace``: per evaluation step, the seconds when every stage had finished that step,
    test accuracy and loss of the assembled network, and the mean training loss since the
    previous evaluation. ``losses``: the training loss of every step. ``net_state`` and
    ``sg_states`` are the final parameters (``Net.state_dict`` keys; one SG per stage but
    the last)."""

    config: Config
    seconds: float
    examples_per_s: float
    busy_s: np.ndarray
    wait_s: np.ndarray
    snapshot_s: np.ndarray
    staleness: list[np.ndarray]
    trace: pd.DataFrame
    losses: np.ndarray
    net_state: dict[str, torch.Tensor]
    sg_states: list[dict[str, torch.Tensor]] = field(default_factory=list)

    @property
    def schedule(self) -> str:
        return self.config.schedule

    @property
    def K(self) -> int:
        return self.config.K

    @property
    def diverged_at(self) -> int:
        """The first step whose training loss is not finite (the run diverged there), or -1."""
        bad = np.flatnonzero(~np.isfinite(self.losses))
        return int(bad[0]) + 1 if len(bad) else -1

    def time_to(self, accuracy: float) -> float:
        """Wall-clock seconds until the held-out accuracy first reached ``accuracy`` (at the
        evaluation steps; ``inf`` if it never did)."""
        hit = self.trace[self.trace.test_acc >= accuracy]
        return float(hit.seconds.iloc[0]) if len(hit) else math.inf

    def steps_to(self, accuracy: float) -> float:
        """Training steps until the held-out accuracy first reached ``accuracy`` (``inf``: never)."""
        hit = self.trace[self.trace.test_acc >= accuracy]
        return float(hit.step.iloc[0]) if len(hit) else math.inf

    def staleness_counts(self) -> np.ndarray:
        """Histogram of every SG's staleness: ``counts[s]`` updates were ``s`` steps stale."""
        values = np.concatenate([np.zeros(0, int), *self.staleness]).astype(int)
        return np.bincount(values) if values.size else np.zeros(1, int)


def split_blocks(n_blocks: int, K: int) -> list[tuple[int, int]]:
    """``K`` contiguous stages ``[start, stop)`` of ``n_blocks`` blocks, as even as possible;
    the later stages take the extra blocks (the first block, over the raw input, is usually
    the widest)."""
    if not 1 <= K <= n_blocks:
        raise ValueError(f"need 1 <= K <= {n_blocks} blocks, got K={K}")
    sizes = [n_blocks // K + (1 if k >= K - n_blocks % K else 0) for k in range(K)]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def sg_positions(config: Config) -> list[int]:
    """The blocks the SGs sit after: the last block of every stage but the last (the
    ``positions`` of the equivalent single-process rule ``make_rule("sg", ...)``)."""
    return [stop - 1 for _, stop in split_blocks(config.n_blocks, config.K)[:-1]]


def _build_net(config: Config, data: Dataset) -> Net:
    return mlp(data.d_in, config.widths, data.d_out, [config.seed], batch_norm=config.batch_norm)


def _build_sgs(config: Config, data: Dataset, net: Net) -> SyntheticGradients:
    """The package's SG rule at :func:`sg_positions`: stage k's SG is ``.sgs[k]``, initialised
    exactly as in a single-process run (same generator, same order)."""
    d_context = data.d_context if config.conditioned else 0
    return SyntheticGradients(net, sg_positions(config), [config.seed], d_context, config.sg_hidden)


# ---------------------------------------------------------------- data and bookkeeping


def _pack(data: Dataset) -> dict:
    """A dataset as numpy arrays, pickled to the stage processes (no shared-memory tensors)."""
    out = {k: getattr(data, k) for k in ("name", "task", "n_classes", "description")}
    out.update({k: getattr(data, k).numpy() for k in ("x_train", "y_train", "x_test", "y_test")})
    return out


def _unpack(packed: dict) -> Dataset:
    arrays = {k: torch.from_numpy(v) for k, v in packed.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in packed.items() if not isinstance(v, np.ndarray)}
    return Dataset(**rest, **arrays)


class _Batches:
    """The minibatches of :func:`synthgrad.train.train` for one seed, drawn the same way
    (``generators([seed], stream=2)``, ``randperm``), so every stage sees the same order."""

    def __init__(self, data: Dataset, batch: int, seed: int, device: torch.device) -> None:
        self.data, self.device = data, device
        self.full = batch >= data.n_train
        self.batch = data.n_train if self.full else batch
        self.gen = generators([seed], stream=2)[0]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """x (1, B, d), y (1, B): with the leading seed dimension."""
        d = self.data
        if self.full:
            return d.x_train.unsqueeze(0).to(self.device), d.y_train.unsqueeze(0).to(self.device)
        idx = torch.randperm(d.n_train, generator=self.gen)[: self.batch].unsqueeze(0)
        return d.x_train[idx].to(self.device), d.y_train[idx].to(self.device)


class _Log:
    """What a stage reports: clock, compute time, snapshots, losses, staleness."""

    def __init__(self, config: Config, rank: int, blocks: Sequence[nn.Module], offset: int):
        self.config, self.rank, self.blocks, self.offset = config, rank, blocks, offset
        self.evals = set(config.eval_steps)
        self.busy = self.snap_s = 0.0
        self.t0 = 0.0
        self.snaps: dict[int, tuple[float, dict[str, torch.Tensor]]] = {}
        self.losses: list[float] = []
        self.staleness: list[int] = []
        self.sg_state: dict[str, torch.Tensor] | None = None
        self.end = 0.0

    def start(self) -> None:
        """Snapshot the initial parameters, then start the clock."""
        self.snaps[0] = (0.0, self._copy())
        self.t0 = time.perf_counter()

    def _copy(self) -> dict[str, torch.Tensor]:
        return {
            f"blocks.{self.offset + j}.{k}": v.detach().to("cpu", copy=True)
            for j, block in enumerate(self.blocks)
            for k, v in block.state_dict().items()
        }

    def snapshot(self, step: int) -> None:
        """Copy this stage's blocks at an evaluation step (state_dict: buffers too)."""
        if step not in self.evals:
            return
        t = time.perf_counter()
        state = self._copy()
        done = time.perf_counter()
        self.snap_s += done - t
        self.snaps[step] = (done - self.t0, state)

    def maybe_fail(self, step: int) -> None:
        fail = self.config.fail_at
        if fail is not None and fail[0] == self.rank and fail[1] == step:
            if fail[2] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected failure at step {step} (Config.fail_at test hook)")

    def finish(self) -> dict:
        self.end = time.perf_counter() - self.t0
        return dict(
            seconds=self.end,
            busy=self.busy,
            snapshot=self.snap_s,
            snaps=self.snaps,
            losses=self.losses,
            staleness=self.staleness,
            sg_state=self.sg_state,
        )


class _Timer:
    """``with timer:`` adds the block's duration to ``log.busy``."""

    def __init__(self, log: _Log) -> None:
        self.log = log

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.log.busy += time.perf_counter() - self.t


def _device(backend: str, rank: int) -> torch.device:
    if backend == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    return torch.device("cpu")


# ---------------------------------------------------------------- the stage programs


def _backprop_stage(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """The baseline: the package's backprop step in one process with ``K`` threads."""
    torch.set_num_threads(config.backprop_threads or config.K)
    device = _device(config.backend, rank)
    net = _build_net(config, data).to(device)
    opt = make_optimizer([{"params": list(net.parameters()), "lr": config.lr}])
    rule, loss_fn = Backprop(), LOSSES[data.task]
    batches = _Batches(data, config.batch, config.seed, device)
    log = _Log(config, rank, net.blocks, 0)
    timer = _Timer(log)
    net.train()
    log.start()
    for step in range(1, config.steps + 1):
        log.maybe_fail(step)
        x, y = batches.next()
        with timer:
            opt.zero_grad()
            loss = rule.backward(net, x, y, data.context(y), loss_fn)["loss"]
            opt.step()
        log.losses.append(loss.item())
        log.snapshot(step)
    return log.finish()


class _StageModule(nn.Module):
    """A stage's blocks for ``torch.distributed.pipelining``, which splits inputs into
    microbatches along dim 0: takes (B, d), adds the seed dimension, removes it after."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0)
        for block in self.blocks:
            h = block(h)
        return h.squeeze(0)


def _pipelined_stage(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """Pipelined backprop: one stage of ``ScheduleGPipe`` or ``Schedule1F1B``, its own Adam.
    Gradients are the mean over microbatches of each microbatch's mean loss (the schedule's
    ``scale_grads``), i.e. the minibatch gradient."""
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    torch.set_num_threads(1)
    device = _device(config.backend, rank)
    net = _build_net(config, data)
    start, stop = split_blocks(config.n_blocks, n)[rank]
    module = _StageModule(net.blocks[start:stop]).to(device)
    loss_each = LOSSES[data.task]

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_each(out.unsqueeze(0), y).sum()

    # (shapes are inferred at the first step: passing input_args/output_args without the
    # gradients' shapes broke stage 0's backward in torch 2.13)
    stage = PipelineStage(module, rank, n, device)
    cls = ScheduleGPipe if config.schedule == "gpipe" else Schedule1F1B
    schedule = cls(stage, n_microbatches=config.microbatches, loss_fn=loss_fn)
    opt = make_optimizer([{"params": list(module.parameters()), "lr": config.lr}])
    batches = _Batches(data, config.batch, config.seed, device)
    log = _Log(config, rank, module.blocks, start)
    timer = _Timer(log)
    for name in ("forward_one_chunk", "backward_one_chunk"):  # compute, not communication
        method = getattr(stage, name)

        def timed(*args, _method=method, **kwargs):
            with timer:
                return _method(*args, **kwargs)

        setattr(stage, name, timed)
    first, last = rank == 0, rank == n - 1
    module.train()
    dist.barrier()
    log.start()
    for step in range(1, config.steps + 1):
        log.maybe_fail(step)
        if first or last:
            x, y = batches.next()
        opt.zero_grad()
        if first:
            schedule.step(x[0])
        elif last:
            losses: list[torch.Tensor] = []
            schedule.step(target=y[0], losses=losses, return_outputs=False)
            log.losses.append(torch.stack(losses).mean().item())
        else:
            schedule.step()
        with timer:
            opt.step()
        log.snapshot(step)
    out = log.finish()
    dist.barrier()
    return out


@dataclass
class _Pending:
    """A step whose SG target has not come back yet."""

    step: int
    act: torch.Tensor
    ctx: torch.Tensor | None
    pred: torch.Tensor
    version: int


def _dni_stage(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """One DNI stage. Per step: receive the input (stage 0: read the data), forward, send the
    output up, predict its gradient with the SG, back-propagate the prediction (divided by the
    batch, as the package does) into the stage's layers and step their optimiser: no wait
    for the stages above. The gradient at stage k+1's input, sent down whenever it is ready,
    is the target of stage k's SG: its gradient is ``(prediction - target) / batch`` on the
    stored activation and label of that step, recomputed if the SG has changed since.
    ``max_lag`` steps may wait for their target (0: ``dni_sync``)."""
    torch.set_num_threads(1)
    device = _device(config.backend, rank)
    max_lag = 0 if config.schedule == "dni_sync" else config.max_lag
    timeout = timedelta(seconds=config.timeout_s)
    net = _build_net(config, data)
    start, stop = split_blocks(config.n_blocks, n)[rank]
    blocks = net.blocks[start:stop].to(device)
    first, last = rank == 0, rank == n - 1
    opt = make_optimizer([{"params": list(blocks.parameters()), "lr": config.lr}])
    loss_fn = LOSSES[data.task]
    batches = _Batches(data, config.batch, config.seed, device)
    batch = batches.batch
    d_in = data.d_in if first else net.widths[start - 1]
    d_out = net.widths[stop - 1]
    log = _Log(config, rank, blocks, start)
    timer = _Timer(log)
    sends: deque[tuple[dist.Work, torch.Tensor]] = deque()

    def wait(work: dist.Work, what: str) -> None:
        try:
            ok = work.wait(timeout=timeout)
        except Exception as exc:  # gloo: timed out, or the peer closed the connection
            raise _PeerError(f"stage {rank} of {n}: {what} failed: {exc}") from exc
        if ok is False:
            raise _PeerError(f"stage {rank} of {n}: {what} timed out ({config.timeout_s} s)")

    def send(tensor: torch.Tensor, dst: int, tag: int) -> None:
        sends.append((dist.isend(tensor, dst, tag=tag), tensor))
        while sends and sends[0][0].is_completed():
            wait(sends.popleft()[0], f"send to stage {dst}")

    sg = sg_opt = None
    pending: deque[_Pending] = deque()
    version = received = 0
    grad_buf = grad_work = None
    if not last:
        sg = _build_sgs(config, data, net).sgs[rank].to(device)
        sg_lr = config.lr if config.sg_lr is None else config.sg_lr
        sg_opt = make_optimizer([{"params": list(sg.parameters()), "lr": sg_lr}])

    def post_target_recv() -> None:
        nonlocal grad_buf, grad_work
        grad_buf = torch.empty(1, batch, d_out, device=device)
        grad_work = dist.irecv(grad_buf, rank + 1, tag=_GRAD)

    def take_target(current: int) -> None:
        """Train the SG on the oldest unanswered step, once its target has arrived."""
        nonlocal version, received
        wait(grad_work, f"waiting for the SG target from stage {rank + 1}")
        with timer:
            p = pending.popleft()
            pred = p.pred if p.version == version else sg(p.act, p.ctx)
            sg_opt.zero_grad()
            pred.backward(pred.detach() / batch - grad_buf)
            sg_opt.step()
            version += 1
        log.staleness.append(current - p.step)
        received += 1
        if received < config.steps:
            post_target_recv()

    if not last:
        post_target_recv()
    blocks.train()
    dist.barrier()
    log.start()
    for step in range(1, config.steps + 1):
        log.maybe_fail(step)
        while pending and pending[0].step < step - max_lag:  # bound the lag
            take_target(step - 1)
        x, y = batches.next()
        if first:
            h = x
        else:
            h = torch.empty(1, batch, d_in, device=device)
            wait(dist.irecv(h, rank - 1, tag=_ACT), f"receiving step {step} from stage {rank - 1}")
            h.requires_grad_(True)
        with timer:
            out = h
            for block in blocks:
                out = block(out)
            opt.zero_grad()
            if last:
                loss = loss_fn(out, y)
                loss.sum().backward()
            else:
                act = out.detach()
                send(act, rank + 1, _ACT)
                ctx = data.context(y) if sg.conditioned else None
                pred = sg(act, ctx)
                out.backward(pred.detach() / batch)
                pending.append(_Pending(step, act, ctx, pred, version))
            if not first:
                send(h.grad, rank - 1, _GRAD)
            opt.step()
        if last:
            log.losses.append(loss.item())
        log.snapshot(step)
        while pending and grad_work.is_completed():  # targets that have arrived
            take_target(step)
    while pending:  # the last targets
        take_target(config.steps)
    while sends:
        wait(sends.popleft()[0], "a last send")
    if sg is not None:
        log.sg_state = {k: v.detach().to("cpu", copy=True) for k, v in sg.state_dict().items()}
    out = log.finish()
    dist.barrier()
    return out


_PROGRAMS: dict[str, Callable[[int, int, Config, Dataset], dict]] = {
    "backprop": _backprop_stage,
    "gpipe": _pipelined_stage,
    "1f1b": _pipelined_stage,
    "dni": _dni_stage,
    "dni_sync": _dni_stage,
}


# ---------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send(conn, message: tuple) -> None:
    """Plain pickle: multiprocessing's own would pass tensors as shared-memory handles that
    die with the child."""
    conn.send_bytes(pickle.dumps(message))


def _child(program, rank, n, init_method, config, packed, conn) -> None:
    """A stage process: run its program, send ("ok", payload) or ("error", kind, traceback)."""
    try:
        data = _unpack(packed)
        if n > 1:
            dist.init_process_group(
                config.backend,
                init_method=init_method,
                rank=rank,
                world_size=n,
                timeout=timedelta(seconds=config.timeout_s),
            )
        payload = program(rank, n, config, data)
        if n > 1:
            dist.destroy_process_group()
        _send(conn, ("ok", payload))
        conn.close()
    except BaseException as exc:
        _report(conn, exc)
    # The result is in the pipe: skip the interpreter's teardown (seconds with torch loaded).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _report(conn, exc: BaseException) -> None:
    """Send a stage's error to the parent and exit nonzero at once."""
    try:
        peer = isinstance(exc, _PeerError | dist.DistError) or any(
            s in str(exc) for s in ("Connection closed by peer", "Timed out", "Connection reset")
        )
        _send(conn, ("error", "peer" if peer else "raise", traceback.format_exc()))
        conn.close()
    finally:
        sys.stderr.flush()
        os._exit(1)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"exited with code {code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exited with code {code}"


def _stop(procs: Sequence[multiprocessing.Process]) -> None:
    """Terminate, then kill, every process still alive; join them all."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(5.0)


def _context() -> multiprocessing.context.BaseContext:
    """Stage processes are forked from multiprocessing's fork server, which has imported torch
    and this package once (a freshly spawned process spends seconds on those imports). The
    server is a fresh process that never ran an OpenMP region, so forking it is safe (forking
    the caller, which may have, is not). It lives as long as the calling process, like
    multiprocessing's resource tracker, and runs nothing itself."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["synthgrad.decoupled"])
    return ctx


def _spawn(program, n: int, config: Config, data: Dataset, label: str) -> list:
    """Run ``program`` in ``n`` new processes; return their payloads in rank order, or
    raise :class:`StageFailed` naming the stage as soon as one fails. A failure usually
    makes its neighbours fail too (their receives break): the stage that died or raised
    first and for its own reason is the one named."""
    ctx = _context()
    init_method = f"tcp://127.0.0.1:{_free_port()}"
    packed = _pack(data)
    procs, conns = [], []
    try:
        for rank in range(n):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_child,
                args=(program, rank, n, init_method, config, packed, send),
                name=f"synthgrad-{label}-{rank}",
                daemon=True,
            )
            p.start()
            send.close()
            procs.append(p)
            conns.append(recv)
        results: dict[int, object] = {}
        failures: list[tuple[int, int, str, str, int]] = []  # priority, rank, what, tb, code
        watching = {c: r for r, c in enumerate(conns)} | {
            p.sentinel: r for r, p in enumerate(procs)
        }
        grace = None
        while len(results) < n and watching:
            timeout = None if grace is None else max(0.0, grace - time.monotonic())
            ready = wait_for(list(watching), timeout)
            if not ready:
                break
            conns_first = sorted(ready, key=lambda o: o not in conns)
            for obj in conns_first:
                rank = watching.pop(obj, None)
                if rank is None:
                    continue
                if obj in conns:
                    try:
                        msg = pickle.loads(obj.recv_bytes())
                    except EOFError:
                        continue  # died without a word: its sentinel tells how
                    if msg[0] == "ok":
                        results[rank] = msg[1]
                    else:
                        failures.append((1 if msg[1] == "raise" else 2, rank, "failed", msg[2], 1))
                        watching = {o: r for o, r in watching.items() if r != rank}
                else:
                    procs[rank].join(5.0)
                    code = procs[rank].exitcode
                    if code != 0 and rank not in results:
                        failures.append((0, rank, _exit_text(code), "", code))
                        watching = {o: r for o, r in watching.items() if r != rank}
            if failures and grace is None:
                grace = time.monotonic() + 0.5  # let the cause's own report arrive
        if failures:
            _, rank, what, detail, code = min(failures, key=lambda f: (f[0], f[1]))
            others = sorted({f[1] for f in failures} - {rank})
            also = f" (then stage(s) {others} failed too)" if others else ""
            message = f"stage {rank} of {n} ({config.schedule}) {what}{also}"
            raise StageFailed(f"{message}:\n{detail}" if detail else message, rank, code)
        missing = sorted(set(range(n)) - set(results))
        if missing:
            raise StageFailed(
                f"stage {missing[0]} of {n} ({config.schedule}) exited without a result",
                missing[0],
            )
        for p in procs:  # they have sent their results and are exiting
            p.join(10.0)
        return [results[r] for r in range(n)]
    finally:
        _stop(procs)
        for c in conns:
            c.close()


def _under_torchrun() -> bool:
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def _torchrun(program, n: int, config: Config, data: Dataset) -> list | None:
    """This process is one rank of ``torchrun``: run its stage, gather the payloads on rank 0
    (through a gloo group, whatever the backend), return them there and None elsewhere."""
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    if world != n:
        raise ValueError(
            f"torchrun started {world} processes; schedule {config.schedule!r} with "
            f"K={config.K} needs {n}"
        )
    timeout = timedelta(seconds=config.timeout_s)
    dist.init_process_group(config.backend, timeout=timeout)
    try:
        payload = program(rank, n, config, data)
        group = None if config.backend == "gloo" else dist.new_group(backend="gloo")
        out = [None] * n if rank == 0 else None
        dist.gather_object(payload, out, dst=0, group=group)
        return out
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------- the public entry point


def run(config: Config, data: Dataset) -> Result | None:
    """Train ``config`` on ``data`` in ``config.processes`` processes and time it.

    Starts the processes (from a fork server: :func:`_context`; the one-process ``backprop``
    baseline runs in this process unless a ``fail_at`` test hook is set), watches them, raises
    :class:`StageFailed` within seconds if one fails; none outlives the call. Under
    ``torchrun`` (``RANK``, ``WORLD_SIZE``, ... in the environment) this process is one stage
    instead, and rank 0 returns the result (other ranks: None). The parent evaluates the
    parameter snapshots on the test split afterwards, off the clock."""
    if data.seeded:
        raise ValueError("a per-seed dataset has several draws; decoupled runs train one seed")
    if config.batch > data.n_train:
        raise ValueError(
            f"batch={config.batch} is larger than the {data.n_train} training examples"
        )
    program, n = _PROGRAMS[config.schedule], config.processes
    if _under_torchrun():
        outs = _torchrun(program, n, config, data)
        if outs is None:
            return None
    elif config.schedule == "backprop" and config.fail_at is None:
        outs = [_in_this_process(config, data)]
    else:
        outs = _spawn(program, n, config, data, config.schedule)
    return _assemble(config, data, outs)


def _in_this_process(config: Config, data: Dataset) -> dict:
    """The backprop baseline needs no second process (nor ``torch.distributed``): it runs
    here, on its own thread count, which is restored after (a process start, mostly importing
    torch, costs seconds)."""
    threads = torch.get_num_threads()
    try:
        return _backprop_stage(0, 1, config, data)
    except Exception as exc:
        raise StageFailed(f"stage 0 of 1 (backprop) failed: {exc!r}", 0) from exc
    finally:
        torch.set_num_threads(threads)


def _assemble(config: Config, data: Dataset, outs: list[dict]) -> Result:
    net = _build_net(config, data)
    losses = np.asarray(outs[-1]["losses"], dtype=float)
    rows, previous = [], 0
    for step in config.eval_steps:
        state, seconds = {}, 0.0
        for out in outs:
            t, part = out["snaps"][step]
            state.update(part)
            seconds = max(seconds, t)
        net.load_state_dict(state)
        values = {k: v.item() for k, v in evaluate(net, data, "test").items()}
        train_loss = float(losses[previous:step].mean()) if step > 0 else math.nan
        rows.append(dict(seconds=seconds, step=step, **values, train_loss=train_loss))
        previous = step
    seconds = max(out["seconds"] for out in outs)
    busy = np.array([out["busy"] for out in outs])
    snap = np.array([out["snapshot"] for out in outs])
    wait = np.array([out["seconds"] for out in outs]) - busy - snap
    return Result(
        config=config,
        seconds=seconds,
        examples_per_s=config.steps * min(config.batch, data.n_train) / seconds,
        busy_s=busy,
        wait_s=wait,
        snapshot_s=snap,
        staleness=[np.asarray(out["staleness"], dtype=int) for out in outs[:-1]]
        if config.schedule in ("dni", "dni_sync")
        else [],
        trace=pd.DataFrame(rows),
        losses=losses,
        net_state=net.state_dict(),
        sg_states=[out["sg_state"] for out in outs if out["sg_state"] is not None],
    )


# ---------------------------------------------------------------- the cost model


@dataclass
class Costs:
    """Measured seconds per block ``i`` of the network, at two batch sizes ``sizes`` (the
    minibatch and a smaller one, to model microbatches as ``a + b * size``), each table
    (n_blocks, 2): ``forward``, ``backward`` (the last block's include the loss; block 0
    computes no input gradient), ``sg_forward`` (an SG at the block's output predicts) and
    ``sg_backward`` (it is trained on a target); ``update`` and ``sg_update``: an Adam step
    on the block's, or its SG's, parameters, (n_blocks,). ``widths[i]`` is block i's output
    width. ``draw``: drawing one minibatch (``randperm`` and gathering it), which every stage
    does each step. Sending ``n`` float32 numbers one way costs ``latency_s + 4 n / bytes_per_s``
    (0 and inf when not measured)."""

    batch: int
    sizes: tuple[int, int]
    widths: list[int]
    forward: np.ndarray
    backward: np.ndarray
    sg_forward: np.ndarray
    sg_backward: np.ndarray
    update: np.ndarray
    sg_update: np.ndarray
    draw: float = 0.0
    latency_s: float = 0.0
    bytes_per_s: float = math.inf

    def at(self, table: np.ndarray, size: float) -> np.ndarray:
        """A (n_blocks, 2) table at batch ``size``: linear in the size through the two
        measurements (never below zero)."""
        (s1, s2), a, b = self.sizes, table[:, 0], table[:, 1]
        if s1 == s2:
            return a.copy()
        return np.maximum(0.0, b + (a - b) * (size - s2) / (s1 - s2))

    def comm(self, floats: float) -> float:
        """Seconds to send ``floats`` float32 numbers one way."""
        return self.latency_s + 4.0 * floats / self.bytes_per_s


def _median_time(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure_costs(
    config: Config, data: Dataset, reps: int = 20, small: int | None = None, comm: bool = True
) -> Costs:
    """Time every block of ``config``'s network on one thread, in this process (median of
    ``reps``, at ``config.batch`` and at ``small``, default batch/8), and, with ``comm``, the
    one-way time of a 1-float and a boundary-sized message between two stage processes on
    ``config.backend`` (a ping-pong; a few seconds, mostly process start). Measure a deep
    network once and :func:`predict` any ``K`` from its blocks."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        costs = _measure_blocks(config, data, reps, small)
    finally:
        torch.set_num_threads(threads)
    if comm:
        if config.n_blocks < 2:
            raise ValueError("communication is measured between two stages: need a hidden layer")
        floats = config.batch * max(config.widths)
        cfg = replace(config, schedule="gpipe", K=2, microbatches=1, steps=reps, fail_at=None)
        one_way = _spawn(_pingpong, 2, cfg, _tiny(data), "pingpong")[0]
        costs.latency_s = one_way["small"]
        extra = one_way["big"] - one_way["small"]  # (noise can make it <= 0: no bandwidth term)
        costs.bytes_per_s = 4.0 * (floats - 1) / extra if extra > 0 else math.inf
    return costs


def _tiny(data: Dataset) -> Dataset:
    """The dataset cut to one example of each split (the ping-pong needs no data)."""
    cut = {k: getattr(data, k)[:1] for k in ("x_train", "y_train", "x_test", "y_test")}
    return replace(data, **cut)


def _measure_blocks(config: Config, data: Dataset, reps: int, small: int | None) -> Costs:
    net = _build_net(config, data)
    batch = min(config.batch, data.n_train)
    sizes = (batch, max(1, batch // 8) if small is None else small)
    n = len(net.blocks)
    tables = {k: np.zeros((n, 2)) for k in ("forward", "backward", "sg_forward", "sg_backward")}
    update, sg_update = np.zeros(n), np.zeros(n)
    loss_fn = LOSSES[data.task]
    gens = generators([config.seed], stream=1)
    d_context = data.d_context if config.conditioned else 0
    for i, block in enumerate(net.blocks):
        d_in = data.d_in if i == 0 else net.widths[i - 1]
        width = net.widths[i]
        for j, b in enumerate(sizes):
            x = torch.randn(1, b, d_in, requires_grad=i > 0)
            y = data.y_train[:b].unsqueeze(0) if i == n - 1 else None

            def fwd(block=block, x=x, y=y):
                out = block(x)
                return loss_fn(out, y).sum() if y is not None else out

            tables["forward"][i, j] = _median_time(fwd, reps)
            out = fwd()
            g = None if y is not None else torch.randn_like(out)
            tables["backward"][i, j] = _median_time(
                lambda out=out, g=g: out.backward(g, retain_graph=True), reps
            )
            if i == n - 1:
                continue
            sg = SyntheticGradient(width, gens, d_context, config.sg_hidden)
            h, target = torch.randn(1, b, width), torch.randn(1, b, width)
            ctx = data.context(data.y_train[:b]).unsqueeze(0) if d_context else None
            tables["sg_forward"][i, j] = _median_time(lambda sg=sg, h=h, c=ctx: sg(h, c), reps)
            pred = sg(h, ctx)
            grad = pred.detach() / b - target
            tables["sg_backward"][i, j] = _median_time(
                lambda p=pred, g=grad: p.backward(g, retain_graph=True), reps
            )
            if j == 0:
                sg_opt = make_optimizer([{"params": list(sg.parameters()), "lr": 1e-4}])
                sg_update[i] = _median_time(sg_opt.step, reps)
        opt = make_optimizer([{"params": list(block.parameters()), "lr": 1e-4}])
        update[i] = _median_time(opt.step, reps)
    draw = _median_time(_Batches(data, batch, config.seed, torch.device("cpu")).next, reps)
    return Costs(batch, sizes, list(net.widths), update=update, sg_update=sg_update, draw=draw,
                 **tables)  # fmt: skip


def _pingpong(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """One-way time of a 1-float and a boundary-sized message (half the round trip)."""
    torch.set_num_threads(1)
    floats = config.batch * max(config.widths)
    out = {}
    for name, size in (("small", 1), ("big", floats)):
        buf = torch.zeros(size)

        def trip(buf=buf):
            if rank == 0:
                dist.send(buf, 1)
                dist.recv(buf, 1)
            else:
                dist.recv(buf, 0)
                dist.send(buf, 0)

        dist.barrier()
        out[name] = _median_time(trip, config.steps) / 2
    dist.barrier()
    return out


def predict(costs: Costs, K: int, schedule: str, microbatches: int = 1) -> float:
    """Predicted examples per second of ``schedule`` with the measured blocks split into
    ``K`` stages (:func:`split_blocks`), each stage on its own core. Every step also draws a
    minibatch (``draw``). Assumptions, per schedule:

    - ``backprop``: one process doing every block's forward, backward and update in turn;
      extra threads are assumed to give no speed-up (small layers): a lower bound;
    - ``gpipe``/``1f1b``: a step takes ``M + K - 1`` microbatch slots of the slowest stage
      (forward and backward at batch/M, plus its messages), then the slowest optimiser
      step: the pipeline bubble, the same for both schedules;
    - ``dni``: no bubble: a step takes the slowest stage's forward, backward, SG (predict,
      train), updates and messages; the stages run at that pace, independently;
    - ``dni_sync``: stage k also waits each step for stage k+1 to receive its output, forward
      and back-propagate its SG's prediction and send the gradient back, before it trains
      its own SG; the period is the longest such round trip or stage step.

    A stage's messages are its output sent up and its input gradient sent down, each costing
    the measured one-way time (on CPU, gloo's copies keep the core busy: no overlap)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if microbatches < 1:
        raise ValueError(f"microbatches must be >= 1, got {microbatches}")
    stages = split_blocks(len(costs.widths), K)
    batch = costs.batch
    f, b = costs.at(costs.forward, batch), costs.at(costs.backward, batch)
    if schedule == "backprop":
        return batch / float((f + b + costs.update).sum() + costs.draw)

    def per_stage(values: np.ndarray) -> np.ndarray:
        return np.array([values[a:z].sum() for a, z in stages])

    def messages(size: float) -> tuple[np.ndarray, np.ndarray]:
        """Per stage: the one-way time of its output (up), and of all its messages."""
        up = np.array([costs.comm(size * costs.widths[z - 1]) for _, z in stages])
        up[-1] = 0.0
        return up, up + np.concatenate([[0.0], up[:-1]])

    upd = per_stage(costs.update)
    if schedule in PIPELINED:
        mb = batch / microbatches
        slot = per_stage(costs.at(costs.forward, mb) + costs.at(costs.backward, mb))
        slot = slot + messages(mb)[1]
        return batch / float((microbatches + K - 1) * slot.max() + upd.max() + costs.draw)
    last = [z - 1 for _, z in stages]  # where each stage's SG sits (none on the last)
    sgf = costs.at(costs.sg_forward, batch)[last]
    sgb = costs.at(costs.sg_backward, batch)[last]
    sgu = costs.sg_update[last]
    sgf[-1] = sgb[-1] = sgu[-1] = 0.0
    fs, bs = per_stage(f), per_stage(b)
    up, comm = messages(batch)
    step = fs + bs + upd + sgf + sgb + sgu + comm + costs.draw
    if schedule == "dni":
        return batch / float(step.max())
    trips = [
        costs.draw
        + fs[k]
        + max(sgf[k] + bs[k] + upd[k], 2 * up[k] + fs[k + 1] + sgf[k + 1] + bs[k + 1])
        + sgb[k]
        + sgu[k]
        for k in range(K - 1)
    ]
    return batch / float(max(step.max(), *trips))
