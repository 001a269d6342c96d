"""Every claim a chapter can put in its ledger has tests of its decision: cases where it holds,
where it fails, and where one seed diverged (NaN or inf in its metric, which must count against
it); a claim that can hold in part also has a case where it does. The cases are the tests
marked ``@pytest.mark.claim(id, case)`` in ``tests/test_claims_*.py``; this file checks that
they exist, with a case where a claim decided on seed-paired intervals is inconclusive (found
in the test files' code, so that running a subset of tests does not matter)."""

import ast
from pathlib import Path

import numpy as np
import pytest

from synthgrad import chapters, ledger

CASES = ("holds", "in part", "fails", "diverged", "inconclusive")
TESTS = Path(__file__).parent


def marked_cases() -> dict[str, set[str]]:
    """claim id -> the cases its tests are marked with, from every tests/test_claims_*.py."""
    found: dict[str, set[str]] = {}
    for path in TESTS.glob("test_claims_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "claim"
                and ast.unparse(node.func.value) == "pytest.mark"
            ):
                claim, case = (ast.literal_eval(a) for a in node.args)
                assert case in CASES, f"{path.name}: unknown case {case!r} for {claim}"
                found.setdefault(claim, set()).add(case)
    return found


@pytest.mark.parametrize("chapter", chapters.NAMES)
def test_every_claim_of_a_chapter_has_tests_of_its_decision(chapter):
    module = chapters.module(chapter)
    found = marked_cases()
    for claim in module.CLAIM_IDS:
        needed = (
            {"holds", "fails", "diverged"}
            | ({"in part"} if claim in module.IN_PART else set())
            | ({"inconclusive"} if claim in getattr(module, "PAIRED", ()) else set())
        )
        missing = needed - found.get(claim, set())
        assert not missing, f"{chapter}: claim {claim} has no test of the case(s) {sorted(missing)}"


def test_judge_gives_the_status_and_the_regime_text():
    assert ledger.judge(True).status == "holds"
    assert ledger.judge(False).status == "does not hold"
    parts = {3: True, 6: False, 12: True}
    v = ledger.judge(parts, regime="at {held}; not at {failed}")
    assert (v.status, v.regime) == ("holds in part", "at 3, 12; not at 6")
    assert ledger.judge(parts, required=False).status == "does not hold"
    assert ledger.judge({3: False}, also={"GD": True}).status == "holds in part"
    assert ledger.judge({3: True}, also={"GD": False}).status == "holds"
    assert ledger.judge({}).status == "does not hold"
    assert ledger.judge({3: False}, regime="at {held}").regime == ""  # no "at none"
    assert ledger.judge(
        {3: False, 6: True}, regime="at {held}; not at {failed}; x {reversed}"
    ).regime == ("at 6; not at 3")


def test_a_nan_never_passes():
    margin = np.array([0.1, np.nan])
    assert ledger.judge({"seeds": margin >= 0.0}).status == "does not hold"
    assert ledger.judge(np.array([]) > 0).status == "does not hold"
    with pytest.raises(TypeError):
        ledger.judge({"a": 0.5})
    assert ledger.every([0.1, 0.2], [True, True])
    assert not ledger.every([0.1, np.inf], [True, True])
    claim = ledger.Claim("C9.9", "x", "x", "x", ledger.judge({1: True, 2: False}, regime="{held}"))
    assert (claim.status, claim.regime, claim.holds) == ("holds in part", "1", False)
