"""The cost model: per-block timings (:func:`measure_costs`) and the throughput they predict
for other numbers of stages (:func:`predict`); the timings kept as a stored run of the results
store (:func:`fit_costs`, read back by :func:`stored_costs`), so that a prediction and the runs
it is checked against are measured on one machine."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..data import Dataset
from ..losses import LOSSES
from ..models import generators
from ..sg import SyntheticGradient
from ..train import History, make_optimizer
from .bookkeeping import Batches
from .config import PIPELINED, SCHEDULES, Config, build_net, split_blocks
from .processes import spawn


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
    ``reps``, at ``config.batch_size`` and at ``small``, default batch/8), and, with ``comm``, the
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
        floats = config.batch_size * max(config.hidden)
        cfg = replace(config, schedule="gpipe", K=2, microbatches=1, steps=reps, fail_at=None)
        one_way = spawn(_pingpong, 2, cfg, _tiny(data), "pingpong")[0]
        costs.latency_s = one_way["small"]
        extra = one_way["big"] - one_way["small"]  # (noise can make it <= 0: no bandwidth term)
        costs.bytes_per_s = 4.0 * (floats - 1) / extra if extra > 0 else math.inf
    return costs


def _tiny(data: Dataset) -> Dataset:
    """The dataset cut to one example of each split (the ping-pong needs no data)."""
    cut = {k: getattr(data, k)[:1] for k in ("x_train", "y_train", "x_test", "y_test")}
    return replace(data, **cut)


def _measure_blocks(config: Config, data: Dataset, reps: int, small: int | None) -> Costs:
    net = build_net(config, data)
    batch = min(config.batch_size, data.n_train)
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
    draw = _median_time(Batches(data, batch, config.seed, torch.device("cpu")).next, reps)
    return Costs(batch, sizes, list(net.widths), update=update, sg_update=sg_update, draw=draw,
                 **tables)  # fmt: skip


def _pingpong(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """One-way time of a 1-float and a boundary-sized message (half the round trip)."""
    torch.set_num_threads(1)
    floats = config.batch_size * max(config.hidden)
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


TABLES = ("forward", "backward", "sg_forward", "sg_backward")  # (n_blocks, 2) each


def fit_costs(
    data: Dataset, seeds: Sequence[int], hidden: Sequence[int], steps: int, **settings: Any
) -> History:
    """The results store's runner for the cost model's inputs (``runner="costs"``):
    :func:`measure_costs` of the :class:`Config` of ``hidden`` and ``settings`` (one seed, the
    network's initialisation) on this machine, each time the median of ``steps`` timings, as a
    History with a "step" per block: its output ``width`` and its seconds (``seconds_<table>``
    at the minibatch and ``seconds_<table>_small`` at the smaller size for each of
    :data:`TABLES`, ``seconds_update``, ``seconds_sg_update``); at step 0 the two sizes
    (``batch``, ``batch_small``), ``seconds_draw``, ``seconds_latency`` and
    ``seconds_per_byte`` (0: no bandwidth term). Its numbers are times: the store makes such
    runs one at a time with nothing else on the machine. :func:`stored_costs` reads it back."""
    start = time.perf_counter()
    if len(seeds) != 1:
        raise ValueError(f"the costs runner times one network: give one seed, got {list(seeds)}")
    config = Config(hidden=tuple(hidden), seed=seeds[0], steps=steps, **settings)
    costs = measure_costs(config, data, reps=steps)
    train = {"width": np.array(costs.widths, dtype=float)}
    for name in TABLES:
        train[f"seconds_{name}"], train[f"seconds_{name}_small"] = getattr(costs, name).T
    train.update(seconds_update=costs.update, seconds_sg_update=costs.sg_update)
    at_start = {
        "batch": costs.sizes[0],
        "batch_small": costs.sizes[1],
        "seconds_draw": costs.draw,
        "seconds_latency": costs.latency_s,
        "seconds_per_byte": 0.0 if math.isinf(costs.bytes_per_s) else 1.0 / costs.bytes_per_s,
    }
    return History(
        seeds=list(seeds),
        steps=np.arange(1, len(costs.widths) + 1),
        train={k: np.asarray(v, dtype=float).reshape(-1, 1) for k, v in train.items()},
        eval_steps=np.array([0]),
        evals={k: np.array([[float(v)]]) for k, v in at_start.items()},
        diverged_at=np.array([-1]),
        settings={"seconds": time.perf_counter() - start},
    )


def stored_costs(history: History) -> Costs:
    """The :class:`Costs` a run of :func:`fit_costs` recorded."""
    train, first = history.train, {k: float(v[0, 0]) for k, v in history.evals.items()}
    tables = {
        name: np.stack([train[f"seconds_{name}"][:, 0], train[f"seconds_{name}_small"][:, 0]], 1)
        for name in TABLES
    }
    per_byte = first["seconds_per_byte"]
    return Costs(
        batch=int(first["batch"]),
        sizes=(int(first["batch"]), int(first["batch_small"])),
        widths=[int(w) for w in train["width"][:, 0]],
        update=train["seconds_update"][:, 0].copy(),
        sg_update=train["seconds_sg_update"][:, 0].copy(),
        draw=first["seconds_draw"],
        latency_s=first["seconds_latency"],
        bytes_per_s=math.inf if per_byte == 0 else 1.0 / per_byte,
        **tables,
    )
