"""The CUDA-graph step (synthgrad.graphs): on the CPU, the wrapper's static-buffer path and
warm-up give exactly the eager numbers; on a GPU (skipped here), the captured step gives the
eager numbers up to float rounding."""

import numpy as np
import pytest
import torch

from synthgrad import data, graphs, models, rules, train
from synthgrad.losses import LOSSES

RULES = ("backprop", "sg_middle", "sg_every", "frozen_middle")


def _settings(**more):
    return dict(seeds=[0, 1], hidden=[8, 8, 8], conditioned=True, batch_norm=True, steps=12,
                lr=1e-2, batch_size=32, eval_every=4, progress=False, **more)  # fmt: skip


@pytest.mark.parametrize("rule", RULES)
def test_the_graphed_path_gives_the_eager_numbers_on_the_cpu(rule):
    """Bit for bit: the warm-up steps are undone (batch-norm running statistics, which the
    evaluations use, and gradients), the minibatches are the same."""
    ds = data.two_moons(n=200)
    eager = train.fit(ds, rule=rule, **_settings())
    graphed = train.fit(ds, rule=rule, wrap_rule=graphs.Graphed, **_settings())
    assert graphed.settings["step"] == "eager"  # nothing captured on a CPU
    for name, values in eager.train.items():
        np.testing.assert_array_equal(graphed.train[name], values, err_msg=name)
    for name, values in eager.evals.items():
        np.testing.assert_array_equal(graphed.evals[name], values, err_msg=name)


def test_a_rule_that_draws_on_the_cpu_is_refused_with_a_reason():
    net = models.mlp(2, [8, 8], 2, [0])
    with pytest.raises(ValueError, match="controlled_error.*cannot be captured"):
        graphs.Graphed(rules.ControlledError(net, 0, [0], error=0.1))
    with pytest.raises(ValueError, match="align_examples"):
        train.fit(
            data.two_moons(n=200),
            rule="backprop",
            wrap_rule=graphs.Graphed,
            **_settings(align_examples=8),
        )


def test_a_graph_replays_fixed_shapes_and_one_network():
    ds = data.two_moons(n=200)
    net = models.mlp(ds.d_in, [8], ds.d_out, [0])
    rule = graphs.Graphed(rules.Backprop())
    x, y = models.broadcast_seeds(ds.x_train[:16], 1), ds.y_train[:16]
    loss = LOSSES[ds.task]
    rule.backward(net, x, y, ds.context(y), loss)
    net.zero_grad()
    with pytest.raises(ValueError, match="fixed shapes"):
        y8 = ds.y_train[:8]
        rule.backward(net, models.broadcast_seeds(ds.x_train[:8], 1), y8, ds.context(y8), loss)
    other = models.mlp(ds.d_in, [8], ds.d_out, [0])
    with pytest.raises(ValueError, match="captured with"):
        rule.backward(other, x, y, ds.context(y), loss)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("rule", RULES)
def test_the_captured_step_gives_the_eager_numbers_on_a_gpu(rule):
    """Where a GPU is at hand: the same run eager and captured on it, float rounding apart."""
    ds = data.mnist("small")
    kwargs = dict(seeds=[0, 1, 2], hidden=[64] * 6, conditioned=True, batch_norm=True,
                  steps=50, lr=1e-3, batch_size=128, eval_every=25, progress=False,
                  device="cuda")  # fmt: skip
    eager = train.fit(ds, rule=rule, **kwargs)
    graphed = train.fit(ds, rule=rule, wrap_rule=graphs.Graphed, **kwargs)
    assert graphed.settings["step"] == "CUDA graph"
    np.testing.assert_allclose(graphed.train["loss"], eager.train["loss"], rtol=1e-3)
    np.testing.assert_allclose(graphed.evals["test_acc"], eager.evals["test_acc"], atol=0.01)


def test_make_trains_a_run_that_records_alignment_eagerly_on_a_gpu(tmp_path, monkeypatch):
    """make paper on a GPU replays a fit run's steps from a CUDA graph, but not a run that
    records each layer's alignment (fit_net refuses the two together): that one trains
    eagerly, as do the other runners' runs."""
    from synthgrad import making, store, sweep

    fit = dict(seeds=[0], rule="sg_middle", hidden=[4, 4], steps=2, lr=1e-2, eval_every=1)
    tasks = {
        "plain": sweep.Task("two_moons", fit, {"n": 50}),
        "aligned": sweep.Task("two_moons", {**fit, "align_examples": 8}, {"n": 50}),
        "layers": sweep.Task("two_moons", {**fit, "rdm_per_class": 2}, {"n": 50}, "layers"),
    }
    seen = {}

    def on_the_cpu(task, device=None, graph=False, progress=None):
        seen[next(k for k, t in tasks.items() if t is task)] = graph
        return sweep.run_task(task)

    monkeypatch.setattr(making, "run_task", on_the_cpu)
    monkeypatch.setattr(making, "_device_name", lambda device: "a GPU")
    exp = store.Experiment("05_test", "05_representations", "a test", "2 steps", tasks)
    making.make([exp], device="cuda:0", root=tmp_path, log=lambda _: None)
    assert seen == {"plain": True, "aligned": False, "layers": False}
    assert store.made(exp, tmp_path) == 3
    assert not making.graphable(tasks["plain"], "cpu")
