#!/usr/bin/env bash
# One prepared run for a lent GPU machine (a copy of this tree, its own python3 with torch,
# no internet), a few minutes: the CUDA-graph tests on the GPU, the GPU rows of the benchmark
# (eager and graphed step at 50 layers, 8 seeds together against one by one), and two of the
# store's GPU-made runs replayed from a CUDA graph against their stored losses. Everything it
# makes goes under $OUT (default: _build/gpu). The store itself is made by plan with
# `make paper`, not here.
#
#   MNIST_DIR    where the two MNIST test-set files are (default: data/mnist)
set -uo pipefail
OUT=${OUT:-_build/gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" SYNTHGRAD_QUIET=1 PYTHONUNBUFFERED=1
export MNIST_DIR=${MNIST_DIR:-data/mnist}
start=$SECONDS
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee "$OUT/device.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >>"$OUT/device.txt"
python3 -m pytest -q -p no:cacheprovider -p no:xdist tests/test_graphs.py 2>&1 | tail -15 | tee "$OUT/graphs-tests.txt"
echo "tests done at $((SECONDS - start)) s"
python3 benchmarks/bench.py --gpu-only --out "$OUT/bench-gpu.json" 2>&1 | tail -14 | tee "$OUT/bench-gpu.txt"
echo "bench done at $((SECONDS - start)) s"
python3 - <<'PY' 2>&1 | tee "$OUT/replay.txt"
# Two stored runs made eagerly on an H200, replayed from a CUDA graph: the first 20 steps
# (float rounding only), then the whole run (chaos amplifies rounding; the end should agree
# in distribution: final accuracy per seed, eager stored against graphed now).
import numpy as np
from synthgrad import making, store
from synthgrad.chapters.representations_store import EXPERIMENT
from synthgrad.sweep import run_task

stored = store.load(EXPERIMENT).runs
for label in ("relu/50/backprop", "relu/50/SG middle, cDNI"):
    gap = making.spot_check(EXPERIMENT, label, steps=20, device="cuda", graph=True)
    print(f"{label}: first 20 steps graphed on the GPU: largest relative loss difference {gap:.2e}")
    fresh = run_task(EXPERIMENT.runs[label], device="cuda", graph=True, progress=False)
    a, b = stored[label], fresh
    print(f"  step: {fresh.settings.get('step')}, {fresh.settings.get('seconds')} s "
          f"(stored eager run: {a.settings.get('seconds')} s)")
    print("  final test accuracy per seed, stored eager:", np.round(a.evals["test_acc"][-1], 4),
          " graphed now:", np.round(b.evals["test_acc"][-1], 4))
PY
echo "all done at $((SECONDS - start)) s" | tee "$OUT/seconds.txt"
