//! Teardown of a tree started under LD_PRELOAD: a fork + exec chain of
//! depth d, SIGKILL of the root's parent to the last process gone.

use std::fmt::Write as _;
use std::os::fd::RawFd;
use std::time::Instant;

use crate::ctx::{csv_name, Ctx};
use crate::modes::{modes, pending_note, start_parent, Mode};
use crate::proc::{close, cstr, kill, kill_reap, pidfd, poll_in, reap_any, Pid, BOUND};
use crate::stats::{percentile, sorted};

/// One trial: the time from the SIGKILL of the root's parent to the last
/// process of the chain gone (microseconds), and whether the chain went in
/// its own order: no process seen gone after a deeper one. poll(2) answers
/// in batches, and a batch counts as in order. Level by level: always in
/// order; all at once: rarely, beyond a few levels.
fn teardown_trial(ctx: &Ctx, mode: &Mode, depth: usize) -> Option<(f64, bool)> {
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
        // In chain order: fds[0] is the root, fds[depth - 1] the deepest.
        let fds: Vec<RawFd> = pids[1..].iter().filter_map(|&p| pidfd(p)).collect();
        if fds.len() == depth {
            let t0 = Instant::now();
            if mode.pgroup {
                // The reference: the whole chain at once, by the kernel.
                kill(-pids[1], libc::SIGKILL);
            } else {
                kill(ppid, libc::SIGKILL);
            }
            // Indices into fds of the processes not yet gone.
            let mut left: Vec<usize> = (0..depth).collect();
            let mut deepest_gone: Option<usize> = None;
            let mut in_order = true;
            let deadline = t0 + BOUND;
            while !left.is_empty() {
                let wait = deadline.saturating_duration_since(Instant::now());
                let polled: Vec<RawFd> = left.iter().map(|&i| fds[i]).collect();
                let got = poll_in(&polled, wait);
                if got.is_empty() {
                    break;
                }
                let batch: Vec<usize> = got.iter().map(|&g| left[g]).collect();
                if let (Some(&lo), Some(hi)) = (batch.iter().min(), deepest_gone) {
                    in_order &= lo > hi;
                }
                deepest_gone = batch.iter().copied().chain(deepest_gone).max();
                left.retain(|i| !batch.contains(i));
            }
            if left.is_empty() {
                sample = Some((t0.elapsed().as_secs_f64() * 1e6, in_order));
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
    // The tree needs the handoff stamps: only the library modes apply; and
    // the physical limit, the same chain (no library) as one process group
    // killed with one kill(-pgid, SIGKILL).
    let limit = Mode {
        name: "kill(-pgid, SIGKILL) of the chain, no library (the physical limit)",
        child_env: vec![],
        handoff: false,
        pgroup: true,
    };
    // And the same group kill of the chain armed in tree mode: the limit
    // for processes that each carry a watcher thread.
    let limit_watched = Mode {
        name:
            "kill(-pgid, SIGKILL) of the chain armed in tree mode (the limit with a watcher thread)",
        child_env: vec![
            format!("LD_PRELOAD={}", ctx.lib.display()),
            "PDEATHSIG=TERM".into(),
            "PDEATHSIG_MODE=tree".into(),
        ],
        handoff: true,
        pgroup: true,
    };
    let tree_available = ctx.tree_mode;
    let modes: Vec<&Mode> = std::iter::once(&limit)
        .chain(tree_available.then_some(&limit_watched))
        .chain(modes.iter().filter(|m| m.handoff))
        .collect();
    let mut samples = vec![vec![Vec::new(); depths.len()]; modes.len()];
    let mut failed = vec![vec![0usize; depths.len()]; modes.len()];
    eprintln!(
        "teardown: {reps} reps x depths {depths:?} x {} modes",
        modes.len()
    );
    for r in 0..reps {
        for j in 0..modes.len() {
            let mi = (r + j) % modes.len();
            for k in 0..depths.len() {
                let di = (r + k) % depths.len();
                match teardown_trial(ctx, modes[mi], depths[di]) {
                    Some(sample) => samples[mi][di].push(sample),
                    None => failed[mi][di] += 1,
                }
            }
        }
        reap_any();
    }
    // The times to the last process gone, sorted; the trials in chain order.
    let split = |v: &[(f64, bool)]| {
        (
            sorted(v.iter().map(|p| p.0).collect()),
            v.iter().filter(|p| p.1).count(),
        )
    };
    let mut csv = String::from("mode,depth,microseconds,in_chain_order\n");
    writeln!(
        report,
        "\n## Teardown: tree of depth d under LD_PRELOAD, SIGKILL of the root's parent to \
         the last process gone\n\n\
         {reps} repetitions per depth and mode, modes and depths interleaved; each process \
         of the chain is started by fork + exec and arms itself at load time \
         (`PDEATHSIG=TERM`). In prctl and process mode each level dies of its parent's \
         death, one level after another; in tree mode every process watches the anchor \
         (the root's parent, named in `PDEATHSIG_PPID` when the tree starts) with a \
         watcher thread of its own, so the whole chain should go at once. In chain order: \
         the trials in which no process was seen gone after a deeper one (level by level: \
         all of them; the benchmark's poll(2) sees the deaths in batches, and one batch \
         counts as in order).\n\n\
         | guard | depth | n | p50 | p99 | max | per level (p50) | in chain order | \
         incomplete |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    .unwrap();
    for (mi, m) in modes.iter().enumerate() {
        for (di, &d) in depths.iter().enumerate() {
            for (us, in_order) in &samples[mi][di] {
                let in_order = u8::from(*in_order);
                writeln!(csv, "\"{}\",{d},{us:.1},{in_order}", m.name).unwrap();
            }
            let (s, in_order) = split(&samples[mi][di]);
            let p50 = percentile(&s, 50.0);
            writeln!(
                report,
                "| {} | {d} | {} | {:.0} us | {:.0} us | {:.0} us | {:.0} us | {in_order}/{} \
                 | {} |",
                m.name,
                s.len(),
                p50,
                percentile(&s, 99.0),
                s.last().copied().unwrap_or(f64::NAN),
                p50 / d as f64,
                s.len(),
                failed[mi][di]
            )
            .unwrap();
        }
    }
    // How the time grows with depth: p50 at the deepest over p50 at depth 1.
    let last = depths.len() - 1;
    let growth: Vec<String> = modes
        .iter()
        .enumerate()
        .map(|(mi, m)| {
            let p50 = |di: usize| percentile(&split(&samples[mi][di]).0, 50.0);
            format!("{} {:.1}x", m.name, p50(last) / p50(0))
        })
        .collect();
    writeln!(
        report,
        "\np50 at depth {} over p50 at depth {}: {}.",
        depths[last],
        depths[0],
        growth.join("; ")
    )
    .unwrap();
    // Tree mode against the physical limit, at the deepest chain.
    let p50_deepest = |mi: usize| percentile(&split(&samples[mi][last]).0, 50.0);
    if let Some(tree) = modes.iter().position(|m| m.name.contains("MODE=tree")) {
        writeln!(
            report,
            "Tree mode at depth {}: {:.2}x the physical limit (p50 {:.0} us against {:.0} us, same run); \
             {:.2}x one group kill of the same chain armed in tree mode ({:.0} us): what is left is \
             the exit of processes that carry a watcher thread.",
            depths[last],
            p50_deepest(tree) / p50_deepest(0),
            p50_deepest(tree),
            p50_deepest(0),
            p50_deepest(tree) / p50_deepest(1),
            p50_deepest(1)
        )
        .unwrap();
    }
    report.push_str(&pending_note(ctx));
    std::fs::write(ctx.out.join(csv_name(ctx, "teardown")), csv).unwrap();
}
