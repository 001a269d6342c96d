"""Chapter 7: update unlocking, measured on a distributed runtime."""

from __future__ import annotations

from types import SimpleNamespace

from .. import params as P
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
