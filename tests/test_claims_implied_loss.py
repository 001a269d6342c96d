"""Chapter 4's claims decided on constructed descent-path correlations (no training)."""

import numpy as np
import pytest

from synthgrad.chapters import implied_loss

NAN, INF = float("nan"), float("inf")
STEPS = 100  # a 100-step run measured every 10 steps: ten measurements after step 0
MEASURED = np.arange(10, 110, 10)
EARLY = [0.5, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5]  # peaks at step 20, then falls
LATE = [0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.85, 0.8, 0.75, 0.7]  # peaks at step 60, then falls
REBOUND = [0.5, 0.9, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.88]  # peaks early, then rises
RISING = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]  # peaks at the last measurement


def correlations(*profiles, levels=(0.6, 0.8, 1.0)):
    """(layer, measurement, seed): each seed's profile over training (three EARLY seeds by
    default), times each layer's level (lowest layer first): by default every claim holds."""
    profiles = profiles or (EARLY, EARLY, EARLY)
    seeds = np.stack([np.asarray(pr, dtype=float) for pr in profiles], axis=1)
    return np.stack([level * seeds for level in levels])


def verdicts(corr):
    return {c.id: c for c in implied_loss.claims(corr, MEASURED, STEPS)}


def status(corr, claim):
    return verdicts(corr)[claim].status


@pytest.mark.claim("C4.1", "holds")
@pytest.mark.claim("C4.2", "holds")
def test_every_claim_holds_when_higher_layers_agree_more_and_agreement_peaks_early():
    corr = correlations()
    claims = verdicts(corr)
    assert {k: c.status for k, c in claims.items()} == {"C4.1": "holds", "C4.2": "holds"}
    assert claims["C4.2"].regime == (
        "peaks at steps 20, 20, 20 of 100 (per seed), then falls by 0.32 to 0.32"
    )
    numbers = implied_loss.numbers(corr, MEASURED)
    assert numbers["corr_low"] == pytest.approx(0.6 * np.mean(EARLY))
    assert numbers["corr_high"] == pytest.approx(np.mean(EARLY))
    assert (numbers["best_step"], numbers["peak_steps"]) == (20, "20, 20, 20")
    assert numbers["drop_min"] == pytest.approx(0.8 * 0.4)
    assert numbers["diverged"] == 0


@pytest.mark.claim("C4.1", "fails")
def test_c4_1_fails_unless_each_layer_agrees_more_than_the_one_below():
    assert status(correlations(levels=(1.0, 0.8, 0.6)), "C4.1") == "does not hold"
    assert status(correlations(levels=(0.6, 1.0, 0.8)), "C4.1") == "does not hold"
    assert status(correlations(levels=(0.6, 0.6, 1.0)), "C4.1") == "does not hold"


@pytest.mark.claim("C4.1", "diverged")
def test_c4_1_a_diverged_seed_counts_against_it():
    nan_seed = correlations(EARLY, EARLY[:5] + [NAN] * 5, EARLY)
    assert status(nan_seed, "C4.1") == "does not hold"
    for layer in (0, 2):  # an infinite value, at the bottom or at the top
        for value in (INF, -INF):
            corr = correlations()
            corr[layer, 3, 1] = value
            assert status(corr, "C4.1") == "does not hold", (layer, value)


@pytest.mark.claim("C4.2", "in part")
def test_c4_2_holds_in_part_when_a_seed_peaks_late_and_then_falls():
    corr = correlations(EARLY, LATE, EARLY)
    claim = verdicts(corr)["C4.2"]
    assert claim.status == "holds in part"
    assert claim.regime.startswith("peaks at steps 20, 60, 20 of 100 (per seed)")
    assert status(correlations(LATE, LATE, LATE), "C4.2") == "holds in part"


@pytest.mark.claim("C4.2", "fails")
def test_c4_2_fails_when_a_seed_does_not_fall_after_its_peak():
    assert status(correlations(EARLY, REBOUND, EARLY), "C4.2") == "does not hold"
    # peaked at the last measurement: no line after it, even with the other seeds early
    assert status(correlations(EARLY, RISING, EARLY), "C4.2") == "does not hold"
    # a late peak that does not fall is not "in part" either
    assert status(correlations(LATE, RISING, LATE), "C4.2") == "does not hold"


@pytest.mark.claim("C4.2", "diverged")
def test_c4_2_a_diverged_seed_counts_against_it():
    """A NaN seed peaks at its first NaN (np.argmax) and np.polyfit's slope through a NaN or
    an infinite value is NaN: the seed does not fall, so the claim does not hold at all."""
    for diverged in (EARLY[:5] + [NAN] * 5, EARLY[:9] + [NAN], EARLY[:9] + [-INF]):
        corr = correlations(EARLY, diverged, EARLY)
        assert status(corr, "C4.2") == "does not hold", diverged
    corr = correlations(EARLY, EARLY, EARLY)
    corr[0, 4, 2] = INF  # one layer's correlation infinite at one measurement
    assert status(corr, "C4.2") == "does not hold"
    nan_seed = correlations(EARLY, EARLY[:5] + [NAN] * 5, EARLY)
    assert np.isnan(implied_loss.numbers(nan_seed, MEASURED)["corr_low"])
