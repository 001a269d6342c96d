"""Chapter 8's curricula: Copy and Repeat Copy with a curriculum (the length grows once a
batch's error is below a threshold), trained by truncated BPTT, DNI, full BPTT or BP(lambda)
(:func:`copy_curriculum`, scored by :func:`longest_solved`); and as the results store keeps
runs (:func:`fit_copy`): one :class:`~synthgrad.train.History` for a curriculum on each of
several seeds, so that ``make paper`` makes, stores, spot-checks and hashes them like any run.

Per batch (a "step"): ``loss`` (the error in bits per sequence), ``n`` (the length being
learned), ``sg_loss`` and, for Repeat Copy, ``repeats``. Every ``eval_every`` batches and at the
end (an "evaluation"): ``solved``, the longest length solved so far (the score at the end;
NaN once the run has diverged), ``length`` (``n`` then), and the SG's cosine with the true future gradient
(``sg_cosine``, probed before that batch's update; NaN where there is no probe: no SG, the end,
or a sequence that fits one window). The score is read from the evaluations, which the store
keeps whole, and not from the per-batch metrics, which it thins in long runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from .bp_lambda import bp_lambda_sequence
from .data.sequences import bits_per_sequence, copy_task
from .recurrent import SG_METHODS, _trainer, sg_alignment, train_sequence
from .train import History

# truncated BPTT, DNI on the state, full BPTT (the reference), BP(lambda) (:mod:`.bp_lambda`)
METHODS = ("bptt", "dni", "full", "bp_lambda")
# the SG's output where injected, by default: DNI's scaled down (the chapter's, after the
# reimplementations), BP(lambda)'s unscaled (:mod:`.bp_lambda`)
SCALE = {"dni": 0.1, "bp_lambda": 1.0}


def next_length(n: int, error: float, threshold: float = 0.15) -> int:
    """The curriculum: one vector more once the error (bits per sequence) is below
    ``threshold`` (0.15 bits, the threshold the DNI reimplementations attribute to the paper)."""
    return n + 1 if error < threshold else n


def next_repeat(n: int, repeats: int, error: float, threshold: float = 0.15) -> tuple[int, int]:
    """Repeat Copy's curriculum, ``(n, repeats)`` starting at (1, 1): once a batch's error is
    below ``threshold``, one repeat more while the repeats are fewer than the vectors, else one
    vector more (neuralml/bp_lambda's rule; the DNI paper's own could not be read here)."""
    if not error < threshold:  # NaN included: a diverged batch never moves the curriculum on
        return n, repeats
    return (n, repeats + 1) if repeats < n else (n + 1, repeats)


def copy_curriculum(
    method: str,
    length: int,
    sequences: int,
    seed: int = 0,
    hidden: int = 256,
    batch: int = 256,
    lr: float = 1e-3,
    scale: float | None = None,
    sg_hidden: int = 0,
    threshold: float = 0.15,
    bits: int = 8,
    probe_every: int = 0,
    repeat: bool = False,
    lam: float = 1.0,
    gamma: float = 0.9,
) -> dict[str, list[float]]:
    """Train an LSTM on Copy (``repeat``: Repeat Copy, whose curriculum is :func:`next_repeat`
    and whose log also has ``repeats``) with the curriculum for ``sequences`` sequences in all (batches of
    ``batch``), by ``method`` with windows of ``length`` steps (``"full"``: no truncation), Adam
    at ``lr`` for the model and the SG. Returns per batch the task's length ``n`` and the error
    in bits per sequence (and the SG's mean regression loss where there is one); the score is
    :func:`longest_solved`. With an SG (DNI, BP(lambda)) and ``probe_every`` > 0, also every ``probe_every``
    batches (before that batch's updates) the SG's alignment with the true future gradient on
    the batch (:func:`sg_alignment`): ``probe_batch`` and ``sg_cosine``. ``"bp_lambda"``
    learns one step at a time, its SG from lambda-returns (``lam``, ``gamma``:
    :func:`synthgrad.bp_lambda.bp_lambda_sequence`), one update per batch; ``length`` is
    unused. ``scale``: the SG's output where injected (None: the method's :data:`SCALE`)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    scale = SCALE.get(method, 0.0) if scale is None else scale
    model, sg, step = _trainer(method, seed, (bits + 2, hidden, bits + 1), sg_hidden, lr)
    log: dict[str, list[float]] = {"n": [], "error": [], "sg_loss": [], "probe_batch": [],
                                   "sg_cosine": []} | ({"repeats": []} if repeat else {})  # fmt: skip
    n, repeats = 1, 1
    for k in range(max(1, sequences // batch)):
        task = copy_task(n, batch, repeats=repeats if repeat else None, bits=bits,
                         seed=seed * 1_000_003 + k)  # fmt: skip

        def loss(out: torch.Tensor, cut: slice, task=task) -> torch.Tensor:
            part = type(task)(task.xs[cut], task.ys[cut], task.mask[cut], task.scored)
            return bits_per_sequence(out, part)

        window = {"full": len(task.xs), "bp_lambda": 1}.get(method, length)
        if sg is not None and probe_every and k % probe_every == 0:
            log["probe_batch"].append(k)
            log["sg_cosine"].append(sg_alignment(model, sg, task.xs, loss, window))
        if method == "bp_lambda":
            got = bp_lambda_sequence(model, task.xs, loss, sg, lam, gamma, scale)
            step()
        else:
            got = train_sequence(model, task.xs, loss, window, step, sg=sg, scale=scale)
        error = float(got["loss"])
        log["n"].append(n)
        log["error"].append(error)
        log["sg_loss"].append(float(got["sg_loss"].mean()) if len(got["sg_loss"]) else float("nan"))
        if repeat:
            log["repeats"].append(repeats)
            n, repeats = next_repeat(n, repeats, error, threshold)
        else:
            n = next_length(n, error, threshold)
    return log


def longest_solved(log: dict[str, list[float]], threshold: float = 0.15) -> float:
    """The longest task length whose error fell below ``threshold`` in a curriculum's log
    (0: none; NaN: the run diverged, its error became NaN or inf, which counts against it).
    For Repeat Copy (a log with ``repeats``) a task's length is its output's, ``n`` vectors
    times ``repeats``."""
    if not all(math.isfinite(e) for e in log["error"]):
        return float("nan")
    lengths = (
        [n * r for n, r in zip(log["n"], log["repeats"], strict=True)]
        if "repeats" in log
        else log["n"]
    )
    solved = [n for n, e in zip(lengths, log["error"], strict=True) if e < threshold]
    return int(max(solved, default=0))


def fit_copy(
    seeds: Sequence[int],
    method: str,
    length: int,
    steps: int,
    lr: float,
    batch: int = 32,
    hidden: int = 128,
    bits: int = 4,
    threshold: float = 0.15,
    scale: float | None = None,
    sg_hidden: int = 0,
    eval_every: int = 100,
    repeat: bool = False,
    lam: float = 1.0,
    gamma: float = 0.9,
) -> History:
    """``steps`` batches of the curriculum on each of ``seeds`` (one after another, each on
    its own: curricula of different seeds part ways), as one History (the module's
    docstring)."""
    if steps < 1 or eval_every < 1:
        raise ValueError(f"need steps >= 1 and eval_every >= 1, got {steps}, {eval_every}")
    start = time.perf_counter()
    probe = eval_every if method in SG_METHODS else 0
    logs = [
        copy_curriculum(method, length, steps * batch, seed=s, hidden=hidden, batch=batch,
                        lr=lr, scale=scale, sg_hidden=sg_hidden, threshold=threshold,
                        bits=bits, probe_every=probe, repeat=repeat, lam=lam, gamma=gamma)
        for s in seeds
    ]  # fmt: skip
    return history(logs, seeds, eval_every, threshold, time.perf_counter() - start)


def history(
    logs: Sequence[dict[str, list[float]]],
    seeds: Sequence[int],
    eval_every: int,
    threshold: float,
    seconds: float = 0.0,
) -> History:
    """Curricula's logs (one per seed, the same number of batches) as one History."""
    steps = len(logs[0]["error"])
    keys = ["n", "sg_loss"] + (["repeats"] if "repeats" in logs[0] else [])
    per_batch = {"loss": np.array([g["error"] for g in logs], dtype=float).T}
    per_batch |= {k: np.array([g[k] for g in logs], dtype=float).T for k in keys}
    at = sorted({*range(eval_every, steps, eval_every), steps})
    evals: dict[str, list[list[float]]] = {"solved": [], "length": [], "sg_cosine": []}
    for e in at:
        evals["solved"].append([longest_solved(_upto(g, e), threshold) for g in logs])
        evals["length"].append([g["n"][e - 1] for g in logs])
        evals["sg_cosine"].append([_probe(g, e) for g in logs])
    diverged = [next((k + 1 for k, x in enumerate(g["error"]) if not math.isfinite(x)), -1)
                for g in logs]  # fmt: skip
    return History(
        seeds=list(seeds),
        steps=np.arange(1, steps + 1),
        train=per_batch,
        eval_steps=np.array(at),
        evals={k: np.array(v, dtype=float) for k, v in evals.items()},
        diverged_at=np.array(diverged),
        settings={"seconds": seconds},
    )


def _upto(log: dict[str, list[float]], batches: int) -> dict[str, list[float]]:
    return {k: v[:batches] for k, v in log.items() if k in ("n", "error", "repeats")}


def _probe(log: dict[str, list[float]], batches: int) -> float:
    """The SG's cosine probed after ``batches`` batches (before the next one), or NaN."""
    if batches in log["probe_batch"]:
        return float(log["sg_cosine"][log["probe_batch"].index(batches)])
    return float("nan")


def scores(h: History) -> np.ndarray:
    """Per seed, the longest length solved within the run (NaN: it diverged)."""
    return np.asarray(h.evals["solved"][-1], dtype=float)
