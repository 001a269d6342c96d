"""Chapter 3's claims on shallow models at eight seeds, registered before any run
(``03_eight_seeds``, its plan :func:`plan_text` in ``store/03_eight_seeds/PLAN.md``).

The chapter's default run has three seeds, which its time budget affords; BOOK.md section 6 asks
for eight where seeds are batched and cheap, and says that where the book's run cannot afford
them the store decides and the book's verdict is the small version. This grid makes C3.2, C3.4,
C3.5 and C3.6's runs at the chapter's settings on eight seeds (:mod:`synthgrad.shallow` and the
``convergence`` runner); :func:`measure` reduces them to what the chapter's rules decide on
(:class:`~synthgrad.chapters.convergence_shallow.Shallow`), giving C3.2p and C3.4p-C3.6p.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .. import convergence as cv
from .. import shallow, store
from ..train import History
from . import convergence as chapter
from .convergence_shallow import DIMS, TRACKING_MODES, Shallow

NAME = "03_eight_seeds"
PLAN_FILE = f"{NAME}/PLAN.md"  # under the store's root
SEEDS = list(range(8))
P = {**chapter.INTERFACE.defaults, **chapter.INTERFACE.settings}  # the chapter's, but the seeds
EVAL_EVERY = chapter.eval_every(SimpleNamespace(**P))  # as the chapter's Adam runs
LOGISTIC = ("backprop", "linear SG", "loss-matched SG")


def _problem(loss: str, d: int) -> dict:
    return {"loss": loss, "d": d, "n": P["n_points"], "seed": SEEDS}


def _tasks() -> dict[str, store.Task]:
    """The grid's runs by label: logistic regression (``logistic/<dim>/<method>``), the update
    errors of (b) (``tracking/<mode>/<error>``) and the cells of (c)'s phase diagram
    (``phase/<model lr>/<SG lr>``)."""
    adam = {"seeds": SEEDS, "steps": P["steps"], "lr": P["lr"], "eval_every": EVAL_EVERY}
    runs = {}
    for d in DIMS:
        for method in LOGISTIC:
            if method == "linear SG":  # also its distance to the SG's exact fixed point
                fit = {"section": "fixed point", **adam}
                runs[f"logistic/{d}/{method}"] = store.Task(
                    "problem", fit, _problem("log", d), runner="shallow"
                )
            else:
                fit = {"method": method, "depth": 0, "width": P["width"], **adam}
                runs[f"logistic/{d}/{method}"] = store.Task(
                    "problem", fit, _problem("log", d), runner="convergence")  # fmt: skip
    # (b) and (c): a run per error size and per cell (the chapter trains them side by side as
    # blocks of one run, which gives each the numbers of a run of its own: tested)
    gd = {"seeds": SEEDS, "steps": P["sgd_steps"]}
    for mode in TRACKING_MODES:
        for e in P["errors"]:
            fit = {"section": "tracking", **gd, "errors": [e], "mode": mode, "lr": P["sgd_lr"]}
            runs[f"tracking/{mode}/{e:g}"] = store.Task(
                "problem", fit, _problem("mse", 2), runner="shallow")  # fmt: skip
    for m, s in shallow.phase_cells(P["phase_lrs"]):
        fit = {"section": "phase", **gd, "cells": [[m, s]], "width": P["width"]}
        runs[f"phase/{m:g}/{s:g}"] = store.Task(
            "problem", fit, _problem("mse", 2), runner="shallow")  # fmt: skip
    return runs


def plan_text() -> str:
    """The registered plan: ``store/03_eight_seeds/PLAN.md`` must hold exactly this."""
    return (
        "# Registered plan: chapter 3's claims on shallow models at eight seeds\n\n"
        "- **Question**: C3.2, C3.4, C3.5 and C3.6 at eight seeds. The chapter's default run has "
        "three, which is what its time budget affords; where the book's run cannot afford the "
        "seeds, the store decides (BOOK.md section 6) and the book's verdict is the small "
        "version.\n"
        f"- **Settings**: the chapter's defaults, every one: {P['n_points']} examples per draw, "
        f"one draw per seed; Adam at {P['lr']:g} for {P['steps']:,} full-batch steps (evaluated "
        f"every {EVAL_EVERY}); gradient descent at {P['sgd_lr']:g} for {P['sgd_steps']:,} steps "
        "in (b); a linear SG of the chapter's form.\n"
        f"- **Seeds**: {SEEDS[0]}-{SEEDS[-1]} (the chapter's default run uses 0-2).\n"
        "- **Runs**: logistic regression in 2-D and 100-D with backprop, the linear SG (also "
        "recording its distance to the exact fixed point of SG learning, Newton's method in "
        "float64) and the loss-matched SG; linear regression (2-D) by gradient descent with "
        f"updates of relative error {', '.join(map(str, P['errors']))}, of each kind "
        f"({', '.join(TRACKING_MODES)}); the phase diagram over model and SG learning rates "
        f"{', '.join(f'{r:g}' for r in P['phase_lrs'])} (linear regression, 2-D, both by "
        "gradient descent).\n"
        "- **Verdicts**: C3.2p, C3.4p, C3.5p and C3.6p by the chapter's rules for C3.2, C3.4, "
        "C3.5 and C3.6, unchanged (the criteria in the chapter's claims table), on the eight "
        "seeds, once every run is made.\n"
        "- **Order**: logistic regression, then (b), then (c).\n"
    )


EXPERIMENT = store.Experiment(
    NAME,
    "03_convergence",
    "Chapter 3's shallow models (C3.2, C3.4-C3.6) at the chapter's settings on eight seeds: "
    "logistic regression with backprop, a linear SG and a loss-matched SG (2-D and 100-D), "
    "linear regression with update errors of controlled size, and the phase diagram over "
    "learning rates.",
    "the chapter's own budgets (3,000 Adam steps, 1,000 gradient-descent steps): the question "
    "is the seeds, not the length. Small models: a CPU runs them.",
    _tasks(),
    "chapter 3's settings, 8 seeds, registered",
    plan=PLAN_FILE,
    plan_text=plan_text(),
)


def measure(root: Path | None = None) -> Shallow | None:
    """The store's runs reduced as the chapter's rules decide on them (None until every run of
    the grid is made by the current code: no verdict from part of it)."""
    stored = store.load(EXPERIMENT, root)
    if any(status != "ok" for status in stored.status.values()):
        return None
    runs = stored.runs
    n = len(SEEDS)
    logistic = cv.summary({(d, m): runs[f"logistic/{d}/{m}"] for d in DIMS for m in LOGISTIC},
                          ["dim", "method"])  # fmt: skip
    fixed = pd.concat([ends(d, runs[f"logistic/{d}/linear SG"]) for d in DIMS], ignore_index=True)
    tracking_runs = {(mode, e): runs[f"tracking/{mode}/{e:g}"]
                     for mode in TRACKING_MODES for e in P["errors"]}  # fmt: skip
    cells = shallow.phase_cells(P["phase_lrs"])
    phase = pd.concat([chapter.phase_table(runs[f"phase/{m:g}/{s:g}"], n, [(m, s)])
                       for m, s in cells], ignore_index=True)  # fmt: skip
    return Shallow(
        logistic=logistic.assign(model="logistic regression"),
        fixed=fixed,
        tracking=chapter.tracking_outcomes(tracking_runs),
        phase=phase,
        errors=list(P["errors"]),
        scale=stored.scale(),
    )


def ends(d: int, run: History) -> pd.DataFrame:
    """Table 1b's rows for dimension ``d`` from the store's linear-SG run (``fixed point``
    section of :mod:`synthgrad.shallow`): its last evaluation's distances, NaN for a seed that
    diverged (as the chapter's, read from the diverged weights; a run whose every seed diverged
    stops, and its last evaluation may predate the divergence)."""
    lost = run.diverged
    return chapter.ends_frame(d, run.seeds, {
        k: np.where(lost, np.nan, run.evals[k][-1])
        for k in ("to_optimum", "to_fixed_point", "fixed_point_from_optimum")})  # fmt: skip


def page_text(root: Path | None = None) -> str:
    """The plan, and how much of the grid is made."""
    return store.plan_page(EXPERIMENT, root)
