"""Chapter 1's claims decided on constructed final accuracies (no training)."""

import numpy as np
import pytest

from synthgrad import analysis
from synthgrad.chapters import primer

NAN = float("nan")


def accuracies(**change):
    """Final held-out accuracy per seed of every method: by default every claim holds."""
    acc = {
        "backprop": [0.95, 0.95, 0.95],
        "SG middle, cDNI": [0.94, 0.94, 0.94],
        "SG middle, DNI": [0.92, 0.92, 0.92],
        "SG every layer, cDNI": [0.93, 0.93, 0.93],
        "SG every layer, DNI": [0.90, 0.90, 0.90],
        analysis.CONTROL: [0.90, 0.90, 0.90],
        analysis.CONTROL_EVERY: [0.85, 0.85, 0.85],
    }
    acc.update(change)
    return {k: np.asarray(v, dtype=float) for k, v in acc.items()}


def status(acc, claim, dni=None):
    return {c.id: c.status for c in primer.claims(acc, dni)}[claim]


@pytest.mark.claim("C1.1", "holds")
@pytest.mark.claim("C1.2", "holds")
@pytest.mark.claim("C1.3", "holds")
def test_every_claim_holds_on_accuracies_that_meet_them():
    acc = accuracies()
    assert {c.id: c.status for c in primer.claims(acc)} == dict.fromkeys(
        ["C1.1", "C1.2", "C1.3"], "holds"
    )
    numbers = primer.numbers(acc)
    assert numbers["gap_middle_points"] == pytest.approx(1.0)
    assert numbers["margin_every_min"] == pytest.approx(8.0)


@pytest.mark.claim("C1.1", "fails")
def test_c1_1_fails_far_from_backprop_or_near_its_control():
    assert status(accuracies(**{"SG middle, cDNI": [0.92, 0.92, 0.92]}), "C1.1") == "does not hold"
    near_control = accuracies(**{analysis.CONTROL: [0.935, 0.90, 0.90]})
    assert status(near_control, "C1.1") == "does not hold"


@pytest.mark.claim("C1.1", "diverged")
@pytest.mark.claim("C1.2", "diverged")
@pytest.mark.claim("C1.3", "diverged")
def test_a_diverged_seed_counts_against_every_claim():
    for method, claim in [
        ("SG middle, cDNI", "C1.1"),
        ("SG every layer, cDNI", "C1.2"),
        ("SG every layer, cDNI", "C1.3"),
    ]:
        acc = accuracies(**{method: [0.94, NAN, 0.94]})
        assert status(acc, claim) == "does not hold", (method, claim)


@pytest.mark.claim("C1.2", "fails")
def test_c1_2_fails_when_one_seed_is_not_a_point_above_the_control():
    acc = accuracies(**{"SG every layer, cDNI": [0.93, 0.855, 0.93]})
    assert status(acc, "C1.2") == "does not hold"


@pytest.mark.claim("C1.3", "fails")
def test_c1_3_fails_when_the_label_does_not_help_on_one_seed():
    acc = accuracies(**{"SG middle, DNI": [0.92, 0.95, 0.92]})
    assert status(acc, "C1.3") == "does not hold"


def table(change=None):
    """The store's table (per (depth, method), each seed's accuracy): by default C1.4p holds."""
    acc = {"backprop": 0.97, "cDNI": 0.965, "DNI": 0.95, analysis.CONTROL_EVERY: 0.90}
    out = {(d, m): np.full(3, a) for d in (3, 4) for m, a in acc.items()}
    out.update({k: np.asarray(v, dtype=float) for k, v in (change or {}).items()})
    return out


@pytest.mark.claim("C1.4p", "holds")
def test_c1_4p_holds_at_every_complete_depth():
    claim = {c.id: c for c in primer.claims(accuracies(), table())}["C1.4p"]
    assert claim.status == "holds"
    assert claim.regime == "hidden layers 3, 4 (the store's complete depths)"
    assert primer.numbers(accuracies(), table())["dni_margin_min"] == pytest.approx(6.5)


@pytest.mark.claim("C1.4p", "fails")
def test_c1_4p_fails_at_one_depth_and_judges_complete_depths_only():
    assert status(accuracies(), "C1.4p", table({(4, "DNI"): [0.95, 0.97, 0.95]})) == (
        "does not hold"
    )
    assert status(accuracies(), "C1.4p", table({(4, "cDNI"): [0.94] * 3})) == "does not hold"
    incomplete = {k: v for k, v in table({(4, "cDNI"): [0.5] * 3}).items() if k != (4, "DNI")}
    claim = {c.id: c for c in primer.claims(accuracies(), incomplete)}["C1.4p"]
    assert (claim.status, claim.regime) == (
        "holds",
        "hidden layers 3 (the store's complete depths)",
    )


@pytest.mark.claim("C1.4p", "diverged")
def test_c1_4p_a_diverged_seed_counts_against_it():
    """pandas' mean skips NaN: the chapter's mean error must not."""
    assert status(accuracies(), "C1.4p", table({(3, "cDNI"): [0.965, 0.965, NAN]})) == (
        "does not hold"
    )
    assert status(accuracies(), "C1.4p", table({(3, "backprop"): [0.97, NAN, 0.97]})) == (
        "does not hold"
    )


def test_no_store_no_paper_scale_claim():
    assert [c.id for c in primer.claims(accuracies(), {})] == ["C1.1", "C1.2", "C1.3"]
    assert "dni_margin_min" not in primer.numbers(accuracies(), {})
