"""``make paper``: the paper-scale results store's command line, over the chapters' grids.

Each chapter that draws the store declares its grid in its own module (``EXPERIMENT``);
this module, in the top layer, collects them (:data:`BUILDERS`, :func:`experiments`) and makes or checks them
with :mod:`synthgrad.store`::

    python -m synthgrad.paper status                 # every run: ok, stale, corrupt, missing,
                                                     # pending (waiting on other runs)
    python -m synthgrad.paper status --json          # the same as {experiment: {label: state}}
    python -m synthgrad.paper make --experiment 05_depth_sweep --match 'tanh/3/*'
    python -m synthgrad.paper reexpress --before f176a32   # the code changed, no number did:
                                                     # check it, then carry the runs over
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import torch

from . import making, reexpress, store
from .chapters import (
    convergence,
    convergence_seeds,
    depth_sweep,
    dni_table,
    in_time_lm_store,
    in_time_store,
    middle_dni,
    primer,
    representations_registered,
    representations_store,
    unified_view_store,
    update_unlocking_k4,
    update_unlocking_store,
)  # fmt: skip

# each experiment's grid, built from what the store holds now (chapter 5's registered sweep
# grows with its selection runs), in the order make paper makes them
BUILDERS: dict[str, Callable[[], store.Experiment]] = {
    primer.EXPERIMENT.name: lambda: primer.EXPERIMENT,
    convergence.EXPERIMENT.name: lambda: convergence.EXPERIMENT,
    convergence_seeds.NAME: lambda: convergence_seeds.EXPERIMENT,
    representations_store.EXPERIMENT.name: lambda: representations_store.EXPERIMENT,
    depth_sweep.SELECT: depth_sweep.selection_experiment,
    depth_sweep.FINAL: depth_sweep.final_experiment,
    representations_registered.NAME: lambda: representations_registered.EXPERIMENT,
    dni_table.SELECT: dni_table.selection_experiment,
    dni_table.FINAL: dni_table.final_experiment,
    middle_dni.SELECT: middle_dni.GRID.selection_experiment,
    middle_dni.FINAL: middle_dni.GRID.final_experiment,
    in_time_store.NAME: lambda: in_time_store.EXPERIMENT,
    in_time_lm_store.NAME: lambda: in_time_lm_store.EXPERIMENT,
    unified_view_store.NAME: lambda: unified_view_store.EXPERIMENT,
    update_unlocking_store.PILOT: update_unlocking_store.pilot_experiment,
    update_unlocking_store.NAME: update_unlocking_store.experiment,
    update_unlocking_store.LONG: update_unlocking_store.long_experiment,
    update_unlocking_k4.NAME: lambda: update_unlocking_k4.EXPERIMENT,
}


def experiments() -> dict[str, store.Experiment]:
    """Every experiment as the store now makes it (built when asked, not at import: the
    registered grids read their selection runs)."""
    return {name: build() for name, build in BUILDERS.items()}


GROWS = 3  # passes over a grid: its runs, the extensions they ask for, and a last check


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="make or check the paper-scale results store")
    parser.add_argument("command", choices=("make", "status", "reexpress"))
    parser.add_argument("--experiment", action="append", choices=sorted(BUILDERS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--scheduler", help="a dask scheduler address to run CPU runs on")
    parser.add_argument("--eager", action="store_true",
                        help="on a GPU, launch every kernel of a step from Python instead of "
                        "replaying the step from a CUDA graph")  # fmt: skip
    parser.add_argument("--match", action="append", default=[],
                        help="only the runs whose label matches this shell pattern "
                        "(repeatable), e.g. 'tanh/3/*'")  # fmt: skip
    parser.add_argument("--workers", type=int, help="CPU processes (default: one per core)")
    parser.add_argument("--before", help="reexpress: the commit whose code made the store's "
                        "runs (their source hashes are that code's)")  # fmt: skip
    parser.add_argument("--json", action="store_true",
                        help="status as JSON, {experiment: {label: state}} (for the site's "
                        "build page, synthgrad.build_status)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "reexpress":
        if not args.before:
            parser.error("reexpress needs --before COMMIT: the code the store's hashes are from")
        try:
            reexpress.reexpress(args.before)
        except (reexpress.Refused, ValueError) as error:
            sys.exit(f"paper reexpress: {error}")
        return
    names = [name for name in BUILDERS if name in (args.experiment or BUILDERS)]
    if args.command == "status":
        states = {}
        for experiment in (BUILDERS[name]() for name in names):
            states[experiment.name] = store.statuses(experiment) | dict.fromkeys(
                experiment.pending, "pending"
            )
        if args.json:
            print(json.dumps(states, indent=1))
            return
        for name, runs in states.items():
            for label, status in runs.items():
                print(f"{name}  {label}: {status}")
        return
    executor = None
    if args.scheduler:
        from distributed import Client

        executor = Client(args.scheduler).get_executor()
    for name in names:  # each grid built when its turn comes: after the runs it waits on
        for _ in range(GROWS):  # a grid that grows with its runs (an extension) is built again
            experiment = BUILDERS[name]()
            labels = making.todo(experiment, match=args.match)
            if not labels:
                break
            made = making.make([experiment], args.device, executor, graph=not args.eager,
                               match=args.match, workers=args.workers)  # fmt: skip
            if not made:
                break  # nothing was made (a grid this machine cannot make): no second try


if __name__ == "__main__":
    main(sys.argv[1:])
