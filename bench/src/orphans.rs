//! Orphan rate: the parent is SIGKILLed 0-2 ms after spawning the child;
//! an orphan is a child that reached `main` with its parent dead and is
//! still alive a grace period later.

use std::fmt::Write as _;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::ctx::{csv_name, Ctx};
use crate::modes::{modes, pending_note, start_parent, Mode};
use crate::proc::{close, cstr, kill_reap, pidfd, poll_in, reap, reap_any, Pid, BOUND};
use crate::stats::Rng;

/// After the child reached `main` with its parent dead: how long it gets to
/// die before it counts as late (its signal, if any, was sent when the
/// parent exited, before we saw the parent's exit; a watcher thread must
/// first be scheduled, which a loaded machine can delay).
const GRACE: Duration = Duration::from_millis(25);
/// A child still alive this long after the grace is an orphan: it lives on.
const ORPHAN_AFTER: Duration = Duration::from_secs(1);
/// The parent dies this long (at most) after spawning the child.
const MAX_DELAY_US: u64 = 2000;

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    /// Died before reaching main (the guard's own kill) or after.
    Died,
    /// Reached main, parent dead, alive after the grace period, dead a
    /// second later: guarded, but slow (a watcher scheduled late).
    Late,
    /// Reached main, parent dead, still alive a second after the grace.
    Orphan,
    /// Something did not happen within the bounds.
    Stuck,
}

fn orphan_trial(ctx: &Ctx, mode: &Mode, delay_us: u64) -> Outcome {
    let (ppid, mut lines) = start_parent(ctx, mode, Some(delay_us), &[cstr(&ctx.ready)]);
    let child: Option<Pid> = lines.wait_for("pid ").and_then(|s| s.trim().parse().ok());
    if reap(ppid).is_none() {
        kill_reap(ppid);
    }
    let Some(child) = child else {
        return Outcome::Stuck;
    };
    // Not yet reaped by anyone, so the pid is still this child's.
    let Some(cfd) = pidfd(child) else {
        return Outcome::Stuck;
    };
    let deadline = Instant::now() + BOUND;
    let mut ready = false;
    let outcome = loop {
        if !ready && lines.take("ready").is_some() {
            ready = true;
        }
        if ready {
            // The second, longer wait only for the library's modes, where
            // an orphan is the exception (the controls leak by the hundred).
            break if !poll_in(&[cfd], GRACE).is_empty() {
                Outcome::Died
            } else if !mode.handoff || poll_in(&[cfd], ORPHAN_AFTER).is_empty() {
                Outcome::Orphan
            } else {
                Outcome::Late
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let fds: Vec<RawFd> = if lines.eof {
            vec![cfd]
        } else {
            vec![cfd, lines.fd]
        };
        let got = poll_in(&fds, left);
        if got.is_empty() {
            break Outcome::Stuck;
        }
        if got.contains(&0) {
            break Outcome::Died;
        }
        lines.fill();
    };
    close(cfd);
    kill_reap(child);
    outcome
}

pub fn orphans(ctx: &Ctx, report: &mut String) -> usize {
    let trials = ctx.n(2000, 200);
    let modes = modes(ctx, true);
    let mut counts = vec![(0usize, 0usize, 0usize, 0usize); modes.len()];
    let mut rng = Rng(0x5eed_0f0a_f4a5);
    eprintln!("orphans: {trials} trials x {} modes", modes.len());
    for t in 0..trials {
        let delay = rng.below(MAX_DELAY_US + 1);
        for k in 0..modes.len() {
            let m = (t + k) % modes.len();
            match orphan_trial(ctx, &modes[m], delay) {
                Outcome::Died => counts[m].0 += 1,
                Outcome::Orphan => counts[m].1 += 1,
                Outcome::Stuck => counts[m].2 += 1,
                Outcome::Late => counts[m].3 += 1,
            }
        }
        reap_any();
        if (t + 1) % 250 == 0 {
            eprintln!("  {} / {trials}", t + 1);
        }
    }
    let mut csv = String::from("mode,trials,died,orphans,stuck,late\n");
    writeln!(
        report,
        "\n## Orphan rate: parent SIGKILLed 0-{} ms after spawning the child\n\n\
         {trials} trials per mode; each trial draws one delay (uniform, fixed seed) used for \
         every mode, modes interleaved. Orphan: the child reached `main` with its parent \
         dead and was still alive {} ms later (for the library's modes: and again {} ms after \
         that). Late: alive after the first wait, dead after the second (a watcher thread \
         scheduled late).\n\n\
         | guard | trials | orphans | orphan rate | late | stuck |\n|---|---:|---:|---:|---:|---:|",
        MAX_DELAY_US / 1000,
        GRACE.as_millis(),
        ORPHAN_AFTER.as_millis()
    )
    .unwrap();
    let mut leaked_with_handoff = 0;
    for (m, &(died, orphans, stuck, late)) in modes.iter().zip(&counts) {
        let n = died + orphans + stuck + late;
        writeln!(
            report,
            "| {} | {n} | {orphans} | {:.1}% | {late} | {stuck} |",
            m.name,
            100.0 * orphans as f64 / n as f64
        )
        .unwrap();
        writeln!(csv, "\"{}\",{n},{died},{orphans},{stuck},{late}", m.name).unwrap();
        if m.handoff {
            leaked_with_handoff += orphans + stuck;
        }
    }
    report.push_str(&pending_note(ctx));
    std::fs::write(ctx.out.join(csv_name(ctx, "orphans")), csv).unwrap();
    leaked_with_handoff
}
