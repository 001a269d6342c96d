"""How this site was built: the page ``book/build.md`` includes, made by the build, not typed.

``make book`` runs, once every chapter has been executed::

    python -m synthgrad.paper status --json > store-status.json
    python -m synthgrad.build_status STAGE_BOOK_DIR RESULTS_DIR --store store \\
        --store-status store-status.json --changes book/verdict-changes.yml > _build_status.md

and the page it prints (MyST) says

- per chapter: when papermill finished executing it (UTC), how long it took, on what machine
  (the build machine, read now), at which parameters (default, quick, or which values were
  changed: the notebook's papermill parameters against its parameters cell), its verdicts
  counted by status, and a link to its claims ledger, which the site serves at
  ``results/<chapter>.json``;
- the results store's runs per experiment, counted by state (``ok``, ``stale``, ``corrupt``,
  ``missing``: :func:`synthgrad.store.run_status`, against the chapters' grids where
  ``--store-status`` gives ``python -m synthgrad.paper status --json``, else against the
  manifests alone), by device and by commit, each manifest served at
  ``results/store/<experiment>/manifest.json``;
- the versions of the key packages (:mod:`synthgrad.environment`);
- what every field of a ledger and of a manifest holds (:mod:`synthgrad.served_files`: one sentence
  each; a field found in the files that has no sentence is shown as not explained yet);
- the verdict changes recorded in ``book/verdict-changes.yml``, newest first, and every claim
  whose status in this build differs from the newest ``after`` recorded for it (changed in this
  build, not yet recorded), so that no change of verdict is silent.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import store
from .environment import versions
from .ledger import check, pipe_table
from .served_files import fields_section
from .verdict import STATUSES
from .verdict_changes import changes_section, read_changes

CHANGES = Path(__file__).resolve().parents[2] / "book" / "verdict-changes.yml"
# the page is book/build.html; the ledgers and manifests are served at the site's root
ROOT_LINK = "../"

# ---- the chapters ----------------------------------------------------------------------------


def machine() -> str:
    """The machine this runs on: its CPU model, cores, and GPUs if torch sees any."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpu = " ".join((cpu or platform.processor() or platform.machine() or "unknown CPU").split())
    text = f"{cpu}, {os.cpu_count()} cores"
    import torch

    if torch.cuda.is_available():
        gpus = Counter(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return text + ", GPU: " + ", ".join(f"{n} x {g}" if n > 1 else g for g, n in gpus.items())
    return text + ", no GPU"


def defaults(notebook: Mapping[str, Any]) -> dict[str, Any]:
    """The values the notebook's parameters cell (tagged ``parameters``) assigns, where they
    are literals."""
    for cell in notebook.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            tree = ast.parse(source if isinstance(source, str) else "".join(source))
            out = {}
            for node in tree.body:
                target = (
                    node.targets[0]
                    if isinstance(node, ast.Assign)
                    else getattr(node, "target", None)
                )
                if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
                    try:
                        out[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
            return out
    return {}


def changed_parameters(notebook: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters papermill passed whose value is not the parameters cell's."""
    passed = notebook.get("metadata", {}).get("papermill", {}).get("parameters") or {}
    default = defaults(notebook)
    return {k: v for k, v in passed.items() if k not in default or default[k] != v}


def _when(stamp: str | None) -> str:
    if not stamp:
        return "not recorded"
    when = datetime.datetime.fromisoformat(stamp)
    if when.tzinfo is not None:  # papermill writes naive UTC times
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _counts(counter: Mapping[str, int], order: Sequence[str] = ()) -> str:
    keys = [k for k in order if counter.get(k)] + sorted(k for k in counter if k not in order)
    return ", ".join(f"{counter[k]} {k}" for k in keys)


def chapters(stage_book: Path, results: Path) -> list[dict[str, Any]]:
    """Per executed chapter in ``stage_book``: its name, papermill's record, the parameters
    changed from the defaults, and its ledger (None where it wrote none)."""
    out = []
    for path in sorted(stage_book.glob("[0-9][0-9]_*.ipynb")):
        if path.name.endswith(".part.ipynb"):
            continue
        notebook = json.loads(path.read_text())
        ledger_path = results / f"{path.stem}.json"
        doc = json.loads(ledger_path.read_text()) if ledger_path.exists() else None
        if doc is not None:
            check(doc)
        changed = changed_parameters(notebook)
        quick = bool(doc["quick"]) if doc is not None else bool(changed.get("quick"))
        out.append(
            {
                "chapter": path.stem,
                "papermill": notebook.get("metadata", {}).get("papermill"),
                "changed": changed,
                "quick": quick,
                "default": not quick and not changed,
                "ledger": doc,
            }
        )
    return out


def _parameters_text(ch: Mapping[str, Any]) -> str:
    others = {k: v for k, v in ch["changed"].items() if k != "quick"}
    shown = ", ".join(f"`{k} = {v!r}`" for k, v in others.items())
    if ch["quick"]:
        return "quick" + (f"; also {shown}" if shown else "")
    return f"changed: {shown}" if shown else "default"


def chapters_section(rows: Sequence[Mapping[str, Any]], on: str) -> str:
    lines = [
        "## The chapters",
        "",
        "Each chapter is executed by papermill, then rendered as it ran. The build machine, "
        f"read when this page was made: **{on}**. A chapter is executed again only when its "
        "notebook, `src/` or the pinned requirements change; one reused from an earlier build "
        "(the deploy workflow keeps executed chapters in a cache keyed on all of these) ran on "
        "that build's machine, at the time given here.",
        "",
    ]
    if not rows:
        return "\n".join([*lines, "*No chapter has been executed yet.*", ""])
    table = []
    for ch in rows:
        pm = ch["papermill"] or {}
        when = _when(pm.get("end_time")) if ch["papermill"] else "not executed by papermill"
        if pm.get("exception"):
            when += " (stopped with an error)"
        doc = ch["ledger"]
        if doc is None:
            verdicts, link = "no ledger", "none"
        else:
            verdicts = _counts(Counter(c["status"] for c in doc["claims"]), STATUSES)
            verdicts += " (quick run: no evidence)" if doc["quick"] else ""
            name = f"results/{ch['chapter']}.json"
            link = f'<a href="{ROOT_LINK}{name}">{name}</a>'
        table.append([f"{{doc}}`{ch['chapter']}`", when, _duration(pm.get("duration")),
                      _parameters_text(ch), verdicts, link])  # fmt: skip
    columns = ["chapter", "executed (finished)", "took", "parameters", "verdicts", "ledger"]
    lines += [
        pipe_table(columns, table),
        "*Parameters*: *default*, the chapter's own parameters cell; *quick*, a smoke run (a few "
        "steps and seeds, its verdicts no evidence); otherwise the values papermill was given "
        "that differ from the cell's. The claims and their verdicts are on each chapter's page "
        "and, all together, on the {doc}`introduction <intro>`.",
        "",
    ]
    return "\n".join(lines)


# ---- the results store -----------------------------------------------------------------------


def store_runs(
    root: Path, states: Mapping[str, Mapping[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Per experiment of the store at ``root``: its manifest and each run's state. ``states``
    (``python -m synthgrad.paper status --json``: the chapters' grids) gives every run the grid
    lists, ``missing`` included; a run only the manifest has is judged against the manifest
    alone (:func:`synthgrad.store.run_status` without its grid: ok, stale or corrupt)."""
    names = set(store.experiments_in(root)) | set(states or {})
    out = []
    for name in sorted(names):
        manifest = store.read_manifest(name, root)
        state = dict((states or {}).get(name, {}))
        bare = store.Experiment(name, manifest.get("chapter", ""), "", "", {})
        for label in manifest["runs"]:
            if label not in state:
                state[label] = store.run_status(bare, label, root, manifest)
        served = (root / name / "manifest.json").exists()
        out.append({"experiment": name, "manifest": manifest, "states": state, "served": served})
    return out


def _commit(commit: str) -> str:
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")


def store_section(experiments: Sequence[Mapping[str, Any]], graded: bool) -> str:
    lines = [
        "## The results store",
        "",
        "The paper-scale runs (`store/`, made by `make paper`, on a GPU where there was one) "
        "that chapters draw beside their own runs. A run is *ok* (its file matches its hash and "
        "was made by the current code), *stale* (made by other code: drawn, with a note), "
        "*corrupt* (never drawn) or *missing* (not made yet). "
        + (
            "The states are `python -m synthgrad.paper status`'s, against the chapters' grids."
            if graded
            else "The states are read against the manifests alone: a run the grids list but "
            "the store lacks is not counted here (`make paper-status` counts it)."
        ),
        "",
    ]
    if not experiments:
        return "\n".join([*lines, "*No results store here.*", ""])
    table = []
    for e in experiments:
        runs = e["manifest"]["runs"].values()
        prov = [r.get("provenance", {}) for r in runs]
        devices = Counter(p.get("device", "unknown") for p in prov)
        commits = Counter(_commit(p.get("commit", "unknown")) for p in prov)
        dates = sorted({p["date"][:10] for p in prov if p.get("date")})
        made = "" if not dates else dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
        name = f"results/store/{e['experiment']}/manifest.json"
        table.append([
            f"`{e['experiment']}`",
            e["manifest"].get("chapter", ""),
            str(len(e["states"])),
            _counts(Counter(e["states"].values()), ("ok", "stale", "corrupt", "missing", "pending", "unregistered")),
            "; ".join(f"{d}: {n}" for d, n in sorted(devices.items())) or "none",
            "; ".join(f"`{c}`: {n}" for c, n in sorted(commits.items())) or "none",
            made or "not made",
            f'<a href="{ROOT_LINK}{name}">{name}</a>' if e["served"] else "none",
        ])  # fmt: skip
    columns = ["experiment", "chapter", "runs", "state", "made on", "commit", "made", "manifest"]
    return "\n".join([*lines, pipe_table(columns, table)])


# ---- software ---------------------------------------------------------------------------------


def environment_section(on: str) -> str:
    rows = "\n".join(f"| {name} | {version} |" for name, version in versions().items())
    return (
        "## Software\n\n"
        f"The versions this page was built with, on {on} (every package is pinned to an exact "
        "version in `requirements.txt`):\n\n| package | version |\n|---|---|\n" + rows + "\n"
    )


# ---- the page --------------------------------------------------------------------------------


def page(
    stage_book: Path,
    results: Path,
    store_root: Path | None = None,
    changes: Path = CHANGES,
    states: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The page's MyST text (see the module's docstring)."""
    on = machine()
    rows = chapters(stage_book, results)
    experiments = store_runs(store_root or store.store_dir(), states)
    ledgers = [ch["ledger"] for ch in rows if ch["ledger"] is not None]
    manifests = [e["manifest"] for e in experiments]
    return "\n".join(
        [
            chapters_section(rows, on),
            store_section(experiments, states is not None),
            environment_section(on),
            fields_section(ledgers, manifests),
            changes_section(read_changes(changes), rows),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the site's 'How this site was built' page")
    parser.add_argument("stage_book", type=Path, help="the executed notebooks' folder")
    parser.add_argument("results", type=Path, help="the chapters' ledgers' folder")
    parser.add_argument("--store", type=Path, help="the results store (default: store/)")
    parser.add_argument("--store-status", type=Path,
                        help="python -m synthgrad.paper status --json's output")  # fmt: skip
    parser.add_argument("--changes", type=Path, default=CHANGES, help="the verdict changelog")
    args = parser.parse_args(argv)
    states = json.loads(args.store_status.read_text()) if args.store_status else None
    sys.stdout.write(page(args.stage_book, args.results, args.store, args.changes, states))


if __name__ == "__main__":
    main(sys.argv[1:])
