"""Each chapter's public interface: what its papermill parameters allow, what ``quick=True``
changes, and what its claims ledger records.

A chapter's first code cell is ``p = chapters.setup("01_primer", globals())``: it checks every
parameter against the chapter's specs (one :class:`~synthgrad.params.ParameterError` naming each
bad value, before any work), applies the quick smoke-run settings, and returns the values the
chapter then uses, as ``p.steps``, ``p.seeds``, ... The ledger records ``p`` as it ran
(:func:`recorded`), so no chapter types its parameters twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from IPython.display import Markdown, display

from . import params as P
from . import plots
from .params import ParameterError

QUICK_NOTE = "**Quick run** (smoke test): the numbers below are no evidence."

MNIST_QUICK = dict(steps=30, n_seeds=2, eval_every=10, limit=1000)


@dataclass(frozen=True)
class Interface:
    """One chapter's parameters (``specs``), the settings it fixes that are not parameters
    (``settings``), what ``quick=True`` overrides, what its ledger records (in that order), and
    a ``resolve`` step for checks and defaults that involve several values."""

    specs: dict[str, P.Spec]
    record: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    resolve: Callable[[SimpleNamespace], None] | None = None


def _representations(p: SimpleNamespace) -> None:
    """Chapter 5: a GPU that exists, the depths as a sorted list, the RDM depth one of them
    (the deepest by default)."""
    if p.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ParameterError(
                "invalid parameter(s): device = 'cuda' is not allowed: torch sees no CUDA GPU "
                "on this machine"
            )
    p.depths = sorted(P.as_ints(p.depths))
    if p.rdm_depth is not None and p.rdm_depth not in p.depths:
        raise ParameterError(
            f"invalid parameter(s): rdm_depth = {p.rdm_depth!r} is not allowed: must be one of "
            f"depths {p.depths} (or None)"
        )
    p.rdm_depth = p.rdm_depth or max(p.depths)


def _unlocking(p: SimpleNamespace) -> None:
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


CHAPTERS: dict[str, Interface] = {
    "01_primer": Interface(
        specs={
            "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(1),
            "batch_size": P.integer(1, 60000), "lr": P.positive(),
            "sg_lr": P.positive(optional=True), "width": P.integer(1), "depth": P.integer(2, 50),
            "sg_hidden": P.integer(0), "scale": P.choice("small", "full"),
            "eval_every": P.integer(1), "quick": P.flag(),
        },
        record=("seed", "n_seeds", "steps", "batch_size", "lr", "sg_lr", "width", "depth",
                "sg_hidden", "scale", "eval_every"),
        settings=dict(limit=None, widget_steps=150, live_steps=150),
        quick=dict(MNIST_QUICK, widget_steps=30, live_steps=10),
    ),
    "02_critical_points": Interface(
        specs={
            "seed": P.integer(0), "n_seeds": P.integer(1, 20), "n_points": P.integer(50, 20000),
            "anisotropy": P.number(0, 1, low_open=True), "flip": P.number(0.01, 0.45),
            "noise": P.number(0, 2, low_open=True), "steps": P.integer(1),
            "lr": P.number(0, 1, low_open=True), "sg_lr": P.positive(optional=True),
            "grid_size": P.integer(2, 15), "mlp_hidden": P.integer(1),
            "max_width": P.integer(4, 4096), "quick": P.flag(),
        },
        record=("seed", "n_seeds", "n_points", "anisotropy", "flip", "noise", "steps", "lr",
                "sg_lr", "grid_size", "mlp_hidden", "max_width"),
        quick=dict(steps=150, grid_size=3, n_seeds=2, max_width=16, n_points=200, mlp_hidden=8),
    ),
    "03_convergence": Interface(
        specs={
            "seed": P.integer(0), "n_seeds": P.integer(1, 20), "n_points": P.integer(500, 20000),
            "steps": P.integer(1), "lr": P.number(0, 1, low_open=True),
            "sg_lr": P.positive(optional=True), "depth": P.integer(2, 50), "width": P.integer(1),
            "sgd_lr": P.number(0, 10, low_open=True), "sgd_steps": P.integer(1),
            "quick": P.flag(),
        },
        record=("seed", "n_seeds", "n_points", "steps", "lr", "sg_lr", "depth", "width",
                "sgd_lr", "sgd_steps", "errors", "phase_lrs", "widget_steps"),
        settings=dict(
            errors=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0],
            phase_lrs=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
            widget_steps=1500,
        ),
        quick=dict(steps=60, sgd_steps=60, n_seeds=2, depth=4, width=4, errors=[0.0, 0.5, 1.5],
                   phase_lrs=[0.01, 1.0, 3.0], widget_steps=30),
    ),
    "04_implied_loss": Interface(
        specs={
            "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(1),
            "lr": P.positive(), "width": P.integer(1), "depth": P.integer(2, 20),
            "sg_hidden": P.integer(0), "scale": P.choice("small", "full"),
            "probe": P.integer(1, 2000), "radius": P.number(0, 5, low_open=True),
            "n_dirs": P.integer(1, 16), "eval_every": P.integer(1), "quick": P.flag(),
        },
        record=("seed", "n_seeds", "steps", "lr", "width", "depth", "sg_hidden", "scale",
                "probe", "radius", "n_dirs", "eval_every"),
        settings=dict(limit=None, live_steps=300),
        quick=dict(steps=40, n_seeds=2, eval_every=10, limit=1000, probe=64, live_steps=20),
    ),
    "05_representations": Interface(
        specs={
            "seed": P.integer(0), "n_seeds": P.integer(1, 20),
            "depths": P.ints(3, 50, max_len=8), "width": P.integer(2),
            "activation": P.choice("relu", "tanh"), "steps": P.integer(30),
            "batch_size": P.integer(1, 60000), "lr": P.positive(), "sg_hidden": P.integer(0),
            "conditioned": P.flag(), "loss_threshold": P.positive(),
            "rdm_depth": P.integer(3, 50, optional=True), "rdm_per_class": P.integer(1, 100),
            "widget": P.flag(), "device": P.choice("cpu", "cuda"),
            "scale": P.choice("small", "full"), "eval_every": P.integer(1),
            "wide_width": P.integer(2), "wide_depth": P.integer(3, 50),
            "wide_steps": P.integer(30), "quick": P.flag(),
        },
        record=("seed", "n_seeds", "depths", "width", "activation", "steps", "batch_size", "lr",
                "sg_hidden", "conditioned", "loss_threshold", "rdm_depth", "rdm_per_class",
                "widget", "scale", "eval_every", "device", "wide_width", "wide_depth",
                "wide_steps"),
        settings=dict(limit=None, widget_steps=300, live_steps=200),
        quick=dict(MNIST_QUICK, depths=[3, 4], rdm_depth=None, widget_steps=30, live_steps=10,
                   wide_width=16, wide_depth=3, wide_steps=30),
        resolve=_representations,
    ),
    "06_unified_view": Interface(
        specs={
            "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(2),
            "batch_size": P.integer(1, 60000), "lr": P.positive(), "width": P.integer(2),
            "depth": P.integer(3, 20), "align_examples": P.integer(1, 8000),
            "scale": P.choice("small", "full"), "eval_every": P.integer(1), "quick": P.flag(),
        },
        record=("seed", "n_seeds", "steps", "batch_size", "lr", "width", "depth",
                "align_examples", "scale", "eval_every"),
        settings=dict(limit=None, widget_steps=300, live_steps=200),
        quick=dict(MNIST_QUICK, widget_steps=30, live_steps=10),
    ),
    "07_update_unlocking": Interface(
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
        resolve=_unlocking,
    ),
}  # fmt: skip


def setup(chapter: str, values: Mapping[str, Any]) -> SimpleNamespace:
    """Check a chapter's parameters (pass ``globals()``) and return the values it runs with:
    the parameters, its fixed settings, the quick smoke-run overrides when ``quick`` is True,
    and ``seeds`` (``seed, seed + 1, ...``). Raises one ParameterError naming every bad value.
    Also sets the book's figure theme and, for a quick run, says on the page that its numbers
    are no evidence."""
    interface = CHAPTERS[chapter]
    p = SimpleNamespace(**P.validate(values, interface.specs), **interface.settings)
    if p.quick:
        for name, value in interface.quick.items():
            setattr(p, name, value)
    if interface.resolve is not None:
        interface.resolve(p)
    if hasattr(p, "n_seeds"):
        p.seeds = list(range(p.seed, p.seed + p.n_seeds))
    plots.set_theme()
    if p.quick:
        display(Markdown(QUICK_NOTE))
    return p


def recorded(chapter: str, p: SimpleNamespace) -> dict[str, Any]:
    """The values a chapter's ledger records, in the chapter's order."""
    return {name: getattr(p, name) for name in CHAPTERS[chapter].record}
