"""The claims ledger: each chapter's verdict on the paper's claims, as a table and as JSON.

A chapter's module builds :class:`Claim` records from its measurements, each with a
:class:`~synthgrad.verdict.Verdict` made by :func:`~synthgrad.verdict.judge` (the one function
that turns a claim's per-regime results into its status and the regime text on the page, kept
in :mod:`synthgrad.verdict` and offered here too), and the chapter ends with :func:`finish`: it
writes ``<results dir>/<chapter>.json`` (:func:`write`), where the tests and the book-wide
table read it, glues the numbers the prose quotes and every verdict, and returns the table
for the page. The results directory is ``$SYNTHGRAD_RESULTS`` or ``results/`` under the CWD.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .verdict import STATUSES, Verdict
from .verdict import every as every  # the chapters judge through the ledger: ledger.judge(...)
from .verdict import judge as judge
from .verdict import listing as listing

RESULTS_ENV = "SYNTHGRAD_RESULTS"
FIELDS = ("id", "claim", "measured", "criterion", "status", "holds", "evidence")
SOURCES = ("paper", "DNI paper", "BP(lambda) paper", "this book")
KINDS = ("empirical test", "identity check")
SCHEMA = 1  # the version of the ledger's JSON layout, its "schema" field (the site serves it)


@dataclass
class Claim:
    """One claim of the paper and the verdict of one chapter on it.

    ``holds`` takes the :class:`Verdict` (from :func:`judge`), the decision, kept as
    ``verdict``: the claim's ``status`` (the field of record: one of :data:`STATUSES`),
    ``interval`` (the 95% intervals of its paired comparisons) and ``decide`` (what would decide
    an inconclusive one) are read from it, and ``holds``, ``partly`` and ``regime`` are set from
    it (``holds`` True for "holds" alone). A bool (with ``partly`` and ``regime``) is the
    two-status shorthand. ``source`` says whose claim it is (the paper's, the DNI paper's, the
    BP(lambda) paper's or this book's own) and ``kind`` whether it is an empirical test or an identity check (an exact
    equality verified numerically). ``scale`` is set for a verdict measured elsewhere than the
    chapter's own run (the paper-scale store): what it was measured at and where it comes
    from. ``decided_by`` names the claim whose verdict is of record where the store measures
    this one at the paper's scale (:func:`label_small_versions` sets it): this verdict is then
    the small version."""

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
    decided_by: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.holds, Verdict):
            if self.partly or self.regime:
                raise ValueError(f"claim {self.id}: its verdict gives partly and regime")
            self.verdict = self.holds
        else:
            if self.holds and self.partly:
                raise ValueError(f"claim {self.id}: a claim that holds does not hold in part")
            partly = "holds in part" if self.partly else "does not hold"
            self.verdict = Verdict("holds" if self.holds else partly, self.regime)
        self.holds, self.partly, self.regime = (self.verdict.holds, self.verdict.partly,
                                                self.verdict.regime)  # fmt: skip
        if self.source not in SOURCES:
            raise ValueError(f"claim {self.id}: source must be one of {SOURCES}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}")

    @property
    def status(self) -> str:
        return self.verdict.status

    @property
    def interval(self) -> str:
        return self.verdict.interval

    @property
    def decide(self) -> str:
        return self.verdict.decide

    def record(self) -> dict[str, Any]:
        """The claim as its ledger's JSON keeps it."""
        return {**asdict(self), "status": self.status, "interval": self.interval,
                "decide": self.decide}  # fmt: skip


def verdict_text(status: str, regime: str = "", decide: str = "", decided_by: str = "") -> str:
    """A verdict as the tables show it: status, then where, then what would decide it; for a
    small version, which claim's verdict is of record."""
    text = ("small version: " if decided_by else "") + status + (f": {regime}" if regime else "")
    text += f" (would decide: {decide})" if decide else ""
    return text + (
        f" [verdict of record: {decided_by}, in the results store]" if decided_by else ""
    )


def label_small_versions(claims: Sequence[Claim]) -> list[Claim]:
    """Label each claim the store also measures (``C5.1`` where ``C5.1p`` is present) as the
    small version, naming the paper-scale claim whose verdict is of record (BOOK.md section
    6, "Which run decides")."""
    ids = {c.id for c in claims}
    for c in claims:
        if not c.id.endswith("p") and f"{c.id}p" in ids:
            c.decided_by = f"{c.id}p"
    return list(claims)


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV, "results"))


FRESH_ENV = "SYNTHGRAD_FRESH"


def fresh_dir() -> Path:
    """Where the ledgers of the chapters rerun with a seed they had never used live
    (``make fresh``): ``$SYNTHGRAD_FRESH``, or ``store/fresh`` in the checkout."""
    default = Path(__file__).resolve().parents[2] / "store" / "fresh"
    return Path(os.environ.get(FRESH_ENV, default))


def fresh(chapter: str, directory: Path | None = None) -> dict[str, tuple[str, str, str]]:
    """Per claim id, the status the chapter's rerun with a fresh seed gave, its seeds
    (``"seeds 1000-1002"``) and the criterion it judged; empty where the chapter has no such
    rerun."""
    path = (directory or fresh_dir()) / f"{chapter}.json"
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    check(doc)
    p = doc["parameters"]
    seeds = f"seeds {p['seed']}-{p['seed'] + p.get('n_seeds', 1) - 1}" if "seed" in p else ""
    return {c["id"]: (c["status"], seeds, c["criterion"]) for c in doc["claims"]}


def agreement(
    status: str, rerun: tuple[str, str, str] | None, scale: str = "", criterion: str = ""
) -> str:
    """The claims table's fresh-seed column: whether the rerun gave the same status. A verdict
    from the results store (``scale`` names it) is not the chapter's run: no seed of the
    chapter's changes it; a rerun that judged another ``criterion`` than the claim's now is
    stale, not compared."""
    if scale and not scale.startswith("book run"):
        return "the store's runs (not rerun)"
    if rerun is None:
        return "not rerun"
    other, seeds, judged = rerun
    if criterion and judged != criterion:
        return "stale: the rerun judged another criterion (`make fresh FORCE=1`)"
    return ("agrees" if other == status else f"differs: {other}") + (f" ({seeds})" if seeds else "")


def table(
    claims: Sequence[Claim], rerun: Mapping[str, tuple[str, str]] | None = None
) -> pd.DataFrame:
    """The ledger as a table for the page; with ``rerun`` (:func:`fresh`), whether the chapter
    rerun with a seed it had never used agreed, per claim."""
    rows = [
        {
            "claim": c.id,
            "what the paper says": c.claim,
            "what was measured": c.measured,
            "criterion": c.criterion,
            "verdict": verdict_text(c.status, c.regime, c.decide, c.decided_by),
            "95% interval": c.interval,
            "tag": f"{c.source}, {c.kind}",
            **(
                {"fresh seed": agreement(c.status, rerun.get(c.id), c.scale, c.criterion)}
                if rerun
                else {}
            ),  # fmt: skip
        }
        for c in claims
    ]
    df = pd.DataFrame(rows).set_index("claim")
    return df if any(c.interval for c in claims) else df.drop(columns="95% interval")


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
        "schema": SCHEMA,
        "chapter": chapter,
        "quick": bool(quick),
        "parameters": _clean(parameters),
        "claims": [_clean(c.record()) for c in claims],
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
    claims = label_small_versions(claims)
    write(chapter, claims, parameters, quick)
    rerun = fresh(chapter) if not quick else {}
    for key, value in (numbers or {}).items():
        glue(key, value)
    for c in claims:
        glue(f"{c.id}_verdict", c.status)
    return table(claims, rerun)


GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any) -> None:
    """Glue ``value`` under ``name`` for the page's ``{glue}`` roles, not shown in the cell: the
    display output of myst-nb's ``glue(name, value, display=False)``, byte for byte (tested),
    without importing ``myst_nb``, whose import loads nbformat and jsonschema's format
    grammars (about 2.5 s in every chapter's kernel)."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


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
        if c.get("status") not in STATUSES:
            raise ValueError(f"claim {c['id']}: status must be one of {STATUSES}")
        if c["holds"] is not (c["status"] == "holds"):
            raise ValueError(f"claim {c['id']}: holds is true for the status 'holds' alone")


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
    was measured at, its tag (whose claim, what kind of check) and whether the chapter's rerun
    with a fresh seed (:func:`fresh`) agreed."""
    rows = []
    for path in sorted((directory or results_dir()).glob("*.json")):
        doc = json.loads(path.read_text())
        check(doc)
        rerun = fresh(doc["chapter"])
        for c in doc["claims"]:
            rows.append(
                {
                    "chapter": doc["chapter"],
                    "claim": c["id"],
                    "what the paper says": c["claim"],
                    "verdict": verdict_text(
                        c["status"],
                        c.get("regime", ""),
                        c.get("decide", ""),
                        c.get("decided_by", ""),
                    )
                    + (" (quick run)" if doc["quick"] else ""),
                    "95% interval": c.get("interval", ""),
                    "tag": f"{c.get('source', 'paper')}, {c.get('kind', 'empirical test')}",
                    "scale": c.get("scale") or f"book run: {scale(doc['parameters'])}",
                    "fresh seed": agreement(
                        c["status"], rerun.get(c["id"]), c.get("scale", ""), c["criterion"]
                    )
                    if not doc["quick"]
                    else "",  # fmt: skip
                }
            )
    return pd.DataFrame(rows)


def pipe_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A pipe table (MyST): a header of ``columns``, then a line per row, each cell as text
    (a ``|`` inside one escaped)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown(df: pd.DataFrame) -> str:
    """A pipe table (MyST) of a small DataFrame, without extra dependencies."""
    if df.empty:
        return "*No chapter has written its claims yet.*\n"
    cols = list(df.columns)
    return pipe_table(cols, ([row[c] for c in cols] for _, row in df.iterrows()))


if __name__ == "__main__":  # python -m synthgrad.ledger DIR: the book-wide claims table
    import sys

    print(markdown(read_all(Path(sys.argv[1]) if len(sys.argv) > 1 else None)), end="")
