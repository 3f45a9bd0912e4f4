//! Teardown of a tree started under LD_PRELOAD: a fork + exec chain of
//! depth d, SIGKILL of the root's parent to the last process gone.

use std::fmt::Write as _;
use std::os::fd::RawFd;
use std::time::Instant;

use crate::ctx::{csv_name, Ctx};
use crate::modes::{modes, pending_note, start_parent, Mode};
use crate::proc::{close, cstr, kill, kill_reap, pidfd, poll_in, reap_any, Pid, BOUND};
use crate::stats::{percentile, sorted};

fn teardown_trial(ctx: &Ctx, mode: &Mode, depth: usize) -> Option<f64> {
    let program = [cstr(&ctx.chain), cstr(&ctx.chain), cstr(depth.to_string())];
    let (ppid, mut lines) = start_parent(ctx, mode, None, &program);
    let mut pids: Vec<Pid> = Vec::new();
    if let Some(p) = lines.wait_for("pid ").and_then(|s| s.trim().parse().ok()) {
        pids.push(p);
    }
    for _ in 0..depth {
        match lines.wait_for("ready ").and_then(|s| s.trim().parse().ok()) {
            Some(p) => pids.push(p),
            None => break,
        }
    }
    let mut sample = None;
    if pids.len() == depth + 1 {
        let fds: Vec<RawFd> = pids[1..].iter().filter_map(|&p| pidfd(p)).collect();
        if fds.len() == depth {
            let t0 = Instant::now();
            kill(ppid, libc::SIGKILL);
            let mut left: Vec<RawFd> = fds.clone();
            let deadline = t0 + BOUND;
            while !left.is_empty() {
                let wait = deadline.saturating_duration_since(Instant::now());
                let got = poll_in(&left, wait);
                if got.is_empty() {
                    break;
                }
                left = left
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !got.contains(i))
                    .map(|(_, &fd)| fd)
                    .collect();
            }
            if left.is_empty() {
                sample = Some(t0.elapsed().as_secs_f64() * 1e6);
            }
        }
        for fd in fds {
            close(fd);
        }
    }
    kill_reap(ppid);
    for &p in pids.iter().skip(1) {
        kill_reap(p);
    }
    sample
}

pub fn teardown(ctx: &Ctx, report: &mut String) {
    let reps = ctx.n(50, 5);
    let depths = [1usize, 4, 16, 64];
    let modes = modes(ctx, false);
    // The tree needs the handoff stamps: only the library modes apply.
    let modes: Vec<&Mode> = modes.iter().filter(|m| m.handoff).collect();
    let mut samples = vec![vec![Vec::new(); depths.len()]; modes.len()];
    let mut failed = vec![vec![0usize; depths.len()]; modes.len()];
    eprintln!(
        "teardown: {reps} reps x depths {depths:?} x {} modes",
        modes.len()
    );
    for r in 0..reps {
        for (mi, m) in modes.iter().enumerate() {
            for k in 0..depths.len() {
                let di = (r + k) % depths.len();
                match teardown_trial(ctx, m, depths[di]) {
                    Some(us) => samples[mi][di].push(us),
                    None => failed[mi][di] += 1,
                }
            }
        }
        reap_any();
    }
    let mut csv = String::from("mode,depth,microseconds\n");
    writeln!(
        report,
        "\n## Teardown: tree of depth d under LD_PRELOAD, SIGKILL of the root's parent to \
         the last process gone\n\n\
         {reps} repetitions per depth, depths interleaved; each process of the chain is \
         started by fork + exec and arms itself at load time (`PDEATHSIG=TERM`).\n\n\
         | guard | depth | n | p50 | p99 | max | per level (p50) | incomplete |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    )
    .unwrap();
    for (mi, m) in modes.iter().enumerate() {
        for (di, &d) in depths.iter().enumerate() {
            let s = sorted(samples[mi][di].clone());
            for v in &s {
                writeln!(csv, "\"{}\",{d},{v:.1}", m.name).unwrap();
            }
            let p50 = percentile(&s, 50.0);
            writeln!(
                report,
                "| {} | {d} | {} | {:.0} us | {:.0} us | {:.0} us | {:.0} us | {} |",
                m.name,
                s.len(),
                p50,
                percentile(&s, 99.0),
                s.last().copied().unwrap_or(f64::NAN),
                p50 / d as f64,
                failed[mi][di]
            )
            .unwrap();
        }
    }
    report.push_str(pending_note(ctx));
    std::fs::write(ctx.out.join(csv_name(ctx, "teardown")), csv).unwrap();
}
