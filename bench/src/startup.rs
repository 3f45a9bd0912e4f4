//! Start-up cost: sequential posix_spawn + wait of `/bin/true` under the
//! library, the C shim (the yardstick) and no preload, interleaved exec by
//! exec.

use std::ffi::CString;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::ctx::{csv_name, run_text, Ctx};
use crate::proc::{cstr, reap, spawn};
use crate::stats::{percentile, sorted};

/// Returns the ratio of totals library / C shim.
pub fn startup(ctx: &Ctx, report: &mut String) -> f64 {
    let n = ctx.n(2000, 300);
    let me = std::process::id();
    let armed = |preload: Option<&Path>| {
        let mut extra = vec!["PDEATHSIG=TERM".to_string(), format!("PDEATHSIG_PPID={me}")];
        if let Some(p) = preload {
            extra.push(format!("LD_PRELOAD={}", p.display()));
        }
        ctx.env_with(&extra)
    };
    let variants: Vec<(&str, Vec<CString>)> = vec![
        ("(a) libpdeathsig.so", armed(Some(&ctx.lib))),
        ("(b) C shim (bench/c-shim/shim.c)", armed(Some(&ctx.shim))),
        ("(c) no preload", armed(None)),
    ];
    let argv = [cstr("/bin/true")];
    let run = |env: &[CString]| -> f64 {
        let t0 = Instant::now();
        let pid = spawn(&argv, env, None);
        let status = reap(pid);
        assert_eq!(status, Some(0), "/bin/true failed under {env:?}");
        t0.elapsed().as_secs_f64() * 1e6
    };
    // Warm up (page cache, dynamic loader caches).
    for (_, env) in &variants {
        for _ in 0..50 {
            run(env);
        }
    }
    eprintln!(
        "startup: {n} execs x {} variants, interleaved",
        variants.len()
    );
    let mut samples = vec![Vec::with_capacity(n); variants.len()];
    // Every permutation of the three in turn, one exec each: drift hits all.
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [1, 2, 0],
        [2, 0, 1],
        [0, 2, 1],
        [2, 1, 0],
        [1, 0, 2],
    ];
    for i in 0..n {
        for &v in &ORDERS[i % ORDERS.len()] {
            samples[v].push(run(&variants[v].1));
        }
    }
    let totals: Vec<f64> = samples.iter().map(|s| s.iter().sum::<f64>()).collect();
    let medians: Vec<f64> = samples
        .iter()
        .map(|s| percentile(&sorted(s.clone()), 50.0))
        .collect();
    let ratio_b = totals[0] / totals[1];
    let ratio_c = totals[0] / totals[2];
    writeln!(
        report,
        "\n## Start-up cost: {n} sequential posix_spawn + wait of /bin/true per variant\n\n\
         Variants interleaved exec by exec (rotating order), same run. Environment of \
         each: `PDEATHSIG=TERM PDEATHSIG_PPID=<the benchmark's pid>` (so both libraries \
         arm, pass the check and stamp).\n\n\
         | preload | total | mean per exec | median per exec |\n|---|---:|---:|---:|"
    )
    .unwrap();
    let mut csv = String::from("variant,execs,total_us,median_us\n");
    for (v, (name, _)) in variants.iter().enumerate() {
        writeln!(
            report,
            "| {name} | {:.0} ms | {:.0} us | {:.0} us |",
            totals[v] / 1000.0,
            totals[v] / n as f64,
            medians[v]
        )
        .unwrap();
        writeln!(csv, "\"{name}\",{n},{:.0},{:.1}", totals[v], medians[v]).unwrap();
    }
    writeln!(
        report,
        "\nRatio of totals (a)/(b), library to C shim: **{ratio_b:.3}** (must be <= 1.05); \
         (a)/(c), library to no preload: {ratio_c:.3}. Medians: (a)/(b) {:.3}, (a)/(c) {:.3}.\n",
        medians[0] / medians[1],
        medians[0] / medians[2]
    )
    .unwrap();
    writeln!(
        report,
        "| file | size | relocations (readelf -r) | libgcc_s in ldd |\n|---|---:|---:|---|"
    )
    .unwrap();
    for path in [&ctx.lib, &ctx.shim] {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let relocs = run_text("readelf", &["-rW", &path.display().to_string()])
            .lines()
            .filter(|l| l.contains("R_X86_64") || l.contains("R_AARCH64"))
            .count();
        let ldd = run_text("ldd", &[&path.display().to_string()]);
        writeln!(
            report,
            "| {} | {size} B | {relocs} | {} |",
            path.file_name().unwrap().to_string_lossy(),
            if ldd.contains("libgcc_s") {
                "YES"
            } else {
                "no"
            }
        )
        .unwrap();
    }
    let ldd = run_text("ldd", &[&ctx.lib.display().to_string()]);
    let ldd: Vec<&str> = ldd.lines().map(str::trim).collect();
    let ldd = ldd.join("\n");
    writeln!(report, "\n`ldd libpdeathsig.so`:\n\n```\n{ldd}\n```").unwrap();
    std::fs::write(ctx.out.join(csv_name(ctx, "startup")), csv).unwrap();
    ratio_b
}
