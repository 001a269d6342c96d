import ipywidgets as W
import matplotlib.pyplot as plt
from ipywidgets.widgets.widget_link import Link

from synthgrad import sweep, widgets


def _render(calls):
    def render(a, b):
        calls.append((a, b))
        fig, ax = plt.subplots()
        ax.plot([0, 1], [a, b])
        return fig, f"a={a}, b={b}"

    return render


def test_precomputed_renders_every_point_and_links_each_control_to_its_stacks():
    calls = []
    grid = {"a": [1.0, 2.0, 3.0], "b": ["x", "y"]}
    box = widgets.precomputed(grid, _render(calls), labels={"a": "alpha"})
    assert sorted(calls) == sorted((p["a"], p["b"]) for p in sweep.grid(**grid))
    slider_a, slider_b, outer = box.children
    assert slider_a.description == "alpha" and [o[0] for o in slider_a.options] == ["1", "2", "3"]
    assert isinstance(outer, W.Stack) and len(outer.children) == 3
    assert all(isinstance(c, W.Stack) and len(c.children) == 2 for c in outer.children)
    new = box.links
    assert all(isinstance(link, Link) for link in new)
    targets = {(id(link.source[0]), id(link.target[0])) for link in new}
    assert (id(slider_a), id(outer)) in targets
    for inner in outer.children:
        assert (id(slider_b), id(inner)) in targets
    leaf = outer.children[2].children[1]
    assert leaf.children[1].value == "a=3.0, b=y" and leaf.children[0].value[:4] == b"\x89PNG"
    assert len(new) == 1 + 3


def test_live_reruns_on_a_move():
    calls = []
    box = widgets.live({"a": [1.0, 2.0], "b": ["x"]}, _render(calls))
    assert calls == [(1.0, "x")]
    slider_a, _, _, image, text = box.children
    first = image.value
    slider_a.index = 1
    assert calls[-1] == (2.0, "x") and text.value == "a=2.0, b=x" and image.value != first
