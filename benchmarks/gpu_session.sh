#!/usr/bin/env bash
# One prepared run for a lent GPU machine (a copy of this tree, its own python3 with torch,
# no internet): the CUDA-graph tests on the GPU, the GPU rows of the benchmark, then the
# results store's missing or stale runs, each step replayed from a CUDA graph. Everything it
# makes goes under $OUT (default: _build/gpu): logs, bench-gpu.json and store.tgz (the store
# folder, to unpack over store/ at the root of the checkout, then commit).
#
#   MNIST_DIR    where the two MNIST test-set files are (default: data/mnist)
#   STORE_LIMIT  seconds for make paper (default: 420); it saves each run as it finishes, so a
#                cut-off run loses only the run in progress, and the next session resumes
set -uo pipefail
OUT=${OUT:-_build/gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" SYNTHGRAD_QUIET=1
export MNIST_DIR=${MNIST_DIR:-data/mnist}
export SYNTHGRAD_COMMIT=${SYNTHGRAD_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee "$OUT/device.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_graphs.py 2>&1 | tail -15 | tee "$OUT/graphs-tests.txt"
python3 benchmarks/bench.py --gpu-only --out "$OUT/bench-gpu.json" 2>&1 | tail -12 | tee "$OUT/bench-gpu.txt"
timeout "${STORE_LIMIT:-420}" python3 -m synthgrad.paper make --device cuda 2>&1 | tee "$OUT/store.txt"
tar czf "$OUT/store.tgz" store
python3 -m synthgrad.paper status | awk '{print $1, $NF}' | sort | uniq -c | tee "$OUT/status.txt"
