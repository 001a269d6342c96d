"""Chapter 7's cost model checked at K = 4 in the results store (issue 25): the cost model's
inputs kept as a stored run and read back, the check computed from stored runs, the plan
registered, and ``make paper`` refusing the experiment on a machine with too few cores."""

import math

import numpy as np
import pytest

from synthgrad import decoupled, making, paper, provenance, runfile, store, sweep
from synthgrad.chapters import update_unlocking_k4 as k4
from synthgrad.data import mnist
from synthgrad.train import History


def _costs(batch: int = 256) -> decoupled.Costs:
    n = 5
    table = np.tile([[2e-3, 4e-4]], (n, 1))
    return decoupled.Costs(
        batch, (batch, batch // 8), [512, 512, 512, 512, 10], forward=table.copy(),
        backward=2 * table, sg_forward=table / 4, sg_backward=table / 4, update=np.full(n, 1e-4),
        sg_update=np.full(n, 1e-4), draw=1e-4, latency_s=5e-5, bytes_per_s=2e9,
    )  # fmt: skip


@pytest.mark.processes
def test_the_cost_models_inputs_survive_the_store_as_a_run():
    """fit_costs times a small network (the ping-pong in two processes), the run goes through
    the store's file format, and stored_costs gives back the same costs (to its 7 digits),
    so that a prediction from the store is the prediction from the measurement."""
    data = mnist("small", limit=256)
    fit = dict(seeds=[0], K=2, hidden=[16, 16], steps=2, batch_size=32, schedule="dni")
    history = decoupled.fit_costs(data, **fit)
    assert history.steps.tolist() == [1, 2, 3] and history.settings["seconds"] > 0
    entry = {"train_metrics": sorted(history.train), "eval_metrics": sorted(history.evals),
             "diverged_at": [-1], "run": {}}  # fmt: skip
    back = decoupled.stored_costs(runfile.decode(runfile.encode(history), entry))
    fresh = decoupled.stored_costs(history)
    assert back.widths == [16, 16, 10] and back.sizes == (32, 4) and back.batch == 32
    for name in ("forward", "backward", "sg_forward", "sg_backward", "update", "sg_update"):
        assert np.allclose(getattr(back, name), getattr(fresh, name), rtol=1e-6), name
        assert getattr(back, name).shape == getattr(fresh, name).shape
    assert (back.forward > 0).all() and back.latency_s > 0
    assert decoupled.predict(back, 2, "dni") == pytest.approx(
        decoupled.predict(fresh, 2, "dni"), rel=1e-5
    )
    with pytest.raises(ValueError, match="one seed"):
        decoupled.fit_costs(data, **{**fit, "seeds": [0, 1]})


def test_an_unmeasured_bandwidth_is_stored_as_none_and_read_back_as_infinite():
    costs = _costs()
    costs.bytes_per_s = math.inf
    history = History(
        seeds=[0], steps=np.arange(1, 6),
        train={"width": np.array(costs.widths, float)[:, None],
               **{f"seconds_{n}": getattr(costs, n)[:, :1] for n in k4.decoupled.costs.TABLES},
               **{f"seconds_{n}_small": getattr(costs, n)[:, 1:] for n in k4.decoupled.costs.TABLES},
               "seconds_update": costs.update[:, None], "seconds_sg_update": costs.sg_update[:, None]},
        eval_steps=np.array([0]),
        evals={"batch": np.array([[256.0]]), "batch_small": np.array([[32.0]]),
               "seconds_draw": np.array([[1e-4]]), "seconds_latency": np.array([[5e-5]]),
               "seconds_per_byte": np.array([[0.0]])},
        diverged_at=np.array([-1]),
    )  # fmt: skip
    back = decoupled.stored_costs(history)
    assert back.bytes_per_s == math.inf and back.comm(1000) == pytest.approx(5e-5)
    assert decoupled.predict(back, 4, "gpipe", 4) == pytest.approx(
        decoupled.predict(costs, 4, "gpipe", 4)
    )


def _timed(seconds_per_seed: list[float]) -> History:
    s = len(seconds_per_seed)
    return History(
        seeds=list(range(s)), steps=np.arange(1, k4.STEPS + 1),
        train={"loss": np.zeros((k4.STEPS, s))}, eval_steps=np.array([0, k4.STEPS]),
        evals={"seconds": np.array([[0.0] * s, seconds_per_seed]),
               "test_acc": np.zeros((2, s)), "test_loss": np.zeros((2, s))},
        diverged_at=np.full(s, -1),
    )  # fmt: skip


def test_the_check_sets_each_runs_throughput_beside_the_prediction_at_the_same_K():
    costs = _costs()
    runs = {
        k4.label(name, K): _timed([10.0 * K, 12.0 * K, 11.0 * K])
        for K in k4.KS
        for name in k4.SCHEDULES
    }
    c = k4.check(costs, runs, "a 16-core machine")
    examples = k4.STEPS * costs.batch
    for K in k4.KS:
        for name, schedule in k4.SCHEDULES.items():
            assert c.measured[name, K].tolist() == pytest.approx(
                [examples / (10.0 * K), examples / (12.0 * K), examples / (11.0 * K)]
            )
            assert c.predicted[name, K] == decoupled.predict(costs, K, schedule, k4.MICROBATCHES)
    t = k4.table(c)
    row = t.loc[k4.label("GPipe", 4)]
    assert row["measured (median seed)"] == pytest.approx(examples / 44.0)
    assert row["lowest seed"] == pytest.approx(examples / 48.0)
    assert row["measured / predicted"] == pytest.approx(
        examples / 44.0 / decoupled.predict(costs, 4, "gpipe", k4.MICROBATCHES)
    )


def test_the_plan_is_registered_and_every_run_but_k_and_schedule_is_the_same():
    assert (store.store_dir() / k4.PLAN_FILE).read_text() == k4.plan_text()
    assert paper.BUILDERS[k4.NAME]() is k4.EXPERIMENT and k4.EXPERIMENT.cores == 4
    runs = k4.EXPERIMENT.runs
    assert runs[k4.COSTS].runner == "costs" and runs[k4.COSTS].fit["steps"] == k4.REPS
    timed = [t for label, t in runs.items() if label != k4.COSTS]
    assert {t.runner for t in timed} == {"schedules"} and len(timed) == 4
    common = [{k: v for k, v in t.fit.items() if k not in ("K", "schedule")} for t in timed]
    assert all(c == common[0] for c in common)
    assert common[0]["seeds"] == list(k4.SEEDS) and common[0]["eval_every"] == k4.STEPS
    assert {(t.fit["K"], t.fit["schedule"]) for t in timed} == {
        (K, s) for K in k4.KS for s in k4.SCHEDULES.values()
    }


def test_make_paper_refuses_an_experiment_that_needs_more_cores_than_the_machine_has(
    tmp_path, monkeypatch
):
    said = []
    monkeypatch.setattr(making.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(making, "run_task", lambda *a, **k: pytest.fail("a run was made"))
    making.make([k4.EXPERIMENT], root=tmp_path, log=said.append)
    assert said == [
        f"{k4.NAME}: 5 runs to make, not here: they need a machine with at least 4 cores, and "
        "this one has 2"
    ]
    assert not list(tmp_path.iterdir())  # nothing written
    assert k4.read(tmp_path) is None and "Made so far**: 0 of 5" in k4.page_text(None, tmp_path)


@pytest.mark.processes
def test_a_costs_run_is_made_alone_saved_with_its_provenance_and_current(tmp_path):
    task = sweep.Task("mnist", dict(seeds=[0], K=2, hidden=[8], steps=2, batch_size=16),
                      {"scale": "small"}, runner="costs")  # fmt: skip
    tiny = store.Experiment("tiny_costs", "07_update_unlocking", "costs", "2 timings",
                            {"costs": task})  # fmt: skip
    said = []
    making.make([tiny], root=tmp_path, log=said.append)
    assert said[0] == "tiny_costs: 1 of 1 runs to make" and said[1].endswith("s (alone)")
    assert store.statuses(tiny, tmp_path) == {"costs": "ok"}
    entry = store.read_manifest("tiny_costs", tmp_path)["runs"]["costs"]
    assert entry["provenance"]["source_hash"] == provenance.source_hash("costs", "eager")
    stored = store.load(tiny, tmp_path).runs["costs"]
    assert decoupled.stored_costs(stored).widths == [8, 10]


def test_make_paper_says_once_that_it_cannot_make_the_check_here(monkeypatch, capsys):
    monkeypatch.setattr(making.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(making, "run_task", lambda *a, **k: pytest.fail("a run was made"))
    paper.main(["make", "--experiment", k4.NAME, "--device", "cpu"])
    assert capsys.readouterr().out.count("not here: they need a machine with at least 4") == 1
