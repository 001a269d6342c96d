"""Chapter 7's timed grid in the results store (issue 25), registered before any run: its plan,
the pilot's rule for the budget, and the grid pending until the pilot is made."""

import math

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
