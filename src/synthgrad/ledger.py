"""The claims ledger: each chapter's verdict on the paper's claims, as a table and as JSON.

A chapter builds :class:`Claim` records from its measurements and ends with :func:`finish`:
it writes ``<results dir>/<chapter>.json`` (:func:`write`), where the tests and the book-wide
table read it, glues the numbers the prose quotes and every verdict, and returns the table
for the page. The results directory is ``$SYNTHGRAD_RESULTS`` or ``results/`` under the CWD.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from . import chapters

RESULTS_ENV = "SYNTHGRAD_RESULTS"
FIELDS = ("id", "claim", "measured", "criterion", "holds", "evidence")
SOURCES = ("paper", "DNI paper", "this book")
KINDS = ("empirical test", "identity check")


@dataclass
class Claim:
    """One claim of the paper and the verdict of one chapter on it.

    ``holds`` is the verdict on the whole criterion. Where the effect depends on a regime,
    ``partly`` marks a claim that holds in some of it (``holds`` False, ``partly`` True:
    "holds in part") and ``regime`` says where it holds. ``source`` says whose claim it is
    (the paper's, the DNI paper's or this book's own) and ``kind`` whether it is an empirical
    test or an identity check (an exact equality verified numerically). ``scale`` is set for a
    verdict measured elsewhere than the chapter's own run (the paper-scale store): what it was
    measured at and where it comes from."""

    id: str
    claim: str
    measured: str
    criterion: str
    holds: bool
    evidence: dict[str, Any] = field(default_factory=dict)
    regime: str = ""
    partly: bool = False
    source: str = "paper"
    kind: str = "empirical test"
    scale: str = ""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"claim {self.id}: source must be one of {SOURCES}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}")
        if self.holds and self.partly:
            raise ValueError(f"claim {self.id}: a claim that holds does not hold in part")

    @property
    def status(self) -> str:
        if self.holds:
            return "holds"
        return "holds in part" if self.partly else "does not hold"


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV, "results"))


def table(claims: Sequence[Claim]) -> pd.DataFrame:
    """The ledger as a table for the page."""
    rows = [
        {
            "claim": c.id,
            "what the paper says": c.claim,
            "what was measured": c.measured,
            "criterion": c.criterion,
            "verdict": c.status + (f": {c.regime}" if c.regime else ""),
            "tag": f"{c.source}, {c.kind}",
        }
        for c in claims
    ]
    return pd.DataFrame(rows).set_index("claim")


def _clean(obj: Any) -> Any:
    """Make numpy scalars/arrays and non-finite floats JSON-safe."""
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write(chapter: str, claims: Sequence[Claim], parameters: dict[str, Any], quick: bool) -> Path:
    """Write the chapter's ledger to ``<results dir>/<chapter>.json`` and return the path."""
    out = results_dir() / f"{chapter}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "chapter": chapter,
        "quick": bool(quick),
        "parameters": _clean(parameters),
        "claims": [_clean({**asdict(c), "status": c.status}) for c in claims],
    }
    out.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return out


def finish(
    chapter: str,
    claims: Sequence[Claim],
    p: SimpleNamespace,
    numbers: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """End a chapter: write its ledger with the parameters it ran with (``p`` from
    :func:`synthgrad.chapters.setup`), glue ``numbers`` (the values its prose quotes) and each
    verdict as ``<id>_verdict``, and return the claims table to show."""
    from myst_nb import glue

    write(chapter, claims, chapters.recorded(chapter, p), p.quick)
    for key, value in (numbers or {}).items():
        glue(key, value, display=False)
    for c in claims:
        glue(f"{c.id}_verdict", c.status, display=False)
    return table(claims)


def check(doc: dict[str, Any]) -> None:
    """Raise ValueError unless ``doc`` is a well-formed ledger (what the tests assert)."""
    for key in ("chapter", "quick", "parameters", "claims"):
        if key not in doc:
            raise ValueError(f"ledger lacks {key!r}")
    if not doc["claims"]:
        raise ValueError("ledger has no claims")
    for c in doc["claims"]:
        missing = [f for f in FIELDS if f not in c]
        if missing:
            raise ValueError(f"claim {c.get('id')} lacks {missing}")
        if not isinstance(c["holds"], bool):
            raise ValueError(f"claim {c['id']}: holds must be true or false")


SCALE_KEYS = {  # recorded parameter -> how the scale column names it
    "scale": "MNIST {}",
    "n_points": "{} examples",
    "width": "width {}",
    "depth": "depth {}",
    "depths": "depths {}",
    "steps": "{} steps",
    "n_seeds": "{} seeds",
}


def scale(parameters: dict[str, Any]) -> str:
    """The scale a chapter's verdicts were measured at, from the parameters it recorded: data
    size, width, depth, steps, seeds (whichever the chapter has)."""
    parts = []
    for key, form in SCALE_KEYS.items():
        value = parameters.get(key)
        if value is not None:
            value = ",".join(map(str, value)) if isinstance(value, list) else value
            parts.append(form.format(value))
    return ", ".join(parts)


def read_all(directory: Path | None = None) -> pd.DataFrame:
    """Every chapter's claims in one table (the book-wide ledger), with the scale each verdict
    was measured at and its tag (whose claim, what kind of check)."""
    rows = []
    for path in sorted((directory or results_dir()).glob("*.json")):
        doc = json.loads(path.read_text())
        check(doc)
        for c in doc["claims"]:
            rows.append(
                {
                    "chapter": doc["chapter"],
                    "claim": c["id"],
                    "what the paper says": c["claim"],
                    "verdict": c["status"]
                    + (f": {c['regime']}" if c.get("regime") else "")
                    + (" (quick run)" if doc["quick"] else ""),
                    "tag": f"{c.get('source', 'paper')}, {c.get('kind', 'empirical test')}",
                    "scale": c.get("scale") or f"book run: {scale(doc['parameters'])}",
                }
            )
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    """A pipe table (MyST) of a small DataFrame, without extra dependencies."""
    if df.empty:
        return "*No chapter has written its claims yet.*\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(row[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m synthgrad.ledger DIR: the book-wide claims table
    import sys

    print(markdown(read_all(Path(sys.argv[1]) if len(sys.argv) > 1 else None)), end="")
