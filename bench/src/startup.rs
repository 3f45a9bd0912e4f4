//! Start-up cost: sequential posix_spawn + wait of `/bin/true` under the
//! library, the C shim (the yardstick) and no preload, interleaved exec by
//! exec; once with a parent that exports a plain pid and once with one that
//! exports `PID:TICKS` as pdeathsig's spawners do. Then the library's modes
//! (prctl, process, tree) against no preload for `/bin/true`,
//! `python3 -c pass` and `node -e 0`.

use std::ffi::CString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::ctx::{csv_name, run_text, Ctx};
use crate::modes::TREE_MISSING;
use crate::proc::{cstr, reap, spawn, Pid};
use crate::stats::{percentile, sorted};

/// The library-to-C-shim ratios of total start-up time.
pub struct StartupRatios {
    /// The parent exports `PDEATHSIG_PPID=<pid>`: the library's stamp does
    /// not fit in place and goes into the library's own string.
    pub plain: f64,
    /// The parent exports `PDEATHSIG_PPID=<pid>:<ticks>`, as pdeathsig's
    /// spawners (and every armed process of a tree) do.
    pub stamped: f64,
}

/// One program run under one environment.
struct Variant {
    name: String,
    argv: Vec<CString>,
    env: Vec<CString>,
}

/// Runs every variant `n` times, interleaved exec by exec: the order turns
/// round forwards, then backwards, so that each variant takes each place and
/// follows each other one alike (for three variants: all six orders). Each
/// run is posix_spawn to reap, in microseconds. `warm` unmeasured runs of
/// each first (page cache, dynamic loader caches).
fn interleaved(variants: &[Variant], n: usize, warm: usize) -> Vec<Vec<f64>> {
    let run = |v: &Variant| -> f64 {
        let t0 = Instant::now();
        let pid = spawn(&v.argv, &v.env, None);
        let status = reap(pid);
        assert_eq!(status, Some(0), "{:?} failed under {:?}", v.argv, v.env);
        t0.elapsed().as_secs_f64() * 1e6
    };
    for v in variants {
        for _ in 0..warm {
            run(v);
        }
    }
    let k = variants.len();
    let mut samples = vec![Vec::with_capacity(n); k];
    for i in 0..n {
        let start = i % k;
        let forwards = (i / k) & 1 == 0;
        for j in 0..k {
            let v = if forwards {
                (start + j) % k
            } else {
                (start + k - j) % k
            };
            samples[v].push(run(&variants[v]));
        }
    }
    samples
}

fn total(s: &[f64]) -> f64 {
    s.iter().sum()
}

fn median(s: &[f64]) -> f64 {
    percentile(&sorted(s.to_vec()), 50.0)
}

/// Returns the ratios of totals library / C shim, plain-pid and stamped
/// parent.
pub fn startup(ctx: &Ctx, report: &mut String) -> StartupRatios {
    let n = ctx.n(2000, 300);
    let me = std::process::id() as Pid;
    let plain = format!("PDEATHSIG_PPID={me}");
    // What pdeathsig's spawners export (CommandExt): the pid and the time
    // now, CLOCK_BOOTTIME in clock ticks (sysconf(_SC_CLK_TCK)). The
    // child's own stamp, its pid and its time, is then as long (unless its
    // pid has more digits than ours) and is written in place.
    let stamped = format!("PDEATHSIG_PPID={}", pdeathsig::Stamp::now(me));
    let env = |ppid: &str, preload: Option<&Path>| {
        let mut extra = vec!["PDEATHSIG=TERM".to_string(), ppid.to_string()];
        if let Some(p) = preload {
            extra.push(format!("LD_PRELOAD={}", p.display()));
        }
        ctx.env_with(&extra)
    };
    let true_argv = vec![cstr("/bin/true")];
    let variant = |name: &str, ppid: &str, preload: Option<&Path>| Variant {
        name: name.to_string(),
        argv: true_argv.clone(),
        env: env(ppid, preload),
    };
    let variants = [
        variant("(a) libpdeathsig.so", &plain, Some(&ctx.lib)),
        variant("(b) C shim (bench/c-shim/shim.c)", &plain, Some(&ctx.shim)),
        variant("(a') libpdeathsig.so", &stamped, Some(&ctx.lib)),
        variant(
            "(b') C shim (bench/c-shim/shim.c)",
            &stamped,
            Some(&ctx.shim),
        ),
        variant("(c) no preload", &plain, None),
    ];
    let exported = ["PID", "PID", "PID:TICKS", "PID:TICKS", "PID"];
    eprintln!(
        "startup: {n} execs x {} variants, interleaved",
        variants.len()
    );
    let samples = interleaved(&variants, n, 50);
    let totals: Vec<f64> = samples.iter().map(|s| total(s)).collect();
    let medians: Vec<f64> = samples.iter().map(|s| median(s)).collect();
    let ratios = StartupRatios {
        plain: totals[0] / totals[1],
        stamped: totals[2] / totals[3],
    };
    writeln!(
        report,
        "\n## Start-up cost: {n} sequential posix_spawn + wait of /bin/true per variant\n\n\
         Variants interleaved exec by exec (rotating order), same run. Environment of \
         each: `PDEATHSIG=TERM` and `PDEATHSIG_PPID` as the parent (the benchmark) exports \
         it: a plain pid, `PDEATHSIG_PPID=<pid>` (the library's stamp `PID:TICKS` then does \
         not fit in place: the library points the variable at a string of its own), or `PID:TICKS` as pdeathsig's own \
         spawners write it (`CLOCK_BOOTTIME` in clock ticks: the child's stamp fits in \
         place), which is also what every process of a tree under LD_PRELOAD sees after \
         the first level. Both libraries arm, pass the check and stamp.\n\n\
         | preload | parent exports | total | mean per exec | median per exec |\n\
         |---|---|---:|---:|---:|"
    )
    .unwrap();
    let mut csv = String::from("variant,execs,total_us,median_us\n");
    for (v, var) in variants.iter().enumerate() {
        writeln!(
            report,
            "| {} | `{}` | {:.0} ms | {:.0} us | {:.0} us |",
            var.name,
            exported[v],
            totals[v] / 1000.0,
            totals[v] / n as f64,
            medians[v]
        )
        .unwrap();
        writeln!(
            csv,
            "\"{}, parent exports {}\",{n},{:.0},{:.1}",
            var.name, exported[v], totals[v], medians[v]
        )
        .unwrap();
    }
    writeln!(
        report,
        "\nRatio of totals, library to C shim: stamped parent (a')/(b') **{:.3}** (must be \
         <= 1.05); plain-pid parent (a)/(b) **{:.3}** (reported, not checked). Library to no \
         preload: (a')/(c) {:.3}, (a)/(c) {:.3}. Medians: (a')/(b') {:.3}, (a)/(b) {:.3}, \
         (a')/(c) {:.3}, (a)/(c) {:.3}.",
        ratios.stamped,
        ratios.plain,
        totals[2] / totals[4],
        totals[0] / totals[4],
        medians[2] / medians[3],
        medians[0] / medians[1],
        medians[2] / medians[4],
        medians[0] / medians[4],
    )
    .unwrap();
    let probes = 5;
    writeln!(
        report,
        "\nStamp written in place (the child's `/proc/PID/environ`, which shows the \
         environment block the kernel wrote at exec, names the child itself; \
         `/bin/cat /proc/self/environ` under libpdeathsig.so, {probes} probes each): \
         plain-pid parent {}/{probes}, stamped parent {}/{probes}.\n",
        in_place_probes(ctx, &plain, probes),
        in_place_probes(ctx, &stamped, probes),
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
    programs(ctx, &stamped, report, &mut csv);
    std::fs::write(ctx.out.join(csv_name(ctx, "startup")), csv).unwrap();
    ratios
}

/// How many of `probes` children, started with `ppid` in the environment
/// under libpdeathsig.so, stamped in place: their `/proc/PID/environ` (the
/// block the kernel wrote at exec; a stamp written elsewhere leaves it alone) names them.
fn in_place_probes(ctx: &Ctx, ppid: &str, probes: usize) -> usize {
    let (_, value) = ppid.split_once('=').unwrap();
    (0..probes)
        .filter(|_| {
            let mut cmd = Command::new("/bin/cat");
            cmd.arg("/proc/self/environ").env_clear();
            for kv in &ctx.base_env {
                if let Some((k, v)) = kv.to_str().ok().and_then(|kv| kv.split_once('=')) {
                    cmd.env(k, v);
                }
            }
            let child = cmd
                .env("PDEATHSIG", "TERM")
                .env("PDEATHSIG_PPID", value)
                .env("LD_PRELOAD", &ctx.lib)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run /bin/cat");
            let pid = child.id() as Pid;
            let out = child.wait_with_output().expect("wait for /bin/cat");
            let seen = out
                .stdout
                .split(|&b| b == 0)
                .find_map(|kv| kv.strip_prefix(b"PDEATHSIG_PPID=".as_slice()))
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.split(':').next()?.parse::<Pid>().ok());
            seen == Some(pid)
        })
        .count()
}

/// The real executable of `name` on PATH (a pyenv or similar shim is a
/// script that runs further processes: the interpreter itself is asked
/// where it lives when it can say so).
fn find_program(name: &str, ask_self: Option<&[&str]>) -> Option<PathBuf> {
    if let Some(args) = ask_self {
        let out = Command::new(name).args(args).output().ok()?;
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        return (out.status.success() && path.is_absolute() && path.exists()).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

/// The library's modes against no preload, for `/bin/true`, `python3 -c
/// pass` and `node -e 0`: what a preloaded tree pays per exec. Every child
/// gets `PDEATHSIG=TERM` and the stamped `PDEATHSIG_PPID` (no preload: the
/// same variables, unread).
fn programs(ctx: &Ctx, stamped: &str, report: &mut String, csv: &mut String) {
    let mut notes = Vec::new();
    let mut programs: Vec<(String, Vec<CString>, usize)> = vec![(
        "/bin/true".into(),
        vec![cstr("/bin/true")],
        ctx.n(1000, 100),
    )];
    let python = find_program(
        "python3",
        Some(&["-c", "import sys; print(sys.executable)"]),
    );
    match python {
        Some(p) => programs.push((
            "python3 -c pass".into(),
            vec![cstr(&p), cstr("-c"), cstr("pass")],
            ctx.n(100, 10),
        )),
        None => notes.push("python3 not installed: its rows are skipped."),
    }
    match find_program("node", None) {
        Some(p) => programs.push((
            "node -e 0".into(),
            vec![cstr(&p), cstr("-e"), cstr("0")],
            ctx.n(100, 10),
        )),
        None => notes.push("node not installed: its rows are skipped."),
    }
    let lib = format!("LD_PRELOAD={}", ctx.lib.display());
    let mut modes: Vec<(&str, Vec<String>)> = vec![
        ("no preload", vec![]),
        ("prctl (default mode)", vec![lib.clone()]),
    ];
    if ctx.process_mode {
        modes.push((
            "PDEATHSIG_MODE=process",
            vec![lib.clone(), "PDEATHSIG_MODE=process".into()],
        ));
    }
    if ctx.tree_mode {
        modes.push((
            "PDEATHSIG_MODE=tree",
            vec![lib.clone(), "PDEATHSIG_MODE=tree".into()],
        ));
    }
    writeln!(
        report,
        "\n## Start-up cost by program: the library's modes against no preload\n\n\
         Sequential posix_spawn + wait, modes interleaved exec by exec (rotating order), \
         same run. Environment of each: `PDEATHSIG=TERM PDEATHSIG_PPID=PID:TICKS` (the \
         benchmark's stamp), plus `LD_PRELOAD=libpdeathsig.so` and the mode, except for \
         no preload. Process and tree mode start a watcher thread in every process.\n\n\
         | program | preload | execs | total | median per exec | ratio of totals to no \
         preload | ratio of medians |\n|---|---|---:|---:|---:|---:|---:|"
    )
    .unwrap();
    for (label, argv, n) in &programs {
        let variants: Vec<Variant> = modes
            .iter()
            .map(|(name, extra)| {
                let mut vars = vec!["PDEATHSIG=TERM".to_string(), stamped.to_string()];
                vars.extend(extra.iter().cloned());
                Variant {
                    name: name.to_string(),
                    argv: argv.clone(),
                    env: ctx.env_with(&vars),
                }
            })
            .collect();
        eprintln!(
            "startup: {label}: {n} execs x {} variants, interleaved",
            variants.len()
        );
        let samples = interleaved(&variants, *n, 5);
        let base_total = total(&samples[0]);
        let base_median = median(&samples[0]);
        for (v, s) in variants.iter().zip(&samples) {
            let (t, m) = (total(s), median(s));
            writeln!(
                report,
                "| `{label}` | {} | {n} | {:.0} ms | {:.0} us | {:.3} | {:.3} |",
                v.name,
                t / 1000.0,
                m,
                t / base_total,
                m / base_median
            )
            .unwrap();
            writeln!(csv, "\"{label}: {}\",{n},{t:.0},{m:.1}", v.name).unwrap();
        }
    }
    for note in notes {
        writeln!(report, "\n{note}").unwrap();
    }
    if !ctx.tree_mode {
        report.push_str(TREE_MISSING);
    }
}
