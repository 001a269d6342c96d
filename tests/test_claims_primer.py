"""Chapter 1's claims decided on constructed final accuracies (no training)."""

import numpy as np
import pytest

from synthgrad import analysis, ledger
from synthgrad.chapters import primer

NAN = float("nan")


SPREAD = np.array([0.002, -0.001, 0.0, 0.001, -0.002, 0.001, -0.001, 0.0])  # seed to seed


def accuracies(seeds=8, **change):
    """Final held-out accuracy per seed of every method: by default every claim holds (the SGs
    vary from seed to seed, so that the paired differences have a spread)."""
    acc = {
        "backprop": [0.95] * 8,
        "SG middle, cDNI": 0.94 + SPREAD,
        "SG middle, DNI": [0.92] * 8,
        "SG every layer, cDNI": 0.93 + SPREAD,
        "SG every layer, DNI": [0.90] * 8,
        analysis.CONTROL: [0.90] * 8,
        analysis.CONTROL_EVERY: [0.85] * 8,
    }
    acc = {k: np.asarray(v, dtype=float)[:seeds] for k, v in acc.items()}
    acc.update({k: np.asarray(v, dtype=float) for k, v in change.items()})
    return acc


def status(acc, claim, dni=None):
    return {c.id: c.status for c in primer.claims(acc, dni)}[claim]


def seeds(value, *others):
    """Eight seeds: ``value`` on the first ones, then ``others``."""
    return [value] * (8 - len(others)) + list(others)


@pytest.mark.claim("C1.1", "holds")
@pytest.mark.claim("C1.2", "holds")
@pytest.mark.claim("C1.3", "holds")
def test_every_claim_holds_on_accuracies_that_meet_them():
    acc = accuracies()
    claims = {c.id: c for c in primer.claims(acc)}
    assert {k: c.status for k, c in claims.items()} == dict.fromkeys(
        ["C1.1", "C1.2", "C1.3"], "holds"
    )
    assert "over 8 seeds, margin 0.01" in claims["C1.2"].interval
    numbers = primer.numbers(acc)
    assert numbers["gap_middle_points"] == pytest.approx(1.0)
    assert numbers["margin_every_min"] == pytest.approx(7.8)


@pytest.mark.claim("C1.1", "inconclusive")
@pytest.mark.claim("C1.2", "inconclusive")
@pytest.mark.claim("C1.3", "inconclusive")
def test_three_seeds_decide_nothing():
    """The chapter's default run has 3 seeds: "better on every seed" happens one time in eight
    with no effect, so fewer than 5 is inconclusive by rule, however clear the seeds look."""
    claims = {c.id: c for c in primer.claims(accuracies(seeds=3))}
    for c in claims.values():
        assert c.status == "inconclusive", c.id
        assert "fewer than 5 seeds" in c.decide


@pytest.mark.claim("C1.1", "fails")
def test_c1_1_fails_far_from_backprop_or_near_its_control():
    far = accuracies(**{"SG middle, cDNI": 0.92 + SPREAD})
    assert status(far, "C1.1") == "does not hold"
    near_control = accuracies(**{analysis.CONTROL: 0.935 + SPREAD / 4})
    assert status(near_control, "C1.1") == "does not hold"


@pytest.mark.claim("C1.1", "diverged")
@pytest.mark.claim("C1.2", "diverged")
@pytest.mark.claim("C1.3", "diverged")
def test_a_diverged_seed_counts_against_every_claim():
    for method, claim in [("SG middle, cDNI", "C1.1"), ("SG every layer, cDNI", "C1.2")]:
        acc = accuracies(**{method: seeds(0.94, NAN)})
        assert status(acc, claim) == "does not hold", (method, claim)
    acc = accuracies(**{"SG every layer, cDNI": seeds(0.94, NAN)})
    c13 = {c.id: c for c in primer.claims(acc)}["C1.3"]
    assert (c13.status, c13.regime) == (
        "holds in part",
        "cDNI better with the SG middle; not shown with the SG every layer",
    )
    assert "diverged on seed(s) 7" in c13.interval


@pytest.mark.claim("C1.2", "fails")
def test_c1_2_fails_when_the_interval_reaches_below_a_point():
    """A mean margin of more than a point is not enough when the seeds spread below it."""
    acc = accuracies(**{"SG every layer, cDNI": seeds(0.87, 0.855, 0.855, 0.855)})
    claim = {c.id: c for c in primer.claims(acc)}["C1.2"]
    assert claim.status == "inconclusive"  # straddles the margin
    acc = accuracies(**{"SG every layer, cDNI": 0.855 + SPREAD})
    assert status(acc, "C1.2") == "does not hold"  # entirely below a point


@pytest.mark.claim("C1.3", "in part")
@pytest.mark.claim("C1.3", "fails")
def test_c1_3_in_part_where_one_placement_shows_it_reversed_where_dni_is_better():
    acc = accuracies(**{"SG middle, DNI": 0.94 + SPREAD[::-1]})
    claim = {c.id: c for c in primer.claims(acc)}["C1.3"]
    assert claim.status == "holds in part"
    assert claim.regime == "cDNI better with the SG every layer; not shown with the SG middle"
    acc = accuracies(**{"SG middle, DNI": seeds(0.95)})
    assert status(acc, "C1.3") == "does not hold"  # reversed in one placement


def table(change=None, n=8):
    """The store's table (per (depth, method), each seed's accuracy): by default C1.4p holds."""
    acc = {"backprop": 0.97, "cDNI": 0.965, "DNI": 0.95, analysis.CONTROL_EVERY: 0.90}
    out = {(d, m): np.full(n, a) + (SPREAD[:n] if m == "cDNI" else 0) for d in (3, 4)
           for m, a in acc.items()}  # fmt: skip
    out.update({k: np.asarray(v, dtype=float) for k, v in (change or {}).items()})
    return out


@pytest.mark.claim("C1.4p", "holds")
def test_c1_4p_holds_at_every_complete_depth():
    claim = {c.id: c for c in primer.claims(accuracies(), table())}["C1.4p"]
    assert claim.status == "holds"
    assert claim.regime == "the store's complete depths: 3, 4 hidden layers; holds at 3, 4"
    assert primer.numbers(accuracies(), table())["dni_margin_min"] == pytest.approx(6.3)


@pytest.mark.claim("C1.4p", "inconclusive")
def test_c1_4p_the_stores_three_seeds_decide_nothing():
    claim = {c.id: c for c in primer.claims(accuracies(), table(n=3))}["C1.4p"]
    assert claim.status == "inconclusive"


@pytest.mark.claim("C1.4p", "in part")
@pytest.mark.claim("C1.4p", "fails")
def test_c1_4p_fails_at_one_depth_and_judges_complete_depths_only():
    dni_better = table({(4, "DNI"): seeds(0.95, 0.97, 0.97, 0.97, 0.97)})
    assert status(accuracies(), "C1.4p", dni_better) == "holds in part"
    assert status(accuracies(), "C1.4p", table({(4, "cDNI"): 0.94 + SPREAD})) == "does not hold"
    incomplete = {k: v for k, v in table({(4, "cDNI"): [0.5] * 8}).items() if k != (4, "DNI")}
    claim = {c.id: c for c in primer.claims(accuracies(), incomplete)}["C1.4p"]
    assert (claim.status, claim.regime) == (
        "holds",
        "the store's complete depths: 3 hidden layers; holds at 3",
    )


@pytest.mark.claim("C1.4p", "diverged")
def test_c1_4p_a_diverged_seed_counts_against_it():
    """A seed cDNI lost fails the depth; one backprop lost is left out and named."""
    assert status(accuracies(), "C1.4p", table({(3, "cDNI"): seeds(0.965, NAN)})) == (
        "holds in part"
    )
    claim = {
        c.id: c for c in primer.claims(accuracies(), table({(3, "backprop"): seeds(0.97, NAN)}))
    }["C1.4p"]
    assert claim.status == "holds"
    assert "baseline diverged on seed(s) 7" in claim.interval


def test_no_store_no_paper_scale_claim():
    assert [c.id for c in primer.claims(accuracies(), {})] == ["C1.1", "C1.2", "C1.3"]
    assert "dni_margin_min" not in primer.numbers(accuracies(), {})


def middle(change=None, n=8):
    """The depth sweep's runs with one SG in the middle (per (depth, method), each seed's
    accuracy, and the unconditioned middle SG's): by default C1.1p holds (the SG a point below
    backprop, five above its control) and the label helps the middle SG by two points."""
    acc = {
        "backprop": 0.95,
        "SG middle, cDNI": 0.94,
        analysis.CONTROL: 0.89,
        "SG middle, DNI": 0.92,
    }
    out = {(d, m): np.full(n, a) + (SPREAD[:n] if m == "SG middle, cDNI" else 0)
           for d in (3, 6) for m, a in acc.items()}  # fmt: skip
    out.update({k: np.asarray(v, dtype=float) for k, v in (change or {}).items()})
    return out


def stored(dni=None, mid=None):
    """C1.1p, C1.2p and C1.3p's statuses on the store's tables (by default every one holds)."""
    found = primer.stored_claims(
        table() if dni is None else dni, "scale", middle() if mid is None else mid, "scale"
    )
    return {c.id: c.status for c in found}


@pytest.mark.claim("C1.1p", "holds")
@pytest.mark.claim("C1.2p", "holds")
@pytest.mark.claim("C1.3p", "holds")
def test_the_verdicts_of_record_hold_on_stores_that_meet_the_book_runs_criteria():
    claims = {c.id: c for c in primer.claims(accuracies(), table(), "s", middle(), "m")}
    assert {k: claims[k].status for k in ("C1.1p", "C1.2p", "C1.3p")} == dict.fromkeys(
        ("C1.1p", "C1.2p", "C1.3p"), "holds"
    )
    assert (
        claims["C1.1p"].regime == "the store's complete depths: 3, 6 hidden layers; holds at 3, 6"
    )
    assert (claims["C1.1p"].scale, claims["C1.2p"].scale) == ("m", "s")
    ledger.label_small_versions(list(claims.values()))
    assert claims["C1.3p"].regime == (
        "SG placement (hidden layers): holds at middle (3), middle (6), every layer (3), every layer (4)"
    )
    assert claims["C1.3p"].scale == (
        "one SG in the middle: m (DNI: store/01_middle_dni); an SG after every layer: s"
    )
    ledger.label_small_versions(list(claims.values()))
    assert [claims[k].decided_by for k in ("C1.1", "C1.2", "C1.3")] == ["C1.1p", "C1.2p", "C1.3p"]
    n = primer.numbers(
        accuracies(), table(), middle(), {(3, "backprop"): [0.02], (3, "SG middle, cDNI"): [0.01]}
    )
    assert (n["middle_over_bp_min"], n["middle_over_bp_max"]) == (pytest.approx(-1.0),) * 2
    assert (n["middle_label_gain_min"], n["middle_label_gain_max"]) == (pytest.approx(2.0),) * 2
    assert n["middle_train_loss"] == "3 hidden layers: 0.010 against 0.020"


@pytest.mark.claim("C1.1p", "in part")
@pytest.mark.claim("C1.1p", "fails")
def test_c1_1p_in_part_where_one_depth_falls_short_and_fails_near_its_control():
    edge = middle({(6, "SG middle, cDNI"): 0.93 + 3 * SPREAD})  # about 2 points below at 6
    assert stored(mid=edge)["C1.1p"] == "holds in part"
    far = middle({(6, "SG middle, cDNI"): 0.92 + SPREAD})  # 3 points below backprop at 6
    assert stored(mid=far)["C1.1p"] == "does not hold"
    near = {(d, analysis.CONTROL): 0.935 + SPREAD / 4 for d in (3, 6)}
    assert stored(mid=middle(near))["C1.1p"] == "does not hold"
    incomplete = {k: v for k, v in middle().items() if k != (6, analysis.CONTROL)}
    claim = {c.id: c for c in primer.stored_claims({}, "", incomplete, "m")}["C1.1p"]
    assert claim.regime == "the store's complete depths: 3 hidden layers; holds at 3"
    assert "C1.1p" not in stored(mid={})  # the store holds none of it: no claim


@pytest.mark.claim("C1.2p", "in part")
@pytest.mark.claim("C1.2p", "fails")
def test_c1_2p_in_part_at_one_depth_and_fails_at_both():
    weak = {(4, "cDNI"): 0.905 + SPREAD}  # half a point over its control, five under DNI's 0.95
    assert stored(dni=table(weak)) == {
        "C1.1p": "holds",
        "C1.2p": "holds in part",
        "C1.3p": "does not hold",  # DNI above cDNI at 4 on every seed: reversed
    }
    at_control = {(d, analysis.CONTROL_EVERY): 0.96 + SPREAD / 4 for d in (3, 4)}
    assert stored(dni=table(at_control))["C1.2p"] == "does not hold"


@pytest.mark.claim("C1.3p", "in part")
@pytest.mark.claim("C1.3p", "fails")
def test_c1_3p_needs_the_label_to_help_in_both_placements_at_every_depth():
    level = {(d, "DNI"): 0.965 + SPREAD[::-1] for d in (3, 4)}  # as good as cDNI: undecided
    assert stored(dni=table(level))["C1.3p"] == "holds in part"  # the middle's half holds
    found = {c.id: c for c in primer.stored_claims(table(level), "s", middle(), "m")}["C1.3p"]
    assert found.regime == (
        "SG placement (hidden layers): holds at middle (3), middle (6); "
        "not shown at every layer (3), every layer (4)"
    )
    mid_level = {(d, "SG middle, DNI"): 0.94 + SPREAD[::-1] for d in (3, 6)}
    assert stored(dni=table(level), mid=middle(mid_level))["C1.3p"] == "inconclusive"
    better = {(d, "DNI"): np.full(8, 0.97) for d in (3, 4)}
    assert stored(dni=table(better))["C1.3p"] == "does not hold"
    mid_better = {(6, "SG middle, DNI"): np.full(8, 0.95)}  # DNI better in the middle at 6
    assert stored(mid=middle(mid_better))["C1.3p"] == "does not hold"
    assert stored(dni=table({(4, "DNI"): 0.965 + SPREAD[::-1]}))["C1.3p"] == "holds in part"
    # one placement missing from the store: no C1.3p (C1.3 stays the book run's)
    no_dni = {k: v for k, v in middle().items() if k[1] != "SG middle, DNI"}
    assert "C1.3p" not in stored(mid=no_dni) and "C1.1p" in stored(mid=no_dni)
    assert "C1.3p" not in stored(dni={})


@pytest.mark.claim("C1.1p", "diverged")
@pytest.mark.claim("C1.2p", "diverged")
@pytest.mark.claim("C1.3p", "diverged")
def test_a_seed_the_stored_sg_lost_counts_against_each_verdict_of_record():
    lost = stored(
        dni=table({(3, "cDNI"): seeds(0.965, NAN)}),
        mid=middle({(3, "SG middle, cDNI"): seeds(0.94, NAN)}),
    )
    assert lost == dict.fromkeys(("C1.1p", "C1.2p", "C1.3p"), "holds in part")


@pytest.mark.claim("C1.1p", "inconclusive")
@pytest.mark.claim("C1.2p", "inconclusive")
@pytest.mark.claim("C1.3p", "inconclusive")
def test_a_store_of_three_seeds_decides_no_verdict_of_record():
    few = stored(dni=table(n=3), mid=middle(n=3))
    assert few == dict.fromkeys(("C1.1p", "C1.2p", "C1.3p"), "inconclusive")


def test_the_stored_runs_the_verdicts_of_record_read_are_the_sweeps():
    """C1.1p reads the depth sweep's cells by label: a renamed method or depth would make it
    vanish silently, so every label it reads must be one of the sweep's runs."""
    from synthgrad.chapters import depth_sweep, dni_table, registered

    runs = depth_sweep.final_experiment().runs
    for d in dni_table.MIDDLE_DEPTHS:
        for m in dni_table.MIDDLE:
            assert registered.final_label(("relu", d, m)) in runs, (d, m)


def test_a_diverged_seed_makes_the_quoted_spans_nan_wherever_it_falls():
    """Python's min and max over a list with a NaN answer by the list's order; the spans the
    prose quotes are NaN (no measurement) where any seed or depth diverged."""
    for where in (3, 4):
        lost = table({(where, "cDNI"): np.r_[0.965, np.nan, np.full(6, 0.965)]})
        n = primer.numbers(accuracies(), lost)
        assert np.isnan(n["dni_margin_min"]) and np.isnan(n["dni_margin_max"])
    from synthgrad.chapters import primer_claims

    assert all(np.isnan(primer_claims._span([])))
    assert primer_claims._span([1.0, np.array([3.0, -2.0])]) == (-2.0, 3.0)
