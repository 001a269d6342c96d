"""The shared plots: mean curves with a band from the lowest to the highest seed."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from synthgrad import plots  # noqa: E402


def test_curves_draw_the_mean_and_a_band_from_lowest_to_highest_seed_per_method():
    rows = [{"method": m, "seed": s, "step": t, "loss": (1 + s) * (t + 1) * (2 if m == "b" else 1)}
            for m in ("b", "a") for s in range(3) for t in range(4)]  # fmt: skip
    rows.append({"method": "a", "seed": 0, "step": 4, "loss": np.nan})  # not recorded: left out
    fig, ax = plt.subplots()
    plots.curves(pd.DataFrame(rows), "loss", ax, "loss")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["b", "a"]  # order of appearance
    b, a = ax.lines
    np.testing.assert_allclose(a.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(a.get_ydata(), [2, 4, 6, 8])  # mean of 1, 2, 3 times (t + 1)
    np.testing.assert_allclose(b.get_ydata(), [4, 8, 12, 16])
    band = ax.collections[1].get_paths()[0].vertices  # method a: from 1 x to 3 x (t + 1)
    assert band[:, 1].min() == 1 and band[:, 1].max() == 12
    plt.close(fig)


def test_curves_without_hue_draw_one_curve_and_no_legend():
    df = pd.DataFrame({"seed": [0, 1, 0, 1], "step": [1, 1, 2, 2], "y": [1.0, 3.0, 2.0, 4.0]})
    fig, ax = plt.subplots()
    plots.curves(df, "y", ax, "y", hue=None)
    assert ax.get_legend() is None and len(ax.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [2.0, 3.0])
    plt.close(fig)


def test_curves_say_when_the_mean_is_over_the_seeds_left():
    """After one seed diverges the mean over the others is drawn dashed and labelled, never as
    the mean of every seed."""
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from synthgrad import plots

    steps = np.arange(10)
    rows = [{"method": "SG", "seed": s, "step": t, "loss": 1.0 / (t + 1) if s or t < 5 else np.nan}
            for s in range(3) for t in steps]  # fmt: skip
    fig, ax = plt.subplots()
    plots.curves(pd.DataFrame(rows), "loss", ax, "loss")
    solid, dashed = ax.lines[0], ax.lines[1]
    assert np.isfinite(solid.get_ydata()).sum() == 5  # every seed: steps 0 to 4
    assert dashed.get_linestyle() == "--" and np.isfinite(dashed.get_ydata()).sum() == 6
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "mean of the seeds left (others diverged)" in labels
    plt.close(fig)


def test_curves_label_only_the_axes_that_show_tick_labels():
    """On shared axes the inner panels show no tick labels, and then no axis label (as seaborn
    does); an axis that shows them keeps its label."""
    df = pd.DataFrame({"seed": [0, 0], "step": [1, 2], "y": [1.0, 2.0]})
    fig, axes = plt.subplots(2, 2, sharex=True, sharey=True)
    for ax in axes.flat:
        plots.curves(df, "y", ax, "loss", hue=None)
    shown = [(ax.xaxis.label.get_visible(), ax.yaxis.label.get_visible()) for ax in axes.flat]
    assert shown == [(False, True), (False, False), (True, True), (True, False)]
    # the same as reading the drawn tick labels, which computes every tick
    for ax in axes.flat:
        assert plots.tick_labels_shown(ax.xaxis) == any(
            t.get_visible() for t in ax.get_xticklabels()
        )
    plt.close(fig)
