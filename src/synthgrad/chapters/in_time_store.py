"""Chapter 8's grid in the results store, registered before any of its runs (issue 26): Copy
and Repeat Copy at every truncation the DNI paper reports, DNI and truncated BPTT at each, BP
(lambda) at two values of lambda, full BPTT as the ceiling, five seeds, a budget four times the
book run's. The plan (:func:`plan_text`) is ``store/08_copy/PLAN.md``, committed before ``make
paper`` makes a run (:func:`synthgrad.store.registration`). Once every run of a task is made,
its claims (:func:`claims`) join the chapter's ledger as the verdicts of record (C8.3 of the
book's run becomes the small version)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import curricula, ledger, stats, store
from ..sweep import Task
from .in_time_claims import Logs, seed_values, stuck_text, tie_remedy

NAME = "08_copy"
PLAN_FILE = f"{NAME}/PLAN.md"  # under the store's root
TASKS = {"copy": "Copy", "repeat_copy": "Repeat Copy"}  # the runner's dataset -> page name
TRUNCATIONS = (2, 3, 4, 5, 8)
LAMBDAS = (0.0, 1.0)
SEEDS = (0, 1, 2, 3, 4)
BATCHES, EVAL_EVERY = 4_800, 100  # four times the book run's 1,200 batches
SETTINGS = dict(batch=32, hidden=128, lr=0.01, bits=4, threshold=0.15, sg_hidden=0)
DNI_SCALE = curricula.SCALE["dni"]  # DNI's SG output where injected
BP_GAMMA, BP_SCALE = 0.9, curricula.SCALE["bp_lambda"]  # BP(lambda)'s (neuralml/bp_lambda's)
CEILING, BPTT, DNI = "full BPTT", "truncated BPTT", "DNI"


def bp_name(lam: float) -> str:
    return f"BP(lambda) {lam:g}"


def label(task: str, method: str, T: int | None = None) -> str:
    """A run's label: ``copy/T 3/DNI``; the ceiling's ``copy/no truncation/full BPTT``,
    BP(lambda)'s ``copy/one step/BP(lambda) 1``."""
    where = ("no truncation" if method == CEILING
             else "one step" if method.startswith("BP(lambda)") else f"T {T}")  # fmt: skip
    return f"{task}/{where}/{method}"


def _task(task: str, method: str, length: int, **extra: float) -> Task:
    fit = dict(seeds=list(SEEDS), method=method, length=length, steps=BATCHES,
               eval_every=EVAL_EVERY, **SETTINGS, **extra)  # fmt: skip
    return Task(task, fit, runner="copy")


def _runs() -> dict[str, Task]:
    """Every run, in the order of making: Copy first, then Repeat Copy."""
    runs = {}
    for task in TASKS:
        runs[label(task, CEILING)] = _task(task, "full", 1)
        for T in TRUNCATIONS:
            runs[label(task, BPTT, T)] = _task(task, "bptt", T)
            runs[label(task, DNI, T)] = _task(task, "dni", T, scale=DNI_SCALE)
        for lam in LAMBDAS:
            runs[label(task, bp_name(lam))] = _task(
                task, "bp_lambda", 1, lam=lam, gamma=BP_GAMMA, scale=BP_SCALE
            )
    return runs


def plan_text() -> str:
    """The registered plan: ``store/08_copy/PLAN.md`` must hold exactly this."""
    s = SETTINGS
    return (
        "# Registered plan: chapter 8's Copy and Repeat Copy in the store\n\n"
        "- **Question**: the DNI paper's recurrent result at every truncation it reports: "
        "does DNI's synthetic gradient at each window's end let an LSTM trained with "
        "truncation T learn longer copies than truncated BPTT with the same T? And BP(lambda)'s: "
        "does learning the same SG from lambda-returns (lambda = 1) beat one-step bootstrapping "
        "(lambda = 0)?\n"
        f"- **Tasks**: Copy and Repeat Copy (`synthgrad.curricula.copy_curriculum`) of "
        f"{s['bits']}-bit vectors, each with its curriculum (Copy: one vector more; Repeat "
        "Copy: one repeat more while the repeats are fewer than the vectors, else one vector "
        f"more), moving on once a batch's error is below {s['threshold']:g} bits per sequence; "
        "a run's score is the longest length it solved within the budget (Repeat Copy: vectors "
        "times repeats); a run whose error becomes NaN or inf scores as diverged.\n"
        f"- **Methods**: full BPTT (the ceiling); truncated BPTT and DNI at T = "
        f"{', '.join(map(str, TRUNCATIONS))} (DNI: a linear SG on (h, c), last layer zero, its "
        f"output scaled by {DNI_SCALE:g} where injected); BP(lambda) at lambda = "
        f"{' and '.join(f'{x:g}' for x in LAMBDAS)} (`synthgrad.bp_lambda`: the LSTM learns "
        "one step at a time with the SG's prediction injected at each step's end, the SG "
        f"regresses the lambda-return; gamma = {BP_GAMMA:g}, the SG's output injected at "
        f"{BP_SCALE:g}, one update per batch, as in neuralml/bp_lambda's copy configuration; "
        "unlike it, one Adam serves the SG too where it gives the SG a rate of its own, and "
        "neither the model's gradients nor the SG's updates are clipped).\n"
        f"- **Network and optimiser**: an LSTM of {s['hidden']} units and a linear read-out, "
        f"batches of {s['batch']}, one Adam at {s['lr']:g} for the LSTM, its read-out and the "
        "SG (the book run's settings).\n"
        f"- **Budget**: {BATCHES:,} batches ({BATCHES * s['batch']:,} sequences) per run, four "
        "times the book run's, fixed before any run; the SG probed against the true future "
        f"gradient every {EVAL_EVERY} batches.\n"
        f"- **Seeds**: {', '.join(map(str, SEEDS))} for every method; CPU, one torch thread.\n"
        "- **Verdicts** (paired over the seeds, two-sided 95% t-interval, a diverged seed of "
        "the claim's method counting against it, a seed on which only the baseline diverged "
        "left out and named; each claim decided once every run it compares is made, and, for "
        "C8.3p and C8.3p-repeat, their task's ceiling): **C8.3p** (Copy) and **C8.3p-repeat** "
        "(Repeat Copy): DNI's score minus truncated BPTT's at the same T above 0 at every T; "
        "**C8.5p**: BP(lambda)'s score at lambda = 1 minus at lambda = 0 above 0 on both tasks. "
        "They are the verdicts of record; the book run's C8.3 then becomes the small version. "
        "Full BPTT's scores are reported beside them.\n"
        "- **Order**: Copy, then Repeat Copy; within each, the ceiling, then T from 2 to 8, "
        "then BP(lambda).\n"
    )


EXPERIMENT = store.Experiment(
    name=NAME,
    chapter="08_in_time",
    description=(
        "Chapter 8's registered grid: Copy and Repeat Copy, truncated BPTT and DNI at T = "
        f"{', '.join(map(str, TRUNCATIONS))}, BP(lambda) at lambda = 0 and 1, full BPTT, "
        f"{len(SEEDS)} seeds."
    ),
    budget=f"{BATCHES:,} batches per run, four times the book run's, fixed before any run "
    f"(store/{PLAN_FILE}).",
    runs=_runs(),
    scale=(
        f"Copy and Repeat Copy, LSTM {SETTINGS['hidden']}, batches of {SETTINGS['batch']}, "
        f"{BATCHES:,} batches, {len(SEEDS)} seeds, registered"
    ),  # fmt: skip
    plan=PLAN_FILE,
    plan_text=plan_text(),
)


def page_text(root: Path | None = None) -> str:
    """The plan and how much of it is made, for the chapter's page."""
    return store.plan_page(EXPERIMENT, root)


def scores(stored: store.Stored) -> dict[str, np.ndarray]:
    """Per run made and current, each seed's score (NaN: diverged)."""
    return {k: curricula.scores(h) for k, h in stored.runs.items() if stored.status[k] == "ok"}


def claims(score: dict[str, np.ndarray]) -> list[ledger.Claim]:
    """C8.3p, C8.3p-repeat and C8.5p (the plan's verdicts), each once every run it compares
    (and, for C8.3p and C8.3p-repeat, their task's ceiling) is made (``score``: :func:`scores`)."""
    out = []
    scale = EXPERIMENT.scale
    for task, tag in (("copy", ""), ("repeat_copy", "-repeat")):
        pairs = {T: (label(task, DNI, T), label(task, BPTT, T)) for T in TRUNCATIONS}
        ceiling = label(task, CEILING)
        if as_book(score, task) is None:  # every truncated run and the ceiling, or no verdict
            continue
        out.append(ledger.Claim(
            f"C8.3p{tag}",
            f"DNI extends the time dependencies an RNN trained with truncation T can learn beyond those truncated BPTT learns at the same T ({TASKS[task]}).",
            f"registered store, {TASKS[task]}: per seed (paired), the longest length solved within {BATCHES:,} batches, DNI minus truncated BPTT with the same T, at every T",
            "95% interval above 0 at every T",
            ledger.judge(
                {f"T = {T}": stats.paired(score[a], score[b]) for T, (a, b) in pairs.items()},
                decides=[f"T = {T}" for T in TRUNCATIONS],
                regime="DNI solves longer at {held}; not shown at {failed}",
                decide=tie_remedy({T: (score[a], score[b]) for T, (a, b) in pairs.items()}),
            ),
            {f"T={T}": {"dni": score[a], "bptt": score[b]} for T, (a, b) in pairs.items()}
            | {"full_bptt": score[ceiling]},
            source="DNI paper",
            scale=scale,
        ))  # fmt: skip
    one, zero = bp_name(LAMBDAS[1]), bp_name(LAMBDAS[0])
    labels = {TASKS[t]: (label(t, one), label(t, zero)) for t in TASKS}
    if all(a in score and b in score for a, b in labels.values()):
        out.append(ledger.Claim(
            "C8.5p",
            "Learning the state's SG from lambda-returns (BP(lambda), lambda = 1) lets an RNN trained one step at a time learn longer dependencies than learning it by one-step bootstrapping (lambda = 0).",
            f"registered store: per seed (paired), the longest length solved within {BATCHES:,} batches, BP(lambda) at lambda = 1 minus at lambda = 0, on Copy and on Repeat Copy",
            "95% interval above 0 on both tasks",
            ledger.judge(
                {name: stats.paired(score[a], score[b]) for name, (a, b) in labels.items()},
                decides=list(labels),
                regime="longer with lambda = 1 on {held}; not shown on {failed}",
            ),
            {name: {"lambda_1": score[a], "lambda_0": score[b]} for name, (a, b) in labels.items()},
            source="BP(lambda) paper",
            scale=scale,
        ))  # fmt: skip
    return out


def table(score: dict[str, np.ndarray]) -> pd.DataFrame:
    """The grid's scores as made so far (``score``: :func:`scores`): a row per task and T (and
    the ceiling's and BP(lambda)'s rows), a column per method; each cell the seeds' longest
    lengths in seed order ("not made": the run is not in the store, or not current)."""

    def cell(label: str) -> str:
        return seed_values(score[label]) if label in score else "not made"

    rows = {}
    for task, name in TASKS.items():
        rows[f"{name}, no truncation"] = {CEILING: cell(label(task, CEILING))}
        for T in TRUNCATIONS:
            rows[f"{name}, T = {T}"] = {m: cell(label(task, m, T)) for m in (BPTT, DNI)}
        rows[f"{name}, one step"] = {bp_name(x): cell(label(task, bp_name(x)))
                                     for x in LAMBDAS}  # fmt: skip
    return pd.DataFrame(rows).T.fillna("")


def _book_keys(task: str) -> dict[tuple[str, int | None], str]:
    """One task's truncated runs and ceiling: the book run's key (``(method, T)``; the ceiling
    ``(CEILING, None)``) -> the run's label here."""
    return {(CEILING, None): label(task, CEILING)} | {
        (m, T): label(task, m, T) for T in TRUNCATIONS for m in (BPTT, DNI)
    }


def as_book(
    score: dict[str, np.ndarray], task: str
) -> dict[tuple[str, int | None], np.ndarray] | None:
    """One task's truncated runs and ceiling keyed as the book run's scores are, for its figure;
    None until every one is made."""
    labels = _book_keys(task)
    if not all(label in score for label in labels.values()):
        return None
    return {key: score[label] for key, label in labels.items()}


def copy_logs(stored: store.Stored) -> Logs | None:
    """The store's Copy runs (truncated and the ceiling) as the curricula's logs that Table 3
    reads (:func:`.in_time_claims.where_stuck`, :func:`.in_time_claims.stuck_text`), keyed as
    the book run's; None until every one is made and current. Per seed: each batch's length
    ``n`` and error, and the SG's cosine at the probes the store keeps (those taken at its
    evaluations; the last evaluation follows the last batch, so has none)."""
    labels = _book_keys("copy")
    if not all(stored.status.get(k) == "ok" for k in labels.values()):
        return None
    out: Logs = {}
    for key, name in labels.items():
        h = stored.runs[name]
        probed = h.eval_steps < h.steps[-1]
        out[key] = [{"n": h.train["n"][:, j].astype(int).tolist(),
                     "error": h.train["loss"][:, j].tolist(),
                     "sg_cosine": h.evals["sg_cosine"][probed, j].tolist()}
                    for j in range(len(h.seeds))]  # fmt: skip
    return out


def numbers(stored: store.Stored) -> dict[str, Any]:
    """What the prose says of the grid's Copy runs: how much of the plan is made
    (``store_copy_made``), Table 3's words at its longest truncation
    (``store_stuck_T``, ``store_stuck_text``; "not yet made" until they are)."""
    logs = copy_logs(stored)
    T = max(TRUNCATIONS)
    text = stuck_text(logs, T) if logs is not None else "not yet made"
    made = sum(stored.status.get(name) == "ok" for name in EXPERIMENT.runs)
    whole = len(EXPERIMENT.runs)
    made_text = ("Every run of the plan is in the store" if made == whole
                 else f"{made} of the plan's {whole} runs are in the store")  # fmt: skip
    return {"store_stuck_T": T, "store_stuck_text": text, "store_copy_made": made_text}
