"""Paired comparisons over seeds, decided by a t-interval (BOOK.md section 6, "Statistics that
match the wording").

"Better on every seed" out of three happens one time in eight with no effect at all. A claim
that method A beats method B is decided on the seed-paired differences ``a - b``: it holds when
the two-sided 95% t-interval of their mean lies entirely beyond the claim's margin, it is
reversed when the interval lies entirely on the other side, and it is inconclusive otherwise.
Fewer than :data:`MIN_SEEDS` seeds is inconclusive by rule. A seed on which the claim's own
method diverged (NaN or inf) fails the comparison outright; one on which only the baseline
diverged is left out of the interval and named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_SEEDS = 5

# Two-sided 95% quantiles of Student's t, t_{0.975}(df), df = 1..30 (standard tables).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip
OUTCOMES = ("holds", "reversed", "inconclusive", "fails")


def t_quantile(df: int) -> float:
    """t_{0.975}(df): the table up to 30 degrees of freedom, the Cornish-Fisher expansion in
    1/df beyond (within 1e-3 of the exact value there)."""
    if df < 1:
        raise ValueError(f"a t-interval needs at least 1 degree of freedom, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class Paired:
    """A seed-paired comparison: the differences (claim's method minus its baseline, signed so
    that positive favours the claim), the 95% t-interval of their mean, the margin the claim
    states, and the outcome (one of :data:`OUTCOMES`: beyond the margin; below zero, the
    claim reversed; between zero and the margin; straddling it) with the reason in words."""

    differences: tuple[float, ...]
    low: float
    high: float
    margin: float
    outcome: str
    why: str = ""

    @property
    def n(self) -> int:
        return len(self.differences)

    def text(self, digits: int = 3) -> str:
        """The interval as the claims table shows it."""
        if math.isnan(self.low):
            return f"no interval ({self.why})"
        f = f"{{:+.{digits}g}}"
        where = f"[{f.format(self.low)}, {f.format(self.high)}]"
        return f"{where} over {self.n} seeds, margin {self.margin:g}" + (
            f" ({self.why})" if self.why else ""
        )


def never_sooner(
    a: np.ndarray | list[float], b: np.ndarray | list[float], b_end: np.ndarray | list[float]
) -> np.ndarray:
    """A baseline's times (or steps) to a target, ``b``, where a run that never got there (inf)
    is slower than any that did: where the claim's method got there (``a`` finite) and the
    baseline did not, the baseline counts as its whole run, ``b_end`` (it had not got there by
    then), and never as sooner than ``a`` (a tie where its run was the shorter). A lost seed
    (NaN) and the claim's method's own inf stay as they are, for :func:`paired` to count."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    slower = np.isinf(b) & np.isfinite(a)
    return np.where(slower, np.maximum(np.asarray(b_end, dtype=float), a), b)


def paired(
    a: np.ndarray | list[float],
    b: np.ndarray | list[float],
    margin: float = 0.0,
    higher: bool = True,
    min_seeds: int = MIN_SEEDS,
    lost: str = "diverged",
) -> Paired:
    """Decide "``a`` beats ``b`` by more than ``margin``" over seeds (``higher``: larger is
    better; otherwise smaller is, e.g. a loss or an error). ``a`` and ``b`` are per-seed values
    of the claim's method and of its baseline, in the same seed order. A non-finite value is a
    seed that was lost; ``lost`` says how in the reason (e.g. "never reached the threshold" for
    steps to a threshold that are infinite). An inconclusive comparison whose every kept seed
    differs by exactly 0 says so in its reason ("every seed tied")."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values need one per seed on both sides: {a.size} and {b.size}")
    sign = 1.0 if higher else -1.0
    nan = float("nan")
    gone = np.flatnonzero(~np.isfinite(a))
    if gone.size:
        return Paired((), nan, nan, margin, "fails", f"the claim's method {lost} on seed(s) "
                      f"{', '.join(map(str, gone))}")  # fmt: skip
    kept = np.isfinite(b)
    d = sign * (a[kept] - b[kept])
    why = ""
    if not kept.all():
        why = f"baseline {lost} on seed(s) {', '.join(map(str, np.flatnonzero(~kept)))}"
    if d.size < 2:
        return Paired(tuple(d), nan, nan, margin, "inconclusive",
                      why or f"{d.size} seed: no spread")  # fmt: skip
    mean, half = float(d.mean()), t_quantile(d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size)
    low, high = mean - half, mean + half
    if d.size < min_seeds:
        outcome = "inconclusive"
        why = "; ".join(filter(None, [why, f"fewer than {min_seeds} seeds: a run with more"]))
    elif low > margin:
        outcome = "holds"
    elif high < min(margin, 0.0):
        outcome = "reversed"  # the other way round, beyond the noise
    elif high < margin:
        outcome = "fails"  # smaller than the margin the claim states
    else:
        outcome = "inconclusive"
    if outcome == "inconclusive" and not d.any():  # integer measures (lengths, steps) can tie
        why = "; ".join(filter(None, [why, "every seed tied (a difference of exactly 0)"]))
    return Paired(tuple(d), low, high, margin, outcome, why)


@dataclass(frozen=True)
class Joint:
    """Several comparisons a claim needs together ("close to backprop *and* above the control"):
    reversed if any is reversed, failed if any fails, inconclusive if any is, else holds."""

    parts: tuple[tuple[str, Paired], ...]

    @property
    def outcome(self) -> str:
        found = {p.outcome for _, p in self.parts}
        for outcome in ("reversed", "fails", "inconclusive"):
            if outcome in found:
                return outcome
        return "holds" if found else "fails"

    @property
    def why(self) -> str:
        return "; ".join(sorted({p.why for _, p in self.parts if p.why}))

    def text(self, digits: int = 3) -> str:
        return "; ".join(f"{name} {p.text(digits)}" for name, p in self.parts)


def all_of(**parts: Paired) -> Joint:
    """The comparisons a claim needs together, named as the claims table shows them."""
    if not parts:
        raise ValueError("all_of needs at least one comparison")
    return Joint(tuple(parts.items()))


@dataclass(frozen=True)
class Slope:
    """A trend decided by its 95% interval: the least-squares slope of ``y`` on ``x``, its
    two-sided t-interval (``n - 2`` degrees of freedom), the bound the claim sets, and the
    outcome: above the bound (holds), below it (fails), straddling it (inconclusive)."""

    slope: float
    low: float
    high: float
    bound: float
    n: int
    outcome: str
    why: str = ""

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.low):
            return f"no interval ({self.why})"
        f = f"{{:+.{digits}g}}"
        return (f"slope {f.format(self.slope)}, [{f.format(self.low)}, {f.format(self.high)}] "
                f"over {self.n} points, bound {self.bound:g}")  # fmt: skip


def slope_above(x: np.ndarray | list[float], y: np.ndarray | list[float], bound: float) -> Slope:
    """Decide "the slope of ``y`` against ``x`` is above ``bound``" (e.g. log shift against
    log data size: above -1/4, it does not fall like a sampling effect, n^-1/2). A non-finite
    ``y`` (a measurement lost) fails it."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    nan = float("nan")
    if not np.isfinite(y).all():
        return Slope(nan, nan, nan, bound, y.size, "fails", "a measurement was lost (NaN)")
    if y.size < 3 or np.ptp(x) == 0:
        return Slope(nan, nan, nan, bound, y.size, "inconclusive", "too few points for a slope")
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    se = math.sqrt(float(resid @ resid) / (y.size - 2) / float(((x - x.mean()) ** 2).sum()))
    half = t_quantile(y.size - 2) * se
    low, high = float(b) - half, float(b) + half
    outcome = "holds" if low > bound else "fails" if high < bound else "inconclusive"
    return Slope(float(b), low, high, bound, int(y.size), outcome)


@dataclass(frozen=True)
class Band:
    """A tolerance on every seed's value (e.g. a predicted / measured ratio within a quarter of
    1): holds when every value lies in ``[lo, hi]``, fails when none does, inconclusive when
    the seeds straddle a bound (their spread, the run-to-run noise, is wider than what the
    tolerance can decide). A lost value (NaN or infinite) fails it."""

    values: tuple[float, ...]
    lo: float
    hi: float
    outcome: str
    why: str = ""

    def text(self, digits: int = 3) -> str:
        if not self.values or not np.isfinite(self.values).all():
            return f"no range ({self.why})"
        f = f"{{:.{digits}g}}"
        n = len(self.values)
        return (f"{f.format(min(self.values))} to {f.format(max(self.values))} over {n} "
                f"seed{'s' if n > 1 else ''}, band {self.lo:g} to {self.hi:g}")  # fmt: skip


def within(values: np.ndarray | list[float], lo: float, hi: float) -> Band:
    """Decide "every seed's value lies in ``[lo, hi]``" (:class:`Band`)."""
    v = np.asarray(values, dtype=float).ravel()
    kept = tuple(float(x) for x in v)
    if not v.size:
        return Band(kept, lo, hi, "fails", "no value")
    if not np.isfinite(v).all():
        lost = ", ".join(map(str, np.flatnonzero(~np.isfinite(v))))
        return Band(kept, lo, hi, "fails", f"lost on seed(s) {lost}")
    inside = (v >= lo) & (v <= hi)
    if inside.all():
        return Band(kept, lo, hi, "holds")
    if not inside.any():
        return Band(kept, lo, hi, "fails")
    return Band(kept, lo, hi, "inconclusive", "the seeds straddle the band: their spread decides "
                "nothing; more seeds, or timings repeated on a quiet machine")  # fmt: skip
