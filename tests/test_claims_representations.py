"""Chapter 5's claims decided on constructed measurements (no training): the sweep (C5.1 to
C5.4), the store per activation (C5.1p, C5.2p, C5.1p-tanh, C5.2p-tanh) and the wide networks
of section (c2) (C5.3w, C5.4w)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from synthgrad.chapters import representations as ch
from synthgrad.chapters import representations_store as paper_store

NAN, INF = float("nan"), float("inf")
SG, CONTROL, EVERY = "SG middle, cDNI", ch.CONTROL, ch.EVERY
DEPTHS = [3, 6]
SEEDS = 3


def params(**change):
    p = SimpleNamespace(
        depths=DEPTHS, n_seeds=SEEDS, seeds=list(range(SEEDS)), conditioned=True,
        loss_threshold=0.3, steps=100, batch_size=128, rdm_depth=6, wide_depth=6,
        wide_width=256, wide_steps=400, scale="small", sg_hidden=0,
    )  # fmt: skip
    p.__dict__.update(change)
    return p


def seeds(value):
    return np.full(SEEDS, value, dtype=float)


def sweep(**change):
    """The sweep's measurements: by default every claim on it holds at every depth. ``change``
    maps a field to {key: per-seed values} that replace the default there."""
    keys = [(d, m) for d in DEPTHS for m in ("backprop", SG)]
    s = ch.Sweep(
        acc={
            (d, m): seeds(a)
            for d in DEPTHS
            for m, a in (("backprop", 0.96), (SG, 0.95), (CONTROL, 0.90))
        },
        diverged={(d, m): np.zeros(SEEDS, bool) for d in DEPTHS for m in ("backprop", SG, CONTROL)},
        steps={(d, m): seeds(80 if m == "backprop" else 50) for d, m in keys},
        acc_at={(d, m): seeds(0.90 if m == "backprop" else 0.91) for d, m in keys},
        mean_sim={(d, m): seeds(0.8 if m == "backprop" else 0.6) for d, m in keys},
        below_sim={(d, m): seeds(0.7 if m == "backprop" else 0.4) for d, m in keys},
        slopes={(d, m): seeds(0.1 if m == "backprop" else -0.1) for d, m in keys},
        below_slope={(d, m): NAN for d, m in keys},
        probes={(d, m): np.full((SEEDS, d), 0.9) for d, m in keys},
        seconds={(d, m): 0.1 * d for d in DEPTHS for m in ("backprop", SG, CONTROL)},
        moved=pd.DataFrame({m: [0.5, 0.6] for m in ("backprop", SG, CONTROL)}, index=DEPTHS),
        pixels=0.85,
    )
    for name, values in change.items():
        getattr(s, name).update({k: np.asarray(v, dtype=float) for k, v in values.items()})
    return s


def wide(**change):
    """Section (c2)'s measurements: by default C5.3w and C5.4w hold for both activations."""
    sims = {"backprop": 0.7, SG: 0.4, EVERY: 0.3, "DFA": 0.2}
    slopes = {"backprop": 0.1, SG: -0.1, EVERY: -0.2, "DFA": 0.05}
    w = ch.Wide(
        below_sim={(a, m): seeds(v) for a in ch.ACTIVATIONS for m, v in sims.items()},
        slopes={(a, m): seeds(v) for a in ch.ACTIVATIONS for m, v in slopes.items()},
        diverged={(a, m): 0 for a in ch.ACTIVATIONS for m in sims},
    )
    for name, values in change.items():
        getattr(w, name).update({k: np.asarray(v, dtype=float) for k, v in values.items()})
    return w


def paper(**change):
    """The store: ReLU and tanh at 3 and 50 hidden layers, every run; by default C5.1p and
    C5.2p hold for both. ``change`` maps ``acc`` or ``steps`` to {label: per-seed values}."""
    acc = {"backprop": 0.96, SG: 0.95, CONTROL: 0.90, EVERY: 0.93}
    steps = {"backprop": 200, SG: 100, CONTROL: 300, EVERY: 150}
    labels = [(a, d, m) for a in ("relu", "tanh") for d in (50, 3) for m in acc]
    out = paper_store.Paper(
        acc={k: seeds(acc[k[2]]) for k in labels},
        steps={k: seeds(steps[k[2]]) for k in labels},
        sg_loss={(a, d): np.linspace(10, 1, d) * 1e-4 for a in ("relu", "tanh") for d in (50, 3)},
        curve={
            (a, d): dict(low=0.2, low_step=100, end=0.25, sg_start=1e-3, sg_end=1e-5)
            for a in ("relu", "tanh")
            for d in (50, 3)
        },
        scale="results store: test",
    )
    for name, values in change.items():
        getattr(out, name).update({k: np.asarray(v, dtype=float) for k, v in values.items()})
    return out


def judged(s=None, w=None, store=None, **p):
    return {c.id: c for c in ch.claims(params(**p), s or sweep(), w or wide(), store)}


def status(claim, s=None, w=None, store=None):
    return judged(s, w, store)[claim].status


@pytest.mark.claim("C5.1", "holds")
@pytest.mark.claim("C5.2", "holds")
@pytest.mark.claim("C5.3", "holds")
@pytest.mark.claim("C5.4", "holds")
@pytest.mark.claim("C5.3w", "holds")
@pytest.mark.claim("C5.4w", "holds")
@pytest.mark.claim("C5.1p", "holds")
@pytest.mark.claim("C5.2p", "holds")
@pytest.mark.claim("C5.1p-tanh", "holds")
@pytest.mark.claim("C5.2p-tanh", "holds")
def test_every_claim_holds_on_measurements_that_meet_them():
    claims = judged(store=paper())
    assert list(claims) == list(ch.CLAIM_IDS)
    assert {c: claims[c].status for c in claims} == dict.fromkeys(ch.CLAIM_IDS, "holds")
    assert (
        claims["C5.1"].regime == "at least 1 point above the control on every seed at depths 3, 6"
    )
    assert claims["C5.2"].regime == (
        "SG faster on every seed at depths 3, 6, slower at none; backprop not at the threshold "
        "within the budget at none"
    )
    assert claims["C5.3w"].regime == (
        "more scattered under SG on every seed with relu, tanh; reversed on every seed with neither"
    )
    assert claims["C5.1p-tanh"].regime == (
        "tanh: at least 1 point above the control on every seed at depths 3, 50, below it on "
        "every seed at none (stored depths 3, 50)"
    )
    assert claims["C5.2p"].scale == "results store: test"
    assert claims["C5.4w"].scale.startswith("book run: MNIST small, width 256, 6 hidden layers")
    numbers = ch.numbers(params(), sweep(), wide(), paper())
    assert numbers["margin_min"] == pytest.approx(5.0)
    assert (numbers["margin_at"], numbers["faster_at"], numbers["scattered_at"]) == ("3, 6",) * 3
    assert numbers["wide_norms_at"] == "relu, tanh"
    assert numbers["matched_median"] == pytest.approx(1.0)
    assert numbers["paper_claims"].startswith("C5.1p holds (ReLU: at least 1 point above")
    assert numbers["paper_below_control"] == "nowhere"


@pytest.mark.claim("C5.1", "in part")
def test_c5_1_holds_in_part_where_the_sg_network_is_not_a_point_above_its_control():
    s = sweep(acc={(6, SG): [0.95, 0.905, 0.95]})
    claim = judged(s)["C5.1"]
    assert (claim.status, claim.regime) == (
        "holds in part",
        "at least 1 point above the control on every seed at depths 3",
    )


@pytest.mark.claim("C5.1", "fails")
def test_c5_1_fails_near_the_control_at_every_depth():
    s = sweep(acc={(d, SG): [0.905] * SEEDS for d in DEPTHS})
    assert status("C5.1", s) == "does not hold"


@pytest.mark.claim("C5.1", "diverged")
def test_c5_1_a_diverged_seed_counts_against_it():
    """A NaN accuracy fails its depth; a diverged SG run anywhere makes C5.1 not hold at all,
    not even in part (it is required)."""
    nan_acc = sweep(acc={(3, SG): [0.95, NAN, 0.95]})
    assert status("C5.1", nan_acc) == "holds in part"
    assert judged(nan_acc)["C5.1"].regime.endswith("at depths 6")
    flagged = sweep()
    flagged.diverged[6, SG] = np.array([False, True, False])
    assert status("C5.1", flagged) == "does not hold"
    both = sweep(acc={(3, SG): [0.905] * SEEDS})
    both.diverged[6, SG] = np.array([False, True, False])
    assert status("C5.1", both) == "does not hold"
    assert judged(flagged)["C5.1"].evidence["diverged"] == 1


@pytest.mark.claim("C5.2", "in part")
def test_c5_2_holds_in_part_where_sg_is_slower_at_one_depth():
    s = sweep(steps={(6, SG): [90, 90, 90], (6, "backprop"): [80, 80, INF]})
    claim = judged(s)["C5.2"]
    assert (claim.status, claim.regime) == (
        "holds in part",
        "SG faster on every seed at depths 3, slower at none; backprop not at the threshold "
        "within the budget at 6",
    )
    numbers = ch.numbers(params(), s, wide())
    assert (numbers["faster_at"], numbers["slower_at"], numbers["bp_unconverged"]) == (
        "3",
        "none",
        "6",
    )


@pytest.mark.claim("C5.2", "fails")
def test_c5_2_fails_when_sg_is_slower_everywhere():
    s = sweep(steps={(d, SG): [90] * SEEDS for d in DEPTHS})
    claim = judged(s)["C5.2"]
    assert claim.status == "does not hold"
    assert "slower at 3, 6" in claim.regime


@pytest.mark.claim("C5.2", "diverged")
def test_c5_2_a_diverged_sg_seed_never_reaches_the_threshold():
    """steps_to gives inf for a seed that diverged before the threshold: not faster."""
    for bad in (INF, NAN):
        s = sweep(steps={(d, SG): [50, bad, 50] for d in DEPTHS})
        assert status("C5.2", s) == "does not hold", bad


@pytest.mark.claim("C5.3", "in part")
def test_c5_3_holds_in_part_where_reversed_at_one_depth():
    s = sweep(below_sim={(6, SG): [0.9] * SEEDS})
    claim = judged(s)["C5.3"]
    assert (claim.status, claim.regime) == (
        "holds in part",
        "more scattered under SG on every seed at depths 3; reversed on every seed at 6",
    )


@pytest.mark.claim("C5.3", "fails")
def test_c5_3_fails_when_one_seed_is_not_more_scattered_at_every_depth():
    s = sweep(below_sim={(d, SG): [0.4, 0.75, 0.4] for d in DEPTHS})
    claim = judged(s)["C5.3"]
    assert (claim.status, claim.regime) == (
        "does not hold",
        "more scattered under SG on every seed at depths none; reversed on every seed at none",
    )


@pytest.mark.claim("C5.3", "diverged")
def test_c5_3_a_diverged_seed_counts_against_it():
    for method, bad in ((SG, NAN), ("backprop", NAN), ("backprop", INF)):
        s = sweep(below_sim={(d, method): [0.7 if method == "backprop" else 0.4, bad, 0.4]
                             for d in DEPTHS})  # fmt: skip
        assert status("C5.3", s) == "does not hold", (method, bad)


@pytest.mark.claim("C5.4", "fails")
def test_c5_4_fails_at_one_depth_and_never_holds_in_part():
    assert status("C5.4", sweep(slopes={(6, SG): [0.1] * SEEDS})) == "does not hold"
    assert status("C5.4", sweep(slopes={(3, "backprop"): [-0.1] * SEEDS})) == "does not hold"
    assert "C5.4" not in ch.IN_PART


@pytest.mark.claim("C5.4", "diverged")
def test_c5_4_a_diverged_seed_counts_against_it():
    for key, bad in (((6, SG), NAN), ((6, SG), -INF), ((3, "backprop"), INF)):
        assert status("C5.4", sweep(slopes={key: [-0.1, bad, -0.1]})) == "does not hold", key


@pytest.mark.claim("C5.3w", "in part")
@pytest.mark.claim("C5.4w", "in part")
def test_c5_3w_and_c5_4w_hold_in_part_with_one_activation():
    w = wide(below_sim={("tanh", SG): [0.9] * SEEDS}, slopes={("tanh", SG): [0.2] * SEEDS})
    claims = judged(w=w)
    assert (claims["C5.3w"].status, claims["C5.3w"].regime) == (
        "holds in part",
        "more scattered under SG on every seed with relu; reversed on every seed with tanh",
    )
    assert (claims["C5.4w"].status, claims["C5.4w"].regime) == (
        "holds in part",
        "the pattern holds with relu",
    )


@pytest.mark.claim("C5.3w", "fails")
@pytest.mark.claim("C5.4w", "fails")
def test_c5_3w_and_c5_4w_fail_with_neither_activation():
    w = wide(
        below_sim={(a, SG): [0.9] * SEEDS for a in ch.ACTIVATIONS},
        slopes={(a, "backprop"): [-0.1] * SEEDS for a in ch.ACTIVATIONS},
    )
    claims = judged(w=w)
    assert claims["C5.3w"].status == claims["C5.4w"].status == "does not hold"
    assert claims["C5.4w"].regime == "the pattern holds with neither"
    numbers = ch.numbers(params(), sweep(), w)
    assert (numbers["wide_scattered_at"], numbers["wide_reversed_at"]) == ("neither", "relu, tanh")


@pytest.mark.claim("C5.3w", "diverged")
@pytest.mark.claim("C5.4w", "diverged")
def test_c5_3w_and_c5_4w_a_diverged_seed_counts_against_them():
    for bad in (NAN, INF):
        w = wide(
            below_sim={(a, "backprop"): [0.7, bad, 0.7] for a in ch.ACTIVATIONS},
            slopes={(a, "backprop"): [0.1, bad, 0.1] for a in ch.ACTIVATIONS},
        )
        claims = judged(w=w)
        assert claims["C5.3w"].status == claims["C5.4w"].status == "does not hold", bad
    w = wide(slopes={("relu", SG): [-0.1, -INF, -0.1]})
    assert judged(w=w)["C5.4w"].status == "holds in part"


@pytest.mark.claim("C5.1p", "in part")
@pytest.mark.claim("C5.1p-tanh", "in part")
@pytest.mark.claim("C5.2p", "in part")
@pytest.mark.claim("C5.2p-tanh", "in part")
def test_store_claims_hold_in_part_where_one_depth_fails():
    store = paper(
        acc={(a, 50, SG): [0.85, 0.86, 0.87] for a in ("relu", "tanh")},
        steps={(a, 50, SG): [300] * SEEDS for a in ("relu", "tanh")},
    )
    claims = judged(store=store)
    for tag, name in (("", "ReLU"), ("-tanh", "tanh")):
        c1, c2 = claims[f"C5.1p{tag}"], claims[f"C5.2p{tag}"]
        assert (c1.status, c1.regime) == (
            "holds in part",
            f"{name}: at least 1 point above the control on every seed at depths 3, below it "
            "on every seed at 50 (stored depths 3, 50)",
        )
        assert (c2.status, c2.regime) == (
            "holds in part",
            f"{name}: SG faster on every seed at depths 3, slower at 50; backprop not at the "
            "threshold within the budget at none",
        )
    numbers = ch.numbers(params(), sweep(), wide(), store)
    assert numbers["paper_below_control"].startswith(
        "relu, 50 hidden layers: held-out accuracy 85.0% to 87.0% against the control's 90.0%"
    )


@pytest.mark.claim("C5.1p", "fails")
@pytest.mark.claim("C5.1p-tanh", "fails")
@pytest.mark.claim("C5.2p", "fails")
@pytest.mark.claim("C5.2p-tanh", "fails")
def test_store_claims_fail_at_every_depth():
    labels = [(a, d, SG) for a in ("relu", "tanh") for d in (3, 50)]
    store = paper(
        acc={k: [0.905] * SEEDS for k in labels}, steps={k: [250] * SEEDS for k in labels}
    )
    claims = judged(store=store)
    for c in ("C5.1p", "C5.1p-tanh", "C5.2p", "C5.2p-tanh"):
        assert claims[c].status == "does not hold", c


@pytest.mark.claim("C5.1p", "diverged")
@pytest.mark.claim("C5.1p-tanh", "diverged")
@pytest.mark.claim("C5.2p", "diverged")
@pytest.mark.claim("C5.2p-tanh", "diverged")
def test_store_claims_a_diverged_seed_counts_against_them():
    labels = [(a, d, SG) for a in ("relu", "tanh") for d in (3, 50)]
    for bad in (NAN, INF):
        store = paper(
            acc={k: [0.95, NAN, 0.95] for k in labels}, steps={k: [100, bad, 100] for k in labels}
        )
        claims = judged(store=store)
        for c in ("C5.1p", "C5.1p-tanh", "C5.2p", "C5.2p-tanh"):
            assert claims[c].status == "does not hold", (c, bad)


def test_store_claims_judge_only_depths_the_store_holds_in_full():
    store = paper()
    del store.acc["tanh", 50, CONTROL]
    claims = judged(store=store)
    assert claims["C5.1p-tanh"].evidence["depths"] == [3]
    assert claims["C5.1p-tanh"].regime.endswith("(stored depths 3)")


def test_no_store_no_paper_scale_claim():
    assert [c.id for c in ch.claims(params(), sweep(), wide())] == [
        "C5.1", "C5.2", "C5.3", "C5.4", "C5.3w", "C5.4w",
    ]  # fmt: skip
    numbers = ch.numbers(params(), sweep(), wide(), paper_store.Paper())
    assert numbers["paper_claims"] == "no verdict: the store holds no run of this chapter here"
    assert numbers["paper_every"] == "nowhere here: the store holds none of these runs"
    assert numbers["paper_every_ratio"] == "not measured here (no such run in the store)"


def test_every_layer_sg_text_says_where_it_reached_the_threshold():
    store = paper(steps={("relu", 50, EVERY): [INF] * SEEDS})
    numbers = ch.numbers(params(), sweep(), wide(), store)
    assert numbers["paper_every"].startswith(
        "with relu, on every seed at depths 3 and on no seed at 50 (held-out accuracy at 50 "
        "hidden layers: 93.0% to 93.0%)"
    )
    assert (
        "10 to 10 times the top SG's in the networks that reached the threshold on every seed"
        in (numbers["paper_every_ratio"])
    )
