#!/usr/bin/env bash
# The benchmark suite in one command (see BENCHMARKS.md):
#   bench/run.sh [all|startup|orphans|restart|latency|teardown|arm] [--quick] [--check]
# Builds the release C library (what users preload) and the benchmark, runs
# it, then draws the plots (needs matplotlib: pip install matplotlib; the
# plots are skipped with a message when it is missing).
# --quick: small samples (about 40 s), for a smoke check.
# --check: exit 1 if the handoff leaked an orphan (any library mode) or the
#          start-up ratio library/C shim with a stamped parent, (a')/(b'),
#          is above 1.05 (the plain-pid parent's (a)/(b) is only reported).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pdeathsig-capi
cargo build --release --quiet -p pdeathsig-bench
target="${CARGO_TARGET_DIR:-target}"
"$target/release/pdeathsig-bench" "$@"
if python3 -c 'import matplotlib' 2>/dev/null; then
    python3 bench/plot.py "$@"
else
    echo "bench/run.sh: matplotlib missing (pip install matplotlib): plots not drawn" >&2
fi
