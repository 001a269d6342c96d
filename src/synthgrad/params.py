"""Validation of a chapter's papermill parameters, before any work is done.

A chapter declares what each parameter allows and calls :func:`validate` in its first code
cell after the parameters; a bad value stops the chapter with one :class:`ParameterError` whose
message names every offending parameter, its value and what is allowed.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ParameterError(ValueError):
    """A chapter parameter is out of range or of the wrong type."""


@dataclass(frozen=True)
class Spec:
    """What one parameter allows: its kind, bounds or choices, and whether None is allowed."""

    kind: str  # "int", "number", "bool", "choice", "ints"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple = ()
    optional: bool = False
    max_len: int | None = None

    def allowed(self) -> str:
        if self.kind == "ints":
            each = Spec("int", self.low, self.high).allowed()
            text = f"a comma-separated list of {'at most ' + str(self.max_len) + ' ' if self.max_len else ''}distinct integers, each {each.removeprefix('an integer ')}"
        elif self.kind == "bool":
            text = "True or False"
        elif self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = "an integer" if self.kind == "int" else "a number"
            if self.low is not None:
                text += f" {'>' if self.low_open else '>='} {self.low:g}"
            if self.high is not None:
                text += f"{' and' if self.low is not None else ''} <= {self.high:g}"
        return text + (", or None" if self.optional else "")

    def describe(self) -> str:
        """What is allowed, in words, as a chapter's parameters cell says it (papermill cannot
        read a parameter line whose comment holds ``=``, so no ``>=`` here): "an integer from 1
        to 20", "a number above 0", "True or False"."""
        if self.kind == "ints":
            most = f"at most {self.max_len} " if self.max_len else ""
            each = Spec("int", self.low, self.high).describe().removeprefix("an integer")
            text = f"a comma-separated list of {most}distinct integers, each{each.lstrip(',')}"
        elif self.kind in ("bool", "choice"):
            text = self.allowed().removesuffix(", or None")
        else:
            text = "an integer" if self.kind == "int" else "a number"
            low, high = self.low, self.high
            if low is not None and high is not None and not self.low_open:
                text += f" from {low:g} to {high:g}"
            else:
                if low is not None:
                    text += f" above {low:g}" if self.low_open else f", at least {low:g}"
                if high is not None:
                    text += f", at most {high:g}"
        return text + (", or None" if self.optional else "")

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "ints":
            try:
                items = as_ints(value)
            except (TypeError, ValueError):
                return False
            each = Spec("int", self.low, self.high)
            return (
                0 < len(items) <= (self.max_len or len(items))
                and len(set(items)) == len(items)
                and all(each.ok(i) for i in items)
            )
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


def integer(low: int | None = None, high: int | None = None, optional: bool = False) -> Spec:
    return Spec("int", low, high, optional=optional)


def number(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    optional: bool = False,
) -> Spec:
    return Spec("number", low, high, low_open, optional=optional)


def positive(high: float | None = None, optional: bool = False) -> Spec:
    return Spec("number", 0.0, high, low_open=True, optional=optional)


def flag() -> Spec:
    return Spec("bool")


def choice(*options: Any) -> Spec:
    return Spec("choice", choices=tuple(options))


def ints(low: int | None = None, high: int | None = None, max_len: int | None = None) -> Spec:
    """A list of distinct integers, given as a list or as a comma-separated string ("3,6,12")."""
    return Spec("ints", low, high, max_len=max_len)


def as_ints(value: Any) -> list[int]:
    """``"3, 6,12"`` or ``[3, 6, 12]`` as ``[3, 6, 12]`` (and ``20`` as ``[20]``: papermill
    reads ``-p depths 20`` as an integer); ValueError for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if any(not re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise ValueError(f"not a comma-separated list of integers: {value!r}")
        return [int(p) for p in parts]
    if isinstance(value, list | tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return list(value)
    raise ValueError(f"not a list of integers: {value!r}")


def _as_text_hint(value: Any, spec: Spec) -> str:
    """For a string that reads as the number or flag the spec wants (``papermill -r seed 0``,
    or ``-p seed "0"`` through a shell that keeps the quotes), how to pass it instead."""
    if not isinstance(value, str) or spec.kind not in ("int", "number", "bool"):
        return ""
    text = value.strip()
    if spec.kind == "bool":
        looks = text in ("True", "False")
    else:
        try:
            float(text)
            looks = True
        except ValueError:
            looks = False
    if not looks:
        return ""
    kind = "flag" if spec.kind == "bool" else "number"
    return (
        f" (got the string {value!r}, not a {kind}: pass it with papermill's -p and no quotes "
        f"around the value, -p NAME {text}; -r passes text)"
    )


# papermill's injected cell: "# Parameters" then one assignment per parameter passed
INJECTED = "# Parameters\n"


def unknown(values: Mapping[str, Any], specs: Mapping[str, Spec]) -> list[str]:
    """The names papermill injected that are none of ``specs``: a parameter passed with a
    misspelt name (papermill injects it all the same, and only warns). Read from the
    notebook's input history (``values["In"]``, IPython's), the last cell that papermill
    injected; none outside a papermill run."""
    cells = [c for c in values.get("In") or () if isinstance(c, str) and c.startswith(INJECTED)]
    if not cells:
        return []
    try:
        tree = ast.parse(cells[-1])
    except SyntaxError:
        return []
    names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)]  # fmt: skip
    return [name for name in names if name not in specs]


def validate(values: Mapping[str, Any], specs: Mapping[str, Spec]) -> dict[str, Any]:
    """Check ``values[name]`` against ``specs[name]`` for every spec, and that papermill passed
    no parameter the specs do not name (:func:`unknown`); raise one ParameterError naming every
    bad parameter, else return the checked values (``{name: value}`` for every spec). Pass
    ``globals()`` from a notebook."""
    bad = []
    for name, spec in specs.items():
        if name not in values:
            bad.append(f"{name} is missing")
        elif not spec.ok(values[name]):
            value = values[name]
            hint = _as_text_hint(value, spec)
            bad.append(f"{name} = {value!r} is not allowed: must be {spec.allowed()}{hint}")
    extra = unknown(values, specs)
    if extra:
        bad.append(
            f"no parameter named {', '.join(extra)}: this chapter's parameters are "
            + ", ".join(specs)
        )
    if bad:
        raise ParameterError("invalid parameter(s): " + "; ".join(bad))
    return {name: values[name] for name in specs}
