#!/usr/bin/env python3
"""Draws bench/results/benchmarks.png from the CSV files of the benchmark:
left, the distribution of parent-death to child-death latency per mode
(latency.csv); right, tree teardown time against depth (teardown.csv).
With --quick, reads the *-quick.csv files and writes benchmarks-quick.png.
Needs matplotlib (pip install matplotlib)."""
import csv
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SUFFIX = "-quick" if "--quick" in sys.argv else ""


def read(name):
    path = os.path.join(HERE, f"{name}{SUFFIX}.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    latency = read("latency")
    teardown = read("teardown")
    if latency is None or teardown is None:
        print("bench/plot.py: latency/teardown results missing; run the latency and teardown benchmarks")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))

    by_mode = defaultdict(list)
    for row in latency:
        by_mode[row["mode"]].append(float(row["microseconds"]))
    for mode, values in by_mode.items():
        values.sort()
        n = len(values)
        # Empirical CDF on a log axis: the tail (p99, max) stays visible.
        left.step(values, [(i + 1) / n for i in range(n)], where="post", label=f"{mode} (n={n})")
    left.set_xscale("log")
    left.set_xlabel("SIGKILL of the parent to the child gone (microseconds, log)")
    left.set_ylabel("fraction of trials")
    left.set_title("Parent-death to child-death latency (CDF)")
    left.axhline(0.5, color="grey", lw=0.5, ls=":")
    left.axhline(0.99, color="grey", lw=0.5, ls=":")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8, loc="lower right")

    by = defaultdict(lambda: defaultdict(list))
    for row in teardown:
        by[row["mode"]][int(row["depth"])].append(float(row["microseconds"]) / 1000.0)
    n_modes = len(by)
    for k, (mode, depths) in enumerate(by.items()):
        xs = sorted(depths)
        med = [sorted(depths[d])[len(depths[d]) // 2] for d in xs]
        (line,) = right.plot(xs, med, marker="o", label=f"{mode} (median; dots: each run)")
        for d in xs:
            jitter = 1.0 + (k - (n_modes - 1) / 2) * 0.06
            right.scatter([d * jitter] * len(depths[d]), depths[d], s=6, alpha=0.35, color=line.get_color())
    right.set_xscale("log", base=2)
    # Log time too: the slope shows how teardown grows with depth, and the
    # rare slow runs of a loaded machine do not flatten the medians.
    right.set_yscale("log")
    right.set_xticks([1, 4, 16, 64])
    right.set_xticklabels(["1", "4", "16", "64"])
    right.set_xlabel("tree depth (processes in the chain)")
    right.set_ylabel("SIGKILL of the root's parent to the last process gone (ms, log)")
    right.set_title("Teardown of a tree started under LD_PRELOAD")
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8, loc="upper left")

    fig.tight_layout()
    out = os.path.join(HERE, f"benchmarks{SUFFIX}.png")
    fig.savefig(out, dpi=110)
    print(f"bench/plot.py: wrote {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
