"""Chapter 5's registered depth sweep (issue 25): the rule that chooses each learning rate, the
grids it grows, the registration that must precede every run, and the runs that exist."""

import math
import subprocess

import numpy as np
import pytest

from synthgrad import making, store
from synthgrad.chapters import depth_sweep as D
from synthgrad.chapters import depth_sweep_results as R
from synthgrad.train import History

NAN = math.nan
LOW, MID, HIGH = D.RATES


def test_the_rule_picks_the_best_rate_and_a_tie_goes_to_the_smaller():
    assert D.choose_rate({LOW: 0.95, MID: 0.97, HIGH: 0.96}) == (MID, None)
    tie = 0.97 - D.TIE / 2  # closer than half an image
    assert D.choose_rate({LOW: 0.90, MID: tie, HIGH: 0.97}) == (MID, None)
    assert D.choose_rate({LOW: 0.90, MID: 0.97 - 2 * D.TIE, HIGH: 0.97}) == (None, 1e-2)


def test_the_rule_waits_for_every_rate_of_the_grid():
    assert D.choose_rate({}) == (None, None)
    assert D.choose_rate({LOW: 0.9, MID: 0.95}) == (None, None)


def test_a_best_rate_at_an_edge_extends_the_grid_once():
    assert D.choose_rate({LOW: 0.97, MID: 0.96, HIGH: 0.95}) == (None, 1e-4)
    assert D.choose_rate({LOW: 0.97, MID: 0.96, HIGH: 0.95, 1e-4: 0.96}) == (LOW, None)
    # the extension itself best: chosen, and never extended again
    assert D.choose_rate({LOW: 0.97, MID: 0.96, HIGH: 0.95, 1e-4: 0.98}) == (1e-4, None)
    assert D.choose_rate({LOW: 0.90, MID: 0.96, HIGH: 0.97, 1e-2: 0.5}) == (HIGH, None)


def test_a_diverged_run_ranks_below_every_other():
    assert D.choose_rate({LOW: 0.5, MID: 0.6, HIGH: NAN}) == (MID, None)
    # every run diverged: extend downwards once, then the smallest rate tried
    assert D.choose_rate({LOW: NAN, MID: NAN, HIGH: NAN}) == (None, 1e-4)
    assert D.choose_rate({LOW: NAN, MID: NAN, HIGH: NAN, 1e-4: NAN}) == (1e-4, None)
    assert D.choose_rate({LOW: NAN, MID: NAN, HIGH: NAN, 1e-4: 0.9}) == (1e-4, None)


def test_the_plan_seeds_and_grids_are_as_registered():
    select, final = D.selection_experiment(), D.final_experiment()
    assert D.SELECT_SEED not in D.SEEDS
    for task in select.runs.values():
        assert task.fit["seeds"] == [D.SELECT_SEED]
        assert task.dataset_kwargs == {"scale": "full-validation"}
    for task in final.runs.values():
        assert task.fit["seeds"] == list(D.SEEDS)
        assert task.dataset_kwargs == {"scale": "full-test"}
    assert set(final.runs) | set(final.pending) == {D.final_label(c) for c in D.CELLS}
    assert len(D.CELLS) == 40 and D.STEPS == 3906 and D.STEPS % D.EVAL_EVERY == 0
    first = [D.final_label(c) for c in D.CELLS[:12]]  # the most informative part first
    assert first[0] == "relu/6/backprop" and first[-1] == "relu/50/SG every layer, cDNI"


def _history(acc: float, diverged: bool = False) -> History:
    evals = np.full((21, 1), acc)
    if diverged:  # from the 16th evaluation on
        evals[15:] = np.nan
    return History([D.SELECT_SEED], np.arange(1, 3), {"loss": np.ones((2, 1))},
                   np.arange(1, 22), {"test_acc": evals}, np.array([16 if diverged else -1]),
                   {"seconds": 1.0})  # fmt: skip


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def _registered(root, text: str | None = None) -> str:
    """A scratch store whose plan file (``text``, default the plan) is committed: the commit."""
    plan = root / D.GRID.plan_file
    plan.parent.mkdir(parents=True, exist_ok=True)
    plan.write_text(D.plan_text() if text is None else text)
    if not (root / ".git").exists():
        _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "plan")
    return _git(root, "rev-parse", "HEAD")


def test_the_grids_grow_with_the_selection_runs_in_the_store(tmp_path):
    """A cell's extension appears once its grid is scored with the best at an edge; its
    reported runs once its rate is chosen; until then they are pending."""
    cell = D.CELLS[0]
    registered = _registered(tmp_path)
    select = D.selection_experiment(tmp_path)
    assert len(select.runs) == 3 * len(D.CELLS)
    assert D.selection_table(tmp_path) is None and R.made_so_far(0.3, tmp_path) is None
    assert D.final_experiment(tmp_path).runs == {}
    for rate, acc in ((LOW, 0.97), (MID, 0.96), (HIGH, 0.95)):
        store.save(select, D.select_label(cell, rate), _history(acc), "test", tmp_path, registered)
    # a diverged run at the best accuracy before it diverged: it ranks last, not first
    other = D.CELLS[1]
    for rate, acc in ((LOW, 0.90), (MID, 0.91), (HIGH, 0.99)):
        run = _history(acc, diverged=rate == HIGH)
        store.save(select, D.select_label(other, rate), run, "test", tmp_path, registered)
    assert D.chosen_rates(tmp_path) == {other: MID}
    select = D.selection_experiment(tmp_path)
    assert D.select_label(cell, 1e-4) in select.runs  # best at the low edge: extended
    assert D.final_label(cell) in D.final_experiment(tmp_path).pending
    assert D.selection_table(tmp_path).loc[cell, "chosen"] == ""  # waiting for the extension
    store.save(select, D.select_label(cell, 1e-4), _history(0.965), "test", tmp_path, registered)
    assert D.chosen_rates(tmp_path) == {cell: LOW, other: MID}
    table = D.selection_table(tmp_path)
    assert len(table) == 2 and table.loc[cell, "chosen"] == f"{LOW:g}"
    assert table.loc[cell, "lr 0.0001"] == pytest.approx(0.965)
    final = D.final_experiment(tmp_path)
    assert final.runs[D.final_label(cell)].fit["lr"] == LOW
    assert D.final_label(cell) not in final.pending and len(final.pending) == 38


def test_no_run_is_made_before_the_plan_is_committed_as_written(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNTHGRAD_COMMIT", raising=False)
    monkeypatch.setattr(store, "commit", lambda: "abc")
    experiment = D.final_experiment(tmp_path)
    with pytest.raises(store.NotRegistered, match="missing"):
        store.registration(experiment, tmp_path)
    _git(tmp_path, "init", "-q")
    plan = tmp_path / D.GRID.plan_file
    plan.parent.mkdir()
    plan.write_text(D.plan_text())
    with pytest.raises(store.NotRegistered, match="commit"):
        store.registration(experiment, tmp_path)  # written, not committed
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "plan")
    assert store.registration(experiment, tmp_path) == _git(tmp_path, "rev-parse", "HEAD")
    monkeypatch.setattr(store, "commit", lambda: "abc+dirty")
    with pytest.raises(store.NotRegistered, match="uncommitted"):
        store.registration(experiment, tmp_path)  # the source not committed
    plan.write_text(D.plan_text().replace("3,906", "3,000"))
    with pytest.raises(store.NotRegistered, match="differs"):
        store.registration(experiment, tmp_path)  # the plan changed after registration
    plan.write_text(D.plan_text())
    monkeypatch.setenv("SYNTHGRAD_COMMIT", "abc")  # a copy of the tree without git
    with pytest.raises(store.NotRegistered, match="SYNTHGRAD_REGISTERED"):
        store.registration(experiment, tmp_path)
    monkeypatch.setenv("SYNTHGRAD_REGISTERED", "def")
    assert store.registration(experiment, tmp_path) == "def"
    monkeypatch.delenv("SYNTHGRAD_COMMIT")
    plan.write_text(D.plan_text().replace("3,906", "3,000"))
    monkeypatch.setattr(making, "run_each", lambda *a: pytest.fail("a run was started"))
    with pytest.raises(store.NotRegistered):  # make paper refuses before any run
        select = D.selection_experiment(tmp_path)
        making.make([select], root=tmp_path, log=lambda _: None, match=["relu/6/*"])


def test_the_registered_plan_is_the_one_the_code_runs():
    assert (store.store_dir() / D.GRID.plan_file).read_text() == D.plan_text()


def test_every_stored_run_of_the_sweep_descends_from_its_registration():
    """For the runs made so far (none is a pass): each names the commit that registered the
    plan, which its own commit descends from; no run from uncommitted code; one source hash
    per experiment."""
    root = store.store_dir()
    for name in (D.SELECT, D.FINAL):
        manifest = store.read_manifest(name, root)
        hashes = {r["provenance"]["source_hash"] for r in manifest["runs"].values()}
        assert len(hashes) <= 1, f"{name}: runs from {len(hashes)} source hashes"
        for label, entry in manifest["runs"].items():
            made = entry["provenance"]
            assert "registered" in made and not made["commit"].endswith("+dirty"), label
            known = subprocess.run(["git", "cat-file", "-e", f"{made['registered']}^{{commit}}"],
                                   cwd=root, capture_output=True)  # fmt: skip
            if known.returncode != 0:
                pytest.skip("this checkout lacks the history the runs name (a shallow clone)")
            ancestry = subprocess.run(
                ["git", "merge-base", "--is-ancestor", made["registered"], made["commit"]],
                cwd=root,
                capture_output=True,
            )
            assert ancestry.returncode == 0, f"{label}: not made after its registration"


def test_a_run_counts_only_under_the_plan_as_it_stands(tmp_path):
    """A run that names no registration, or one whose plan file said something else, is
    ``unregistered``: never drawn, never counted in choosing a rate, made again."""
    select = D.selection_experiment(tmp_path)
    label = D.select_label(D.CELLS[0], LOW)
    old = _registered(tmp_path, D.plan_text().replace("3,906", "3,000"))
    store.save(select, label, _history(0.9), "test", tmp_path, old)
    current = _registered(tmp_path)
    assert store.run_status(select, label, tmp_path) == "unregistered"
    store.save(select, label, _history(0.9), "test", tmp_path)  # no registration named
    assert store.run_status(select, label, tmp_path) == "unregistered"
    assert label not in store.load(select, tmp_path).runs and D.chosen_rates(tmp_path) == {}
    store.save(select, label, _history(0.9), "test", tmp_path, current)
    assert store.run_status(select, label, tmp_path) == "ok"
