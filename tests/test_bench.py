"""The benchmark's counts and table (the timings themselves are figures, not tests)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench  # noqa: E402  (a script outside the package: benchmarks/bench.py)


def test_multiply_adds_of_backprop_by_hand():
    # layers 4x3 and 3x2: forward 12 + 6, weight gradients 12 + 6, input gradient above the first: 6
    assert bench.multiply_adds("backprop", 4, [3], 2) == 42


def test_multiply_adds_add_each_sg_prediction_and_its_weight_gradient():
    bp = bench.multiply_adds("backprop", 4, [3, 5], 2, d_context=2)
    middle = bench.multiply_adds("sg_middle", 4, [3, 5], 2, d_context=2)
    every = bench.multiply_adds("sg_every", 4, [3, 5], 2, d_context=2)
    assert middle - bp == 2 * (3 + 2) * 3
    assert every - bp == 2 * (3 + 2) * 3 + 2 * (5 + 2) * 5
    with pytest.raises(ValueError, match="no multiply-add count"):
        bench.multiply_adds("fa", 4, [3], 2)


def test_markdown_table_has_a_row_per_figure():
    rows = [bench._row("a", 1.23456, "s", "<= 2", True), bench._row("b", 3.0, "x")]
    table = bench.markdown(rows).splitlines()
    assert len(table) == 4 and "| a | 1.235 | s | <= 2 | met |" in table


def test_the_gpu_step_timing_runs_its_four_configurations_on_a_cpu_too():
    """The GPU rows' code path (eager and graphed training loops), on a tiny network here."""
    times = bench.gpu_step_times(depth=2, short=2, long=4, device="cpu")
    assert set(times) == {"backprop eager", "backprop CUDA graph", "sg_middle eager",
                          "sg_middle CUDA graph"}  # fmt: skip


def test_the_recorded_gpu_rows_say_when_and_where_they_were_measured():
    """Without a GPU, make bench shows the last GPU measurements, each labelled as recorded."""
    rows = bench.recorded_gpu_rows()
    assert rows, "benchmarks/gpu-record.json holds the GPU session's rows"
    assert all(r["what"].startswith("[recorded ") and "commit" in r["what"] for r in rows)
    assert any("CUDA graph speed-up" in r["what"] for r in rows)
    assert bench.recorded_gpu_rows(Path("no-such-record.json")) == []


def test_the_sg_cost_is_the_median_of_its_measurements_with_their_range(monkeypatch):
    times = iter([
        {"backprop": 4.0, "sg_middle": 5.0, "sg_every": 6.0},  # ratios 1.25, 1.5
        {"backprop": 4.0, "sg_middle": 4.4, "sg_every": 6.4},  # 1.1, 1.6
        {"backprop": 2.0, "sg_middle": 2.4, "sg_every": 2.8},  # 1.2, 1.4
    ])  # fmt: skip
    monkeypatch.setattr(bench, "step_times", lambda *args, **kwargs: next(times))
    cost = bench.sg_cost(bench.data.two_moons(n=10), threads=1, repeats=3)
    assert cost["sg_middle / backprop"] == pytest.approx(1.2)
    assert cost["sg_every / backprop"] == pytest.approx(1.5)
    assert (cost["sg_every / backprop, lowest"], cost["sg_every / backprop, highest"]) == (
        pytest.approx(1.4), pytest.approx(1.6))  # fmt: skip
    assert cost["backprop ms/step"] == 4.0 and cost["repeats"] == 3
