//! The pdeathsig benchmark suite: real processes, real kernel, every
//! comparison made in the same run (interleaved, so that load drift on a
//! shared machine hits every alternative alike).
//!
//! ```text
//! bench/run.sh [startup|orphans|restart|latency|teardown|arm|all] [--quick] [--check]
//! ```
//!
//! (`bench/run.sh` builds the release C library first, then runs this.)
//! Results: a Markdown summary on stdout and in `bench/results/summary.md`,
//! raw samples as CSV in `bench/results/` (read by `bench/plot.py`).
//!
//! Process hygiene: this process is a child subreaper (PR_SET_CHILD_SUBREAPER),
//! so every orphan comes back to it; each trial kills and reaps what it
//! started, and every process started carries `PDEATHSIG_BENCH_TAG=<our pid>`
//! so a final sweep kills anything left. Every wait is bounded.
//!
//! Where things are:
//!
//! | module | what |
//! |---|---|
//! | `main.rs` | arguments, dispatch, the summary file, `--check` |
//! | `ctx.rs` | paths, the C helpers built with gcc, the base environment, the machine line |
//! | `proc.rs` | process plumbing: posix_spawn, pipes, pidfds, poll, reap, kill, the final sweep, the `Lines` reader |
//! | `stats.rs` | percentiles and the fixed-seed random numbers |
//! | `modes.rs` | the guards compared (`Mode`) and the parent that dies (`start_parent`) |
//! | `startup.rs` | start-up cost: `/bin/true` under the library, the C shim and no preload (plain-pid and stamped parent); the library's modes for `/bin/true`, `python3`, `node` |
//! | `arm.rs` | the cost of arming, in process (Rust API) |
//! | `orphans.rs` | orphan rate: the parent SIGKILLed 0-2 ms after spawning the child |
//! | `latency.rs` | latency: SIGKILL of the parent to the child gone |
//! | `restart.rs` | the restart race behind bash: a live tool SIGKILLs its shell 0-3 ms after spawning it |
//! | `teardown.rs` | teardown of a chain of depth 1-64 started under LD_PRELOAD, per mode |

mod arm;
mod ctx;
mod latency;
mod modes;
mod orphans;
mod proc;
mod restart;
mod startup;
mod stats;
mod teardown;

use std::fmt::Write as _;
use std::time::Instant;

use ctx::Ctx;

fn main() {
    let mut what = String::from("all");
    let mut quick = false;
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--check" => check = true,
            "startup" | "orphans" | "restart" | "latency" | "teardown" | "arm" | "all" => {
                what = arg
            }
            _ => {
                eprintln!(
                    "pdeathsig-bench: unknown argument {arg:?}; accepted: \
                     startup|orphans|restart|latency|teardown|arm|all, --quick, --check"
                );
                std::process::exit(2);
            }
        }
    }
    let ctx = Ctx::new(quick);
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        eprintln!("pdeathsig-bench: cannot become a child subreaper");
        std::process::exit(1);
    }
    let mut report = String::new();
    writeln!(report, "{}", ctx.machine()).unwrap();
    let mut failures = Vec::new();
    let all = what == "all";
    // How long each benchmark took, for the summary's last line.
    let run_start = Instant::now();
    let mut times: Vec<(&str, f64)> = Vec::new();
    let mut lap = Instant::now();
    let mut took = |name: &'static str| {
        times.push((name, lap.elapsed().as_secs_f64()));
        lap = Instant::now();
    };
    if all || what == "startup" {
        let ratios = startup::startup(&ctx, &mut report);
        // The limit applies to the stamped parent (what every process of a
        // preloaded tree sees after its first level); the plain-pid parent
        // (the stamp does not fit in place) is reported only.
        if ratios.stamped > 1.05 {
            failures.push(format!(
                "start-up ratio library/C shim, stamped parent, {:.3} > 1.05",
                ratios.stamped
            ));
        }
        if ratios.plain > 1.05 {
            eprintln!(
                "pdeathsig-bench: note: start-up ratio library/C shim, plain-pid parent, \
                 {:.3} > 1.05 (reported, not checked)",
                ratios.plain
            );
        }
        took("startup");
    }
    if all || what == "arm" {
        arm::arm_cost(&ctx, &mut report);
        took("arm");
    }
    if all || what == "orphans" {
        let leaked = orphans::orphans(&ctx, &mut report);
        if leaked > 0 {
            failures.push(format!("{leaked} orphans with the handoff"));
        }
        took("orphans");
    }
    if all || what == "restart" {
        let survived = restart::restart(&ctx, &mut report);
        if survived > 0 {
            failures.push(format!(
                "{survived} grandchildren outlived bash in prctl or process mode"
            ));
        }
        took("restart");
    }
    if all || what == "latency" {
        latency::latency(&ctx, &mut report);
        took("latency");
    }
    if all || what == "teardown" {
        teardown::teardown(&ctx, &mut report);
        took("teardown");
    }
    proc::sweep();
    let times: Vec<String> = times
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.0} s"))
        .collect();
    writeln!(
        report,
        "\nRun time of the benchmark (after the build): {}; in all {:.0} s.",
        times.join(", "),
        run_start.elapsed().as_secs_f64()
    )
    .unwrap();
    let name = if all && !quick {
        "summary.md".to_string()
    } else {
        format!("summary-{what}{}.md", if quick { "-quick" } else { "" })
    };
    std::fs::write(ctx.out.join(&name), &report).unwrap();
    println!("{report}");
    println!("(written to bench/results/{name})");
    if check && !failures.is_empty() {
        for f in &failures {
            eprintln!("pdeathsig-bench: check failed: {f}");
        }
        std::process::exit(1);
    }
}
