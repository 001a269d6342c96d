"""The chapters: one module per chapter of the book, the top layer of the package.

``book/NN_name.ipynb`` has its module ``synthgrad.chapters.name`` (``01_primer`` ->
:mod:`synthgrad.chapters.primer`): its parameter interface (``INTERFACE``), the runs it
trains, one function per figure or table, the numbers its prose quotes and its claims, each
decided by a tested function. A newcomer who wants to change a chapter opens those two files.

A chapter's first code cell is ``p = chapters.setup("01_primer", globals())``: it checks every
parameter against the chapter's specs (one :class:`~synthgrad.params.ParameterError` naming each
bad value, before any work), applies the quick smoke-run settings, and returns the values the
chapter then uses, as ``p.steps``, ``p.seeds``, ... Its last is ``chapters.finish(p, claims,
numbers)`` (through the chapter module): the ledger records ``p`` as it ran (:func:`recorded`),
so no chapter types its parameters twice.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

import pandas as pd
import torch

from .. import ledger, plots
from .. import params as P

QUICK_NOTE = "**Quick run** (smoke test): the numbers below are no evidence."

MNIST_QUICK = dict(steps=30, n_seeds=2, eval_every=10, limit=1000)

NAMES = (
    "01_primer",
    "02_critical_points",
    "03_convergence",
    "04_implied_loss",
    "05_representations",
    "06_unified_view",
    "07_update_unlocking",
    "08_in_time",
)


@dataclass(frozen=True)
class Interface:
    """One chapter's parameters: what each allows (``specs``, whose descriptions the notebook's
    parameters cell quotes) and its default (``defaults``, the values of that cell: both
    tested), the settings it fixes that are not parameters (``settings``), what ``quick=True``
    overrides, what its ledger records (in that order), and a ``resolve`` step for checks and
    defaults that involve several values."""

    specs: dict[str, P.Spec]
    record: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    resolve: Callable[[SimpleNamespace], None] | None = None


def module(chapter: str) -> ModuleType:
    """The chapter's module: ``"05_representations"`` -> :mod:`synthgrad.chapters.representations`."""
    if chapter not in NAMES:
        raise KeyError(f"no chapter {chapter!r}: the chapters are {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{chapter[3:]}")


def interface(chapter: str) -> Interface:
    """The chapter's parameter interface (its module's ``INTERFACE``)."""
    return module(chapter).INTERFACE


def setup(chapter: str, values: Mapping[str, Any]) -> SimpleNamespace:
    """Check a chapter's parameters (pass ``globals()``) and return the values it runs with:
    the parameters, its fixed settings, the quick smoke-run overrides when ``quick`` is True,
    and ``seeds`` (``seed, seed + 1, ...``). Raises one ParameterError naming every bad value.
    Also sets the book's figure theme and, for a quick run, says on the page that its numbers
    are no evidence and trains on one torch thread."""
    spec = interface(chapter)
    p = SimpleNamespace(**P.validate(values, spec.specs), **spec.settings)
    p.chapter = chapter
    if p.quick:
        for name, value in spec.quick.items():
            setattr(p, name, value)
        # a smoke run's models are tiny: a second thread adds synchronisation, not speed
        torch.set_num_threads(1)
    if spec.resolve is not None:
        spec.resolve(p)
    if hasattr(p, "n_seeds"):
        p.seeds = list(range(p.seed, p.seed + p.n_seeds))
    plots.set_theme()
    if p.quick:
        from IPython.display import Markdown, display  # (the notebook's; the store needs none)

        display(Markdown(QUICK_NOTE))
    return p


def recorded(chapter: str, p: SimpleNamespace) -> dict[str, Any]:
    """The values a chapter's ledger records, in the chapter's order."""
    return {name: getattr(p, name) for name in interface(chapter).record}


def finish(
    p: SimpleNamespace, claims: Sequence[ledger.Claim], numbers: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """End a chapter: write its ledger with the parameters it ran with (``p`` from
    :func:`setup`), glue ``numbers`` (the values its prose quotes) and each verdict, and return
    the claims table to show (:func:`synthgrad.ledger.finish`)."""
    return ledger.finish(p.chapter, claims, recorded(p.chapter, p), p.quick, numbers)
