"""The update of controlled error (C3.5): its error is the size asked for, of the kind asked
for, and training with it is backprop at error 0."""

import math

import numpy as np
import pytest
import torch

from synthgrad import convergence as cv
from synthgrad import losses, models
from synthgrad.rules.update_error import UpdateError

SEEDS = [0, 1, 2]


def setup(mode, error):
    problem = cv.make_problem("mse", 2, n=200, seed=SEEDS)
    net = models.mlp(2, [], 1, SEEDS, activation="linear", bias=False)
    return problem, net, UpdateError(net, SEEDS, error, mode)


def step(problem, net, rule):
    net.zero_grad()
    d = problem.data
    rule.backward(net, d.x_train, d.y_train, d.y_train, losses.squared_error)
    return torch.cat([p.grad.flatten(1) for p in net.parameters()], 1)


def true_gradient(problem, net):
    net.zero_grad()
    losses.squared_error(net(problem.data.x_train), problem.data.y_train).sum().backward()
    return torch.cat([p.grad.flatten(1) for p in net.parameters()], 1)


@pytest.mark.parametrize("mode", ["rotated", "biased", "noise"])
def test_the_update_error_is_the_size_asked_for(mode):
    problem, net, rule = setup(mode, 0.6)
    g = true_gradient(problem, net)
    u = step(problem, net, rule)
    assert torch.allclose((u - g).norm(dim=1) / g.norm(dim=1), torch.full((3,), 0.6), atol=1e-5)
    assert torch.allclose(rule.last_error, torch.full((3,), 0.6), atol=1e-5)


def test_each_kind_of_error_points_where_it_says():
    problem, net, rule = setup("rotated", 1.0)  # 60 degrees, always the same way round
    g, u = true_gradient(problem, net), step(problem, net, rule)
    cos = (u * g).sum(1) / (u.norm(dim=1) * g.norm(dim=1))
    assert torch.allclose(cos, torch.full((3,), math.cos(math.pi / 3)), atol=1e-5)
    assert (g[:, 0] * u[:, 1] - g[:, 1] * u[:, 0] > 0).all()  # turned anticlockwise
    problem, net, rule = setup("biased", 0.5)  # the same direction every step
    first = step(problem, net, rule) - true_gradient(problem, net)
    with torch.no_grad():
        net.blocks[0][0].weight.mul_(0.5)
    second = step(problem, net, rule) - true_gradient(problem, net)
    unit = lambda v: v / v.norm(dim=1, keepdim=True)  # noqa: E731
    assert torch.allclose(unit(first), unit(second), atol=1e-5)


def test_per_example_errors_partly_cancel_and_error_zero_is_backprop():
    problem, net, rule = setup("per-example", 1.0)
    step(problem, net, rule)
    assert (rule.last_error < 0.5).all()  # 200 examples' errors average out
    for mode in UpdateError.MODES:
        problem, net, rule = setup(mode, 0.0)
        assert torch.allclose(step(problem, net, rule), true_gradient(problem, net))


def test_bad_settings_are_refused():
    net = models.mlp(3, [], 1, SEEDS, activation="linear", bias=False)
    with pytest.raises(ValueError, match="odd"):
        UpdateError(net, SEEDS, 0.5, "rotated")
    with pytest.raises(ValueError, match="mode must be one of"):
        UpdateError(net, SEEDS, 0.5, "sideways")
    with pytest.raises(ValueError, match="at least 0"):
        UpdateError(net, SEEDS, -0.1, "noise")
    assert torch.isfinite(UpdateError(net, SEEDS, 3.0, "noise").error).all()
    with pytest.raises(ValueError, match="3 errors for 2 seeds"):
        UpdateError(net, SEEDS[:2], [0.1, 0.2, 0.3], "noise")
    with pytest.raises(ValueError, match="at most 2 for a rotation"):
        UpdateError(
            models.mlp(2, [], 1, SEEDS, bias=False), SEEDS, [0.5, 2.5, 1.0][: len(SEEDS)], "rotated"
        )


def test_error_sizes_trained_as_one_run_equal_a_run_per_size():
    """Chapter 3's tracking experiment trains the error sizes of a mode as one run (a size per
    copy of the seeds): every size's record equals that of a run of its own, bit for bit, a
    size whose seeds all diverge (a half-turn: gradient ascent) included, which stops where
    its own run would."""
    from types import SimpleNamespace

    from synthgrad.chapters import convergence as chapter
    from synthgrad.train import train

    p = SimpleNamespace(seeds=[0, 1], sgd_steps=400, sgd_lr=0.5, errors=[0.5, 2.0])
    problems = {("mse", 2): cv.make_problem("mse", 2, n=100, seed=p.seeds)}
    together = chapter.train_tracking(problems, p)
    assert together["rotated", 2.0].diverged.all() and not together["rotated", 0.5].diverged.any()
    for (mode, error), run in together.items():
        problem = problems["mse", 2]
        net = models.mlp(2, [], 1, p.seeds, activation="linear", bias=False)
        rule = UpdateError(net, p.seeds, error, mode)
        distance = cv.to_optimum(problem)
        alone = train(net, rule, problem.data, p.seeds, steps=p.sgd_steps, lr=p.sgd_lr,
                      batch_size=0, optimizer="sgd", eval_every=p.sgd_steps // 30,
                      on_divergence="mark", progress=False,
                      metrics=lambda n, r=rule, d=distance: {**d(n), "update_error": r.last_error.clone()})  # fmt: skip
        np.testing.assert_array_equal(run.steps, alone.steps)
        np.testing.assert_array_equal(run.eval_steps, alone.eval_steps)
        np.testing.assert_array_equal(run.diverged_at, alone.diverged_at)
        for name in alone.evals:
            np.testing.assert_array_equal(run.evals[name], alone.evals[name], err_msg=name)
        for name in alone.train:
            np.testing.assert_array_equal(run.train[name], alone.train[name], err_msg=name)
