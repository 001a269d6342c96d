import numpy as np
import pytest

from synthgrad import data, models, rules, train


def _setup(seeds=(0, 1)):
    d = data.linear_regression(n=200, d=3, seed=0)
    net = models.mlp(3, [8], 1, list(seeds), activation="linear")
    return d, net


def test_backprop_fits_linear_regression():
    d, net = _setup()
    h = train.train(
        net, rules.Backprop(), d, [0, 1], steps=300, lr=0.05, batch_size=0, progress=False
    )
    assert h.train["loss"].shape == (300, 2)
    assert (h.train["loss"][-1] < 0.5 * h.train["loss"][0]).all()
    assert not h.diverged.any()


def test_divergence_raises_clear_error():
    d, net = _setup()
    with pytest.raises(train.TrainingDiverged, match=r"diverged.*step \d+.*lr 1000"):
        train.train(
            net, rules.Backprop(), d, [0, 1], steps=200, lr=1000.0, optimizer="sgd", progress=False
        )


def test_divergence_marked_per_seed():
    d = data.linear_regression(n=200, d=3, seed=0)
    net = models.mlp(3, [8], 1, [0, 1], activation="linear")
    with __import__("torch").no_grad():  # make seed 1 explode, seed 0 stay sane
        for lin in net.linears():
            lin.weight[1] *= 100
    h = train.train(
        net,
        rules.Backprop(),
        d,
        [0, 1],
        steps=100,
        lr=0.05,
        optimizer="sgd",
        on_divergence="mark",
        progress=False,
    )
    assert h.diverged.tolist() == [False, True]
    assert np.isfinite(h.train["loss"][:, 0]).all()
    assert np.isnan(h.final("test_loss")[1])


def test_bad_arguments():
    d, net = _setup()
    with pytest.raises(ValueError, match="seeds"):
        train.train(net, rules.Backprop(), d, [0], steps=10, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        train.train(net, rules.Backprop(), d, [0, 1], steps=10, lr=-0.1)


def test_explicit_cpu_device_changes_nothing():
    d = data.two_moons(n=200, seed=0)
    a = train.fit(d, [0, 1], "dfa", [8, 8], steps=10, lr=1e-2, eval_every=5, progress=False)
    b = train.fit(
        d, [0, 1], "dfa", [8, 8], steps=10, lr=1e-2, eval_every=5, progress=False, device="cpu"
    )
    np.testing.assert_array_equal(a.evals["test_loss"], b.evals["test_loss"])
    assert d.to("cpu") is d
