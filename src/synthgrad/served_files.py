"""What the files served with the site hold: one sentence per field of a chapter's claims
ledger (``results/<chapter>.json``) and of a results-store manifest
(``results/store/<experiment>/manifest.json``), for the "How this site was built" page
(:mod:`synthgrad.build_status`). A field found in the files that has no sentence here is shown
as not explained yet, and a test fails on it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

LEDGER_FIELDS = {
    "schema": "the version of this file's layout (now 1); a reader checks it before the rest.",
    "chapter": "the chapter that wrote the ledger (its notebook is `book/<chapter>.ipynb`).",
    "quick": "true for a smoke run (`quick=True`: a few steps and seeds), whose verdicts are "
    "no evidence.",
    "parameters": "the parameters the chapter ran with (its parameters cell, with any value "
    "papermill passed).",
    "claims": "the claims the chapter judged, one object each (fields below).",
}
CLAIM_FIELDS = {
    "id": "the claim's identifier, `C<chapter>.<n>`; a `p` after it: measured on the results "
    "store at the paper's scale.",
    "claim": "what the paper (or the DNI paper, or this book) says, in a sentence.",
    "measured": "what the chapter measured to test it.",
    "criterion": "the rule that turns the measurement into a verdict.",
    "status": "the verdict of record: holds, holds in part, does not hold or inconclusive.",
    "holds": "true for the status *holds* alone.",
    "partly": "true for the status *holds in part* alone.",
    "regime": "where the claim held or failed (a depth, an error size...), as the page shows it "
    "beside the status.",
    "interval": "the 95% t-interval of each seed-paired comparison behind the verdict (empty "
    "where there is none).",
    "decide": "for an inconclusive verdict, what would decide it.",
    "evidence": "the numbers behind the verdict, named as the chapter names them (null for a "
    "value that is not finite, e.g. from a diverged run).",
    "source": "whose claim it is: the paper, the DNI paper, the BP(lambda) paper or this book.",
    "kind": "*empirical test*, or *identity check* (an exact equality verified numerically).",
    "scale": "for a verdict measured elsewhere than the chapter's own run (the results store): "
    "what it was measured at, and where; empty for the chapter's own run.",
    "decided_by": "where the store measures the same claim at the paper's scale, that claim's "
    "id: its verdict is of record, and this one is the small version; else empty.",
}
MANIFEST_FIELDS = {
    "experiment": "the experiment's name, also its folder in `store/`.",
    "chapter": "the chapter whose grid it is, which draws its runs.",
    "description": "what the runs are.",
    "budget": "why the runs are as long as they are.",
    "runs": "one entry per run, keyed by its label (e.g. `relu/50/backprop`; fields below).",
}
RUN_FIELDS = {
    "file": "the run's data file in `store/<experiment>/`: its per-step and per-evaluation "
    "metrics, per seed, as gzip-compressed CSV (kept in the repository, not served here).",
    "sha256": "the SHA-256 of that file; a file that does not match it is corrupt, never drawn.",
    "run": "what was run (fields below); a run whose grid entry now says otherwise is stale.",
    "train_metrics": "the per-step training metrics the file holds.",
    "eval_metrics": "the per-evaluation metrics the file holds.",
    "diverged_at": "per seed, the step at which training diverged; -1 where it never did.",
    "provenance": "where, when and by what code it was made (fields below).",
}
TASK_FIELDS = {
    "dataset": "the data set, by the name of its loader in `synthgrad.data` (`problem`: chapter "
    "3's generated problems).",
    "dataset_kwargs": "the loader's arguments (data scale, size, seeds...).",
    "fit": "the training run's arguments: seeds, learning rule, network, steps, learning rate, "
    "batch size, evaluation interval...",
    "runner": "the function that trains it: `convergence` (chapter 3's runs); absent: `fit`, "
    "the one training loop.",
}
PROVENANCE_FIELDS = {
    "commit": "the git commit of the checkout that made it (`+dirty`: with uncommitted changes "
    "to `src/`).",
    "source_hash": "a hash of the package code the run called (`synthgrad.provenance`): once "
    "that code changes, the run is stale.",
    "step": "how each training step ran: `eager`, or replayed from a `CUDA graph` (absent in "
    "older runs: eager).",
    "device": "what it ran on: a GPU's name, or the CPU and its cores.",
    "torch": "the torch version.",
    "python": "the Python version.",
    "seconds": "the wall-clock seconds of its training.",
    "date": "when it finished (UTC, ISO 8601).",
    "registered": "for a registered experiment's run (chapter 5's sweep on full MNIST): the "
    "commit that registered its plan (`store/<experiment>/PLAN.md`); the run's own commit "
    "descends from it (tested), and a run whose registration is not the plan as it stands is "
    "never drawn.",
}


def _keys(objects: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for obj in objects:
        if isinstance(obj, Mapping):
            seen.update(dict.fromkeys(obj))
    return list(seen)


def _fields(title: str, explained: Mapping[str, str], found: Iterable[str]) -> list[str]:
    lines = [title, ""]
    for key in [*explained, *(k for k in found if k not in explained)]:
        text = explained.get(key, "*not explained yet* (add it to `synthgrad.build_status`).")
        lines.append(f"- `{key}`: {text}")
    return [*lines, ""]


def fields_section(
    ledgers: Sequence[Mapping[str, Any]], manifests: Sequence[Mapping[str, Any]]
) -> str:
    """Every field of the ledgers and manifests given, and every field this module explains,
    each with its sentence."""
    claims = [c for doc in ledgers for c in doc.get("claims", [])]
    runs = [r for m in manifests for r in m.get("runs", {}).values()]
    lines = [
        "## What the files hold",
        "",
        "The files behind this site, served with it: each chapter's claims ledger at "
        "`results/<chapter>.json` and each results-store manifest at "
        "`results/store/<experiment>/manifest.json` (JSON).",
        "",
        *_fields(
            "**A chapter's ledger**, `results/<chapter>.json`:", LEDGER_FIELDS, _keys(ledgers)
        ),
        *_fields("**Each claim** in its `claims`:", CLAIM_FIELDS, _keys(claims)),
        *_fields(
            "**A store manifest**, `results/store/<experiment>/manifest.json`:",
            MANIFEST_FIELDS,
            _keys(manifests),
        ),
        *_fields("**Each run** in its `runs`:", RUN_FIELDS, _keys(runs)),
        *_fields(
            "**What was run**, a run's `run`:", TASK_FIELDS, _keys(r.get("run") for r in runs)
        ),
        *_fields(
            "**Where it was made**, a run's `provenance`:",
            PROVENANCE_FIELDS,
            _keys(r.get("provenance") for r in runs),
        ),
    ]
    return "\n".join(lines)
