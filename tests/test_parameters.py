"""Property-based tests of every chapter's parameter validation (hypothesis).

Each chapter declares its parameters in a papermill ``parameters`` cell (read here with
papermill's own ``inspect_notebook``) and what each allows in ``synthgrad.chapters``, so a new
chapter or parameter is covered without editing this file."""

import ast
import functools
import math
import re
import subprocess
import sys

import papermill
import pytest
from conftest import CHAPTERS, ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgrad import chapters
from synthgrad import params as P


@functools.cache
def _inspected(chapter):
    return papermill.inspect_notebook(str(ROOT / "book" / f"{chapter}.ipynb"))


def defaults(chapter):
    """The parameters cell's defaults (a fresh dict: a test may change it)."""
    return {name: ast.literal_eval(p["default"]) for name, p in _inspected(chapter).items()}


def specs(chapter):
    return chapters.interface(chapter).specs


CASES = [(ch, name) for ch in CHAPTERS for name in specs(ch)]


def valid(spec: P.Spec):
    if spec.kind == "bool":
        s = st.booleans()
    elif spec.kind == "choice":
        s = st.sampled_from(spec.choices)
    elif spec.kind == "int":
        lo = int(spec.low) if spec.low is not None else -(10**6)
        s = st.integers(lo, int(spec.high) if spec.high is not None else lo + 10**6)
    elif spec.kind == "ints":
        item = st.integers(int(spec.low), int(spec.high))
        s = st.lists(item, min_size=1, max_size=spec.max_len or 5, unique=True).flatmap(
            lambda xs: st.sampled_from([xs, ",".join(map(str, xs)), ", ".join(map(str, xs))])
        )
    else:
        s = st.floats(
            spec.low, spec.high, exclude_min=spec.low_open, allow_nan=False, allow_infinity=False
        )
    return st.none() | s if spec.optional else s


def invalid(spec: P.Spec):
    junk = st.sampled_from(["", "abc", [1, "a"], {"a": 1}, float("nan")])
    if spec.kind == "bool":
        return st.integers(0, 1) | st.sampled_from(["True", "yes"]) | junk
    if spec.kind == "choice":
        return st.text(max_size=8).filter(lambda t: t not in spec.choices) | junk
    if spec.kind == "ints":
        lo, hi = int(spec.low), int(spec.high)
        outside = st.integers(hi + 1, hi + 100) | st.integers(lo - 100, lo - 1)
        return (
            st.lists(outside, min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs)))
            | st.integers(lo, hi).map(lambda i: f"{i},{i}")
            | st.sampled_from(["3;6", "a,b", "", [3.0]])
        )
    strategies = [junk, st.booleans(), st.sampled_from([float("inf"), -float("inf")])]
    if spec.kind == "int":
        strategies.append(st.floats(allow_nan=False).filter(lambda f: not f.is_integer()))
    if spec.low is not None:
        top = spec.low if spec.low_open else math.nextafter(spec.low, -math.inf)
        below = st.floats(max_value=top, allow_nan=False, allow_infinity=False)
        strategies.append(below.map(int) if spec.kind == "int" else below)
    if spec.high is not None:
        above = st.floats(min_value=math.nextafter(spec.high, math.inf), allow_infinity=False)
        strategies.append(above.map(math.ceil) if spec.kind == "int" else above)
    if not spec.optional:
        strategies.append(st.none())
    return st.one_of(strategies).filter(lambda v: not spec.ok(v))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_parameter_has_a_spec_and_valid_defaults(chapter):
    d, s = defaults(chapter), specs(chapter)
    assert set(d) == set(s), f"parameters without a spec: {set(d) ^ set(s)}"
    P.validate(d, s)
    p = chapters.setup(chapter, d)
    assert set(chapters.recorded(chapter, p)) <= set(vars(p))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_quick_run_overrides_only_known_settings(chapter):
    interface = chapters.interface(chapter)
    known = set(interface.specs) | set(interface.settings)
    assert set(interface.quick) <= known, set(interface.quick) - known
    quick = chapters.setup(chapter, {**defaults(chapter), "quick": True})
    assert quick.quick is True
    if interface.resolve is None:  # a resolve step may normalise what quick set
        assert {name: getattr(quick, name) for name in interface.quick} == interface.quick


@pytest.mark.parametrize(("chapter", "name"), CASES)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_validation_accepts_allowed_and_names_rejected_values(chapter, name, data):
    spec_map = specs(chapter)
    values = defaults(chapter)
    good = data.draw(valid(spec_map[name]), label="allowed")
    P.validate({**values, name: good}, spec_map)
    bad = data.draw(invalid(spec_map[name]), label="rejected")
    with pytest.raises(P.ParameterError, match=f"{name} = .* is not allowed: must be"):
        P.validate({**values, name: bad}, spec_map)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_parameters_cell_is_the_chapters_interface(chapter):
    """One source for each parameter: the notebook's parameters cell has the names and
    defaults of the chapter module's INTERFACE, in its order, and each comment ends with the
    spec's own description of what is allowed ("(an integer from 1 to 20)", optionally
    followed by ": why")."""
    interface = chapters.interface(chapter)
    found = papermill.inspect_notebook(str(ROOT / "book" / f"{chapter}.ipynb"))
    assert list(found) == list(interface.defaults), "names (and order) differ"
    assert defaults(chapter) == interface.defaults
    for name, param in found.items():
        allowed = re.escape(interface.specs[name].describe())
        assert re.search(rf"\({allowed}(: [^()]+)?\)$", param["help"]), (name, param["help"])


def test_a_number_passed_as_text_is_named_as_text_with_how_to_pass_it():
    spec_map = {"seed": P.integer(0), "lr": P.positive(), "quick": P.flag()}
    with pytest.raises(P.ParameterError) as err:
        P.validate({"seed": "0", "lr": " 1e-3", "quick": "True"}, spec_map)
    text = str(err.value)
    assert "seed = '0' is not allowed: must be an integer >= 0 (got the string '0'" in text
    assert "-p NAME 0; -r passes text" in text and "-p NAME 1e-3" in text
    assert (
        "quick = 'True' is not allowed: must be True or False (got the string 'True', not a flag"
        in text
    )
    # a string that is no number gets no such hint
    with pytest.raises(P.ParameterError) as err:
        P.validate({"seed": "zero", "lr": 1e-3, "quick": False}, spec_map)
    assert "got the string" not in str(err.value)


def test_a_misspelt_parameter_stops_the_chapter_naming_the_parameters_that_exist():
    spec_map = {"seed": P.integer(0), "n_seeds": P.integer(1)}
    injected = "# Parameters\nseed = 3\nn_seed = 5\n"
    history = ["", "seed: int = 0\nn_seeds: int = 3\n", injected, "p = chapters.setup(...)"]
    with pytest.raises(
        P.ParameterError,
        match="no parameter named n_seed: this chapter's parameters are seed, n_seeds$",
    ):
        P.validate({"In": history, "seed": 3, "n_seeds": 3, "n_seed": 5}, spec_map)
    # a kernel's other values (a rerun of the cell after the chapter ran) are not parameters
    ok = {"In": history[:2], "seed": 3, "n_seeds": 3, "runs": {}, "errors": [0.5]}
    assert P.validate(ok, spec_map) == {"seed": 3, "n_seeds": 3}
    # only the last injected cell counts (a second papermill run into the same kernel)
    history += ["# Parameters\nseed = 4\n"]
    assert P.validate({"In": history, "seed": 4, "n_seeds": 3}, spec_map)["seed"] == 4


@pytest.mark.processes
def test_bad_parameter_fails_with_one_clear_message(tmp_path):
    nb = ROOT / "book" / "01_primer.ipynb"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(nb),
            str(tmp_path / "out.ipynb"),
            "-k",
            "python3",
            "-p",
            "lr",
            "-0.1",
            "-r",
            "seed",
            "0",
            "-p",
            "n_seed",
            "5",
            "--log-level",
            "ERROR",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode != 0
    # one message names all three: the bad value, the number passed as text, the misspelt name
    message = next(line for line in res.stderr.splitlines() if "ParameterError:" in line)
    assert message.startswith("ParameterError: invalid parameter(s): seed = '0' is not allowed")
    assert "(got the string '0', not a number: pass it with papermill's -p" in message
    assert "lr = -0.1 is not allowed: must be a number > 0" in message
    assert "no parameter named n_seed: this chapter's parameters are seed, n_seeds," in message
    assert message.count("ParameterError") == 1
