"""Chapter 1's DNI table on full MNIST (issue 25), registered before any run: its grid, its
plan, and the cells it shares with chapter 5's registered sweep."""

import numpy as np

from synthgrad import paper, store
from synthgrad.chapters import depth_sweep as S
from synthgrad.chapters import dni_table as T
from synthgrad.chapters import registered as R


def test_the_cells_the_sweep_makes_are_not_made_twice_and_are_the_same_runs():
    """Backprop and cDNI at 3 and 6 layers come from the sweep: this grid's own task for
    them would be the sweep's run exactly (same settings, seeds and data)."""
    assert not set(T.FROM_SWEEP) & set(T.CELLS)
    assert len(T.CELLS) == 4 * len(T.DEPTHS) - len(T.FROM_SWEEP) == 12
    for cell in T.FROM_SWEEP:
        assert cell in S.CELLS
        assert T.GRID.task(cell, 1e-3, S.SEEDS, "full-test") == S.GRID.task(
            cell, 1e-3, S.SEEDS, "full-test"
        )
    made_first = {d for _, d, _ in T.CELLS[:8]}
    assert made_first == {4, 5}  # the plan's order: the depths with nothing made yet first


def test_the_controls_record_no_alignment_and_the_methods_are_the_dni_papers():
    control = T.GRID.task(("relu", 4, T.analysis.CONTROL_EVERY), 1e-3, (0,), "full-test")
    assert control.fit["rule"] == "frozen_every" and control.fit["align_examples"] == 0
    dni = T.GRID.task(("relu", 4, T.DNI), 1e-3, (0,), "full-test")
    assert dni.fit["rule"] == "sg_every" and dni.fit["conditioned"] is False


def test_the_registered_plan_is_the_one_the_code_runs_and_make_paper_knows_the_grid():
    assert (store.store_dir() / T.GRID.plan_file).read_text() == R.plan_text(T.GRID)
    assert T.SELECT in paper.BUILDERS and T.FINAL in paper.BUILDERS
    select, final = T.selection_experiment(), T.final_experiment()
    assert len(select.runs) >= 3 * len(T.CELLS)
    assert set(final.runs) | set(final.pending) == {R.final_label(c) for c in T.CELLS}
    assert "Registered plan" in T.page_text() and "01_dni_full_select" in T.page_text()


def test_the_registered_table_reads_both_stores_in_chapter_1s_form(tmp_path, monkeypatch):
    """Made runs of this grid and of the sweep's four cells, under chapter 1's names."""
    import numpy as np

    def ends(experiment, metric, last, root):
        if experiment.name == T.FINAL:
            return {"relu/4/SG every layer, DNI": np.array([0.9, 0.91])}
        if experiment.name == S.FINAL:
            return {"relu/3/backprop": np.array([0.97, 0.98]), "relu/20/backprop": np.array([0.5])}
        return {}  # no selection run

    monkeypatch.setattr(store, "end_values", ends)
    got = T.accuracy(tmp_path)
    assert set(got) == {(4, "DNI"), (3, "backprop")}  # depth 20 is not the table's
    assert list(got[4, "DNI"]) == [0.9, 0.91]
    assert T.complete_depths(got) == []
    full = {(5, m): np.ones(2) for m in T.SHORT.values()} | got
    assert T.complete_depths(full) == [5]


def test_c1_4p_moves_to_the_registered_table_once_every_depth_is_made():
    import numpy as np

    from synthgrad.chapters import primer

    full = {(d, m): np.ones(5) for d in (3, 4, 5, 6) for m in primer.STORED}
    assert primer.dni_evidence(None, full, "registered") == (full, "registered")
    part = {k: v for k, v in full.items() if k != (6, "DNI")}
    assert primer.dni_evidence(None, part, "registered") == ({}, "")  # the earlier store's


def test_the_middle_dni_grid_is_the_sweeps_middle_sg_without_the_label():
    """C1.3p's missing cells: the sweep's middle SG at 3 and 6 layers, the label dropped and
    nothing else changed (so that each seed pairs with the sweep's cDNI run); registered."""
    from synthgrad.chapters import middle_dni as M

    assert [d for _, d, _ in M.CELLS] == list(T.MIDDLE_DEPTHS)
    for _, d, m in M.CELLS:
        ours = M.GRID.task(("relu", d, m), 1e-3, S.SEEDS, "full-test")
        sweeps = S.GRID.task(("relu", d, M.CDNI), 1e-3, S.SEEDS, "full-test")
        assert ours.fit.pop("conditioned") is False and sweeps.fit.pop("conditioned") is True
        assert ours == sweeps
    assert (store.store_dir() / M.GRID.plan_file).read_text() == R.plan_text(M.GRID)
    assert M.SELECT in paper.BUILDERS and M.FINAL in paper.BUILDERS
    final = M.GRID.final_experiment()
    assert set(final.runs) | set(final.pending) == {R.final_label(c) for c in M.CELLS}


def test_the_tables_cells_name_a_diverged_seed_rather_than_leave_it_out_of_the_mean():
    from synthgrad.chapters import primer

    acc = {(3, "backprop"): np.array([0.97, 0.96, 0.965]), (3, "DNI"): np.array([0.95, np.nan, 0.96]),
           (4, "backprop"): np.array([0.97, 0.97, 0.97])}  # fmt: skip
    table = primer.dni_table(acc).data
    assert table.loc[3, ("DNI", "mean")] == "diverged" and table.loc[3, ("DNI", "diverged")] == "1"
    assert (
        table.loc[3, ("backprop", "mean")] == "3.50" and table.loc[3, ("backprop", "max")] == "4.00"
    )
    assert table.loc[4, ("DNI", "mean")] == "not in the store"
