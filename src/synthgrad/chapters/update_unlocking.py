"""Chapter 7: update unlocking, measured on a distributed runtime.

The schedules it compares (:func:`schedules`), the runs (:func:`identity_check`,
:func:`train_schedules`, :func:`cost_model`), what the claims read from them (:func:`measure`)
and :func:`finish`. The numbers the prose quotes (:func:`numbers`), the claims (:func:`claims`),
the measurements they read and the schedules' names on the page are in
:mod:`synthgrad.chapters.update_unlocking_claims`, imported here, so that the notebook, the
tests and the figures find them on this module. Its figures and tables are in
:mod:`synthgrad.chapters.update_unlocking_figures`. The runs measure wall-clock time: their
numbers vary from run to run; the decisions are tested on constructed timings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, chapters, decoupled, ledger, models, rules, train
from .. import params as P
from ..data import Dataset
from ..params import ParameterError
from . import Interface
from .update_unlocking_claims import (
    BP1,
    BP_DEVICE,
    CORES,
    DNI,
    IDENTITY,
    SYNC,
    CostModel,
    Identity,
    Measures,
    bp,
    claims,
    numbers,
)
from .update_unlocking_claims import model_band as model_band
from .update_unlocking_claims import model_check as model_check  # the figures' table
from .update_unlocking_claims import predicted_time as predicted_time
from .update_unlocking_claims import sooner as sooner
from .update_unlocking_claims import sooner_pipeline as sooner_pipeline


def _resolve(p: SimpleNamespace) -> None:
    """Chapter 7: every stage needs a block; GPipe and 1F1B need microbatches that divide the
    batch, 1F1B at least one per stage."""
    bad = []
    if p.K > p.depth + 1:
        bad.append(
            f"K = {p.K} stages for {p.depth} hidden layers + the output layer: at most {p.depth + 1}"
        )
    if p.batch_size % p.microbatches:
        bad.append(f"microbatches = {p.microbatches} does not divide batch_size = {p.batch_size}")
    if p.microbatches < p.K:
        bad.append(f"microbatches = {p.microbatches} < K = {p.K}: 1F1B needs one per stage")
    if bad:
        raise ParameterError("invalid parameter(s): " + "; ".join(bad))


INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 2, "K": 2, "width": 512, "depth": 4, "steps": 250,
        "batch_size": 256, "lr": 0.001, "microbatches": 4, "max_lag": 2, "target_acc": 0.9,
        "eval_every": 10, "timeout_s": 120.0, "scale": "small", "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 5), "K": P.integer(2, 16),
        "width": P.integer(1, 4096), "depth": P.integer(1, 32), "steps": P.integer(10),
        "batch_size": P.integer(1, 8000), "lr": P.positive(), "microbatches": P.integer(1, 64),
        "max_lag": P.integer(0, 100), "target_acc": P.number(0.1, 1, low_open=True),
        "eval_every": P.integer(1), "timeout_s": P.positive(),
        "scale": P.choice("small", "full"), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "K", "width", "depth", "steps", "batch_size", "lr",
            "microbatches", "max_lag", "target_acc", "eval_every", "scale", "predict_K",
            "predict_depth"),
    settings=dict(limit=None, predict_K=[1, 2, 4, 8, 16], predict_depth=15),
    quick=dict(steps=20, n_seeds=1, width=32, depth=3, eval_every=5, limit=1000,
               batch_size=64, microbatches=2, predict_K=[1, 2, 4], predict_depth=3),
    resolve=_resolve,
)  # fmt: skip

CLAIM_IDS = ("C7.1", "C7.2", "C7.3", "C7.4", "C7.5", "C7.1p", "C7.2p", "C7.3p",
             "C7.1p-95", "C7.2p-95", "C7.3p-95")  # fmt: skip  # -95: the first store grid's
IN_PART = ("C7.1", "C7.5", "C7.1p", "C7.1p-95")  # claims that can hold in part
# claims decided on seed-paired intervals (BOOK.md section 6)
PAIRED = ("C7.1", "C7.2", "C7.3", "C7.1p", "C7.2p", "C7.3p", "C7.1p-95", "C7.2p-95", "C7.3p-95")


def schedules(K: int) -> dict[str, dict[str, Any]]:
    """Every schedule of the chapter: name on the page -> its :class:`decoupled.Config` settings."""
    return {
        bp(K): dict(schedule="backprop"),
        BP1: dict(schedule="backprop", backprop_threads=1),
        "GPipe": dict(schedule="gpipe"),
        "1F1B": dict(schedule="1f1b"),
        DNI: dict(schedule="dni"),
        SYNC: dict(schedule="dni_sync"),
    }


def config(p: SimpleNamespace) -> decoupled.Config:
    """The chapter's network and training settings, shared by every schedule."""
    return decoupled.Config(
        hidden=(p.width,) * p.depth,
        K=p.K,
        steps=p.steps,
        batch_size=p.batch_size,
        lr=p.lr,
        microbatches=p.microbatches,
        max_lag=p.max_lag,
        eval_every=p.eval_every,
        timeout_s=p.timeout_s,
    )


def describe(mnist: Dataset, p: SimpleNamespace) -> str:
    """One line: the data, the network, its stages and this machine's cores."""
    stages = decoupled.split_blocks(config(p).n_blocks, p.K)
    return (
        f"MNIST ({mnist.description}): {len(mnist.x_train)} training, {len(mnist.x_test)} held-out "
        f"images; {p.depth} hidden layers of {p.width} ReLU units + the output layer, in {p.K} "
        f"stages (blocks {stages}); {p.steps} steps of batch {p.batch_size}, Adam {p.lr:g}; "
        f"seeds {p.seeds}; this machine has {CORES} cores"
    )


def largest_difference(expected: Mapping[str, Any], got: Mapping[str, Any]) -> float:
    """The largest absolute difference between two sets of tensors with the same names; NaN
    if any difference is NaN (Python's ``max`` would skip a NaN that is not first)."""
    return float(np.max([float((got[name] - v).abs().max()) for name, v in expected.items()]))


def identity_check(mnist: Dataset, p: SimpleNamespace) -> Identity:
    """Train a small network of ``K`` stages with synchronous DNI on separate processes, and
    with the package's SG rule (an SG after every stage but the last) in this process, on the
    same seed; compare every parameter of the network and of the SGs."""
    check = decoupled.Config(
        hidden=(IDENTITY["width"],) * max(3, p.K), K=p.K, schedule="dni_sync",
        steps=IDENTITY["steps"], batch_size=IDENTITY["batch"], lr=1e-3,
        eval_every=IDENTITY["eval_every"], seed=p.seed, timeout_s=p.timeout_s,
    )  # fmt: skip
    distributed = decoupled.run(check, mnist)
    single_net = models.mlp(mnist.d_in, check.hidden, mnist.d_out, [check.seed])
    single_rule = rules.make_rule(
        "sg", single_net, [check.seed], mnist.d_context, positions=decoupled.sg_positions(check)
    )
    train.train(
        single_net, single_rule, mnist, [check.seed], steps=check.steps, lr=check.lr,
        batch_size=check.batch_size, eval_every=check.eval_every, progress=False,
    )  # fmt: skip
    expected = dict(single_net.state_dict())
    got = dict(distributed.net_state)
    for k, (sg, state) in enumerate(zip(single_rule.sgs, distributed.sg_states, strict=True)):
        expected.update({f"sg{k}.{name}": v for name, v in sg.state_dict().items()})
        got.update({f"sg{k}.{name}": v for name, v in state.items()})
    return Identity(
        max_abs_difference=largest_difference(expected, got),
        tensors=len(expected),
        K=check.K,
        n_sgs=len(distributed.sg_states),
        steps=check.steps,
        n_hidden=len(check.hidden),
        width=IDENTITY["width"],
    )


Results = dict[tuple[str, int], decoupled.Result]


def train_schedules(mnist: Dataset, p: SimpleNamespace) -> Results:
    """Every schedule on every seed, keyed ``(name, seed)``; the runs alternate between the
    schedules (seed by seed), so that a slow spell of a shared machine does not fall on one."""
    base, results = config(p), {}
    for s in p.seeds:
        for name, cfg in schedules(p.K).items():
            results[name, s] = decoupled.run(replace(base, seed=s, **cfg), mnist)
    return results


def measure(results: Results, p: SimpleNamespace) -> Measures:
    """The per-seed measurements of every schedule (:class:`Measures`)."""
    names, index = list(schedules(p.K)), pd.Index(p.seeds, name="seed")

    def frame(value: Any) -> pd.DataFrame:
        return pd.DataFrame(
            {n: [value(results[n, s]) for s in p.seeds] for n in names}, index=index
        )

    stale = [np.concatenate(results[DNI, s].staleness) for s in p.seeds]  # every SG, per seed
    return Measures(
        speed=frame(lambda r: r.examples_per_s),
        reach_s=frame(lambda r: lost(r, r.seconds_to_accuracy(p.target_acc))),
        reach_steps=frame(lambda r: lost(r, r.steps_to_accuracy(p.target_acc))),
        final_acc=frame(lambda r: lost(r, np.mean(r.trace.test_acc.to_numpy()[-analysis.LAST :]))),
        end_s=frame(lambda r: float(r.trace.seconds.iloc[-1])),
        stale=np.concatenate(stale).astype(int),
        busy_share={n: [_busy(results[n, s]) for s in p.seeds] for n in names},
    )


def lost(r: decoupled.Result, value: float) -> float:
    """``value`` measured on a run, or NaN where the run diverged (an accuracy read from NaN
    outputs is finite, near chance: it must not count as a measurement)."""
    return float("nan") if r.diverged_at >= 0 else float(value)


def _busy(r: decoupled.Result) -> float:
    """The share of a run's processes' loop time spent computing."""
    return r.busy_s.sum() / (len(r.busy_s) * r.seconds)


def cost_model(mnist: Dataset, p: SimpleNamespace) -> CostModel:
    """Time every layer, SG and message of the chapter's network (and, on one thread, of a
    ``predict_depth``-layer one), predict from those (:func:`predictions`), and, on a machine
    with at least 4 cores, run GPipe and DNI at K = 4 to check the prediction there."""
    base = config(p)
    costs = decoupled.measure_costs(replace(base, schedule="dni"), mnist, reps=10)
    deep_net = replace(base, hidden=(p.width,) * p.predict_depth, schedule="dni")
    deep = decoupled.measure_costs(deep_net, mnist, reps=10, comm=False)
    deep.latency_s, deep.bytes_per_s = costs.latency_s, costs.bytes_per_s  # the link measured above
    return predictions(costs, deep, p, _check_k4(mnist, p, costs))


def predictions(
    costs: decoupled.Costs, deep: decoupled.Costs, p: SimpleNamespace, k4_text: str = ""
) -> CostModel:
    """The cost model's throughput at ``K`` for every schedule it covers (backprop with ``K``
    threads excepted: the model gives backprop one core), from the chapter's network's
    ``costs``; and for the deeper network (``deep``) at every ``predict_K`` it has the blocks
    for."""
    predicted = {
        name: decoupled.predict(
            costs, 1 if cfg["schedule"] == "backprop" else p.K, cfg["schedule"], p.microbatches
        )
        for name, cfg in schedules(p.K).items()
        if name != bp(p.K)
    }
    ks = [k for k in p.predict_K if k <= p.predict_depth + 1]
    curve = pd.DataFrame(
        {
            BP_DEVICE: [decoupled.predict(deep, 1, "backprop") for _ in ks],
            "GPipe": [decoupled.predict(deep, k, "gpipe", max(p.microbatches, k)) if k > 1 else np.nan for k in ks],
            DNI: [decoupled.predict(deep, k, "dni") if k > 1 else np.nan for k in ks],
        },
        index=pd.Index(ks, name="K"),
    )  # fmt: skip
    return CostModel(predicted, curve, k4_text)


def _check_k4(mnist: Dataset, p: SimpleNamespace, costs: decoupled.Costs) -> str:
    """GPipe and DNI measured and predicted at K = 4, where this machine has the cores."""
    base = config(p)
    if CORES >= 4 and p.K < 4 <= base.n_blocks and not p.quick:
        k4 = {n: decoupled.run(replace(base, K=4, microbatches=max(p.microbatches, 4), schedule=sch, steps=min(p.steps, 100)), mnist)
              for n, sch in (("GPipe", "gpipe"), (DNI, "dni"))}  # fmt: skip
        return "; ".join(
            f"{n}: measured {r.examples_per_s:.0f}, predicted "
            f"{decoupled.predict(costs, 4, r.schedule, r.config.microbatches):.0f} examples/s"
            for n, r in k4.items()
        )
    return (
        f"not run: this machine has {CORES} cores (four stages would share them); on a machine "
        "with at least 4 cores this cell runs it"
    )


def finish(
    p: SimpleNamespace,
    identity: Identity,
    m: Measures,
    model: CostModel,
    stored: Sequence[ledger.Claim] = (),
    stored_numbers: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers, and the store's verdicts of record and
    numbers (``stored``, ``stored_numbers``: :func:`.update_unlocking_store.claims`,
    :func:`.update_unlocking_store.numbers`), the ledger written and every number glued;
    returns the claims table."""
    n = numbers(p, identity, m, model)
    found = [*claims(p, identity, m, model, n), *stored]
    return chapters.finish(p, found, dict(stored_numbers or {}) | n)
