#!/usr/bin/env bash
# One prepared run for a lent machine with at least 4 cores (the GPU machine has 16): chapter 7's
# cost model checked at K = 4 (store/07_k4, registered in synthgrad.chapters.update_unlocking_k4),
# made into this tree's store on that machine's CPU, one run at a time, about 3 minutes; the
# experiment's files are then copied under $OUT (default: _build/k4) to bring back into store/07_k4
# and commit. The machine's copy of the tree has no git, so the commits come from the caller:
#
#   SYNTHGRAD_COMMIT      this tree's commit (here: git rev-parse HEAD; commit first)
#   SYNTHGRAD_REGISTERED  the commit that registered the plan (here:
#                         git log -1 --format=%H -- store/07_k4/PLAN.md)
#   MNIST_DIR             a folder with the four MNIST files (default: data/mnist; carry it, e.g.
#                         cp ../shared/data/mnist/*.gz data/mnist/ here, then carry data/mnist)
set -euo pipefail
OUT=${OUT:-_build/k4}
: "${SYNTHGRAD_COMMIT:?set SYNTHGRAD_COMMIT to the commit of this tree (git rev-parse HEAD)}"
: "${SYNTHGRAD_REGISTERED:?set SYNTHGRAD_REGISTERED (git log -1 --format=%H -- store/07_k4/PLAN.md)}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" SYNTHGRAD_QUIET=1 PYTHONUNBUFFERED=1
export MNIST_DIR=${MNIST_DIR:-data/mnist}
mkdir -p "$OUT/07_k4"
python3 -c "import os, torch; print(os.cpu_count(), \"cores; torch\", torch.__version__)"
python3 -m synthgrad.paper make --experiment 07_k4 --device cpu
python3 -m synthgrad.paper status --experiment 07_k4
cp store/07_k4/* "$OUT/07_k4/"
python3 - <<'PY'
from synthgrad.chapters import update_unlocking_k4 as k4

check = k4.read()
print("not made" if check is None else f"made on {check.device}\n{k4.table(check).round(3)}")
PY
