"""Verdicts: how a claim's per-regime results become one of four statuses and the regime text
on the page (BOOK.md section 6). :func:`judge` is the one verdict engine every chapter calls
(through :mod:`synthgrad.ledger`, which records the verdicts); the comparisons it reads are
:mod:`synthgrad.stats`'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import Band, Joint, Paired, Slope


def listing(items: Sequence[Any], none: str = "none") -> str:
    """Regime labels as the page lists them: ``"3, 6, 12"``, or ``none`` for an empty list."""
    return ", ".join(map(str, items)) or none


STATUSES = ("holds", "holds in part", "does not hold", "inconclusive")


@dataclass(frozen=True)
class Verdict:
    """A claim's decision: its ``status`` (one of :data:`STATUSES`), the regime text the page
    shows beside it, the 95% interval of each paired comparison behind it (``interval``), and,
    for an inconclusive one, what would decide it (``decide``)."""

    status: str
    regime: str = ""
    interval: str = ""
    decide: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"a verdict's status is one of {STATUSES}, not {self.status!r}")

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    @property
    def partly(self) -> bool:
        return self.status == "holds in part"


CLEAR = "an interval clear of the margin"  # what decides a comparison that straddles it


def judge(
    parts: Mapping[Any, Any] | Any,
    *,
    required: Any = True,
    also: Mapping[Any, Any] | None = None,
    decides: Sequence[Any] | None = None,
    regime: str = "",
    none: str = "none",
    decide: str = "",
    moving: str = "",
    **fields: Any,
) -> Verdict:
    """The verdict on a claim from its per-regime results (BOOK.md section 6).

    ``parts`` maps each regime the claim covers (a depth, a seed, a dimension...) to its result
    there: a bool, an array of bools that must be true everywhere, a seed-paired comparison
    (:func:`synthgrad.stats.paired`, which holds, fails, is reversed or is inconclusive), a
    trend (:func:`~synthgrad.stats.slope_above`) or a tolerance on every seed
    (:func:`~synthgrad.stats.within`: holds, fails or is inconclusive); a single
    result is a claim without regimes. ``required`` is a condition the whole claim needs (e.g.
    the baseline itself converged): when it fails, the claim does not hold anywhere. ``also``
    are further regimes that can show the claim in part but do not count towards its holding
    (e.g. a second optimiser). ``decides`` names the regimes the paper's sentence is about
    ("with many hidden layers": the deepest depth); by default, all of ``parts``.

    The rules, in order: not ``required`` -> does not hold; a part reversed (its interval
    entirely on the wrong side of zero) -> does not hold, wherever else it held; every part
    holds -> holds; a deciding part that fails -> does not hold, one that is inconclusive ->
    inconclusive; some part (or ``also``) holds -> holds in part; some part fails -> does not
    hold; every part inconclusive -> inconclusive. A NaN never passes: pass comparisons
    (``x >= margin``), which are False for NaN, so a diverged seed counts against the claim.

    ``regime`` is the text on the page, formatted with ``{held}``, ``{failed}`` (every part that
    did not hold), ``{reversed}``, ``{undecided}`` and ``{short}`` (the parts so judged; short:
    failed without being reversed, as :func:`listing`
    joins them) and any other ``fields``; a clause (the text between "; ") about an empty list
    (or a field that reads ``none``, "none" or "neither") is left out, so that the page never
    reads "reversed at none". ``decide`` says what would
    decide an inconclusive verdict, after the reasons its comparisons give. ``moving``
    names a trend still moving at the end of the budget, against the claim (e.g. "the
    agreement still rises"): the verdict is then inconclusive, decided by a longer run."""
    table = dict(parts) if isinstance(parts, Mapping) else {"": parts}
    outcome = {k: _outcome(v) for k, v in table.items()}
    deciding = list(table) if decides is None else list(decides)
    unknown = [k for k in deciding if k not in table]
    if unknown:
        raise ValueError(f"deciding regimes {unknown} are not among the parts {list(table)}")
    found = set(outcome.values())
    if _outcome(required) != "holds" or not table:
        status = "does not hold"
    elif "reversed" in found:
        status = "does not hold"
    elif found == {"holds"}:
        status = "holds"
    elif decides is not None and any(outcome[k] != "holds" for k in deciding):
        decisive = {outcome[k] for k in deciding}
        status = "inconclusive" if decisive <= {"holds", "inconclusive"} else "does not hold"
    elif "holds" in found or any(_outcome(v) == "holds" for v in (also or {}).values()):
        status = "holds in part"
    elif "fails" in found:
        status = "does not hold"
    else:
        status = "inconclusive"
    if moving:
        status, decide = "inconclusive", f"{moving} at the end of the budget: a longer run"
    named = {
        name: listing([k for k, o in outcome.items() if o in kinds], _EMPTY)
        for name, kinds in (("held", {"holds"}), ("failed", {"fails", "reversed", "inconclusive"}),
                            ("reversed", {"reversed"}), ("undecided", {"inconclusive"}),
                            ("short", {"fails"}))
    }  # fmt: skip
    comparisons = {k: v for k, v in table.items() if isinstance(v, Paired | Joint | Slope | Band)}
    interval = "; ".join((f"{k}: " if k != "" else "") + v.text() for k, v in comparisons.items())
    if status == "inconclusive" and not moving:  # the comparisons' reasons first, then decide
        reasons = sorted({reason for v in comparisons.values() if v.outcome == "inconclusive"
                          for reason in (v.why or CLEAR).split("; ")})  # fmt: skip
        decide = "; ".join([*(r for r in reasons if r), *([decide] if decide else [])])
        decide = decide or CLEAR
    elif status != "inconclusive":
        decide = ""
    empty = {none, "none", "neither"}
    fields = {k: _EMPTY if isinstance(v, str) and v in empty else v for k, v in fields.items()}
    text = regime.format(**{**named, **fields})
    text = "; ".join(c for c in text.split("; ") if _EMPTY not in c)  # "reversed at none": gone
    return Verdict(status, text, interval, decide)


_EMPTY = "\x00"  # an empty listing in a regime: its clause is left out


def _outcome(value: Any) -> str:
    """A part's outcome: a paired comparison's own; for a bool, or an array/sequence of bools
    that is true everywhere (and not empty), holds or fails."""
    if isinstance(value, Paired | Joint | Slope | Band):
        return value.outcome
    if isinstance(value, bool):
        return "holds" if value else "fails"
    array = np.asarray(value)
    if array.dtype != bool:
        raise TypeError(
            "a part of a verdict must be a bool, an array of bools or a paired comparison, "
            f"not {array.dtype}"
        )
    return "holds" if bool(array.size) and bool(array.all()) else "fails"


def every(values: Any, passes: Any) -> bool:
    """True when every value passes and none is NaN or infinite: ``every(margins, margins >=
    0.01)``. For per-seed values where a diverged seed (NaN or inf) must count against the claim
    even where the comparison alone would let it through (``inf >= 0.01``)."""
    values = np.asarray(values, dtype=float)
    return bool(values.size) and bool(np.isfinite(values).all()) and bool(np.asarray(passes).all())
