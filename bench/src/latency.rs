//! Latency: SIGKILL of the parent to the child gone (its pidfd readable),
//! the child idle in `main`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::ctx::{csv_name, Ctx};
use crate::modes::{modes, pending_note, start_parent, Mode};
use crate::proc::{close, cstr, kill, kill_reap, pidfd, poll_in, reap_any, Pid};
use crate::stats::{percentile, sorted};

fn latency_trial(ctx: &Ctx, mode: &Mode) -> Option<f64> {
    let (ppid, mut lines) = start_parent(ctx, mode, None, &[cstr(&ctx.ready)]);
    let child: Option<Pid> = lines.wait_for("pid ").and_then(|s| s.trim().parse().ok());
    let ready = lines.wait_for("ready").is_some();
    let mut sample = None;
    if let (Some(child), true) = (child, ready) {
        if let Some(cfd) = pidfd(child) {
            let t0 = Instant::now();
            kill(ppid, libc::SIGKILL);
            if !poll_in(&[cfd], Duration::from_secs(5)).is_empty() {
                sample = Some(t0.elapsed().as_secs_f64() * 1e6);
            }
            close(cfd);
        }
    }
    kill_reap(ppid);
    if let Some(child) = child {
        kill_reap(child);
    }
    sample
}

pub fn latency(ctx: &Ctx, report: &mut String) {
    let trials = ctx.n(1000, 100);
    let modes = modes(ctx, false);
    let mut samples = vec![Vec::new(); modes.len()];
    let mut failed = vec![0usize; modes.len()];
    eprintln!("latency: {trials} trials x {} modes", modes.len());
    for t in 0..trials {
        for k in 0..modes.len() {
            let m = (t + k) % modes.len();
            match latency_trial(ctx, &modes[m]) {
                Some(us) => samples[m].push(us),
                None => failed[m] += 1,
            }
        }
        reap_any();
    }
    let mut csv = String::from("mode,microseconds\n");
    writeln!(
        report,
        "\n## Latency: SIGKILL of the parent to the child gone (pidfd readable)\n\n\
         {trials} trials per mode, interleaved; the child is idle in `main` when its \
         parent is killed. Includes the parent's own exit.\n\n\
         | guard | n | p50 | p99 | max | no death in 5 s |\n|---|---:|---:|---:|---:|---:|"
    )
    .unwrap();
    for (m, (s, f)) in modes.iter().zip(samples.into_iter().zip(failed)) {
        for v in &s {
            writeln!(csv, "\"{}\",{v:.1}", m.name).unwrap();
        }
        let s = sorted(s);
        writeln!(
            report,
            "| {} | {} | {:.0} us | {:.0} us | {:.0} us | {f} |",
            m.name,
            s.len(),
            percentile(&s, 50.0),
            percentile(&s, 99.0),
            s.last().copied().unwrap_or(f64::NAN)
        )
        .unwrap();
    }
    report.push_str(&pending_note(ctx));
    std::fs::write(ctx.out.join(csv_name(ctx, "latency")), csv).unwrap();
}
