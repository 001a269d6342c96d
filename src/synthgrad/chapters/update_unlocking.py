"""Chapter 7: update unlocking, measured on a distributed runtime.

The schedules it compares (:func:`schedules`), the runs (:func:`identity_check`,
:func:`train_schedules`, :func:`cost_model`), what the claims read from them (:func:`measure`),
the numbers the prose quotes (:func:`numbers`) and the claims (:func:`claims`). Its figures and
tables are in :mod:`synthgrad.chapters.update_unlocking_figures`. The runs measure wall-clock
time: their numbers vary from run to run; the decisions are tested on constructed timings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import chapters, decoupled, ledger, models, rules, train
from .. import params as P
from ..data import Dataset
from ..params import ParameterError
from . import Interface


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

CORES = os.cpu_count() or 1  # this machine's cores: the stages of a run share them
# the schedules compared (backprop on K threads: see :func:`bp`): name on the page -> settings
BP1, DNI, SYNC = "backprop, 1 thread", "DNI (asynchronous)", "DNI, synchronous"
PIPELINES = ("GPipe", "1F1B")
CLAIM_IDS = ("C7.1", "C7.2", "C7.3", "C7.4", "C7.5")
IN_PART = ("C7.1", "C7.5")  # claims that can hold in part
IDENTITY = dict(width=32, steps=6, batch=32, eval_every=3)  # the network of section (a)


def bp(K: int) -> str:
    """The name of the backprop baseline with the stages' cores: one process on ``K`` threads."""
    return f"backprop, {K} threads"


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
        widths=(p.width,) * p.depth,
        K=p.K,
        steps=p.steps,
        batch=p.batch_size,
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


@dataclass
class Identity:
    """Section (a): synchronous DNI on ``K`` processes against the single-process SG rule,
    ``n_hidden`` layers of ``width`` for ``steps`` steps; the largest absolute difference of
    any of ``tensors`` parameter tensors (network and ``n_sgs`` SGs)."""

    max_abs_difference: float
    tensors: int = 0
    K: int = 2
    n_sgs: int = 1
    steps: int = IDENTITY["steps"]
    n_hidden: int = 3
    width: int = IDENTITY["width"]

    def __str__(self) -> str:
        return (
            f"{self.tensors} parameter tensors ({self.K} stages, {self.n_sgs} SGs, "
            f"{self.steps} steps): largest absolute difference {self.max_abs_difference:.1e}"
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
        widths=(IDENTITY["width"],) * max(3, p.K), K=p.K, schedule="dni_sync",
        steps=IDENTITY["steps"], batch=IDENTITY["batch"], lr=1e-3,
        eval_every=IDENTITY["eval_every"], seed=p.seed, timeout_s=p.timeout_s,
    )  # fmt: skip
    distributed = decoupled.run(check, mnist)
    single_net = models.mlp(mnist.d_in, check.widths, mnist.d_out, [check.seed])
    single_rule = rules.make_rule(
        "sg", single_net, [check.seed], mnist.d_context, positions=decoupled.sg_positions(check)
    )
    train.train(
        single_net, single_rule, mnist, [check.seed], steps=check.steps, lr=check.lr,
        batch_size=check.batch, eval_every=check.eval_every, progress=False,
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
        n_hidden=len(check.widths),
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


@dataclass
class Measures:
    """What the numbers and claims read from the runs. The frames have a row per seed and a
    column per schedule: ``speed`` (examples per second), ``reach_s`` and ``reach_steps``
    (seconds and steps to the target accuracy, inf: never), ``final_acc`` (held-out accuracy
    after the last step). ``stale``: every asynchronous SG update's staleness, every seed;
    ``busy_share``: per schedule and seed, the share of its processes' loop time spent
    computing; ``cores``: this machine's."""

    speed: pd.DataFrame
    reach_s: pd.DataFrame
    reach_steps: pd.DataFrame
    final_acc: pd.DataFrame
    stale: np.ndarray
    busy_share: dict[str, list[float]]
    cores: int = CORES


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
        reach_s=frame(lambda r: r.time_to(p.target_acc)),
        reach_steps=frame(lambda r: r.steps_to(p.target_acc)),
        final_acc=frame(lambda r: r.trace.test_acc.iloc[-1]),
        stale=np.concatenate(stale).astype(int),
        busy_share={n: [_busy(results[n, s]) for s in p.seeds] for n in names},
    )


def _busy(r: decoupled.Result) -> float:
    """The share of a run's processes' loop time spent computing."""
    return r.busy_s.sum() / (len(r.busy_s) * r.seconds)


@dataclass
class CostModel:
    """Section (e): the cost model's ``predicted`` examples per second at ``K`` (per schedule it
    covers), its ``curve`` for a deeper network (a row per ``K``, NaN where a schedule needs
    more stages) and the check at four stages (``k4_text``)."""

    predicted: dict[str, float]
    curve: pd.DataFrame
    k4_text: str = ""


def cost_model(mnist: Dataset, p: SimpleNamespace) -> CostModel:
    """Time every layer, SG and message of the chapter's network (and, on one thread, of a
    ``predict_depth``-layer one), predict from those (:func:`predictions`), and, on a machine
    with at least 4 cores, run GPipe and DNI at K = 4 to check the prediction there."""
    base = config(p)
    costs = decoupled.measure_costs(replace(base, schedule="dni"), mnist, reps=10)
    deep_net = replace(base, widths=(p.width,) * p.predict_depth, schedule="dni")
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
            "backprop, 1 device": [decoupled.predict(deep, 1, "backprop") for _ in ks],
            "GPipe": [decoupled.predict(deep, k, "gpipe", max(p.microbatches, k)) if k > 1 else np.nan for k in ks],
            "DNI (asynchronous)": [decoupled.predict(deep, k, "dni") if k > 1 else np.nan for k in ks],
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


def model_check(speed: pd.DataFrame, predicted: Mapping[str, float]) -> pd.DataFrame:
    """Per schedule the model covers: measured (mean over seeds) and predicted examples per
    second, and their ratio."""
    rows = [
        {
            "schedule": name,
            "measured": speed[name].mean(),
            "predicted": value,
            "predicted / measured": value / speed[name].mean(),
        }
        for name, value in predicted.items()
    ]
    return pd.DataFrame(rows).set_index("schedule")


def numbers(
    p: SimpleNamespace, identity: Identity, m: Measures, model: CostModel
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes."""
    BP = bp(p.K)
    speed, reach_s, reach_steps, final_acc = m.speed, m.reach_s, m.reach_steps, m.final_acc
    stale = m.stale
    ratio = reach_s[DNI] / reach_s[BP]  # per seed, < 1: DNI got there sooner
    ratio_1 = reach_s[DNI] / reach_s[BP1]
    pipelines = speed[["GPipe", "1F1B"]].max(axis=1)
    model_ratio = model_check(speed, model.predicted)["predicted / measured"]
    stale_cost = final_acc[SYNC] - final_acc[DNI]  # per seed: what the asynchronous run lost
    curve = model.curve
    return {
        "identity_diff": identity.max_abs_difference,
        "cores": m.cores,
        "speed_bp": float(speed[BP].mean()),
        "speed_bp1": float(speed[BP1].mean()),
        "speed_gpipe": float(speed["GPipe"].mean()),
        "speed_1f1b": float(speed["1F1B"].mean()),
        "speed_dni": float(speed[DNI].mean()),
        "speed_sync": float(speed[SYNC].mean()),
        "ratio_min": float(ratio.min()),
        "ratio_max": float(ratio.max()),
        "ratio1_min": float(ratio_1.min()),
        "ratio1_max": float(ratio_1.max()),
        "dni_over_pipelines": float((speed[DNI] / pipelines).mean()),
        "stale_median": float(np.median(stale)),
        "stale_max": int(stale.max()),
        "stale_cost_min": 100 * float(stale_cost.min()),
        "stale_cost_max": 100 * float(stale_cost.max()),
        "acc_dni": float(final_acc[DNI].mean()),
        "acc_sync": float(final_acc[SYNC].mean()),
        "acc_bp": float(final_acc[BP].mean()),
        "model_min": float(model_ratio.min()),
        "model_max": float(model_ratio.max()),
        "dni_busy_share": float(np.mean(m.busy_share[DNI])),
        "gpipe_busy_share": float(np.mean(m.busy_share["GPipe"])),
        "predict_depth": p.predict_depth,
        "pred_k": int(max(curve.index)),
        "pred_dni_over_bp": float(curve["DNI (asynchronous)"].iloc[-1] / curve["backprop, 1 device"].iloc[-1]),
        "pred_gpipe_over_bp": float(curve["GPipe"].iloc[-1] / curve["backprop, 1 device"].iloc[-1]),
        "k4_text": model.k4_text,
        "t_dni": float(np.median(reach_s[DNI])),
        "t_bp": float(np.median(reach_s[BP])),
        "t_pipe": float(min(np.median(reach_s["GPipe"]), np.median(reach_s["1F1B"]))),
        "steps_dni": float(np.median(reach_steps[DNI])),
        "steps_bp": float(np.median(reach_steps[BP])),
    }  # fmt: skip


def claims(
    p: SimpleNamespace, identity: Identity, m: Measures, model: CostModel
) -> list[ledger.Claim]:
    """The chapter's claims from the identity check, the per-seed measurements of every
    schedule and the cost model's predictions. A NaN or inf timing or accuracy of any seed
    counts against the claim it enters."""
    BP = bp(p.K)
    n = numbers(p, identity, m, model)
    speed, reach_s, final_acc = m.speed, m.reach_s, m.final_acc
    ratio = reach_s[DNI] / reach_s[BP]  # per seed, < 1: DNI got there sooner
    ratio_1 = reach_s[DNI] / reach_s[BP1]
    pipelines = speed[["GPipe", "1F1B"]].max(axis=1)
    stale_cost = final_acc[SYNC] - final_acc[DNI]
    model_ratio = model_check(speed, model.predicted)["predicted / measured"]
    in_range = {  # a NaN or inf speed of any seed fails its schedule (the mean would skip it)
        name: ledger.every(speed[name], bool(0.75 <= r <= 1.25)) for name, r in model_ratio.items()
    }
    scale_here = (
        f"book run: MNIST {p.scale}, {p.depth} x {p.width}, K = {p.K} processes on {m.cores} cores, "
        f"{p.steps} steps of {p.batch_size}, {p.n_seeds} seeds"
    )
    return [
        ledger.Claim(
            "C7.1",
            "Update-unlocked training (DNI) reaches a given accuracy sooner in wall-clock time than backprop in one process with the same cores.",
            f"per seed, wall-clock seconds until the held-out accuracy reaches {p.target_acc:.0%}: DNI (asynchronous, K = {p.K} processes) against backprop in one process on {p.K} threads, and against backprop on 1 thread (one device's worth)",
            f"DNI sooner than backprop on {p.K} threads on every seed",
            ledger.judge(  # in part: sooner than backprop on one thread only
                {f"{p.K} threads": ratio < 1}, also={"1 thread": ratio_1 < 1},
                regime="time ratio DNI / backprop {lo:.2f} to {hi:.2f} over seeds ({K} threads), {lo1:.2f} to {hi1:.2f} against one thread",
                lo=n["ratio_min"], hi=n["ratio_max"], K=p.K, lo1=n["ratio1_min"], hi1=n["ratio1_max"],
            ),
            {"seconds_dni": reach_s[DNI], "seconds_backprop": reach_s[BP], "seconds_backprop_1_thread": reach_s[BP1], "ratio": ratio, "ratio_1_thread": ratio_1},
            source="DNI paper",
            scale=scale_here,
        ),
        ledger.Claim(
            "C7.2",
            "DNI trains faster than pipelined backprop (GPipe, 1F1B) with the same stages.",
            "per seed, training examples per second: DNI (asynchronous) against the faster of GPipe and 1F1B",
            "higher for DNI on every seed",
            ledger.judge(
                ledger.every(speed[[DNI, *PIPELINES]], speed[DNI] > pipelines),
                regime="examples per second, DNI / best pipeline {ratio:.2f} (mean); seconds to {target:.0%}: DNI {dni:.1f}, GPipe {gpipe:.1f}, 1F1B {f1b:.1f} (median seed)",
                ratio=n["dni_over_pipelines"], target=p.target_acc, dni=np.median(reach_s[DNI]),
                gpipe=np.median(reach_s["GPipe"]), f1b=np.median(reach_s["1F1B"]),
            ),
            {"dni": speed[DNI], "gpipe": speed["GPipe"], "1f1b": speed["1F1B"]},
            source="this book",
            scale=scale_here,
        ),
        ledger.Claim(
            "C7.3",
            "Stale SG targets cost little: after the same number of steps, asynchronous DNI is within 1 percentage point of synchronous DNI.",
            f"per seed, final held-out accuracy after {p.steps} steps: synchronous minus asynchronous DNI (max_lag {p.max_lag})",
            "at most 1 percentage point on every seed",
            ledger.judge(
                ledger.every(stale_cost, stale_cost <= 0.01),
                regime="asynchronous DNI {lo:+.1f} to {hi:+.1f} points behind; median staleness {median:.0f} steps",
                lo=n["stale_cost_min"], hi=n["stale_cost_max"], median=n["stale_median"],
            ),
            {"sync": final_acc[SYNC], "async": final_acc[DNI], "staleness_counts": np.bincount(m.stale, minlength=p.max_lag + 1)},
            source="this book",
            scale=scale_here,
        ),
        ledger.Claim(
            "C7.4",
            "Synchronous DNI on separate processes computes the package's single-process SG rule.",
            f"largest absolute difference of every network and SG parameter after {identity.steps} steps, {identity.K} processes against one process",
            "at most 1e-5",
            ledger.judge(bool(identity.max_abs_difference <= 1e-5)),
            {"max_abs_difference": identity.max_abs_difference},
            source="this book",
            kind="identity check",
            scale=f"book run: MNIST {p.scale}, {identity.n_hidden} x {identity.width}, K = {identity.K}, {identity.steps} steps, 1 seed",
        ),
        ledger.Claim(
            "C7.5",
            "The cost model (per-layer compute and message times) predicts the measured throughput.",
            f"predicted / measured examples per second at K = {p.K}, for every schedule it covers",
            "between 0.75 and 1.25 for every schedule",
            ledger.judge(
                in_range,
                regime="predicted / measured {lo:.2f} to {hi:.2f}",
                lo=n["model_min"], hi=n["model_max"],
            ),
            {"ratio": model_ratio.to_dict()},
            source="this book",
            scale=scale_here,
        ),
    ]  # fmt: skip


def finish(p: SimpleNamespace, identity: Identity, m: Measures, model: CostModel) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers, the ledger written and every number
    glued; returns the claims table."""
    return chapters.finish(p, claims(p, identity, m, model), numbers(p, identity, m, model))
