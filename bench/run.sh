#!/usr/bin/env bash
# The benchmark suite in one command (see BENCHMARKS.md):
#   bench/run.sh [all|startup|orphans|latency|teardown|arm] [--quick] [--check]
# Builds the release C library (what users preload) and the benchmark, runs
# it, then draws the plots (needs matplotlib: pip install matplotlib; the
# plots are skipped with a message when it is missing).
# --quick: small samples (about 15 s), for a smoke check.
# --check: exit 1 if the handoff leaked an orphan or start-up (a)/(b) > 1.05.
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
