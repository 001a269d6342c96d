"""Chapter 7's configuration and results: what a timed run is (:class:`Config`), what it
returns (:class:`Result`), how the network is cut into stages (:func:`split_blocks`) and where
its SGs sit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..data import Dataset
from ..models import Net, mlp
from ..rules import SyntheticGradients

SCHEDULES = ("backprop", "gpipe", "1f1b", "dni", "dni_sync")
PIPELINED = ("gpipe", "1f1b")
ACT, GRAD = 0, 1  # message tags: activations go up, gradients come down


class StageFailed(RuntimeError):
    """A stage process raised or died; the message names the stage and what happened."""

    def __init__(self, message: str, stage: int, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.exitcode = exitcode


class PeerError(RuntimeError):
    """A receive or send failed or timed out: usually a neighbour that died (not the cause)."""


@dataclass
class Config:
    """One timed run. ``hidden`` are the hidden widths; the network has ``len(hidden) + 1``
    blocks (the last is the output layer), split into ``K`` stages by :func:`split_blocks`.

    ``lr`` is the model's Adam learning rate, ``sg_lr`` the SGs' (default ``lr``);
    ``microbatches`` applies to ``gpipe`` and ``1f1b`` only (it must divide ``batch_size``; 1F1B
    needs at least ``K``). ``eval_every``: parameters are copied for evaluation at step 0,
    every ``eval_every`` steps and at the last step. ``max_lag`` bounds how many steps a
    ``dni`` stage may run ahead of its oldest unanswered SG target (the staleness of its SG's
    targets is at most that: on a slow link every target is ``max_lag`` steps old, and a stale
    SG learns slower). ``timeout_s`` bounds every wait for a neighbour. ``backprop`` runs on
    ``backprop_threads`` torch threads (default ``K``: the same cores as the stages). ``sg_hidden`` (0: linear SG) and ``conditioned`` (cDNI: the SG also
    reads the one-hot label) choose the SG. ``fail_at=(stage, step, "kill"|"raise")`` is a
    test hook: that stage kills itself with SIGKILL or raises at the start of that step."""

    hidden: tuple[int, ...] = (256, 256, 256, 256)
    K: int = 2
    schedule: str = "dni"
    steps: int = 200
    batch_size: int = 128
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
        self.hidden = tuple(int(w) for w in self.hidden)
        if any(w < 1 for w in self.hidden):
            raise ValueError(f"hidden widths must be positive, got {self.hidden}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if self.K < 1:
            raise ValueError(f"K (the number of stages) must be >= 1, got {self.K}")
        if self.schedule != "backprop" and self.K < 2:
            raise ValueError(f"schedule {self.schedule!r} needs K >= 2 stages, got K={self.K}")
        if self.K > self.n_blocks:
            raise ValueError(
                f"K={self.K} stages but the network has only {self.n_blocks} blocks "
                f"({len(self.hidden)} hidden + output): every stage needs at least one block"
            )
        for name in ("steps", "batch_size", "microbatches", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or (self.sg_lr is not None and self.sg_lr <= 0):
            raise ValueError(f"learning rates must be > 0, got lr={self.lr}, sg_lr={self.sg_lr}")
        if self.schedule in PIPELINED:
            if self.batch_size % self.microbatches:
                raise ValueError(
                    f"microbatches={self.microbatches} does not divide batch_size={self.batch_size}"
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
        return len(self.hidden) + 1

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

    def seconds_to_accuracy(self, accuracy: float) -> float:
        """Wall-clock seconds until the held-out accuracy first reached ``accuracy`` (at the
        evaluation steps; ``inf`` if it never did)."""
        hit = self.trace[self.trace.test_acc >= accuracy]
        return float(hit.seconds.iloc[0]) if len(hit) else math.inf

    def steps_to_accuracy(self, accuracy: float) -> float:
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


def build_net(config: Config, data: Dataset) -> Net:
    return mlp(data.d_in, config.hidden, data.d_out, [config.seed], batch_norm=config.batch_norm)


def build_sgs(config: Config, data: Dataset, net: Net) -> SyntheticGradients:
    """The package's SG rule at :func:`sg_positions`: stage k's SG is ``.sgs[k]``, initialised
    exactly as in a single-process run (same generator, same order)."""
    d_context = data.d_context if config.conditioned else 0
    return SyntheticGradients(net, sg_positions(config), [config.seed], d_context, config.sg_hidden)
