import numpy as np
import pytest
import torch

from synthgrad import convergence as V
from synthgrad import losses, models, rules, train


@pytest.mark.parametrize("loss", ["mse", "log"])
def test_optimum_metrics_are_zero_at_the_optimum(loss):
    p = V.make_problem(loss, d=3, n=200, seed=1)
    net = models.mlp(3, [], 1, [0, 1], activation="linear", bias=False)
    models.set_weights(net.blocks[0][0], torch.stack([p.w_star, p.w_star + 0.5]))
    m = V.to_optimum(p)(net)
    assert abs(m["loss_gap"][0]) < 1e-6 and m["distance"][0] < 1e-6
    assert m["loss_gap"][1] > 1e-3 and m["distance"][1] > 0.01  # anything else is worse


def test_separable_problem_has_no_optimum():
    p = V.make_problem("log", d=2, n=200, separable=True)
    assert p.w_star is None and p.optimal_loss == 0.0
    net = models.mlp(2, [], 1, [0], activation="linear", bias=False)
    assert set(V.to_optimum(p)(net)) == {"train_loss"}


def test_train_on_records_distance_and_backprop_reaches_the_optimum():
    p = V.make_problem("mse", d=2, n=200, seed=0)
    h = V.train_on(p, depth=0, width=0, method="backprop", seeds=[0, 1], steps=400, lr=0.05)
    assert h.evals["distance"].shape == (len(h.eval_steps), 2)
    assert (h.evals["distance"][-1] < 1e-3).all() and (h.evals["distance"][0] > 0.1).all()


def test_learners_sit_where_the_chapter_says():
    shallow = models.mlp(2, [], 1, [0], activation="linear", bias=False)
    deep = models.mlp(2, [4] * 10, 1, [0], activation="linear", bias=False)
    assert V.method_rule(shallow, "linear SG", [0]).positions == [0]  # the output
    assert V.method_rule(deep, "loss-matched SG", [0]).positions == [4]  # the middle
    assert V.method_rule(deep, "controlled error", [0], 0.5).position == 4
    with pytest.raises(ValueError, match="method"):
        V.method_rule(deep, "magic", [0])
    with pytest.raises(ValueError, match="label"):
        rules.SyntheticGradients(deep, [4], [0], d_context=0, form="matched")


def test_opposing_error_scales_the_gradient():
    net = models.mlp(2, [3, 3], 1, [0])
    rule = rules.ControlledError(net, 0, [0], 1.5, mode="opposing")
    g = torch.randn(1, 8, 3)
    torch.testing.assert_close(rule.perturb(g), -0.5 * g)
    err = (rule.perturb(g) - g).norm(dim=-1) / g.norm(dim=-1)
    torch.testing.assert_close(err, torch.full_like(err, 1.5))


def test_tracking_bound_on_a_linear_model():
    p = V.make_problem("mse", d=2, n=200, seed=0)
    kw = dict(
        depth=0,
        width=0,
        method="controlled error",
        seeds=[0, 1],
        steps=400,
        lr=0.1,
        optimizer="sgd",
    )
    below = V.train_on(p, error=0.5, mode="opposing", **kw)
    assert (below.evals["distance"][-1] < 1e-3).all()
    beyond = V.train_on(p, error=1.5, mode="opposing", **kw)  # (1 - 1.5) g: gradient ascent
    assert (
        beyond.diverged.all() or (beyond.evals["distance"][-1] > beyond.evals["distance"][0]).all()
    )
    noisy = V.train_on(p, error=1.5, mode="random", **kw)  # zero-mean error of the same size
    assert not noisy.diverged.any()


def test_seeds_draw_their_own_data_and_optimum():
    p = V.make_problem("mse", d=3, n=100, seed=[0, 1])
    assert p.data.seeded and p.data.x_train.shape == (2, 100, 3) and p.w_star.shape == (2, 3, 1)
    assert not torch.equal(p.data.x_train[0], p.data.x_train[1])
    alone = V.make_problem("mse", d=3, n=100, seed=1)
    torch.testing.assert_close(p.data.x_train[1], alone.data.x_train)
    torch.testing.assert_close(p.w_star[1], alone.w_star)
    h = V.train_on(p, depth=0, width=0, method="backprop", seeds=[0, 1], steps=400, lr=0.05)
    assert (h.evals["distance"][-1] < 1e-3).all()  # each seed reaches its own draw's optimum
    with pytest.raises(ValueError, match="drawn for 2 seeds"):
        V.train_on(p, depth=0, width=0, method="backprop", seeds=[0], steps=1, lr=0.05)


def test_sg_runs_record_tracking_error_and_the_control_freezes_the_layers_below():
    p = V.make_problem("mse", d=2, n=100, seed=[0, 1])
    h = V.train_on(p, depth=4, width=4, method="linear SG", seeds=[0, 1], steps=5, lr=0.01)
    np.testing.assert_allclose(h.evals["tracking"][0], 1.0)  # a zero-initialised SG: 100% off
    net = models.mlp(2, [4] * 4, 1, [0, 1], activation="linear", bias=False)
    before = [b[0].weight.detach().clone() for b in net.blocks]
    rule = V.method_rule(net, "frozen below SG", [0, 1])
    x = p.data.x_train
    rule.backward(net, x, p.data.y_train, p.data.y_train, losses.squared_error)
    assert all(b[0].weight.grad is None for b in net.blocks[:2])  # blocks 0, 1: below the SG
    assert all(b[0].weight.grad.abs().sum() > 0 for b in net.blocks[2:])
    assert all(torch.equal(b[0].weight, w) for b, w in zip(net.blocks, before, strict=True))


def _history(values, diverged_at=(-1,)):
    values = np.asarray(values, dtype=float)
    return train.History(
        seeds=list(range(values.shape[1])),
        steps=np.arange(1, 101),
        train={},
        eval_steps=np.linspace(0, 100, len(values)).astype(int),
        evals={"distance": values},
        diverged_at=np.asarray(diverged_at),
    )


def test_outcomes_tell_slow_from_never_and_count_divergence():
    t = np.linspace(0, 1, 11)[:, None]
    runs = np.hstack([
        10 ** (-3 * t),            # 1 -> 1e-3: converged
        10 ** (-1.5 * t),          # 1 -> 0.03, still falling fast: converging
        0.5 + 0 * t,               # a plateau: stalled
        np.where(t < 0.5, 1.0, np.nan),  # diverged half-way
    ])  # fmt: skip
    table = V.outcomes(_history(runs, diverged_at=[-1, -1, -1, 50]))
    assert list(table.outcome) == ["converged", "converging", "stalled", "diverged"]
    assert table.diverged_at[3] == 50 and np.isinf(table.final[3])
    assert list(V.converges(table)) == [True, True, False, False]
    assert 100 < table.reaches_tol_at[1] < 200


def test_outcomes_read_windows_of_a_tenth_and_call_a_rise_and_fall_oscillating():
    """The reviewer's cases: a distance that falls to 0.65% and climbs back to 1.1% is no longer
    "converging" (it fell and rose: oscillating); one that creeps up from 0.7% to 3.4% is
    rising; rounding noise below the tolerance is converged; one fall is not a trend."""
    t = np.linspace(0, 1, 31)[:, None]  # 30 evaluations after step 0: three per window
    noise = 1e-7 * (1 + 0.5 * np.sin(40 * t))  # at the optimum, up to rounding
    runs = np.hstack([
        np.interp(t, [0, 0.6, 1], [7.7, 0.0065, 0.011]),  # falls, then rises again above 1%
        np.interp(t, [0, 0.5, 1], [1.0, 0.0068, 0.034]),  # at 0.7% half-way, then rises
        np.interp(t, [0, 0.5, 0.7, 1], [1, 0.02, 0.05, 0.02]),  # rises and falls above 1%
        np.minimum(10 ** (-8 * t), 1) + noise,  # converged, then rounding noise
        np.interp(t, [0, 0.5, 0.9, 1], [1.0, 0.05, 0.05, 0.03]),  # flat, falls in the last window
    ])  # fmt: skip
    table = V.outcomes(_history(runs, diverged_at=[-1] * 5))
    assert list(table.outcome) == ["oscillating", "rising", "oscillating", "converged", "stalled"]
    assert table.final[4] == pytest.approx(runs[-5:, 4].mean())  # the last 5 evaluations
    assert list(V.windows(np.linspace(0, 100, 31).astype(int), runs).shape) == [10, 5]


def test_the_phase_diagram_trained_as_one_run_equals_one_run_per_cell():
    """Chapter 3's grid of learning rates trains as one run (each seed its own pair of rates):
    every cell's distances, and which seeds diverged, are those of a run of its own, bit for
    bit, the unstable cells included (a cell at model rate 3 with a slow SG ends where it does
    only to the last bit of every step)."""
    from types import SimpleNamespace

    from synthgrad.chapters import convergence as chapter

    p = SimpleNamespace(seeds=[0, 1], width=16, sgd_steps=300, phase_lrs=[0.1, 3.0, 1.0])
    problems = {("mse", 2): V.make_problem("mse", 2, n=200, seed=p.seeds)}
    phase = chapter.train_phase(problems, p).set_index(["model lr", "SG lr"])
    assert len(phase) == 9 and phase.diverged.sum() > 0 and (phase.diverged == 0).sum() > 0
    for (model_lr, sg_lr), cell in phase.iterrows():
        alone = V.train_on(problems["mse", 2], 0, p.width, "linear SG", p.seeds, p.sgd_steps,
                            model_lr, sg_lr, optimizer="sgd", eval_every=p.sgd_steps)  # fmt: skip
        assert cell.diverged == alone.diverged.sum(), (model_lr, sg_lr)
        if not alone.diverged.any():
            assert cell.distance == alone.evals["distance"][-1].max(), (model_lr, sg_lr)
    # the hook is gone once the grid is trained: a later run takes its own learning rate
    from torch.optim.optimizer import _global_optimizer_pre_hooks

    assert not _global_optimizer_pre_hooks


def test_the_plane_through_two_weight_vectors_keeps_every_logit():
    """Figure 4b (100-D) draws each boundary on the plane through w* and w: an orthonormal
    basis whose coordinates give every example the logit it has in 100-D, under both vectors;
    parallel vectors still get a plane."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 100, generator=gen, dtype=torch.float64)
    w_star = torch.randn(100, generator=gen, dtype=torch.float64)
    w = 0.8 * w_star + 0.3 * torch.randn(100, generator=gen, dtype=torch.float64)
    for other in (w, 2.0 * w_star):
        basis = V.plane_through(w_star, other)
        torch.testing.assert_close(basis @ basis.T, torch.eye(2, dtype=torch.float64))
        torch.testing.assert_close(basis[0], w_star / w_star.norm())  # along w* first
        coords = x @ basis.T
        for vec in (w_star, other):
            torch.testing.assert_close(coords @ (basis @ vec), x @ vec)
    assert float(V.plane_through(w_star, w)[1] @ w) > 0  # across, towards w
