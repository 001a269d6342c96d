"""Chapter 4's claims decided on constructed descent-path correlations (no training)."""

import numpy as np
import pytest

from synthgrad.chapters import implied_loss

NAN, INF = float("nan"), float("inf")
STEPS = 100  # a 100-step run measured every 10 steps: ten measurements after step 0
MEASURED = np.arange(10, 110, 10)
EARLY = [0.5, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5]  # peaks at step 20, then falls
LATE = [0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.85, 0.8, 0.75, 0.7]  # peaks at step 60, ends as at 50
FLAT_END = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9]  # better at the end, no longer rising
RISING = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]  # still rising at the end
REBOUND = [0.5, 0.9, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.88]  # peaks early, dips, rises again
JITTER = np.array([1.0, -1.0, 0.0, 0.5, -0.5, 1.0, -1.0, 0.0])  # seed to seed


def correlations(*profiles, levels=(0.6, 0.8, 1.0), seeds=8):
    """(layer, measurement, seed): each seed's profile over training (EARLY on every seed by
    default, ``profiles`` replacing the first ones), shifted by 0.01 x :data:`JITTER` per seed
    and times each layer's level (lowest layer first): by default every claim holds."""
    profiles = list(profiles) + [EARLY] * (seeds - len(profiles))
    per_seed = np.stack([np.asarray(pr, dtype=float) for pr in profiles], axis=1)
    per_seed = per_seed + 0.01 * JITTER[:seeds]
    return np.stack([level * per_seed for level in levels])


def verdicts(corr, first_order=None):
    """The claims, C4.1's control flat over the layers unless given (it gains nothing)."""
    first_order = np.full_like(corr, 0.9) if first_order is None else first_order
    return {c.id: c for c in implied_loss.claims(corr, first_order, MEASURED, STEPS)}


def status(corr, claim, first_order=None):
    return verdicts(corr, first_order)[claim].status


@pytest.mark.claim("C4.1", "holds")
@pytest.mark.claim("C4.2", "holds")
def test_every_claim_holds_when_higher_layers_agree_more_and_agreement_peaks_early():
    corr = correlations()
    claims = verdicts(corr)
    assert {k: c.status for k, c in claims.items()} == {"C4.1": "holds", "C4.2": "holds"}
    assert claims["C4.1"].regime == (
        "layer 1 is the lowest; gains more than the control over the layer below at 2>1, 3>2"
    )
    assert claims["C4.2"].regime == (
        "first half's best window 0.72, last window 0.40 (mean over seeds); per-seed peaks at "
        "steps 20, 20, 20, 20, 20, 20, 20, 20 of 100"
    )
    numbers = implied_loss.numbers(corr, np.full_like(corr, 0.9), MEASURED)
    assert numbers["corr_low"] == pytest.approx(0.6 * np.mean(EARLY))
    assert numbers["corr_high"] == pytest.approx(np.mean(EARLY))
    assert (numbers["best_step"], numbers["peak_steps"]) == (20, ", ".join(["20"] * 8))
    assert numbers["diverged"] == 0


@pytest.mark.claim("C4.1", "inconclusive")
@pytest.mark.claim("C4.2", "inconclusive")
def test_three_seeds_or_a_late_peak_decide_nothing():
    for claim in verdicts(correlations(seeds=3)).values():
        assert claim.status == "inconclusive"
        assert "fewer than 5 seeds" in claim.decide
    # the end no better and no worse than the first half: inside the noise
    claim = verdicts(correlations(*[LATE] * 8))["C4.2"]
    assert claim.status == "inconclusive"
    # still rising at the end of the budget: a longer run decides, whatever the rest says
    for profile in (RISING, REBOUND):
        claim = verdicts(correlations(*[profile] * 8))["C4.2"]
        assert claim.status == "inconclusive", profile
        assert claim.decide == "the agreement still rises at the end of the budget: a longer run"
    claim = verdicts(correlations(*[LATE] * 8))["C4.2"]  # eight identical seeds: a tie
    assert claim.decide == (
        "every seed tied (a difference of exactly 0); the end lies within the noise of the "
        "first half's best: a longer run, to see whether the agreement keeps falling"
    )


@pytest.mark.claim("C4.1", "in part")
@pytest.mark.claim("C4.1", "fails")
def test_c4_1_in_part_where_a_layer_ties_fails_where_one_agrees_less():
    claim = verdicts(correlations(levels=(0.6, 0.6, 1.0)))["C4.1"]
    assert (claim.status, claim.regime) == (
        "holds in part",
        "layer 1 is the lowest; gains more than the control over the layer below at 3>2",
    )
    assert status(correlations(levels=(1.0, 0.8, 0.6)), "C4.1") == "does not hold"
    claim = verdicts(correlations(levels=(0.6, 1.0, 0.8)))["C4.1"]
    assert (claim.status, claim.regime) == (
        "does not hold",
        "layer 1 is the lowest; gains more than the control over the layer below at 2>1; less at 3>2",
    )


@pytest.mark.claim("C4.1", "inconclusive")
@pytest.mark.claim("C4.1", "fails")
def test_c4_1_against_its_control_undecided_at_equal_gains_fails_at_larger_holds_at_smaller():
    """The control (the first-order prediction, which learns nothing) rising over the layers
    as much as the SG's agreement, or more: the ordering is the loss surface's, not the SG's."""
    corr = correlations()
    # the control's gains those of the SG, up to seed noise: nothing left to the SG, no verdict
    layers = np.arange(corr.shape[0])[:, None, None]
    same_gains = corr + 0.05 + 0.01 * JITTER * layers
    assert status(corr, "C4.1", first_order=same_gains) == "inconclusive"
    assert status(corr, "C4.1", first_order=1.5 * corr) == "does not hold"  # gains more
    half = 0.9 + 0.5 * (corr - corr[0])  # the control gains half of what the SG gains
    assert status(corr, "C4.1", first_order=half) == "holds"
    nan_control = np.full_like(corr, 0.9)
    nan_control[1, 4, 2] = NAN  # a NaN in the control is a lost seed as well
    assert status(corr, "C4.1", first_order=nan_control) == "does not hold"


@pytest.mark.claim("C4.1", "diverged")
def test_c4_1_a_diverged_seed_counts_against_it():
    nan_seed = correlations(EARLY, EARLY[:5] + [NAN] * 5)
    assert status(nan_seed, "C4.1") == "does not hold"
    for value in (INF, -INF):  # an infinite value at the top layer
        corr = correlations()
        corr[2, 3, 1] = value
        assert status(corr, "C4.1") != "holds", value


@pytest.mark.claim("C4.2", "fails")
def test_c4_2_fails_when_the_end_is_better_than_the_first_half():
    claim = verdicts(correlations(*[FLAT_END] * 8))["C4.2"]
    assert claim.status == "does not hold"
    assert claim.regime.startswith("first half's best window 0.56, last window 0.72")


@pytest.mark.claim("C4.2", "diverged")
def test_c4_2_a_diverged_seed_counts_against_it():
    """A seed whose agreement is NaN or infinite in the first half or at the end fails it."""
    for diverged in (EARLY[:5] + [NAN] * 5, EARLY[:9] + [NAN], [NAN] + EARLY[1:]):
        corr = correlations(diverged)
        assert status(corr, "C4.2") != "holds", diverged
    corr = correlations()
    corr[0, 1, 2] = INF  # one layer's correlation infinite at one measurement
    assert status(corr, "C4.2") == "does not hold"
    nan_seed = correlations(EARLY, EARLY[:5] + [NAN] * 5)
    assert np.isnan(
        implied_loss.numbers(nan_seed, np.full_like(nan_seed, 0.9), MEASURED)["corr_low"]
    )
