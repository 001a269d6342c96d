import json

import pytest

from synthgrad import ledger
from synthgrad import params as P

SPECS = {
    "lr": P.positive(),
    "seed": P.integer(0),
    "n_seeds": P.integer(1, 10),
    "quick": P.flag(),
    "scale": P.choice("small", "full"),
    "sg_lr": P.positive(optional=True),
}
GOOD = dict(lr=0.1, seed=0, n_seeds=3, quick=False, scale="small", sg_lr=None)


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("lr", -1, "lr = -1 is not allowed: must be a number > 0"),
        ("lr", 0, "lr = 0 is not allowed: must be a number > 0"),
        ("lr", "bad", "lr = 'bad' is not allowed"),
        ("lr", float("nan"), "lr = nan is not allowed"),
        ("seed", -2, "seed = -2 is not allowed: must be an integer >= 0"),
        ("seed", 1.5, "seed = 1.5 is not allowed: must be an integer"),
        ("n_seeds", 11, "n_seeds = 11 is not allowed: must be an integer >= 1 and <= 10"),
        ("n_seeds", True, "n_seeds = True is not allowed"),
        ("quick", 1, "quick = 1 is not allowed: must be True or False"),
        ("scale", "medium", "scale = 'medium' is not allowed: must be one of 'small', 'full'"),
        ("sg_lr", -1.0, "sg_lr = -1.0 is not allowed: must be a number > 0, or None"),
    ],
)
def test_each_bad_value_is_named(name, value, message):
    with pytest.raises(P.ParameterError) as err:
        P.validate({**GOOD, name: value}, SPECS)
    assert message in str(err.value)


def test_good_values_pass_and_all_bad_ones_are_listed():
    P.validate(GOOD, SPECS)
    with pytest.raises(P.ParameterError, match="lr = -1.*seed = -1"):
        P.validate({**GOOD, "lr": -1, "seed": -1}, SPECS)
    with pytest.raises(P.ParameterError, match="quick is missing"):
        P.validate({k: v for k, v in GOOD.items() if k != "quick"}, SPECS)


def test_ledger_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv(ledger.RESULTS_ENV, str(tmp_path))
    claims = [ledger.Claim("C9.1", "x is y", "x", "x > 0", True, {"x": float("nan"), "v": [1.0]})]
    path = ledger.write("99_test", claims, {"lr": 0.1}, quick=True)
    doc = json.loads(path.read_text())
    ledger.check(doc)
    assert doc["claims"][0]["status"] == "holds" and doc["claims"][0]["evidence"]["x"] is None
    assert ledger.table(claims).loc["C9.1", "verdict"] == "holds"
    assert ledger.read_all(tmp_path).verdict.tolist() == ["holds (quick run)"]
    doc["claims"][0]["holds"] = "yes"
    with pytest.raises(ValueError, match="holds"):
        ledger.check(doc)


def test_validate_returns_the_checked_values():
    assert P.validate({**GOOD, "other": 1}, SPECS) == GOOD


def test_a_claim_holds_in_part_with_its_regime_and_tags(tmp_path, monkeypatch):
    monkeypatch.setenv(ledger.RESULTS_ENV, str(tmp_path))
    part = ledger.Claim("C9.2", "x", "x", "x", False, regime="up to 0.5", partly=True)
    mine = ledger.Claim("C9.3", "x", "x", "x", True, source="this book", kind="identity check")
    assert part.status == "holds in part" and mine.status == "holds"
    ledger.write("99_test", [part, mine], {}, quick=False)
    assert ledger.read_all(tmp_path).verdict.tolist() == ["holds in part: up to 0.5", "holds"]
    table = ledger.table([part, mine])
    assert table.loc["C9.3", "tag"] == "this book, identity check"
    for bad in (dict(source="a blog"), dict(kind="a hunch"), dict(partly=True)):
        with pytest.raises(ValueError):
            ledger.Claim("C9.4", "x", "x", "x", True, **bad)


def test_the_book_wide_table_gives_each_verdict_its_scale(tmp_path, monkeypatch):
    monkeypatch.setenv(ledger.RESULTS_ENV, str(tmp_path))
    claim = ledger.Claim("C9.5", "x", "x", "x", True, kind="identity check")
    ledger.write("99_test", [claim], {"scale": "small", "depths": [3, 6], "n_seeds": 3}, False)
    row = ledger.read_all(tmp_path).iloc[0]
    assert row["scale"] == "book run: MNIST small, depths 3,6, 3 seeds"
    assert row["tag"] == "paper, identity check"


@pytest.mark.parametrize("value", ["holds in part", 0.2143, 12, [1, 2]])
def test_glue_emits_what_myst_nb_glue_emits(monkeypatch, value):
    """ledger.glue writes the same display output as myst-nb's glue(display=False), which the
    page's {glue} roles read, without importing myst_nb in the chapter's kernel."""
    import IPython.display
    import myst_nb.ext.glue as myst_glue

    calls = {"ours": [], "myst": []}
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: calls["ours"].append((a, k)))
    monkeypatch.setattr(myst_glue, "ipy_display", lambda *a, **k: calls["myst"].append((a, k)))
    ledger.glue("a_number", value)
    myst_glue.glue("a_number", value, display=False)
    assert calls["ours"] == calls["myst"] and len(calls["ours"]) == 1
