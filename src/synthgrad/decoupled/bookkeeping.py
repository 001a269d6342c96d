"""What every stage keeps: its data (packed for the child process), its minibatches, its log
and its clock."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..data import Dataset
from ..models import generators
from .config import Config


def pack(data: Dataset) -> dict:
    """A dataset as numpy arrays, pickled to the stage processes (no shared-memory tensors)."""
    out = {k: getattr(data, k) for k in ("name", "task", "n_classes", "description")}
    out.update({k: getattr(data, k).numpy() for k in ("x_train", "y_train", "x_test", "y_test")})
    return out


def unpack(packed: dict) -> Dataset:
    arrays = {k: torch.from_numpy(v) for k, v in packed.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in packed.items() if not isinstance(v, np.ndarray)}
    return Dataset(**rest, **arrays)


class Batches:
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


class Log:
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


class Timer:
    """``with timer:`` adds the block's duration to ``log.busy``."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.log.busy += time.perf_counter() - self.t


def stage_device(backend: str, rank: int) -> torch.device:
    if backend == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    return torch.device("cpu")
