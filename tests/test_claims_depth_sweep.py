"""The registered sweep's claims (chapter 5, issue 25), fixed before its runs were seen: fed
small constructed runs, they hold, fail, are decided at the deepest depth, and meet a diverged
seed."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from synthgrad import store  # noqa: E402
from synthgrad.chapters import depth_sweep as D  # noqa: E402
from synthgrad.chapters import depth_sweep_results as R  # noqa: E402
from synthgrad.train import History  # noqa: E402

SEEDS, EVALS, STEPS = 5, 21, 60
CONTROL = "control: frozen below the SG"


def run(depth: int, method: str, acc: float, slope, nan_seed: bool = False) -> History:
    """A constructed run: every seed at accuracy ``acc`` (a little spread), training loss
    falling to 0.1, folded norms rising by ``slope`` per layer (one per seed, or one for all;
    raw norms flat), alignment 0.5;
    ``nan_seed``: seed 0's norms are NaN (it diverged)."""
    rng = np.random.default_rng(depth)
    spread = 0.002 * np.arange(SEEDS)
    evals = {"test_acc": np.tile(acc + spread, (EVALS, 1))}
    for k in range(depth + 1):
        folded = 1.0 + np.asarray(slope) * k + 0.01 * rng.standard_normal(SEEDS)
        evals[f"norm_bn_{k}"] = np.tile(folded, (EVALS, 1))
        evals[f"norm_{k}"] = np.ones((EVALS, SEEDS))
        evals[f"moved_{k}"] = np.full((EVALS, SEEDS), 0.3)
    for k in range(depth):
        evals[f"align_{k}"] = np.full((EVALS, SEEDS), 0.5)
    if nan_seed:
        for k in range(depth + 1):
            evals[f"norm_bn_{k}"][:, 0] = np.nan
    loss = np.tile(np.linspace(2.0, 0.1, STEPS)[:, None], (1, SEEDS))
    train = {"loss": loss, "sg_loss": loss / 10} | {f"sg_loss_{k}": loss / 10 for k in range(depth)}
    return History(list(range(SEEDS)), np.arange(1, STEPS + 1), train,
                   np.linspace(0, STEPS, EVALS).astype(int), evals, np.full(SEEDS, -1),
                   {"seconds": 1.0})  # fmt: skip


def sweep(slopes: dict[int, tuple[float, float]], nan_at: int | None = None) -> R.Sweep:
    """ReLU at the given depths: backprop's and the middle SG's norm slopes per depth; the SG
    two points above its control everywhere."""
    runs = {}
    for depth, (bp, sg) in slopes.items():
        runs[f"relu/{depth}/backprop"] = run(depth, "backprop", 0.97, bp)
        runs[f"relu/{depth}/{R.SG}"] = run(depth, R.SG, 0.96, sg, nan_seed=depth == nan_at)
        runs[f"relu/{depth}/{CONTROL}"] = run(depth, CONTROL, 0.94, 0.0)
    experiment = D.final_experiment()
    stored = store.Stored(experiment, runs, dict.fromkeys(runs, "ok"),
                          dict.fromkeys(runs, {"device": "CPU", "commit": "abc"}))  # fmt: skip
    return R.values(stored, threshold=0.3)


def status(s: R.Sweep) -> dict[str, str]:
    return {c.id: c.status for c in R.claims(s, threshold=0.3)}


@pytest.mark.claim("C5.4s", "holds")
def test_the_norm_pattern_holds_at_the_deepest_depth():
    got = status(sweep({6: (0.05, -0.05), 20: (0.05, -0.05), 50: (0.05, -0.05)}))
    assert got["C5.4s"] == "holds"
    assert got["C5.1p"] == "holds"  # two points above the control on every seed


@pytest.mark.claim("C5.4s", "fails")
def test_the_norm_pattern_is_decided_at_the_deepest_depth():
    """Held at 6 and 20 but reversed at 50: the claim is about many hidden layers."""
    got = status(sweep({6: (0.05, -0.05), 20: (0.05, -0.05), 50: (-0.05, 0.05)}))
    assert got["C5.4s"] == "does not hold"


@pytest.mark.claim("C5.4s", "fails")
def test_the_norm_pattern_fails_when_backprop_falls_too():
    got = status(sweep({6: (-0.05, -0.05), 50: (-0.05, -0.05)}))
    assert got["C5.4s"] == "does not hold"


@pytest.mark.claim("C5.4s", "diverged")
def test_a_diverged_seed_counts_against_the_norm_pattern():
    got = status(sweep({6: (0.05, -0.05), 50: (0.05, -0.05)}, nan_at=50))
    assert got["C5.4s"] != "holds"


@pytest.mark.claim("C5.4s", "inconclusive")
@pytest.mark.claim("C5.4s", "in part")
def test_a_flat_backprop_slope_is_inconclusive_and_decides_only_where_it_is_deepest():
    """Backprop's norms flat (up to seed noise) at 50 layers: inconclusive; flat at 6 only,
    with the pattern at 50: holds in part (the page names where)."""
    flat = np.array([0.02, -0.02, 0.01, -0.01, 0.005])  # up and down over the seeds
    assert status(sweep({6: (0.05, -0.05), 50: (flat, -0.05)}))["C5.4s"] == "inconclusive"
    assert status(sweep({6: (flat, -0.05), 50: (0.05, -0.05)}))["C5.4s"] == "holds in part"


def test_no_claim_without_runs_and_the_figure_draws_every_layer():
    assert R.claims(None, 0.3) == []
    s = sweep({6: (0.05, -0.05)})
    fig = R.figure_layers(s, "relu", 6)
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 3  # three methods' folded norms
    np.testing.assert_allclose(fig.axes[-1].lines[0].get_ydata(), 0.5)  # the SG's alignment
    assert R.figure_layers(s, "tanh", 6) is None


def test_the_collapse_table_reads_the_every_layer_sg_at_each_depth():
    """Per depth with an every-layer SG run: its accuracy beside backprop's, and the lowest and
    top hidden layer's alignment at the first evaluation after the start and at the end."""
    runs = {}
    for depth in (6, 20):
        runs[f"relu/{depth}/backprop"] = run(depth, "backprop", 0.97, 0.05)
        every = run(depth, R.EVERY, 0.90, 0.0)
        every.evals["align_0"][1] = 0.01  # the lowest layer: no signal yet at the first evaluation
        every.evals[f"align_{depth - 1}"][-5:] = 0.8
        runs[f"relu/{depth}/{R.EVERY}"] = every
    stored = store.Stored(D.final_experiment(), runs, dict.fromkeys(runs, "ok"),
                          dict.fromkeys(runs, {"device": "CPU", "commit": "abc"}))  # fmt: skip
    table = R.collapse_table(R.values(stored, threshold=0.3), "relu")
    assert list(table.index) == [6, 20]
    first = f"cosine, layer 1, step {STEPS // (EVALS - 1)}"
    assert table.loc[20, first] == pytest.approx(0.01)
    assert table.loc[20, "cosine, top layer, end"] == pytest.approx(0.8)
    assert table.loc[6, "every-layer SG: accuracy"] == pytest.approx(0.904)
    assert table.loc[6, "backprop: accuracy"] == pytest.approx(0.974)
    assert R.collapse_table(R.values(stored, threshold=0.3), "tanh") is None


def test_the_ledger_moves_to_the_sweep_only_once_every_cell_of_the_plan_is_made():
    """C5.1p and C5.2p are decided on the earlier store until every registered cell is made."""
    from synthgrad.chapters.representations_store import Paper

    earlier = Paper(acc={("relu", 3, "backprop"): np.ones(3)}, scale="earlier store")
    made = {cell: np.ones(5) for cell in D.CELLS}
    full = R.Sweep(Paper(acc=made, scale="registered"))
    got, words = R.ledger_evidence(earlier, full)
    assert got is full.paper and "registered sweep" in words and R.complete(full)
    one_short = R.Sweep(Paper(acc={k: v for k, v in made.items() if k != D.CELLS[-1]}))
    got, words = R.ledger_evidence(earlier, one_short)
    assert got is earlier and "earlier store" in words and not R.complete(one_short)
    assert R.ledger_evidence(earlier, None)[0] is earlier
    assert R.ledger_evidence(None, None)[0] is None


def test_chapter_5s_last_cell_decides_on_the_sweep_and_quotes_the_earlier_store(monkeypatch):
    """representations.finish: the claims get the evidence ledger_evidence picks, the prose's
    numbers the earlier store (its own section), plus which one decided."""
    from synthgrad import chapters
    from synthgrad.chapters import representations as ch5
    from synthgrad.chapters.representations_store import Paper

    seen = {}
    monkeypatch.setattr(ch5, "claims", lambda p, s, w, paper: [seen.setdefault("claims", paper)])
    monkeypatch.setattr(ch5, "numbers", lambda p, s, w, paper: {"paper": paper})
    monkeypatch.setattr(chapters, "finish", lambda p, claims, numbers: numbers)
    earlier = Paper(scale="earlier store")
    full = R.Sweep(Paper(acc={cell: np.ones(5) for cell in D.CELLS}, scale="registered"))
    got = ch5.finish(None, None, None, earlier, full)
    assert seen["claims"] is full.paper and got["paper"] is earlier
    assert "registered sweep" in got["paper_source"]
    assert got["layers_verdicts"].startswith("not decided yet")  # no registered grid given
