"""The public entry point: :func:`run` one configuration on its stages and assemble the
stages' logs into a :class:`Result`; :func:`fit_schedule`, the same over seeds as the results
store's runner."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data import Dataset
from ..train import History, evaluate
from .config import Config, Result, StageFailed, build_net
from .processes import spawn, torchrun, under_torchrun
from .stages import PROGRAMS, backprop_stage


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
    if config.batch_size > data.n_train:
        raise ValueError(
            f"batch_size={config.batch_size} is larger than the {data.n_train} training examples"
        )
    program, n = PROGRAMS[config.schedule], config.processes
    if under_torchrun():
        outs = torchrun(program, n, config, data)
        if outs is None:
            return None
    elif config.schedule == "backprop" and config.fail_at is None:
        outs = [_in_this_process(config, data)]
    else:
        outs = spawn(program, n, config, data, config.schedule)
    return assemble(config, data, outs)


def _in_this_process(config: Config, data: Dataset) -> dict:
    """The backprop baseline needs no second process (nor ``torch.distributed``): it runs
    here, on its own thread count, which is restored after (a process start, mostly importing
    torch, costs seconds)."""
    threads = torch.get_num_threads()
    try:
        return backprop_stage(0, 1, config, data)
    except Exception as exc:
        raise StageFailed(f"stage 0 of 1 (backprop) failed: {exc!r}", 0) from exc
    finally:
        torch.set_num_threads(threads)


def assemble(config: Config, data: Dataset, outs: list[dict]) -> Result:
    net = build_net(config, data)
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
        examples_per_s=config.steps * min(config.batch_size, data.n_train) / seconds,
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


def fit_schedule(
    data: Dataset, seeds: Sequence[int], hidden: Sequence[int], **settings: Any
) -> History:
    """The results store's runner for timed runs (``runner="schedules"``): the
    :class:`Config` of ``hidden`` and ``settings`` on each of ``seeds``, one after another,
    as one History: per step the training loss; per evaluation the held-out accuracy and loss
    and ``seconds``, the wall-clock time at which every stage had finished that step (the
    evaluation is off the clock). A diverged seed is marked, not raised. Its numbers are
    times: the store makes such runs one at a time with nothing else on the machine
    (:data:`synthgrad.making.EXCLUSIVE_RUNNERS`)."""
    start = time.perf_counter()
    results = []
    for seed in seeds:
        result = run(Config(hidden=tuple(hidden), seed=seed, **settings), data)
        if result is None:
            raise RuntimeError("fit_schedule runs its stages itself, not under torchrun")
        results.append(result)
    config = results[0].config
    return History(
        seeds=list(seeds),
        steps=np.arange(1, config.steps + 1),
        train={"loss": np.array([r.losses for r in results], dtype=float).T},
        eval_steps=np.array(config.eval_steps),
        evals={
            name: np.array([r.trace[name].to_numpy() for r in results], dtype=float).T
            for name in ("test_acc", "test_loss", "seconds")
        },  # fmt: skip
        diverged_at=np.array([r.diverged_at for r in results]),
        settings={"seconds": time.perf_counter() - start},
    )
