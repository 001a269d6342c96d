"""``make paper``: the paper-scale results store's command line, over the chapters' grids.

Each chapter that draws the store declares its grid in its own module (``EXPERIMENT``);
this module, in the top layer, collects them (:data:`EXPERIMENTS`) and makes or checks them
with :mod:`synthgrad.store`::

    python -m synthgrad.paper status                 # every run: ok, stale, corrupt, missing
    python -m synthgrad.paper status --json          # the same as {experiment: {label: state}}
    python -m synthgrad.paper make --experiment 05_depth_sweep --match 'tanh/3/*'
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from . import store
from .chapters import convergence, primer, representations_store

EXPERIMENTS: dict[str, store.Experiment] = {
    e.name: e for e in (representations_store.EXPERIMENT, primer.EXPERIMENT, convergence.EXPERIMENT)
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="make or check the paper-scale results store")
    parser.add_argument("command", choices=("make", "status"))
    parser.add_argument("--experiment", action="append", choices=sorted(EXPERIMENTS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--scheduler", help="a dask scheduler address to run CPU runs on")
    parser.add_argument("--eager", action="store_true",
                        help="on a GPU, launch every kernel of a step from Python instead of "
                        "replaying the step from a CUDA graph")  # fmt: skip
    parser.add_argument("--match", action="append", default=[],
                        help="only the runs whose label matches this shell pattern "
                        "(repeatable), e.g. 'tanh/3/*'")  # fmt: skip
    parser.add_argument("--workers", type=int, help="CPU processes (default: one per core)")
    parser.add_argument("--json", action="store_true",
                        help="status as JSON, {experiment: {label: state}} (for the site's "
                        "build page, synthgrad.build_status)")  # fmt: skip
    args = parser.parse_args(argv)
    chosen = [EXPERIMENTS[name] for name in args.experiment or sorted(EXPERIMENTS)]
    if args.command == "status":
        states = {}
        for experiment in chosen:
            manifest = store.read_manifest(experiment.name)
            states[experiment.name] = {
                label: store.run_status(experiment, label, manifest=manifest)
                for label in experiment.runs
            }
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
    store.make(chosen, args.device, executor, graph=not args.eager, match=args.match,
               workers=args.workers)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
