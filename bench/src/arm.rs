//! Cost of arming, in process: the Rust API's calls against a bare
//! prctl(2), in loops, repeats interleaved.

use std::fmt::Write as _;
use std::time::Instant;

use crate::ctx::{csv_name, Ctx};
use crate::proc::Pid;
use crate::stats::{percentile, sorted};

pub fn arm_cost(ctx: &Ctx, report: &mut String) {
    let iters = ctx.n(200_000, 20_000) as u32;
    let repeats = 7;
    let parent = std::os::unix::process::parent_id() as Pid;
    // The handoff, as a spawner would have set it.
    std::env::set_var("PDEATHSIG_PPID", parent.to_string());
    type Case = (&'static str, Box<dyn Fn()>);
    let cases: Vec<Case> = vec![
        (
            "bare prctl(PR_SET_PDEATHSIG) syscall",
            Box::new(|| {
                // SAFETY: PR_SET_PDEATHSIG takes an integer argument.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) };
            }),
        ),
        (
            "prctl + getppid (the minimal re-check)",
            Box::new(|| {
                // SAFETY: as above; getppid has no preconditions.
                unsafe {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
                    std::hint::black_box(libc::getppid());
                }
            }),
        ),
        (
            "arm_parent_death_signal_expecting(TERM, ppid)",
            Box::new(move || {
                let r =
                    pdeathsig::arm_parent_death_signal_expecting(pdeathsig::Signal::TERM, parent);
                std::hint::black_box(r.is_ok());
            }),
        ),
        (
            "arm_parent_death_signal(TERM) (reads PDEATHSIG_PPID)",
            Box::new(|| {
                let r = pdeathsig::arm_parent_death_signal(pdeathsig::Signal::TERM);
                std::hint::black_box(r.is_ok());
            }),
        ),
    ];
    assert!(
        pdeathsig::arm_parent_death_signal(pdeathsig::Signal::TERM).is_ok(),
        "arming in the benchmark process failed"
    );
    let mut best = vec![f64::INFINITY; cases.len()];
    let mut all = vec![Vec::new(); cases.len()];
    for r in 0..repeats {
        for k in 0..cases.len() {
            let c = (r + k) % cases.len();
            let f = &cases[c].1;
            let t0 = Instant::now();
            for _ in 0..iters {
                f();
            }
            let ns = t0.elapsed().as_nanos() as f64 / f64::from(iters);
            best[c] = best[c].min(ns);
            all[c].push(ns);
        }
    }
    pdeathsig::disarm_parent_death_signal().unwrap();
    std::env::remove_var("PDEATHSIG_PPID");
    writeln!(
        report,
        "\n## Cost of arming, in process\n\n\
         {repeats} repeats of {iters} calls each, cases interleaved; the per-call time of \
         the best and the median repeat.\n\n\
         | call | best | median | vs bare prctl (best) |\n|---|---:|---:|---:|"
    )
    .unwrap();
    let mut csv = String::from("call,best_ns,median_ns\n");
    for (c, (name, _)) in cases.iter().enumerate() {
        let s = sorted(all[c].clone());
        let med = percentile(&s, 50.0);
        writeln!(
            report,
            "| {name} | {:.0} ns | {med:.0} ns | {:.2}x |",
            best[c],
            best[c] / best[0]
        )
        .unwrap();
        writeln!(csv, "\"{name}\",{:.1},{med:.1}", best[c]).unwrap();
    }
    std::fs::write(ctx.out.join(csv_name(ctx, "arm")), csv).unwrap();
}
