"""Why asynchronous DNI stalls on some seeds of chapter 7's registered grids: a diagnosis.

The grids' asynchronous DNI never reaches the target on seeds 3 and 4, where synchronous DNI,
the same code with no lag, trains well; a rerun gives the same numbers (the schedule is
deterministic on two cores). This reruns both DNI schedules at the grid of record's settings
(:func:`.update_unlocking_store.fit_settings`, its budget) and probes each run's final state
(:func:`probe`): the SG's prediction against the true gradient at the cut, the size of the
activations it is fed, the ReLU units that no image of a fixed sample turns on, and how the
training loss moved. ``make stall-probe`` writes ``store/07_stall/probe.json`` with its
provenance (about 7 minutes on this project's CPU); the chapter reads it (:func:`read`) and
puts what it shows in words (:func:`text`). A diagnosis, not a verdict: no claim reads it.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import making, store
from ..data import Dataset, mnist
from ..decoupled import launch
from ..decoupled.config import Config, Result, build_net, build_sgs, sg_positions
from ..losses import LOSSES
from . import update_unlocking as uu
from . import update_unlocking_store as timed

FILE = "07_stall/probe.json"  # under the store's root
SCHEDULES = {uu.DNI: "dni", uu.SYNC: "dni_sync"}  # name on the page -> schedule
SAMPLE = 2048  # training images the final state is probed on (the first ones)
WINDOW = 100  # steps per mean of the training loss


def probe(config: Config, result: Result, data: Dataset, n: int = SAMPLE) -> dict[str, Any]:
    """The final state of a DNI run, on the first ``n`` training images: at the first cut
    (stage 0's SG), the cosine between the SG's prediction and the true gradient (over the
    whole sample, and the median per image), the prediction's norm over the true one's, and
    the activations' mean norm per image; per hidden layer, the share of ReLU units no image
    turns on; the training loss's :data:`WINDOW`-step means; the last evaluations' accuracy."""
    if not result.sg_states:
        raise ValueError(f"a {config.schedule} run has no SG to probe: only DNI schedules do")
    net = build_net(config, data)
    net.load_state_dict(result.net_state)
    sgs = build_sgs(config, data, net)
    sgs.sgs[0].load_state_dict(result.sg_states[0])
    cut = sg_positions(config)[0]
    x, y = data.x_train[:n].unsqueeze(0), data.y_train[:n].unsqueeze(0)
    h, act, dead = x, None, []
    for i, block in enumerate(net.blocks):
        h = block(h)
        if i == cut:
            h.retain_grad()
            act = h
        if i < len(net.blocks) - 1:  # a hidden layer: Linear then ReLU
            dead.append(float((h.detach() <= 0).all(dim=1).float().mean()))
    LOSSES[data.task](h, y).sum().backward()
    if act is None or act.grad is None:
        raise ValueError(f"no gradient at the cut (block {cut}): is the run a DNI schedule?")
    true = act.grad.detach()[0]  # the gradient of the batch-mean loss, per image
    sg = sgs.sgs[0]
    ctx = data.context(y) if sg.conditioned else None
    with torch.no_grad():
        pred = sg(act.detach(), ctx)[0] / n  # the stage scales its prediction by its batch
    cos = torch.nn.functional.cosine_similarity
    losses = np.asarray(result.losses, dtype=float)
    return {
        "cosine": float(cos(pred.flatten(), true.flatten(), dim=0)),
        "cosine_per_image": float(cos(pred, true, dim=1).median()),
        "norm_ratio": float(pred.norm() / true.norm()),
        "act_norm": float(act.detach()[0].norm(dim=1).mean()),
        "dead": dead,
        "loss_means": [float(losses[i : i + WINDOW].mean()) for i in range(0, len(losses), WINDOW)],
        "final_acc": float(result.trace.test_acc.iloc[-timed.LAST :].mean()),
    }


def make(root: Path | None = None) -> Path:
    """Rerun both DNI schedules on the grid of record's seeds and budget, one run at a time,
    probe each and write :data:`FILE` with its provenance. Refuses while that grid's budget
    is not fixed (its pilot not made)."""
    fixed = timed.long_pilot_budget(root)
    if fixed is None:
        raise RuntimeError("the grid of record's budget is not fixed: make its pilot first")
    data = _data()
    runs: dict[str, dict[str, Any]] = {}
    for name, schedule in SCHEDULES.items():
        for seed in timed.SEEDS:
            settings = timed.fit_settings({"schedule": schedule}, (seed,), fixed[1])
            settings.pop("seeds")
            config = Config(hidden=tuple(settings.pop("hidden")), seed=seed, **settings)
            result = launch.run(config, data)
            if result is None:
                raise RuntimeError("the probe runs its stages itself, not under torchrun")
            runs[f"{name}/{seed}"] = probe(config, result, data)
    path = (root or store.store_dir()) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "what": "asynchronous and synchronous DNI rerun at the grid of record's settings "
        f"({fixed[1]:,} steps), each final state probed on {SAMPLE:,} training images",
        "provenance": {
            "commit": store.commit(),
            "device": making.cpu_name(),
            "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "steps": fixed[1],
        "runs": runs,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def _data() -> Dataset:
    """The grids' data: full MNIST scored on the test images, as their runs load it
    (``Task("mnist", ..., {"scale": "full-test"})``)."""
    return mnist("full-test")


def read(root: Path | None = None) -> dict[str, Any] | None:
    """The probe's record, or None where it is not made."""
    path = (root or store.store_dir()) / FILE
    return json.loads(path.read_text()) if path.exists() else None


def table(record: dict[str, Any]) -> pd.DataFrame:
    """Per run (schedule and seed): the final accuracy, the activations' norm at the cut, the
    SG's cosine with the true gradient and its norm ratio, the dead share of each hidden
    layer, and the largest rise of the training loss between two windows (and where)."""
    rows = {}
    for label, r in record["runs"].items():
        rise, at = _rise(r["loss_means"])
        rows[label] = {
            "final accuracy": r["final_acc"],
            "activation norm at the cut": r["act_norm"],
            "SG cosine": r["cosine"],
            "SG norm / true norm": r["norm_ratio"],
            **{f"dead units, layer {i + 1}": d for i, d in enumerate(r["dead"])},
            "largest loss rise": rise,
            "rise ends at step": at,
        }
    return pd.DataFrame(rows).T


def _rise(means: list[float]) -> tuple[float, int]:
    """The largest increase of the loss's window means from one window to the next, and the
    step that window ends at (0 and 0: it never rose)."""
    steps = np.diff(np.asarray(means, dtype=float))
    if steps.size == 0 or steps.max() <= 0:
        return 0.0, 0
    i = int(steps.argmax())
    return float(steps[i]), (i + 2) * WINDOW


def text(record: dict[str, Any] | None, stalled: list[int] | None) -> str:
    """What the probe shows, in words: the asynchronous runs on the ``stalled`` seeds (those
    that never reached the grid's target) against the other asynchronous seeds and the
    synchronous runs on the stalled ones."""
    if record is None:
        return ("the probe is not in the store here (`make stall-probe` makes it), so the "
                "stall is not diagnosed on this page")  # fmt: skip
    if stalled is None:
        return ("the grid of record is not read here (not made, or stale), so the seeds that "
                "stalled are not known and the probe is not read against them")  # fmt: skip
    t = table(record)
    if not stalled:
        return "asynchronous DNI stalled on no seed of the grid of record: nothing to diagnose"
    runs = set(t.index)
    bad = [f"{uu.DNI}/{s}" for s in stalled if f"{uu.DNI}/{s}" in runs]
    good = [i for i in t.index if i.startswith(f"{uu.DNI}/") and i not in bad]
    sync = [f"{uu.SYNC}/{s}" for s in stalled if f"{uu.SYNC}/{s}" in runs]
    if not bad or not good or not sync:
        return (
            "the probe does not hold the runs this needs (stalled and other seeds, both schedules)"
        )
    cut = cut_layer()

    def span(rows: list[str], column: str, fmt: str) -> str:
        lo, hi = t.loc[rows, column].min(), t.loc[rows, column].max()
        return f"{lo:{fmt}} to {hi:{fmt}}" if f"{lo:{fmt}}" != f"{hi:{fmt}}" else f"{lo:{fmt}}"

    dead, above = f"dead units, layer {cut}", f"dead units, layer {cut + 1}"
    cosine = t["SG cosine"]
    agree = "less" if cosine[bad].max() < cosine[good + sync].min() else "no less"
    return (
        f"on the stalled seeds ({', '.join(map(str, stalled))}), the activations the SG is fed at "
        f"the cut end with a mean norm of {span(bad, 'activation norm at the cut', '.0f')} per "
        f"image, against {span(good, 'activation norm at the cut', '.0f')} on the other seeds "
        f"and {span(sync, 'activation norm at the cut', '.0f')} for synchronous DNI on the "
        f"stalled seeds; {span(bad, dead, '.0%')} of the units of hidden layer {cut} (the "
        f"cut's) are on for no image of the sample, against {span(good, dead, '.0%')} and "
        f"{span(sync, dead, '.0%')}, and {span(bad, above, '.0%')} of hidden layer {cut + 1}'s "
        f"(the first above it), against {span(good, above, '.0%')} and "
        f"{span(sync, above, '.0%')}; and the SG's prediction there agrees {agree} with the true "
        f"gradient (cosine {span(bad, 'SG cosine', '.2f')}, against "
        f"{span(good, 'SG cosine', '.2f')} and {span(sync, 'SG cosine', '.2f')}) and is "
        f"{span(bad, 'SG norm / true norm', '.1f')} times its size (against "
        f"{span(good, 'SG norm / true norm', '.1f')} and {span(sync, 'SG norm / true norm', '.1f')}). "
        f"The training loss's {WINDOW}-step mean rose by up to "
        f"{span(bad, 'largest loss rise', '.2f')} nats in those runs (a window ending at step "
        f"{span(bad, 'rise ends at step', '.0f')} of {record['steps']:,}), against at most "
        f"{t.loc[good + sync, 'largest loss rise'].max():.2f} in the others"
    )


def stalled(t: timed.Timed | None) -> list[int] | None:
    """The grid's seeds on which asynchronous DNI never reached the target (not lost: a seed
    that diverged is not a stall); None where the grid is not read."""
    if t is None:
        return None
    return [int(s) for s in t.reach_s.index[np.isinf(t.reach_s[uu.DNI].to_numpy())]]


def rerun_gap(record: dict[str, Any] | None, t: timed.Timed | None) -> float:
    """The largest difference, in percentage points, between a rerun's final accuracy and the
    grid's stored one for the same schedule and seed (NaN: nothing to compare)."""
    if record is None or t is None:
        return float("nan")
    gaps = [
        abs(r["final_acc"] - float(t.final_acc.loc[int(seed), name]))
        for label, r in record["runs"].items()
        for name, seed in [label.rsplit("/", 1)]
        if name in t.final_acc.columns and int(seed) in t.final_acc.index
    ]
    return 100 * max(gaps) if gaps else float("nan")


TOLERANCE = 0.1  # percentage points: a rerun further than this from its stored run is not it


def numbers(record: dict[str, Any] | None, t: timed.Timed | None) -> dict[str, Any]:
    """What the chapter's prose quotes from the probe: how closely the reruns give the stored
    accuracies again, and its words, refused where the probe does not describe the stored runs
    (another budget, or reruns further than :data:`TOLERANCE` from them)."""
    gap = rerun_gap(record, t)
    if record is None or t is None:
        same = "The reruns are not compared with the stored runs here"
    elif record["steps"] != t.steps:
        same = f"The probe ran {record['steps']:,} steps and the grid {t.steps:,}: it does not describe the grid"
    elif not gap <= TOLERANCE:
        same = f"The reruns' final accuracies are {gap:.2f} points from the stored ones: the probe does not describe the grid"
    else:
        same = f"The reruns' final accuracies differ from the stored ones by at most {gap:.2f} percentage points"
    apart = (
        record is not None
        and t is not None
        and not same.startswith("The reruns' final accuracies differ")
    )
    words = (
        "not read here, the probe not describing the grid" if apart else text(record, stalled(t))
    )
    return {"stall_probe": words, "stall_rerun": same, "stall_rerun_gap": gap,
            "stall_sample": f"{SAMPLE:,}", "stall_window": WINDOW}  # fmt: skip


def cut_layer() -> int:
    """The hidden layer (1-based) at the grid's cut: the last of stage 0's blocks."""
    config = Config(hidden=(timed.WIDTH,) * timed.DEPTH, K=timed.K)
    return sg_positions(config)[0] + 1


if __name__ == "__main__":
    print(make())
