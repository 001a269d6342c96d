import gzip
import json
import platform
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from synthgrad import making, paper, reexpress, runfile, store, sweep
from synthgrad import provenance as prov

TINY = store.Experiment(
    "99_tiny",
    "99_test",
    "two moons, a small MLP",
    "a few steps",
    {
        f"{rule}": store.Task(
            "two_moons",
            dict(
                seeds=[0, 1],
                rule=rule,
                conditioned=True,
                hidden=[8, 8],
                steps=12,
                lr=1e-2,
                batch_size=32,
                eval_every=4,
            ),  # fmt: skip
            {"n": 200},
        )
        for rule in ("backprop", "sg_middle")
    },
)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    making.make([TINY], executor=ThreadPoolExecutor(1), log=lambda _: None)
    return tmp_path


def test_a_store_is_made_once_and_read_back(tiny):
    assert making.todo(TINY) == []  # a second `make paper` has nothing to do
    stored = store.load(TINY)
    assert stored.complete and not stored.stale and set(stored.runs) == set(TINY.runs)
    fresh = sweep.run_task(TINY.runs["sg_middle"])
    for name, values in fresh.evals.items():
        np.testing.assert_allclose(stored.runs["sg_middle"].evals[name], values, rtol=1e-6)
    np.testing.assert_allclose(
        stored.runs["sg_middle"].train["loss"], fresh.train["loss"], rtol=1e-6
    )
    manifest = json.loads((tiny / TINY.name / "manifest.json").read_text())
    provenance = manifest["runs"]["backprop"]["provenance"]
    assert provenance["source_hash"] == store.source_hash("fit") and provenance["torch"]
    assert "From the results store" in stored.note()


def test_decoded_runs_are_cached_by_content_and_a_bad_cache_file_is_decoded_again(
    tiny, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv(runfile.CACHE_ENV, str(cache))
    fresh = store.load(TINY).runs["sg_middle"]
    files = sorted(cache.glob("*.npz"))
    assert len(files) == len(TINY.runs)  # one per run, named by its content
    cached = store.load(TINY).runs["sg_middle"]
    for name, values in fresh.evals.items():
        np.testing.assert_array_equal(cached.evals[name], values)
    np.testing.assert_array_equal(cached.train["loss"], fresh.train["loss"])
    assert cached.seeds == fresh.seeds == [0, 1]
    for f in files:  # a foreign file, a truncated one: each decoded again from the run
        for damaged in (b"not an npz file", f.read_bytes()[:200]):
            f.write_bytes(damaged)
            again = store.load(TINY).runs["sg_middle"]
            np.testing.assert_array_equal(again.train["loss"], fresh.train["loss"])
    # the key is the file's content, the metric lists its manifest entry names, the decoder's
    entry = {"train_metrics": ["loss"], "eval_metrics": ["test_acc"]}
    key = runfile._cache_key(b"x", entry)
    assert key != runfile._cache_key(b"y", entry)
    assert key != runfile._cache_key(b"x", {**entry, "eval_metrics": ["test_acc", "test_loss"]})
    monkeypatch.setattr(runfile, "DECODE_VERSION", runfile.DECODE_VERSION + 1)
    assert key != runfile._cache_key(b"x", entry)
    # an empty $SYNTHGRAD_CACHE turns the cache off: runs are decoded from their files
    monkeypatch.setenv(runfile.CACHE_ENV, "")
    assert runfile.cache_dir() is None
    assert len(store.load(TINY).runs) == len(TINY.runs)


def test_corrupt_and_stale_runs_are_told_apart(tiny):
    manifest_path = tiny / TINY.name / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data_file = tiny / TINY.name / manifest["runs"]["backprop"]["file"]
    data_file.write_bytes(data_file.read_bytes()[:-20])  # a half-written file
    manifest["runs"]["sg_middle"]["provenance"]["source_hash"] = "older-code"
    manifest_path.write_text(json.dumps(manifest))
    stored = store.load(TINY)
    assert stored.status == {"backprop": "corrupt", "sg_middle": "stale"}
    assert set(stored.runs) == {"sg_middle"}  # the corrupt run is never drawn
    assert "Stale" in stored.note() and "backprop" in stored.note()
    assert making.todo(TINY) == ["backprop", "sg_middle"]
    making.make([TINY], executor=ThreadPoolExecutor(1), log=lambda _: None)
    assert making.todo(TINY) == []


def test_a_graphed_run_is_stale_when_the_graph_code_changes(tiny, monkeypatch):
    """A run whose steps were replayed from a CUDA graph records so, and its source hash also
    covers synthgrad.graphs: an edit there makes it stale, and leaves eager runs alone."""
    history = sweep.run_task(TINY.runs["backprop"])
    history.settings["step"] = "CUDA graph"  # (as a GPU run records it)
    store.save(TINY, "backprop", history, "a GPU", tiny)
    provenance = store.read_manifest(TINY.name)["runs"]["backprop"]["provenance"]
    assert provenance["step"] == "CUDA graph"
    assert provenance["source_hash"] == store.source_hash("fit", "CUDA graph")
    assert provenance["source_hash"] != store.source_hash("fit")
    assert store.load(TINY).status == {"backprop": "ok", "sg_middle": "ok"}
    monkeypatch.setitem(prov.STEP_ROOTS, "CUDA graph", ("graphs:Graphed", "sweep:grid"))
    assert store.load(TINY).status == {"backprop": "stale", "sg_middle": "ok"}
    assert "steps replayed from a CUDA graph" in store.load(TINY).note()


def test_the_spot_check_catches_an_altered_store(tiny):
    assert making.spot_check(TINY, "sg_middle", steps=8) < 1e-5
    manifest_path = tiny / TINY.name / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["runs"]["sg_middle"]
    path = tiny / TINY.name / entry["file"]
    text = gzip.decompress(path.read_bytes()).decode().splitlines()
    header = text[0].split(",")
    row = text[3].split(",")  # a training step's row
    row[header.index("loss")] = str(float(row[header.index("loss")]) * 1.01)
    text[3] = ",".join(row)
    payload = gzip.compress(("\n".join(text) + "\n").encode())
    path.write_bytes(payload)
    entry["sha256"] = store.hashlib.sha256(payload).hexdigest()  # altered, hashes made to match
    manifest_path.write_text(json.dumps(manifest))
    assert making.spot_check(TINY, "sg_middle", steps=8) > 1e-3


def test_no_store_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    stored = store.load(paper.experiments()["05_depth_sweep"])
    assert not stored.runs and "make paper" in stored.note()


@pytest.mark.skipif(not any(store.store_dir().glob("*/manifest.json")), reason="no store here")
def test_the_repository_store_is_sound_and_reproduces_on_this_cpu():
    """Every manifest's runs are intact (none corrupt), and the first steps of the smallest
    stored run, re-run here on the CPU, match the stored ones to float tolerance (a GPU-made
    store differs from a CPU run by rounding only)."""
    checked, experiments = False, paper.experiments()
    for path in sorted(store.store_dir().glob("*/manifest.json")):
        name = path.parent.name
        manifest = json.loads(path.read_text())
        assert manifest["runs"], name
        experiment = experiments[name]
        for label in manifest["runs"]:
            assert store.run_status(experiment, label) in ("ok", "stale"), (name, label)
        if not checked:
            smallest = min(
                manifest["runs"], key=lambda k: sum(manifest["runs"][k]["run"]["fit"]["hidden"])
            )
            assert making.spot_check(experiment, smallest, steps=10) < 1e-3
            checked = True


def test_runs_on_one_device_go_one_after_another(tmp_path, monkeypatch):
    """The GPU path (runs in this process, on the device given), exercised on the CPU."""
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    making.make([TINY], device="cpu:0", log=lambda _: None)
    assert store.load(TINY).complete


@pytest.mark.processes
def test_timed_runs_are_made_alone_in_this_process_and_stored_as_histories(tmp_path, monkeypatch):
    """Chapter 7's runner (``schedules``): each timed run is made in this process before any
    other, never sent to a pool; its held-out accuracy and seconds per evaluation come back
    from the store, and a deterministic schedule's first steps reproduce."""
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    fit = dict(seeds=[0, 1], K=2, hidden=[16, 16], steps=6, batch_size=32, lr=1e-3,
               eval_every=3, timeout_s=60.0)  # fmt: skip
    timed = store.Experiment(
        "99_timed", "99_test", "timed runs", "a few steps",
        {s: store.Task("mnist", {**fit, "schedule": s}, {"scale": "small", "limit": 256},
                       runner="schedules") for s in ("backprop", "dni_sync")},
    )  # fmt: skip

    class NoPool(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("a timed run was sent to a pool")

    said = []
    making.make([timed], executor=NoPool(1), log=said.append)
    assert sum("(alone)" in line for line in said) == 2
    stored = store.load(timed)
    assert stored.complete
    for h in stored.runs.values():
        assert list(h.eval_steps) == [0, 3, 6] and h.evals["seconds"].shape == (3, 2)
        assert np.all(np.diff(h.evals["seconds"], axis=0) > 0)  # time moves on
        assert np.all((h.evals["test_acc"] >= 0) & (h.evals["test_acc"] <= 1))
    assert stored.provenance["dni_sync"]["source_hash"] == store.source_hash("schedules")
    for label in timed.runs:
        assert making.spot_check(timed, label, steps=3) < 1e-5, label


def test_chapter_3_runs_are_stored_and_long_ones_thinned(tmp_path, monkeypatch):
    run = store.Task(
        "problem",
        dict(depth=0, width=4, method="linear SG", seeds=[0, 1], steps=150, lr=1e-2, eval_every=50),
        dict(loss="log", d=2, n=100, seed=[0, 1]),
        runner="convergence",
    )
    tiny = store.Experiment("99_conv", "99_test", "x", "x", {"linear SG": run})
    monkeypatch.setenv(store.STORE_ENV, str(tmp_path))
    monkeypatch.setattr(runfile, "THIN_ABOVE", 50)  # 150 steps: 1 in 20 kept past step 100
    making.make([tiny], device="cpu:0", log=lambda _: None)
    stored = store.load(tiny)
    assert stored.status == {"linear SG": "ok"}
    h = stored.runs["linear SG"]
    np.testing.assert_allclose(
        h.evals["distance"][-1], sweep.run_task(run).evals["distance"][-1], rtol=1e-6
    )
    assert "tracking" in h.evals and list(h.steps[98:]) == [99, 100, 120, 140, 150]
    assert making.spot_check(tiny, "linear SG", steps=5) < 1e-5


def test_the_source_hash_ignores_docstrings_comments_and_layout_but_not_code():
    before = 'def f(x):\n    """Doc."""\n    # a comment\n    return x + 1\n'
    reworded = 'def f(x):\n    """Another doc."""\n    return (x +\n            1)  # why\n'
    assert prov.code(before) == prov.code(reworded)
    assert prov.code(before) != prov.code(before.replace("x + 1", "x + 2"))
    assert prov.code(before) != prov.code(before.replace("x + 1", "x - 1"))


@pytest.fixture
def package(tmp_path):
    """A copy of the package's source to edit."""
    import shutil

    copy = tmp_path / "synthgrad"
    shutil.copytree(prov.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_a_deep_edit_makes_a_run_stale_and_moving_code_does_not(package):
    """The hash follows the call graph from the runner: an edit of a helper a run reaches only
    through several calls (train.fit -> ... -> sg.SyntheticGradient) changes it; moving a
    function to another module, or editing verdict or plotting code, does not."""
    fit, conv = prov.source_hash("fit"), prov.source_hash("convergence")
    assert prov.source_hash("fit", root=package) == fit
    edit(package / "verdict.py", 'elif "reversed" in found:', 'elif "reversed" in set(found):')
    edit(package / "plots.py", "def ", "def unused_helper():\n    return 1\n\n\ndef ")
    assert prov.source_hash("fit", root=package) == fit
    # move models.mlp's callee-free helper into another module and import it back
    pieces = prov.pieces(prov.ROOTS["fit"], package)
    assert "SyntheticGradient" in pieces and "plots" not in "".join(pieces)
    sg = package / "sg.py"
    edit(
        sg, "import torch\n", "import torch\nimport math\n"
    )  # an unused import: no code of a piece
    assert prov.source_hash("fit", root=package) == fit
    before = prov.source_hash("fit", root=package)
    text = sg.read_text()
    start, end = text.index("class ConditionedLinear"), text.index("class LossMatchedSG")
    body = text[start:end]
    moved = "from .sg_moved import ConditionedLinear, SyntheticGradient, describe  # noqa\n\n\n"
    sg.write_text(text[:start] + moved + text[end:])
    (package / "sg_moved.py").write_text(text[: text.index("\n\n\n")] + "\n\n\n" + body)
    assert prov.source_hash("fit", root=package) == before
    edit(package / "sg_moved.py", "(2.0 / a) ** 0.5", "(2.0 / a) ** 0.6")
    assert prov.source_hash("fit", root=package) != before
    assert prov.source_hash("convergence", root=package) != conv


def test_a_hold_on_the_files_keeps_their_state_until_it_ends(package):
    """Within ``files_held`` the hash reads the files' state once (a store read checks hundreds
    of runs); an edit made meanwhile counts once the hold ends, and holds nest."""
    before = prov.source_hash("fit", root=package)
    with prov.files_held(package):
        with prov.files_held(package):
            edit(package / "sg.py", "(2.0 / a) ** 0.5", "(2.0 / a) ** 0.6")
        assert prov.source_hash("fit", root=package) == before
    assert prov.source_hash("fit", root=package) != before


def test_the_fresh_seed_ledgers_are_well_formed_and_current():
    """``make fresh`` keeps each rerun chapter's ledger in store/fresh: every one must be a
    valid ledger of a real, non-quick run with a seed the chapter's default does not use, and
    judge exactly the claims the chapter judges now (a renamed or added claim means the rerun
    is stale: ``make fresh FORCE=1``)."""
    import json

    from synthgrad import chapters, ledger

    found = sorted(ledger.fresh_dir().glob("*.json"))
    for path in found:
        doc = json.loads(path.read_text())
        ledger.check(doc)
        module = chapters.module(doc["chapter"])
        assert not doc["quick"], path.name
        assert doc["parameters"]["seed"] != module.INTERFACE.defaults["seed"], path.name
        book_ids = {c for c in module.CLAIM_IDS if not c.endswith("p") and "p-" not in c}
        ids = {c["id"] for c in doc["claims"]}
        assert book_ids <= ids <= set(module.CLAIM_IDS), (path.name, ids ^ set(module.CLAIM_IDS))


def test_differences_name_every_run_not_the_same_bit_for_bit():
    """What ``make paper-reexpress`` refuses on: any run and metric whose values differ under
    the two codes at all (the last bit included), or that one code did not record; NaN equals
    NaN, and wall-clock seconds are not compared."""
    run = {"train/loss": [[0.5, float("nan")], [0.25, 0.125]], "eval/seconds": [1.0]}
    same = {"train/loss": [[0.5, float("nan")], [0.25, 0.125]], "eval/seconds": [2.0]}
    assert reexpress.differences({"a/x": run}, {"a/x": same}) == []
    nudged = {**same, "train/loss": [[0.5, float("nan")], [0.25, np.nextafter(0.125, 1.0)]]}
    assert reexpress.differences({"a/x": run}, {"a/x": nudged}) == [
        "a/x train/loss: largest difference 2.78e-17"
    ]
    assert reexpress.differences({"a/x": run, "b/y": run}, {"a/x": run}) == [
        "b/y: re-run under one code only"
    ]
    more = {**run, "eval/test_acc": [0.5]}
    assert reexpress.differences({"a/x": run}, {"a/x": more}) == [
        "a/x eval/test_acc: recorded under one code only"
    ]
    # a metric not the same twice under one code: held to a relative 1e-9, not to the last bit
    assert reexpress.differences({"a/x": run}, {"a/x": nudged}, ["a/x train/loss"]) == []
    far = {**same, "train/loss": [[0.5, float("nan")], [0.25, 0.1251]]}
    assert len(reexpress.differences({"a/x": run}, {"a/x": far}, ["a/x train/loss"])) == 1
    # every timing the costs runner records is named seconds_...: not compared either
    timings = {"train/seconds_forward": [[1e-3]], "train/width": [[512.0]]}
    slower = {"train/seconds_forward": [[2e-3]], "train/width": [[512.0]]}
    assert reexpress.differences({"a/c": timings}, {"a/c": slower}) == []
    wider = {**slower, "train/width": [[256.0]]}
    assert reexpress.differences({"a/c": timings}, {"a/c": wider}) == [
        "a/c train/width: largest difference 256"
    ]
    short = {**run, "train/loss": run["train/loss"][:1]}
    assert reexpress.differences({"a/x": run}, {"a/x": short})[0].startswith(
        "a/x train/loss: shapes"
    )


def test_rewrite_carries_over_only_the_entries_made_under_the_code_before(tiny):
    """Each entry that carries the old hash for its own runner and step gets the new one; an
    entry stale already (another hash) and a runner whose hash did not change are left as
    they are; the manifest is written as ``make paper`` writes it."""
    path = tiny / TINY.name / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["runs"]["backprop"]["provenance"]["source_hash"] = "old-fit"
    manifest["runs"]["sg_middle"]["provenance"]["source_hash"] = "older"
    path.write_text(json.dumps(manifest, indent=1))
    before = {"fit/eager": "old-fit", "fit/CUDA graph": "g", "copy/eager": "c"}
    now = {"fit/eager": "new-fit", "fit/CUDA graph": "g2", "copy/eager": "c"}
    assert reexpress.rewrite(tiny, before, now) == {TINY.name: 1}
    after = json.loads(path.read_text())
    assert after["runs"]["backprop"]["provenance"]["source_hash"] == "new-fit"
    assert after["runs"]["sg_middle"]["provenance"]["source_hash"] == "older"
    manifest["runs"]["backprop"]["provenance"]["source_hash"] = "new-fit"
    assert path.read_text() == json.dumps(manifest, indent=1)
    assert reexpress.rewrite(tiny, before, now) == {TINY.name: 0}  # nothing left to carry


@pytest.mark.processes
def test_reexpress_carries_the_store_over_a_change_of_no_number_and_refuses_one_that_does(
    tiny, package, monkeypatch
):
    """The store made under a code "before" (a copy of the package with an edit) and a check
    in fresh processes: an edit that changes the hash and no number (``n_done = step + 0``)
    makes every run stale, and re-expressing makes them ok again; an edit that changes the
    numbers (the hidden layers' initial scale) is refused, and the manifest is left as it was."""
    edit(package / "train.py", "n_done = step\n", "n_done = step + 0\n")
    old = prov.source_hash("fit", root=package)
    assert old != prov.source_hash("fit")
    path = tiny / TINY.name / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["runs"].values():
        entry["provenance"]["source_hash"] = old  # as if made under the code before
    path.write_text(json.dumps(manifest, indent=1))
    assert set(store.statuses(TINY).values()) == {"stale"}
    monkeypatch.setattr(reexpress, "source_at", lambda commit, into: package.parent)
    assert reexpress.reexpress("before", tiny, log=lambda _: None) == {TINY.name: 2}
    assert set(store.statuses(TINY).values()) == {"ok"}

    edit(package / "models.py", "gain = math.sqrt(2.0)", "gain = math.sqrt(2.1)")
    manifest_now = path.read_text()
    with pytest.raises(reexpress.Refused, match="99_tiny/backprop train/loss: largest difference"):
        reexpress.reexpress("before", tiny, log=lambda _: None)
    assert path.read_text() == manifest_now


@pytest.mark.skipif(not (prov.PACKAGE.parents[1] / ".git").exists(), reason="not a git checkout")
def test_the_code_before_is_the_package_at_that_commit_and_a_wrong_commit_is_named(tmp_path):
    src = reexpress.source_at("HEAD", tmp_path)
    assert (src / "synthgrad" / "train.py").is_file() and src == tmp_path / "src"
    with pytest.raises(ValueError, match="no such commit .*: not-a-commit"):
        reexpress.source_at("not-a-commit", tmp_path / "other")


def test_a_runs_cpu_is_named_by_its_model_not_only_its_architecture(tmp_path):
    """Two 2-core machines of this project time a step twofold apart: the provenance names the
    processor's model where the system says it."""
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
    )
    assert making.cpu_model(info) == "Intel(R) Xeon(R) Processor"
    assert making.cpu_model(tmp_path / "absent") == (platform.processor() or platform.machine())
    info.write_text("processor\t: 0\n")  # no model line: the architecture
    assert making.cpu_model(info) == (platform.processor() or platform.machine())
    assert making.cpu_name().startswith("CPU (") and making.cpu_name().endswith(" cores)")
