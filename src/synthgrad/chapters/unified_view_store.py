"""Chapter 6's grid in the results store, registered before any run: C6.4 (is a learned SG's
proxy better aligned with the true gradient than FA's and DFA's fixed random ones?) at eight
seeds on full MNIST, where the book's run has three seeds on its small MNIST and so cannot decide
it (BOOK.md section 6: fewer than 5 seeds is inconclusive by rule). The chapter's network and
optimiser, ten epochs. The plan (:func:`plan_text`) is ``store/06_alignment/PLAN.md``, committed
before ``make paper`` makes a run (:func:`synthgrad.store.registration`); once every run is made,
C6.4p (:func:`claims`) joins the chapter's ledger as C6.4's verdict of record."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .. import analysis, ledger, store
from ..sweep import Task
from . import unified_view as uv

NAME = "06_alignment"
PLAN_FILE = f"{NAME}/PLAN.md"  # under the store's root
RULES = (*uv.FIXED, *uv.LEARNED)  # FA, DFA, the learned error SG, the every-layer cDNI SG
SEEDS = tuple(range(8))
WIDTH, DEPTH, BATCH, LR, ALIGN = 128, 3, 128, 1e-3, 256  # the chapter's defaults
EPOCHS, N_TRAIN = 10, 50_000
STEPS = EPOCHS * N_TRAIN // BATCH  # 3,906
EVAL_EVERY = 186  # 21 evaluations, the last at the end of the budget
SHAPE = SimpleNamespace(depth=DEPTH, steps=STEPS)  # what the chapter's alignment code reads


def _task(rule: str) -> Task:
    fit = dict(seeds=list(SEEDS), **uv.RULES[rule], hidden=[WIDTH] * DEPTH, steps=STEPS, lr=LR,
               batch_size=BATCH, eval_every=EVAL_EVERY, align_examples=ALIGN)  # fmt: skip
    return Task("mnist", fit, {"scale": "full-test"})


def plan_text() -> str:
    """The registered plan: ``store/06_alignment/PLAN.md`` must hold exactly this."""
    return (
        "# Registered plan: chapter 6's alignment claim in the store\n\n"
        "- **Question**: C6.4: is the proxy of a learned SG (the cDNI SG after every hidden "
        "layer, trained on bootstrapped targets) better aligned with the true gradient than the "
        "fixed random proxies of FA and DFA at the same layer? The book's run has 3 seeds, "
        "which decide nothing by rule.\n"
        f"- **Data**: full MNIST, the {N_TRAIN:,} training images, the 10,000 official test "
        f"images for accuracy; alignment on the first {ALIGN} training images at each "
        "evaluation.\n"
        f"- **Network and training**: chapter 6's: {DEPTH} hidden layers of {WIDTH} ReLU units, "
        f"no batch norm, Adam {LR:g} for the network and every learned proxy, batches of "
        f"{BATCH}; {EPOCHS} epochs ({STEPS:,} steps), evaluated every {EVAL_EVERY} steps; no "
        "learning-rate selection (the claim compares proxies under the chapter's settings).\n"
        f"- **Rules**: {', '.join(RULES)} (the learned error SG, trained on the true gradient, "
        "is reported beside the claim, as in the chapter).\n"
        f"- **Seeds**: {', '.join(map(str, SEEDS))}, each its own initialisation and "
        "minibatches, shared by the rules; CPU, one thread per run.\n"
        "- **Verdict (C6.4p)**: C6.4's rule: per hidden layer, each seed's cosine with the true "
        "gradient averaged over the evaluations of the second half of training; the cDNI SG "
        "minus FA and minus DFA, paired by seed; it holds where both 95% t-intervals lie above "
        "0 at every layer, holds in part where they do at some layers and neither is reversed, "
        "does not hold where one is reversed (entirely below 0), and is inconclusive otherwise. "
        "Decided once all four runs are made; a seed that diverged counts against it.\n"
    )


EXPERIMENT = store.Experiment(
    name=NAME,
    chapter="06_unified_view",
    description=(
        f"Chapter 6's alignment claim: {', '.join(RULES)} on full MNIST, {DEPTH} x {WIDTH} "
        f"ReLU, Adam {LR:g}, batch {BATCH}, {len(SEEDS)} seeds."
    ),
    budget=f"{STEPS:,} steps ({EPOCHS} epochs), fixed before any run (store/{PLAN_FILE}).",
    runs={rule: _task(rule) for rule in RULES},
    scale=(f"full MNIST, {DEPTH} x {WIDTH} ReLU, {EPOCHS} epochs, {len(SEEDS)} seeds, registered"),
    plan=PLAN_FILE,
    plan_text=plan_text(),
)


def page_text(root: Path | None = None) -> str:
    """The plan and how much of it is made, for the chapter's page."""
    return store.plan_page(EXPERIMENT, root)


def _made(stored: store.Stored) -> bool:
    """Every run of the grid made and current (a stale run decides nothing)."""
    return all(stored.status.get(rule) == "ok" for rule in RULES)


def claims(stored: store.Stored) -> list[ledger.Claim]:
    """C6.4p, by C6.4's rule (:func:`.unified_view.claim_alignment`) on the store's runs, once
    every run is made and current (else none)."""
    if not _made(stored):
        return []
    late = uv.late_alignment({rule: stored.runs[rule] for rule in RULES}, SHAPE)
    return [uv.claim_alignment(late, "C6.4p", EXPERIMENT.scale)]


def numbers(stored: store.Stored) -> dict[str, str]:
    """The numbers the prose quotes about the store's runs, once all are made (else none): per
    hidden layer, the cDNI SG's alignment (mean over seeds) at its highest and at the end, FA's
    and DFA's at the first evaluation and at the end, every rule's at the first evaluation at or
    after the chapter's own budget, and each rule's final accuracy."""
    if not _made(stored):
        return {}
    h = {rule: stored.runs[rule] for rule in RULES}
    steps = h[uv.CDNI].eval_steps
    kept = steps > 0  # the evaluation before training is not part of it
    steps = steps[kept]
    mean = {r: {k: h[r].evals[f"align_{k}"][kept].mean(1) for k in range(DEPTH)} for r in h}
    sg = mean[uv.CDNI]
    fall = [f"layer {k + 1}: {sg[k].max():.2f} at step {steps[sg[k].argmax()]:,}, "
            f"{sg[k][-1]:.2f} at the end" for k in range(DEPTH)]  # fmt: skip
    rise = [f"layer {k + 1}: " + ", ".join(f"{r} {mean[r][k][0]:.2f} to {mean[r][k][-1]:.2f}"
                                           for r in uv.FIXED) for k in range(DEPTH)]  # fmt: skip
    at = int(np.argmax(steps >= min(uv.INTERFACE.defaults["steps"], steps[-1])))
    early = [f"layer {k + 1}: cDNI SG {sg[k][at]:.2f}, " + ", ".join(
        f"{r} {mean[r][k][at]:.2f}" for r in uv.FIXED) for k in range(DEPTH)]  # fmt: skip
    acc = {rule: float(np.mean(analysis.end_value(run))) for rule, run in h.items()}
    return {
        "store_sg_fall": "; ".join(fall),
        "store_fixed_rise": "; ".join(rise),
        "store_first_step": f"{steps[0]:,}",
        "store_early_step": f"{steps[at]:,}",
        "store_book_steps": f"{uv.INTERFACE.defaults['steps']:,}",
        "store_early": "; ".join(early),
        "store_acc": ", ".join(f"{rule} {a:.2%}" for rule, a in acc.items()),
    }


def alignment_table(stored: store.Stored) -> pd.DataFrame | None:
    """Per rule made and current, each hidden layer's late alignment (:func:`.unified_view.
    late_alignment`) on the store's runs: the mean over seeds, lowest and highest seed (None
    while no run is made)."""
    made = {rule: h for rule, h in stored.runs.items() if stored.status.get(rule) == "ok"}
    if not made:
        return None
    late = uv.late_alignment(made, SHAPE)
    rows = [
        {"rule": rule, "hidden layer": k + 1, "mean": float(np.mean(v[:, k])),
         "lowest seed": float(np.min(v[:, k])), "highest seed": float(np.max(v[:, k]))}
        for rule, v in late.items()
        for k in range(DEPTH)
    ]  # fmt: skip
    return pd.DataFrame(rows).set_index(["rule", "hidden layer"])
