import numpy as np
import pandas as pd
import pytest
import torch

from synthgrad import blocks, data, models, parallel, rules, train


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


def test_runs_never_train_a_configuration_twice_and_cut_runs_exactly():
    ds = data.two_moons(n=300)
    runs = train.Runs()
    kw = dict(hidden=[16, 16], lr=1e-2, batch_size=32, eval_every=10, progress=False)
    runs.fit(ds, [0, 1], "sg_middle", steps=60, **kw)
    short = runs.fit(ds, [0, 1], "sg_middle", steps=30, desc="again", **kw)
    assert runs.trained == 1
    fresh = train.fit(ds, [0, 1], "sg_middle", steps=30, **kw)
    for log in ("train", "evals"):
        for k, v in getattr(fresh, log).items():
            np.testing.assert_array_equal(getattr(short, log)[k], v)
    np.testing.assert_array_equal(short.eval_steps, fresh.eval_steps)
    runs.fit(ds, [0, 1], "sg_middle", steps=30, sg_lr=None, **kw)  # the default, spelled out
    assert runs.trained == 1
    runs.fit(ds, [0, 1], "sg_middle", steps=30, sg_lr=1e-3, **kw)  # another configuration
    assert runs.trained == 2
    with pytest.raises(ValueError, match="no evaluation at step 25"):
        short.upto(25)


def test_frame_is_one_tidy_table_of_a_run():
    ds = data.two_moons(n=300)
    h = train.fit(
        ds, [3, 4], "backprop", hidden=[8], steps=20, lr=1e-2, eval_every=10, progress=False
    )
    df = h.frame()
    assert list(df.columns[:2]) == ["step", "seed"] and {"loss", "test_loss", "test_acc"} <= set(df)
    assert len(df) == 21 * 2 and set(df.seed) == {3, 4}
    at_10 = df[(df.step == 10) & (df.seed == 4)]
    assert (
        at_10.test_acc.item() == h.evals["test_acc"][1, 1]
        and at_10.loss.item() == h.train["loss"][9, 1]
    )
    assert df[df.step == 5].test_acc.isna().all() and df[df.step == 0].loss.isna().all()


def test_frames_of_some_metrics_are_those_columns_of_every_metric():
    from synthgrad import analysis

    ds = data.two_moons(n=300)
    kw = dict(hidden=[8], steps=20, lr=1e-2, eval_every=10, progress=False)
    runs = {
        "bp": train.fit(ds, [3, 4], "backprop", **kw),
        "sg": train.fit(ds, [3, 4], "sg_middle", **kw),
    }
    every = analysis.frames(runs, smooth=5)
    some = analysis.frames(runs, smooth=5, metrics=["loss", "test_acc"])
    assert list(some.columns) == ["method", "step", "seed", "loss", "test_acc"]
    pd.testing.assert_frame_equal(some, every[list(some.columns)], check_exact=True)
    assert not some.loss.equals(analysis.frames(runs, metrics=["loss"]).loss)  # smoothed


def test_the_optimiser_agrees_with_torchs_per_tensor_loop():
    """Fused Adam to float32 rounding, multi-tensor SGD exactly."""
    for name, exact in (("adam", False), ("sgd", True)):
        params = [torch.nn.Parameter(torch.randn(3, 4, generator=torch.Generator().manual_seed(k)))
                  for k in range(2)]  # fmt: skip
        twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
        ours = train.make_optimizer([{"params": params, "lr": 1e-2}], name)
        loop = train.OPTIMIZERS[name]([{"params": twins, "lr": 1e-2}], foreach=False)
        for step in range(20):
            for ps, opt in ((params, ours), (twins, loop)):
                opt.zero_grad()
                sum(((p - step) ** 2).sum() for p in ps).backward()
                opt.step()
        for a, b in zip(params, twins, strict=True):
            if exact:
                assert torch.equal(a, b)
            else:
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_tracker_measures_every_evaluation_and_keeps_snapshots_at_the_chosen_ones():
    ds = data.two_moons(n=200)
    net = models.mlp(2, [8], ds.d_out, [0])
    seen = []
    tracker = train.Tracker(
        lambda n: {"probe": torch.tensor([float(len(seen))])},
        lambda n: seen.append(len(seen)) or len(seen),
        keep={0, 2},
        eval_every=5,
    )
    h = train.train(
        net, rules.Backprop(), ds, [0], steps=15, lr=1e-2, eval_every=5, metrics=tracker
    )
    assert list(h.eval_steps) == [0, 5, 10, 15] and tracker.calls == 4
    assert sorted(tracker.snapshots) == [0, 10] and h.evals["probe"][:, 0].tolist() == [1, 1, 2, 2]


@pytest.mark.processes
def test_runs_train_several_configurations_in_worker_processes():
    d = data.two_moons(n=200, seed=0)
    common = dict(hidden=[8, 8], steps=6, lr=1e-2, batch_size=32, eval_every=3)
    configs = {
        "bp": dict(rule="backprop", **common),
        "sg": dict(rule="sg_middle", conditioned=True, **common),
    }
    runs = train.Runs()
    together = parallel.fit_all(runs, d, [0, 1], configs, workers=2)
    assert list(together) == ["bp", "sg"] and runs.trained == 2
    for name, config in configs.items():
        alone = train.fit(d, [0, 1], **config)  # one torch thread here, as in the workers
        np.testing.assert_array_equal(together[name].evals["test_acc"], alone.evals["test_acc"])
        np.testing.assert_allclose(together[name].train["loss"], alone.train["loss"], rtol=1e-6)
    again = parallel.fit_all(runs, d, [0, 1], {"bp": dict(configs["bp"], steps=3)}, workers=2)
    assert runs.trained == 2 and list(again["bp"].eval_steps) == [0, 3]  # cut, not retrained


@pytest.mark.processes
def test_networks_trained_in_worker_processes_equal_those_trained_here():
    d = data.two_moons(n=200, seed=0)
    common = dict(hidden=[8, 8], steps=5, lr=1e-2, batch_size=32, eval_every=5)
    configs = {"bp": dict(rule="backprop", **common), "dfa": dict(rule="dfa", **common)}
    runs = train.Runs()
    together = parallel.fit_nets_all(runs, d, [0, 1], configs, workers=2)
    assert list(together) == ["bp", "dfa"] and runs.trained == 2
    cut = runs.fit(d, [0, 1], **dict(configs["bp"], steps=5))
    assert runs.trained == 2 and list(cut.eval_steps) == [0, 5]  # kept, not retrained
    for name, config in configs.items():
        net, history = train.fit_net(d, [0, 1], **config)
        for a, b in zip(together[name][0].parameters(), net.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(
            together[name][1].evals["test_acc"], history.evals["test_acc"]
        )


def test_an_end_of_training_value_is_the_mean_of_the_last_five_evaluations():
    import numpy as np

    from synthgrad import analysis

    acc = np.array([[0.1, 0.2], [0.5, 0.6], [0.6, np.nan], [0.7, 0.7], [0.8, 0.8], [0.9, 0.9]])
    h = train.History(seeds=[0, 1], steps=np.arange(1, 7), train={}, eval_steps=np.arange(6),
                      evals={"test_acc": acc}, diverged_at=np.array([-1, 3]))  # fmt: skip
    end = analysis.end_value(h)
    assert end[0] == pytest.approx(0.7) and np.isnan(end[1])  # a NaN is never skipped


def test_a_grid_of_learning_rates_trains_as_one_run_each_rate_as_its_own():
    """``rates_by_block``: three learning rates (model and SG), each on a copy of the seeds, as
    one Adam run with an SG: every block ends where a run of its own at its rates ends (to float
    rounding: the passes over more seeds may round differently), and the hook is gone after."""
    from torch.optim.optimizer import _global_optimizer_pre_hooks

    d = data.two_moons(n=200, seed=0)
    rates, sg_rates, seeds = [1e-3, 1e-2, 3e-2], [1e-2, 1e-3, 1e-2], [0, 1]
    kw = dict(hidden=[8, 8], steps=30, batch_size=0, eval_every=10)
    with blocks.rates_by_block(rates, sg_rates, len(seeds)):
        together = train.fit(d, seeds * 3, "sg_middle", conditioned=True, lr=1.0, sg_lr=1.0, **kw)
    assert not _global_optimizer_pre_hooks
    for j, (r, s) in enumerate(zip(rates, sg_rates, strict=True)):
        alone = train.fit(d, seeds, "sg_middle", conditioned=True, lr=r, sg_lr=s, **kw)
        np.testing.assert_allclose(
            together.train["loss"][:, 2 * j : 2 * j + 2], alone.train["loss"], rtol=1e-5
        )
    # the rates differ: so do the blocks (a hook that did nothing would fail this)
    assert not np.allclose(together.train["loss"][-1, :2], together.train["loss"][-1, 2:4])
    with pytest.raises(ValueError, match="a parameter of 2 seeds, 3 blocks of 2"):
        with blocks.rates_by_block(rates, sg_rates, 2):
            train.fit(d, seeds, "backprop", lr=1.0, **kw)


def test_norms_record_each_blocks_raw_and_folded_norm_and_how_far_it_moved():
    """``norms=True`` (the registered depth sweep records it): at every evaluation, per block
    and seed, the raw and the batch-norm-folded weight norm and the distance moved from
    initialisation, the same numbers chapter 5 measures on a trained network."""
    from synthgrad import representations

    moons = data.two_moons(n=200, seed=0)
    net, h = train.fit_net(moons, [0, 1], "sg_middle", [8, 8, 8], batch_norm=True, steps=20,
                           lr=1e-2, eval_every=10, norms=True)  # fmt: skip
    start = models.mlp(moons.d_in, [8, 8, 8], moons.d_out, [0, 1], batch_norm=True)
    np.testing.assert_array_equal(h.evals["moved_0"][0], 0.0)  # before the first step
    end = {k: np.stack([h.evals[f"{k}_{b}"][-1] for b in range(4)], 1)
           for k in ("norm", "norm_bn", "moved")}  # fmt: skip
    np.testing.assert_allclose(end["norm_bn"], representations.weight_norms(net), rtol=1e-6)
    np.testing.assert_allclose(end["moved"], representations.weight_change(net, start), rtol=1e-6)
    raw = np.stack([lin.weight.detach().flatten(1).norm(dim=1) for lin in net.linears()], 1)
    np.testing.assert_allclose(end["norm"], raw, rtol=1e-6)
    assert (end["moved"] > 0).all() and not np.allclose(end["norm"], end["norm_bn"])
