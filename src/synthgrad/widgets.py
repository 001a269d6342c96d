"""Widgets of two kinds (BOOK.md section 2), built from one description of the controls.

- :func:`precomputed`: kernel-free. Every point of a small grid of parameter values is
  rendered while the chapter executes; the controls switch between the stored figures in the
  browser through ``jslink`` alone, so the published site needs no kernel. For several
  parameters the figures are nested ``Stack`` widgets, one nesting level per parameter, and
  each control is linked to every stack of its level.
- :func:`live`: for JupyterLab. The controls rerun a small experiment in the kernel.

Both take ``render(**params) -> (figure, text)``: a matplotlib figure and a short HTML text
with the numbers; the figure is stored as PNG.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt

Render = Callable[..., tuple[plt.Figure, str]]


def png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed (it is not also shown inline). Saved as
    laid out (every render function lays its figure out tightly): ``bbox_inches="tight"``
    would draw each figure twice, a third of a widget's rendering time."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def controls(
    grid: Mapping[str, Sequence], labels: Mapping[str, str] | None = None
) -> list[W.Widget]:
    """One slider per parameter, its positions labelled with the values (``index`` = position)."""
    labels = labels or {}
    out = []
    for name, values in grid.items():
        if len(values) == 0:
            raise ValueError(f"parameter {name!r} has no values")
        out.append(
            W.SelectionSlider(
                options=[(_label(v), i) for i, v in enumerate(values)],
                index=0,
                description=labels.get(name, name),
                continuous_update=False,
                style={"description_width": "initial"},
                layout=W.Layout(width="420px"),
            )
        )
    return out


def _panel(fig: plt.Figure, text: str) -> W.VBox:
    return W.VBox([W.Image(value=png(fig), format="png"), W.HTML(text)])


def precomputed(
    grid: Mapping[str, Sequence],
    render: Render,
    labels: Mapping[str, str] | None = None,
) -> W.VBox:
    """A kernel-free widget: renders ``render(**point)`` for every point of the grid now.

    ``grid`` maps parameter names (the keyword arguments of ``render``) to their values; the
    returned box's ``links`` are the ``jslink``s from each control to the stacks it switches."""
    names = list(grid)
    sliders = controls(grid, labels)
    levels: list[list[W.Stack]] = [[] for _ in names]

    def build(depth: int, point: dict[str, Any]) -> W.Widget:
        if depth == len(names):
            return _panel(*render(**point))
        children = [build(depth + 1, {**point, names[depth]: v}) for v in grid[names[depth]]]
        stack = W.Stack(children, selected_index=0)
        levels[depth].append(stack)
        return stack

    content = build(0, {})
    links = [
        W.jslink((slider, "index"), (stack, "selected_index"))
        for slider, stacks in zip(sliders, levels, strict=True)
        for stack in stacks
    ]
    box = W.VBox([*sliders, content])
    box.add_class("synthgrad-precomputed")
    box.links = links  # the browser-side links that make the widget work without a kernel
    return box


def live(
    grid: Mapping[str, Sequence],
    render: Render,
    labels: Mapping[str, str] | None = None,
) -> W.VBox:
    """A widget for a running kernel: moving a control reruns ``render`` with the new values."""
    names = list(grid)
    sliders = controls(grid, labels)
    image, text = W.Image(format="png"), W.HTML()
    status = W.HTML()

    def update(_change: Any = None) -> None:
        point = {n: grid[n][s.index] for n, s in zip(names, sliders, strict=True)}
        status.value = "<i>running...</i>"
        fig, html = render(**point)
        image.value, text.value, status.value = png(fig), html, ""

    for s in sliders:
        s.observe(update, names="index")
    update()
    box = W.VBox([*sliders, status, image, text])
    box.add_class("synthgrad-live")
    return box
