"""The claims ledger: each chapter's verdict on the paper's claims, as a table and as JSON.

A chapter's module builds :class:`Claim` records from its measurements, each with a
:class:`Verdict` made by :func:`judge` (the one function that turns a claim's per-regime results
into its status and the regime text on the page), and the chapter ends with :func:`finish`: it
writes ``<results dir>/<chapter>.json`` (:func:`write`), where the tests and the book-wide
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
from typing import Any

import numpy as np
import pandas as pd

RESULTS_ENV = "SYNTHGRAD_RESULTS"
FIELDS = ("id", "claim", "measured", "criterion", "holds", "evidence")
SOURCES = ("paper", "DNI paper", "this book")
KINDS = ("empirical test", "identity check")


def listing(items: Sequence[Any], none: str = "none") -> str:
    """Regime labels as the page lists them: ``"3, 6, 12"``, or ``none`` for an empty list."""
    return ", ".join(map(str, items)) or none


@dataclass(frozen=True)
class Verdict:
    """A claim's decision: whether it holds on the whole of its scope, holds in part (some of
    its regimes pass), or does not hold; and the regime text the page shows beside it."""

    holds: bool
    partly: bool = False
    regime: str = ""

    def __post_init__(self) -> None:
        if self.holds and self.partly:
            raise ValueError("a claim that holds does not hold in part")

    @property
    def status(self) -> str:
        if self.holds:
            return "holds"
        return "holds in part" if self.partly else "does not hold"


def judge(
    parts: Mapping[Any, Any] | Any,
    *,
    required: Any = True,
    also: Mapping[Any, Any] | None = None,
    regime: str = "",
    none: str = "none",
    **fields: Any,
) -> Verdict:
    """The verdict on a claim from its per-regime results.

    ``parts`` maps each regime the claim covers (a depth, a seed, a dimension...) to whether the
    claim's criterion passes there (a bool, or an array that must be true everywhere); a single
    bool is a claim without regimes. ``required`` is a condition the whole claim needs (e.g. the
    baseline itself converged): when it fails, the claim does not hold anywhere. ``also`` are
    further regimes that can show the claim in part but do not count towards its holding (e.g.
    a second optimiser).

    The claim holds when ``required`` and every part pass; it holds in part when ``required``
    passes and some, not all, of ``parts`` pass, or any of ``also`` does; otherwise it does not
    hold. A NaN never passes: pass comparisons (``x >= margin``), which are False for NaN, so a
    diverged seed counts against the claim.

    ``regime`` is the text on the page, formatted with ``{held}`` and ``{failed}`` (the regimes
    of ``parts`` that pass and fail, as :func:`listing` joins them; ``none`` for an empty one)
    and any other ``fields``."""
    table = dict(parts) if isinstance(parts, Mapping) else {"": parts}
    passed = {k: _passes(v) for k, v in table.items()}
    extra = [_passes(v) for v in (also or {}).values()]
    needed = _passes(required)
    holds = needed and bool(passed) and all(passed.values())
    partly = needed and not holds and (any(passed.values()) or any(extra))
    held = [k for k, v in passed.items() if v]
    failed = [k for k, v in passed.items() if not v]
    text = regime.format(held=listing(held, none), failed=listing(failed, none), **fields)
    return Verdict(holds, partly, text)


def _passes(value: Any) -> bool:
    """True when a result passes: a bool, or an array/sequence of bools that is true everywhere
    (and not empty)."""
    if isinstance(value, bool):
        return value
    array = np.asarray(value)
    if array.dtype != bool:
        raise TypeError(
            f"a part of a verdict must be a bool or an array of bools, not {array.dtype}"
        )
    return bool(array.size) and bool(array.all())


def every(values: Any, passes: Any) -> bool:
    """True when every value passes and none is NaN or infinite: ``every(margins, margins >=
    0.01)``. For per-seed values where a diverged seed (NaN or inf) must count against the claim
    even where the comparison alone would let it through (``inf >= 0.01``)."""
    values = np.asarray(values, dtype=float)
    return bool(values.size) and bool(np.isfinite(values).all()) and bool(np.asarray(passes).all())


@dataclass
class Claim:
    """One claim of the paper and the verdict of one chapter on it.

    ``verdict`` (from :func:`judge`) is the decision: ``holds`` is the verdict on the whole
    criterion. Where the effect depends on a regime,
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
    holds: bool | Verdict
    evidence: dict[str, Any] = field(default_factory=dict)
    regime: str = ""
    partly: bool = False
    source: str = "paper"
    kind: str = "empirical test"
    scale: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.holds, Verdict):
            if self.partly or self.regime:
                raise ValueError(f"claim {self.id}: its verdict gives partly and regime")
            verdict = self.holds
            self.holds, self.partly, self.regime = verdict.holds, verdict.partly, verdict.regime
        self.holds = bool(self.holds)
        if self.source not in SOURCES:
            raise ValueError(f"claim {self.id}: source must be one of {SOURCES}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}")
        try:
            self.verdict = Verdict(self.holds, self.partly, self.regime)
        except ValueError as error:
            raise ValueError(f"claim {self.id}: {error}") from None

    @property
    def status(self) -> str:
        return self.verdict.status


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
    parameters: dict[str, Any],
    quick: bool,
    numbers: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """End a chapter: write its ledger with the parameters it ran with, glue ``numbers`` (the
    values its prose quotes) and each verdict as ``<id>_verdict``, and return the claims table
    to show. Chapters call it through :func:`synthgrad.chapters.finish`."""
    from myst_nb import glue

    write(chapter, claims, parameters, quick)
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
