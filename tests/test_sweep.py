import numpy as np
import pytest

from synthgrad import sweep


def _tasks():
    return [
        sweep.Task(
            "two_moons",
            dict(seeds=[0, 1], rule=p["rule"], hidden=[8, 8], steps=15, lr=p["lr"], eval_every=5),
            {"n": 200},
        )
        for p in sweep.grid(rule=["backprop", "sg_middle", "dfa"], lr=[1e-3, 1e-2])
    ]


def _same(a, b):
    assert len(a) == len(b)
    for ha, hb in zip(a, b, strict=True):
        ha_settings = {k: v for k, v in ha.settings.items() if k != "seconds"}
        assert ha_settings == {k: v for k, v in hb.settings.items() if k != "seconds"}
        assert ha.settings["seconds"] > 0 and hb.settings["seconds"] > 0  # each run's wall time
        for key in ha.evals:
            np.testing.assert_array_equal(ha.evals[key], hb.evals[key])
        np.testing.assert_array_equal(ha.train["loss"], hb.train["loss"])


def test_grid_and_task_checks():
    assert sweep.grid(a=[1, 2], b=["x"]) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(ValueError, match="unknown dataset"):
        sweep.Task("cifar", {})
    with pytest.raises(ValueError, match="lacks fit argument"):
        sweep.Task("two_moons", {"seeds": [0]})
    with pytest.raises(ValueError, match="unknown runner"):
        sweep.Task("two_moons", {}, runner="other")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known: problem"):
        sweep.Task("mnist", {}, runner="convergence")
    with pytest.raises(ValueError, match=r"lacks fit argument\(s\) \['depth'"):
        sweep.Task("problem", {"seeds": [0], "method": "backprop", "width": 4, "steps": 5,
                               "lr": 0.1}, runner="convergence")  # fmt: skip


@pytest.mark.processes
def test_local_processes_match_running_here():
    tasks = _tasks()
    here = [sweep.run_task(t) for t in tasks]
    _same(sweep.run(tasks), here)


@pytest.mark.processes
def test_a_dask_cluster_gives_the_same_results_as_local_processes():
    distributed = pytest.importorskip("distributed")
    tasks = _tasks()
    here = [sweep.run_task(t) for t in tasks]  # (= local processes: the test above)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = sweep.run(tasks, client.get_executor())
    _same(remote, here)


def test_a_diverging_task_is_marked_not_raised():
    task = sweep.Task("two_moons", dict(seeds=[0, 1], rule="backprop", hidden=[8], steps=40,
                                        lr=1e4, optimizer="sgd"), {"n": 200})  # fmt: skip
    history = sweep.run_task(task)
    assert history.diverged.any() and (history.diverged_at[history.diverged] > 0).all()


def test_the_layers_runner_is_fit_with_each_layers_rdm_similarity_recorded():
    """Chapter 5's registered grid (runner "layers"): the numbers of the fit runner, step for
    step, and at every evaluation each hidden layer's RDM similarity to the output, as
    representations.layer_measures measures it on the trained network."""
    from synthgrad import data, representations, train

    fit = dict(seeds=[0, 1], rule="sg_middle", hidden=[8, 8, 8], steps=12, lr=1e-2, eval_every=4,
               batch_norm=True)  # fmt: skip
    plain = sweep.run_task(sweep.Task("two_moons", fit, {"n": 200}))
    layers = sweep.run_task(
        sweep.Task("two_moons", {**fit, "rdm_per_class": 5}, {"n": 200}, runner="layers")
    )
    _same([plain], [train.History(**{**vars(layers), "evals": {
        k: v for k, v in layers.evals.items() if not k.startswith("rdm_sim_")}})])  # fmt: skip
    assert sorted(k for k in layers.evals if k.startswith("rdm_sim_")) == [
        "rdm_sim_0", "rdm_sim_1", "rdm_sim_2"]  # fmt: skip
    moons = data.two_moons(n=200)
    net, _ = train.fit_net(moons, **fit)
    end = representations.layer_measures(net, moons, per_class=5, probes=False).similarity
    got = np.stack([layers.evals[f"rdm_sim_{k}"][-1] for k in range(3)], 1)
    np.testing.assert_allclose(got, end, rtol=1e-6)
    assert layers.evals["rdm_sim_0"].shape == (4, 2)  # every evaluation, every seed
    with pytest.raises(ValueError, match=r"lacks fit argument\(s\) \['rdm_per_class'\]"):
        sweep.Task("two_moons", fit, runner="layers")
