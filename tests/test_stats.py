"""The paired t-interval that decides a comparison over seeds (synthgrad.stats), and the
verdict engine's rules for it (ledger.judge): reversed, inconclusive, the deciding regime."""

import json

import numpy as np
import pytest

from synthgrad import ledger, stats

CLEAR = np.array([0.11, 0.09, 0.10, 0.12, 0.08, 0.10, 0.11, 0.09])  # 8 seeds, mean 0.1


def test_t_quantiles_match_the_tables():
    assert stats.t_quantile(4) == pytest.approx(2.776)
    assert stats.t_quantile(7) == pytest.approx(2.365)
    for df, exact in ((31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799)):
        assert stats.t_quantile(df) == pytest.approx(exact, abs=1e-3)
    with pytest.raises(ValueError, match="degree of freedom"):
        stats.t_quantile(0)


def test_a_clear_effect_over_eight_seeds_holds_and_its_interval_is_the_t_interval():
    base = np.linspace(0.5, 0.6, 8)
    p = stats.paired(base + CLEAR, base)
    assert p.outcome == "holds" and p.n == 8
    half = 2.365 * CLEAR.std(ddof=1) / np.sqrt(8)
    assert (p.low, p.high) == pytest.approx((0.1 - half, 0.1 + half))
    assert "over 8 seeds" in p.text()


def test_the_other_way_round_is_reversed_and_below_the_margin_fails():
    base = np.zeros(8)
    assert stats.paired(base - CLEAR, base).outcome == "reversed"
    assert stats.paired(base + CLEAR, base, margin=0.5).outcome == "fails"
    assert stats.paired(base + CLEAR, base, margin=0.05).outcome == "holds"
    # smaller is better (a loss): a lower loss holds
    assert stats.paired(base - CLEAR, base, higher=False).outcome == "holds"


def test_noise_and_few_seeds_are_inconclusive():
    noise = np.array([0.1, -0.1, 0.05, -0.08, 0.02, -0.01, 0.03, -0.04])
    assert stats.paired(noise, np.zeros(8)).outcome == "inconclusive"
    few = stats.paired(CLEAR[:3], np.zeros(3))  # clear, but three seeds: inconclusive by rule
    assert few.outcome == "inconclusive" and "fewer than 5 seeds" in few.why
    assert stats.paired([0.1], [0.0]).outcome == "inconclusive"
    tied = stats.paired([2.0] * 5, [2.0] * 5)  # a tie on every seed says so
    assert tied.outcome == "inconclusive" and "every seed tied" in tied.why
    assert stats.paired([2.0] * 5, [2.0] * 5, margin=-1.0).outcome == "holds"  # within the margin
    few_tied = stats.paired([2.0] * 3, [2.0] * 3)  # three seeds: inconclusive by rule, and tied
    assert "fewer than 5 seeds" in few_tied.why and "every seed tied" in few_tied.why
    with pytest.raises(ValueError, match="one per seed"):
        stats.paired([0.1, 0.2], [0.0])
    # a verdict undecided at one part by noise and at another by a tie names both
    parts = {"T = 4": stats.paired(noise, np.zeros(8)), "T = 8": tied}
    decide = ledger.judge(parts, decides=list(parts)).decide
    assert decide == "an interval clear of the margin; every seed tied (a difference of exactly 0)"
    assert ledger.judge({"T = 4": parts["T = 4"]}).decide == "an interval clear of the margin"


def test_a_diverged_seed_of_the_claims_method_fails_and_of_the_baseline_is_named():
    a = CLEAR.copy()
    a[2] = np.nan
    lost = stats.paired(a, np.zeros(8))
    assert lost.outcome == "fails" and "seed(s) 2" in lost.why
    b = np.zeros(8)
    b[5] = np.inf
    left = stats.paired(CLEAR, b)
    assert left.outcome == "holds" and left.n == 7 and "baseline diverged on seed(s) 5" in left.why


def test_a_part_reversed_anywhere_means_the_claim_does_not_hold():
    zero = np.zeros(8)
    parts = {3: stats.paired(CLEAR, zero), 6: stats.paired(-CLEAR, zero)}
    v = ledger.judge(parts, regime="held at {held}; reversed at {reversed}")
    assert (v.status, v.regime) == ("does not hold", "held at 3; reversed at 6")
    assert v.interval.startswith("3: [") and "; 6: [" in v.interval
    parts[6] = False  # failed, not reversed: the claim still holds at 3
    assert ledger.judge(parts).status == "holds in part"


def test_the_deciding_regime_decides():
    zero = np.zeros(8)
    holds, noise = stats.paired(CLEAR, zero), stats.paired(CLEAR[:3], zero[:3])
    assert ledger.judge({3: holds, 50: False}, decides=[50]).status == "does not hold"
    v = ledger.judge({3: holds, 50: noise}, decides=[50])
    assert v.status == "inconclusive" and "fewer than 5 seeds" in v.decide
    assert ledger.judge({3: False, 50: holds}, decides=[50]).status == "holds in part"
    with pytest.raises(ValueError, match="not among the parts"):
        ledger.judge({3: holds}, decides=[50])


def test_inconclusive_everywhere_is_inconclusive_and_says_what_would_decide():
    noise = stats.paired(CLEAR[:4], np.zeros(4))
    v = ledger.judge({"a": noise, "b": noise})
    assert v.status == "inconclusive" and v.decide
    assert ledger.judge({"a": noise}, decide="a longer budget").decide.endswith("; a longer budget")
    assert ledger.judge({"a": noise, "b": False}).status == "does not hold"


def test_the_ledger_records_four_statuses_and_holds_only_for_holds(tmp_path, monkeypatch):
    monkeypatch.setenv(ledger.RESULTS_ENV, str(tmp_path))
    noise = stats.paired(CLEAR[:4], np.zeros(4))
    claims = [
        ledger.Claim("C9.1", "x", "x", "x", ledger.judge({"a": noise})),
        ledger.Claim("C9.2", "x", "x", "x", ledger.judge(True)),
    ]
    doc = json.loads(ledger.write("09_test", claims, {}, quick=False).read_text())
    ledger.check(doc)
    got = [(c["status"], c["holds"]) for c in doc["claims"]]
    assert got == [("inconclusive", False), ("holds", True)]
    assert doc["claims"][0]["interval"] and doc["claims"][0]["decide"]
    assert "95% interval" in ledger.table(claims).columns
    doc["claims"][0]["holds"] = True
    with pytest.raises(ValueError, match="holds is true"):
        ledger.check(doc)
    doc["claims"][0]["status"] = "probably"
    with pytest.raises(ValueError, match="status must be one of"):
        ledger.check(doc)


def test_all_of_needs_every_comparison():
    """A claim that needs several comparisons: reversed if one is, failed if one fails,
    undecided if one is, else holds; the table shows each interval by name."""
    holds = stats.paired(CLEAR, np.zeros(8))
    noise = stats.paired(CLEAR - CLEAR.mean(), np.zeros(8))
    below = stats.paired(np.zeros(8), CLEAR)
    assert stats.all_of(a=holds, b=holds).outcome == "holds"
    assert stats.all_of(a=holds, b=noise).outcome == "inconclusive"
    assert stats.all_of(a=holds, b=below, c=noise).outcome == "reversed"
    small = stats.paired(CLEAR, np.zeros(8), margin=10 * CLEAR.max())
    assert stats.all_of(a=holds, b=small, c=noise).outcome == "fails"
    v = ledger.judge(stats.all_of(backprop=holds, control=noise))
    assert v.status == "inconclusive"
    assert v.interval.startswith("backprop [") and "; control [" in v.interval
    with pytest.raises(ValueError, match="at least one"):
        stats.all_of()


def test_a_trend_still_moving_leaves_any_verdict_undecided():
    holds = stats.paired(CLEAR, np.zeros(8))
    v = ledger.judge(holds, moving="the loss still falls")
    assert (v.status, v.decide) == (
        "inconclusive",
        "the loss still falls at the end of the budget: a longer run",
    )
    assert ledger.judge(holds).status == "holds"


def test_the_book_run_is_the_small_version_where_the_store_measures_the_claim():
    claims = ledger.label_small_versions(
        [ledger.Claim(i, "x", "x", "x", ledger.judge(True)) for i in ("C9.1", "C9.1p", "C9.2")]
    )
    assert [c.decided_by for c in claims] == ["C9.1p", "", ""]
    text = ledger.table(claims).loc["C9.1", "verdict"]
    assert text == "small version: holds [verdict of record: C9.1p, in the results store]"


def test_the_claims_table_says_whether_a_fresh_seed_agreed(tmp_path, monkeypatch):
    monkeypatch.setenv(ledger.RESULTS_ENV, str(tmp_path / "results"))
    claims = [
        ledger.Claim(i, "x", "x", "x", ledger.judge(ok))
        for i, ok in (("C9.1", True), ("C9.2", True))
    ]
    rerun = [ledger.Claim("C9.1", "x", "x", "x", ledger.judge(True)),
             ledger.Claim("C9.2", "x", "x", "x", ledger.judge(False))]  # fmt: skip
    monkeypatch.setenv(ledger.RESULTS_ENV, str(tmp_path / "fresh"))
    ledger.write("09_test", rerun, {"seed": 1000, "n_seeds": 3}, quick=False)
    got = ledger.fresh("09_test", tmp_path / "fresh")
    assert got == {
        "C9.1": ("holds", "seeds 1000-1002", "x"),
        "C9.2": ("does not hold", "seeds 1000-1002", "x"),
    }
    column = ledger.table(claims, got)["fresh seed"].tolist()
    assert column == ["agrees (seeds 1000-1002)", "differs: does not hold (seeds 1000-1002)"]
    assert ledger.fresh("09_other", tmp_path / "fresh") == {}
    assert ledger.agreement("holds", ("holds", "seeds 1000-1002", "x"), "results store: x") == (
        "the store's runs (not rerun)"
    )
    # a rerun that judged another criterion than the claim's now is stale, not an agreement
    changed = [ledger.Claim("C9.1", "x", "x", "y", ledger.judge(True))]
    assert ledger.table(changed, got)["fresh seed"].iloc[0].startswith("stale: the rerun judged")
    assert "fresh seed" not in ledger.table(claims).columns


def test_a_slope_is_decided_by_its_interval_against_the_bound():
    x = np.log10([500, 5_000, 50_000, 500_000] * 5)
    noise = np.tile([0.01, -0.01, 0.02, -0.02, 0.0], 4)
    flat = stats.slope_above(x, -1.3 + noise, -0.25)
    assert flat.outcome == "holds" and flat.n == 20
    falling = stats.slope_above(x, -1.3 - 0.5 * (x - x.min()) + noise, -0.25)
    assert falling.outcome == "fails" and falling.slope == pytest.approx(-0.5, abs=0.01)
    assert stats.slope_above(x, -0.25 * x + 5 * noise, -0.25).outcome == "inconclusive"
    lost = stats.slope_above(x, np.where(np.arange(20) == 3, np.nan, -1.3), -0.25)
    assert lost.outcome == "fails" and "lost" in lost.text()
    assert ledger.judge({"a": flat, "b": falling}).status == "holds in part"


def test_a_band_holds_inside_fails_outside_and_is_undecided_across_a_bound():
    assert stats.within([0.9, 1.1, 1.2], 0.75, 1.25).outcome == "holds"
    assert stats.within([1.3, 2.0], 0.75, 1.25).outcome == "fails"
    assert stats.within([0.5, 2.0], 0.75, 1.25).outcome == "fails"  # outside on both sides
    across = stats.within([1.0, 1.4], 0.75, 1.25)
    assert across.outcome == "inconclusive" and "straddle" in across.why
    lost = stats.within([1.0, float("nan")], 0.75, 1.25)
    assert (lost.outcome, lost.why) == ("fails", "lost on seed(s) 1")
    assert stats.within([1.0, float("inf")], 0.75, 1.25).outcome == "fails"
    assert stats.within([], 0.75, 1.25).outcome == "fails"
    assert across.text() == "1 to 1.4 over 2 seeds, band 0.75 to 1.25"
    verdict = ledger.judge({"a": stats.within([1.0, 1.1], 0.75, 1.25), "b": across})
    assert verdict.status == "holds in part" and "b: 1 to 1.4" in verdict.interval
