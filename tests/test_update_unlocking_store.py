"""Chapter 7's timed grid in the results store (issue 25), registered before any run: its plan,
the pilot's rule for the budget, and the grid pending until the pilot is made."""

import math

import pytest

from synthgrad import paper, store
from synthgrad.chapters import update_unlocking as uu
from synthgrad.chapters import update_unlocking_store as S


def test_the_registered_plan_is_the_one_the_code_runs_and_make_paper_knows_both_parts():
    assert (store.store_dir() / S.PLAN_FILE).read_text() == S.plan_text()
    names = list(paper.BUILDERS)
    assert names.index(S.PILOT) < names.index(S.NAME)  # the pilot first
    pilot = S.pilot_experiment().runs["backprop"]
    assert pilot.runner == "schedules" and pilot.dataset_kwargs == {"scale": "full-validation"}
    assert pilot.fit["seeds"] == [S.PILOT_SEED] and S.PILOT_SEED not in S.SEEDS
    assert pilot.fit["schedule"] == "backprop" and pilot.fit["steps"] == S.PILOT_STEPS


def test_the_budget_rule_takes_three_times_the_pilots_steps_to_the_first_target_it_reaches():
    assert S.budget({0.95: 340.0, 0.9: 120.0}) == (0.95, 1100)
    assert S.budget({0.95: 300.0, 0.9: 100.0}) == (0.95, 900)
    assert S.budget({0.95: math.inf, 0.9: 180.0}) == (0.9, 600)
    assert S.budget({0.95: math.inf, 0.9: math.inf}) == (0.9, S.PILOT_STEPS)


def test_the_grid_waits_for_the_pilot_then_runs_every_schedule_on_the_reported_seeds(
    tmp_path, monkeypatch
):
    assert S.experiment(tmp_path).pending == tuple(uu.schedules(S.K))  # an empty store
    assert S.experiment(tmp_path).runs == {}
    monkeypatch.setattr(S, "pilot_budget", lambda root=None: (0.95, 900))
    grid = S.experiment(tmp_path)
    assert set(grid.runs) == set(uu.schedules(S.K)) and grid.pending == ()
    for name, task in grid.runs.items():
        assert task.fit["steps"] == 900 and task.fit["seeds"] == list(S.SEEDS)
        assert task.dataset_kwargs == {"scale": "full-test"}
        assert {k: task.fit[k] for k in uu.schedules(S.K)[name]} == uu.schedules(S.K)[name]


def test_the_pilots_budget_is_read_from_its_first_evaluation_at_each_target(monkeypatch):
    from types import SimpleNamespace

    import numpy as np

    from synthgrad.train import History

    def pilot(acc, diverged=-1):
        h = History(seeds=[S.PILOT_SEED], steps=np.arange(1, 81), train={"loss": np.zeros((80, 1))},
                    eval_steps=np.array([0, 20, 40, 60, 80]),
                    evals={"test_acc": np.array(acc, dtype=float)[:, None],
                           "seconds": np.arange(5.0)[:, None]},
                    diverged_at=np.array([diverged]))  # fmt: skip
        stored = SimpleNamespace(runs={"backprop": h}, status={"backprop": "ok"})
        monkeypatch.setattr(store, "load", lambda experiment, root=None: stored)
        return S.pilot_budget()

    assert pilot([0.1, 0.92, 0.951, 0.96, 0.97]) == (0.95, 200)  # 3 x 40 steps, rounded up
    assert pilot([0.1, 0.5, 0.91, 0.93, 0.94]) == (0.9, 200)  # never 95%: 90% at step 40
    assert pilot([0.1, 0.2, 0.3, 0.4, 0.5]) == (0.9, S.PILOT_STEPS)  # neither
    assert pilot([0.1, 0.96, 0.97, 0.97, 0.97], diverged=70) == (0.9, S.PILOT_STEPS)  # lost
    monkeypatch.setattr(
        store, "load", lambda e, root=None: SimpleNamespace(runs={}, status={"backprop": "missing"})
    )
    assert S.pilot_budget() is None


def test_the_grids_runs_must_hold_the_registered_seeds_in_order():
    from types import SimpleNamespace

    import numpy as np
    import pytest

    from synthgrad.train import History

    def run(seeds):
        n = len(seeds)
        return History(seeds=list(seeds), steps=np.arange(1, 21), train={"loss": np.zeros((20, n))},
                       eval_steps=np.array([0, 20]),
                       evals={"test_acc": np.full((2, n), 0.96), "seconds": np.ones((2, n))},
                       diverged_at=np.full(n, -1))  # fmt: skip

    names = list(uu.schedules(S.K))
    good = SimpleNamespace(runs={n: run(S.SEEDS) for n in names}, status=dict.fromkeys(names, "ok"),
                           scale=lambda: "grid")  # fmt: skip
    assert list(S.values(good, (0.95, 20)).reach_s.index) == list(S.SEEDS)
    good.runs[names[0]] = run(S.SEEDS[::-1])
    with pytest.raises(ValueError, match="expected"):
        S.values(good, (0.95, 20))
    good.status[names[1]] = "missing"
    assert S.values(good, (0.95, 20)) is None  # part of a comparison: no verdict


def test_the_second_grids_plan_is_registered_and_reads_the_same_pilot_by_its_own_rule():
    assert (store.store_dir() / S.LONG_PLAN_FILE).read_text() == S.long_plan_text()
    names = list(paper.BUILDERS)
    assert names.index(S.PILOT) < names.index(S.NAME) < names.index(S.LONG)
    # the lowest target reached at least MIN_SECONDS into the pilot's run; 3 x its steps
    assert S.long_budget({0.96: (4.4, 260.0), 0.97: (8.6, 460.0)}) == (0.97, 1400)
    assert S.long_budget({0.96: (6.0, 300.0), 0.97: (8.6, 460.0)}) == (0.96, 900)
    assert S.long_budget({0.96: (4.0, 200.0), 0.97: (math.inf, math.inf)}) is None
    with pytest.raises(ValueError, match="pilot diverged"):  # a lost pilot: NaN at every target
        S.long_budget({0.96: (math.nan, math.nan), 0.97: (math.nan, math.nan)})
    # the committed store's pilot gives the plan's figures: 97% at step 460, 1,400 steps
    assert S.long_pilot_budget() == (0.97, 1400)
    reached = S.pilot_reached()
    assert reached[0.96] == (pytest.approx(4.43, abs=0.01), 260.0) and reached[0.97][1] == 460.0
    assert S.long_budget({}) is None


def test_the_second_grid_waits_for_the_pilot_and_says_when_its_rule_finds_no_target(
    tmp_path, monkeypatch
):
    assert S.long_experiment(tmp_path).pending == tuple(uu.schedules(S.K))
    assert "the pilot is not made yet" in S.page_text(tmp_path, long=True)
    early = {t: (1.0, 50.0) for t in (*S.TARGETS, *S.LONG_TARGETS)}  # every target within 1 s
    monkeypatch.setattr(S, "pilot_reached", lambda root=None: early)
    assert S.long_experiment(tmp_path).runs == {}
    assert "finds no target" in S.page_text(tmp_path, long=True)
    assert S.experiment(tmp_path).runs["GPipe"].fit["steps"] == 200  # the first rule: 3 x 50
    lost = {t: (math.nan, math.nan) for t in early}  # a diverged pilot
    monkeypatch.setattr(S, "pilot_reached", lambda root=None: lost)
    assert S.long_experiment(tmp_path).runs == {}
    assert "the pilot diverged" in S.page_text(tmp_path, long=True)
    late = early | {0.97: (7.0, 400.0)}
    monkeypatch.setattr(S, "pilot_reached", lambda root=None: late)
    grid = S.long_experiment(tmp_path)
    assert grid.name == S.LONG and grid.plan == S.LONG_PLAN_FILE and grid.pending == ()
    for task in grid.runs.values():
        assert task.fit["steps"] == 1200 and task.fit["seeds"] == list(S.SEEDS)
        assert task.dataset_kwargs == {"scale": "full-test"}
    assert "gives a target of 97% and 1,200 steps" in S.page_text(tmp_path, long=True)
