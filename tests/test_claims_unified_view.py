"""Chapter 6's claims decided on constructed identities tables and alignments (no training),
and the identity verdict helper :func:`synthgrad.compare.identity_holds`."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from synthgrad import compare
from synthgrad.chapters import unified_view, unified_view_store
from synthgrad.train import History

NAN, INF = float("nan"), float("inf")
CLAIMS = ("C6.1", "C6.2", "C6.3")


def identities(**change):
    """The identities table, one row per (claim, network): by default every identity holds
    (float32-size differences, rules far from backprop on the fresh network). ``change`` sets
    ``{claim}_{network}`` (network: fresh, classes, parity) to (relative difference, rule vs
    backprop)."""
    rows = []
    for claim, by in unified_view.TRAINED_BY.items():
        for key, network in [
            ("fresh", "fresh"),
            ("classes", f"trained by {by}, 10 classes"),
            ("parity", f"trained by {by}, parity"),
        ]:
            diff, apart = change.get(f"{claim.replace('.', '_')}_{key}", (2e-7, 0.5))
            rows.append(
                {
                    "claim": claim,
                    "comparison": compare.IDENTITIES[claim][0],
                    "network": network,
                    "relative difference": diff,
                    "rule vs backprop": apart,
                }
            )
    return pd.DataFrame(rows).set_index(["claim", "network"])


JITTER = np.array([1.0, -1.0, 0.0, 0.5, -0.5, 1.0, -1.0, 0.0])  # seed to seed


def alignments(seeds=3, **change):
    """Late alignment per rule, (seeds, 3 layers): by default the cDNI SG beats FA and DFA
    at every layer on every seed (it varies from seed to seed)."""
    base = {
        "backprop": 1.0,
        "FA": 0.2,
        "DFA": 0.1,
        "Kickback": 0.05,
        "SG every layer, DNI": 0.3,
        "SG every layer, cDNI": 0.4,
        "learned error SG": 0.9,
    }
    late = {name: np.full((seeds, 3), v) for name, v in base.items()}
    late["SG every layer, cDNI"] += 0.02 * JITTER[:seeds, None]
    late.update({k: np.asarray(v, dtype=float) for k, v in change.items()})
    return late


def claimed(late=None, table=None):
    return {
        c.id: c
        for c in unified_view.claims(
            alignments() if late is None else late, identities() if table is None else table
        )
    }


def status(claim, late=None, table=None):
    return claimed(late, table)[claim].status


def cdni(*rows):
    """The cDNI SG's alignment, (seeds, layers), from rows of three layers."""
    return {"SG every layer, cDNI": [list(r) for r in rows]}


# ---- compare.identity_holds, the identities' verdict helper


def test_identity_holds_within_tolerance_and_apart_from_backprop():
    table = identities()
    for claim in CLAIMS:
        assert compare.identity_holds(table, claim, 1e-5, 1e-2)
    # the bounds are inclusive
    at_bounds = identities(C6_1_fresh=(1e-5, 1e-2))
    assert compare.identity_holds(at_bounds, "C6.1", 1e-5, 1e-2)


def test_identity_holds_looks_at_its_own_claim_only():
    table = identities(C6_2_parity=(0.3, 0.5), C6_3_fresh=(1e-7, 0.0))
    assert compare.identity_holds(table, "C6.1", 1e-5, 1e-2)
    assert not compare.identity_holds(table, "C6.2", 1e-5, 1e-2)
    assert not compare.identity_holds(table, "C6.3", 1e-5, 1e-2)


def test_identity_holds_only_the_fresh_network_must_be_apart_from_backprop():
    """A collapsed trained network can have every rule's updates equal to backprop's."""
    table = identities(C6_1_classes=(1e-7, 0.0), C6_1_parity=(1e-7, 0.0))
    assert compare.identity_holds(table, "C6.1", 1e-5, 1e-2)


@pytest.mark.parametrize(
    "value",
    [(NAN, 0.5), (INF, 0.5), (1e-7, NAN), (1e-7, INF)],
    ids=["nan-difference", "inf-difference", "nan-apart", "inf-apart"],
)
def test_identity_holds_a_non_finite_value_counts_against_it(value):
    assert not compare.identity_holds(identities(C6_1_fresh=value), "C6.1", 1e-5, 1e-2)
    if value[0] != 1e-7:  # a trained network's difference: it must be finite too
        table = identities(C6_1_parity=(value[0], 0.5))
        assert not compare.identity_holds(table, "C6.1", 1e-5, 1e-2)


# ---- the chapter's claims


@pytest.mark.claim("C6.1", "holds")
@pytest.mark.claim("C6.2", "holds")
@pytest.mark.claim("C6.3", "holds")
@pytest.mark.claim("C6.4", "holds")
def test_every_claim_holds_on_inputs_that_meet_them():
    found = claimed(alignments(8))
    book = [k for k in unified_view.CLAIM_IDS if not k.endswith("p")]  # C6.4p: the store's
    assert {k: c.status for k, c in found.items()} == dict.fromkeys(book, "holds")
    assert (
        found["C6.4"].regime == "3 hidden layers, 1 the lowest; the cDNI SG beats both at 1, 2, 3"
    )
    assert found["C6.4"].interval.startswith("1: FA [+0.187, +0.213] over 8 seeds, margin 0; DFA")
    assert [found[k].regime for k in CLAIMS] == ["", "", ""]
    assert set(found["C6.1"].evidence) == {
        "fresh",
        "trained by DFA, 10 classes",
        "trained by DFA, parity",
    }


@pytest.mark.claim("C6.4", "inconclusive")
def test_c6_4_three_seeds_decide_nothing():
    """The chapter's run has 3 seeds: "better on every seed" there is one chance in eight."""
    claim = claimed(alignments(3))["C6.4"]
    assert claim.status == "inconclusive"
    assert "fewer than 5 seeds" in claim.decide


@pytest.mark.claim("C6.1", "fails")
@pytest.mark.claim("C6.2", "fails")
@pytest.mark.claim("C6.3", "fails")
def test_an_identity_fails_on_a_large_difference_or_when_it_holds_trivially():
    for claim in CLAIMS:
        key = claim.replace(".", "_")
        far = identities(**{f"{key}_parity": (3e-3, 0.5)})
        assert status(claim, table=far) == "does not hold", claim
        trivial = identities(**{f"{key}_fresh": (1e-7, 5e-3)})
        assert status(claim, table=trivial) == "does not hold", claim
        others = [c for c in CLAIMS if c != claim]
        assert [status(c, table=far) for c in others] == ["holds", "holds"]


@pytest.mark.claim("C6.1", "diverged")
@pytest.mark.claim("C6.2", "diverged")
@pytest.mark.claim("C6.3", "diverged")
def test_an_identity_fails_where_a_network_or_a_rule_diverged():
    """A diverged trained network gives NaN updates; a rule whose updates blow up on the fresh
    network is infinitely far from backprop: neither checks the identity."""
    for claim in CLAIMS:
        key = claim.replace(".", "_")
        for change in [
            {f"{key}_parity": (NAN, NAN)},
            {f"{key}_parity": (INF, 0.5)},
            {f"{key}_fresh": (1e-7, INF)},
            {f"{key}_fresh": (1e-7, NAN)},
        ]:
            assert status(claim, table=identities(**change)) == "does not hold", (claim, change)


def test_kickbacks_identity_leaves_out_the_network_it_collapsed_outside_its_domain():
    """Kickback is defined for one output: the ten-class network it trained (collapsed) is
    left out of C6.2, not of the other identities."""
    broken = identities(C6_2_classes=(3e-3, 0.5), C6_1_classes=(3e-3, 0.5))
    assert status("C6.2", table=broken) == "holds"
    assert status("C6.1", table=broken) == "does not hold"


def cdni8(layer1=0.4, layer2=0.4, layer3=0.4, spread=0.02):
    """The cDNI SG's alignment over 8 seeds, per layer."""
    rows = np.array([layer1, layer2, layer3])[None, :] + spread * JITTER[:, None]
    return {"SG every layer, cDNI": rows}


@pytest.mark.claim("C6.4", "in part")
def test_c6_4_holds_in_part_where_undecided_at_some_layers():
    # layer 1: the cDNI SG within noise of FA (0.2): neither better nor worse
    late = alignments(8, **cdni8(layer1=0.2, spread=0.05))
    claim = claimed(late)["C6.4"]
    assert (claim.status, claim.regime) == (
        "holds in part",
        "3 hidden layers, 1 the lowest; the cDNI SG beats both at 2, 3; undecided at 1",
    )


@pytest.mark.claim("C6.4", "fails")
def test_c6_4_fails_where_it_is_worse_than_a_fixed_proxy_at_a_layer():
    late = alignments(8, **cdni8(layer1=0.05))
    claim = claimed(late)["C6.4"]
    assert (claim.status, claim.regime) == (
        "does not hold",
        "3 hidden layers, 1 the lowest; the cDNI SG beats both at 2, 3; worse than one at 1",
    )


@pytest.mark.claim("C6.4", "diverged")
def test_c6_4_a_diverged_seed_counts_against_every_layer_it_touches():
    # the cDNI SG diverged on one seed: NaN alignment at every layer
    late = alignments(8, **cdni8())
    late["SG every layer, cDNI"][1] = NAN
    assert status("C6.4", late) == "does not hold"
    # NaN at one layer only: that layer is lost
    late = alignments(8, **cdni8())
    late["SG every layer, cDNI"][1, 1] = NAN
    claim = claimed(late)["C6.4"]
    assert (claim.status, claim.regime) == (
        "holds in part",
        "3 hidden layers, 1 the lowest; the cDNI SG beats both at 1, 3",
    )
    # an infinite value is no win either (a cosine is at most 1)
    late = alignments(8, **cdni8())
    late["SG every layer, cDNI"][1] = INF
    assert status("C6.4", late) == "does not hold"
    # a fixed proxy whose run diverged: that seed is left out of the comparison and named
    fa = np.full((8, 3), 0.2)
    fa[0] = NAN
    claim = claimed(alignments(8, FA=fa))["C6.4"]
    assert claim.status == "holds"
    assert "baseline diverged on seed(s) 0" in claim.interval


def accuracies():
    names = list(unified_view.RULES)
    return {name: np.array([0.9, 0.8, 0.85]) - 0.01 * i for i, name in enumerate(names)}


def test_numbers_the_prose_quotes():
    late = alignments(**cdni((0.4, 0.4, 0.4), (0.4, 0.4, 0.4), (0.05, 0.4, 0.4)))
    table = identities(C6_2_classes=(3e-7, 0.4), C6_3_fresh=(1e-7, 0.25))
    odd = {name: np.array([0.7, 0.6]) for name in unified_view.PARITY_RULES}
    n = unified_view.numbers(accuracies(), odd, late, alignments(), table, 256)
    assert n["n_align"] == 256
    assert n["acc_bp"] == pytest.approx(0.85)
    assert n["acc_fa"] == pytest.approx(0.84)
    assert n["odd_kb"] == pytest.approx(0.65)
    assert n["al_sg"] == pytest.approx(0.85 / 3)
    assert n["al_fa"] == pytest.approx(0.2)
    assert n["max_identity"] == pytest.approx(3e-7)
    assert n["min_apart"] == pytest.approx(0.25)
    assert (n["n_margin_esg"], n["n_margin_sg"], n["n_cells"]) == (9, 8, 9)
    assert n["cdni_wins"] == "2, 3"
    assert n["cdni_vs_dfa_low"] == pytest.approx((0.3 + 0.3 - 0.05) / 3)
    lost = alignments(**cdni(*[(0.0, 0.0, 0.0)] * 3))
    assert unified_view.numbers(accuracies(), odd, lost, lost, table, 1)["cdni_wins"] == "none"


def test_late_alignment_averages_the_second_half_and_keeps_a_diverged_seed():
    evals = {
        "align_0": np.array([[0.0, 0.0], [0.2, 0.4], [0.4, NAN]]),
        "align_1": np.array([[0.0, 0.0], [0.6, 0.8], [0.8, 0.8]]),
    }
    h = History(
        seeds=[0, 1],
        steps=np.arange(1, 5),
        train={},
        eval_steps=np.array([0, 2, 4]),
        evals=evals,
        diverged_at=np.array([-1, 3]),
    )
    late = unified_view.late_alignment({"run": h}, SimpleNamespace(depth=2, steps=3))
    np.testing.assert_allclose(late["run"], [[0.3, 0.7], [NAN, 0.8]])


def stored_runs(late, status="ok"):
    """The store's four runs as chapter 6's registered grid makes them, each a History whose
    alignment over the second half of training is ``late`` (per rule, (seeds, 3 layers))."""
    us = unified_view_store
    steps = np.array([0, us.STEPS // 2, us.STEPS])  # the first half's evaluation is ignored
    runs = {}
    for rule in us.RULES:
        v = np.asarray(late[rule], dtype=float)
        evals = {f"align_{k}": np.stack([np.zeros(len(v)), v[:, k], v[:, k]]) for k in range(3)}
        runs[rule] = History(seeds=list(range(len(v))), steps=np.arange(1, us.STEPS + 1),
                             train={}, eval_steps=steps, evals=evals,
                             diverged_at=np.full(len(v), -1))  # fmt: skip
    return SimpleNamespace(runs=runs, status=dict.fromkeys(us.RULES, "ok") | {"FA": status})


def stored_c64(late, status="ok"):
    us = unified_view_store
    return {c.id: c for c in us.claims(stored_runs(late, status))}.get("C6.4p")


@pytest.mark.claim("C6.4p", "holds")
@pytest.mark.claim("C6.4p", "inconclusive")
def test_c6_4p_is_c6_4s_rule_on_the_stores_runs_once_all_are_made():
    claim = stored_c64(alignments(8))
    assert (claim.status, claim.scale) == ("holds", unified_view_store.EXPERIMENT.scale)
    assert claim.claim.endswith(f"({unified_view_store.EXPERIMENT.scale}).")
    assert stored_c64(alignments(3)).status == "inconclusive"  # fewer than 5 seeds
    assert stored_c64(alignments(8), status="missing") is None  # not decided before all are made
    assert stored_c64(alignments(8), status="stale") is None


@pytest.mark.claim("C6.4p", "in part")
@pytest.mark.claim("C6.4p", "fails")
@pytest.mark.claim("C6.4p", "diverged")
def test_c6_4p_in_part_fails_and_a_lost_seed_as_c6_4():
    assert stored_c64(alignments(8, **cdni8(layer1=0.2, spread=0.05))).status == "holds in part"
    assert stored_c64(alignments(8, **cdni8(layer1=0.05))).status == "does not hold"
    late = alignments(8, **cdni8())
    late["SG every layer, cDNI"][1] = NAN
    assert stored_c64(late).status == "does not hold"


def test_the_stores_numbers_and_table_read_the_runs_and_wait_for_all_four():
    late = alignments(8)
    stored = stored_runs(late)
    for h in stored.runs.values():
        h.evals["test_acc"] = np.full_like(h.evals["align_0"], 0.9)
    n = unified_view_store.numbers(stored)
    # the constructed runs: alignment 0 at step 0 (dropped), then their late value twice
    assert n["store_first_step"] == f"{unified_view_store.STEPS // 2:,}"
    assert n["store_fixed_rise"].startswith("layer 1: FA 0.20 to 0.20, DFA 0.10 to 0.10")
    assert n["store_sg_fall"].startswith(f"layer 1: 0.40 at step {unified_view_store.STEPS // 2:,}")
    assert n["store_early_step"] == f"{unified_view_store.STEPS // 2:,}"  # first at or after 800
    assert n["store_early"].startswith("layer 1: cDNI SG 0.40, FA 0.20, DFA 0.10")
    assert "SG every layer, cDNI 90.00%" in n["store_acc"]
    table = unified_view_store.alignment_table(stored)
    assert table.loc[("FA", 1), "mean"] == pytest.approx(0.2)
    assert unified_view_store.numbers(stored_runs(late, status="missing")) == {}


def test_chapter_6s_registered_plan_is_the_one_the_code_runs_and_make_paper_knows_it():
    from synthgrad import paper, store

    us = unified_view_store
    assert (store.store_dir() / us.PLAN_FILE).read_text() == us.plan_text()
    assert us.EXPERIMENT.plan == us.PLAN_FILE and us.EXPERIMENT.plan_text == us.plan_text()
    assert paper.BUILDERS[us.NAME]() is us.EXPERIMENT
    assert set(us.EXPERIMENT.runs) == set(us.RULES)
    assert all(t.fit["seeds"] == list(us.SEEDS) for t in us.EXPERIMENT.runs.values())
