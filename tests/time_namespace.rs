//! Stamps judged in another time namespace (`unshare --time --boottime N`):
//! /proc shows start times with the reader's `CLOCK_BOOTTIME` offset, so a
//! stamp's time written outside does not compare with them inside. With
//! pidfs (Linux 6.9+) the verdict identifies the stamper and the anchor by
//! inode number instead, and no time is compared. The case: tree mode with
//! a live anchor outside and the processes inside a time namespace whose
//! boot time is shifted by +100000 s or -1000 s: they must live while the
//! anchor lives, and die with it. Control: offset 0, the same. And prctl
//! mode with a stamp written outside: a healthy child of a middle that does
//! not re-stamp lives, an orphan adopted by an older reaper dies.
// Children are reaped by pid (support::wait_status, the Tree's cleanup).
#![allow(clippy::zombie_processes)]
mod support;
use std::time::{Duration, Instant};
use support::*;

fn time_namespaces(test: &str) -> bool {
    let ok = command_succeeds(
        "unshare",
        &["--time", "--boottime", "100000", "--fork", "true"],
    );
    if !ok {
        skip(
            test,
            "unshare --time does not work here (needs root, Linux 5.6+)",
        );
    }
    if ok && !pidfs() {
        skip(
            test,
            "no pidfs (Linux 6.9+): stamps carry no inode number, times are compared",
        );
        return false;
    }
    ok
}

#[test]
fn tree_mode_in_a_shifted_time_namespace() {
    if !time_namespaces("tree_mode_in_a_shifted_time_namespace") {
        return;
    }
    preload_lib();
    // -1000 s needs a machine up for longer than that.
    let uptime = boot_ticks() / 100;
    for offset in ["100000", "-1000", "0"] {
        if offset == "-1000" && uptime < 1100 {
            skip(
                "tree_mode_in_a_shifted_time_namespace",
                "uptime under 1100 s: no -1000 s offset",
            );
            continue;
        }
        let mut tree = Tree::new();
        let mut cmd = tree.command("sleep");
        cmd.arg("600");
        let anchor = tree.spawn(clean(&mut cmd)).id() as Pid;
        // The anchor as pdeathsig's spawners hand it: PID:TICKS, outside.
        let stamp = format!("{anchor}:{}", boot_ticks());
        let mut cmd = tree.command("unshare");
        cmd.args([
            "--time",
            "--boottime",
            offset,
            "--fork",
            "sh",
            "-c",
            "sleep 600; true",
        ]);
        clean(&mut cmd)
            .env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", "tree")
            .env("PDEATHSIG_PPID", &stamp);
        let unshare = tree.spawn(&mut cmd).id() as Pid;
        let deadline = Instant::now() + DEATH_TIMEOUT;
        let leaf = loop {
            let found = descendants(unshare).into_iter().find(|&p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
            });
            if let Some(p) = found {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "offset {offset}: no sleep inside"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        tree.track(leaf);
        std::thread::sleep(Duration::from_secs(1));
        let lives = alive(leaf) && alive(unshare);
        eprintln!("boottime offset {offset}: alive with the anchor alive: {lives}");
        assert!(lives, "offset {offset}: killed while the anchor lives");
        assert_eq!(kill_reap(anchor), Some(Status::Signaled(libc::SIGKILL)));
        assert!(
            wait_gone(leaf, DEATH_TIMEOUT),
            "offset {offset}: outlived the anchor"
        );
        tree.cleanup();
    }
}

/// prctl mode across a shifted time namespace. The stamp is written
/// outside, as the library writes it (`PID:TICKS::INO`), by a spawner that
/// dies at once; its child `unshare` (not preloaded: it does not re-stamp)
/// runs `getsig` inside, preloaded, after a second.
/// - `unshare` alive: getsig's parent was created after the dead stamper
///   (a middle, not a reaper), so getsig is armed and lives until unshare
///   dies. Start times compared across the namespace would make unshare
///   look older than the stamp at -1000 s and kill a healthy process.
/// - `unshare` killed before getsig arms: getsig is adopted by this test,
///   older than the stamper, and must signal itself. Start times compared
///   at +100000 s would make the test look younger: an orphan left alive.
///
/// Control: offset 0, the same outcomes.
#[test]
fn prctl_mode_in_a_shifted_time_namespace() {
    if !time_namespaces("prctl_mode_in_a_shifted_time_namespace") {
        return;
    }
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let getsig = c_helper("getsig.c", "getsig", &[]);
    let script = format!(
        "sleep 1; exec env LD_PRELOAD={} PDEATHSIG=TERM {} --pause",
        preload_lib().display(),
        getsig.display()
    );
    let uptime = boot_ticks() / 100;
    for offset in ["100000", "-1000", "0"] {
        if offset == "-1000" && uptime < 1100 {
            skip(
                "prctl_mode_in_a_shifted_time_namespace",
                "uptime under 1100 s: no -1000 s offset",
            );
            continue;
        }
        for orphan in [false, true] {
            let mut tree = Tree::new();
            let mut cmd = tree.command(&spawn);
            clean(&mut cmd).args(["--handoff-stamp", "--die-after-us", "0", "--"]);
            cmd.args(["unshare", "--time", "--boottime", offset, "--fork"])
                .args(["sh", "-c", &script]);
            let mut parent = tree.spawn(piped(&mut cmd));
            let unshare = read_pid(&mut parent, DEATH_TIMEOUT);
            tree.track(unshare);
            let deadline = Instant::now() + DEATH_TIMEOUT;
            let inner = loop {
                if let Some(&p) = descendants(unshare).first() {
                    break p;
                }
                assert!(Instant::now() < deadline, "offset {offset}: nothing inside");
                std::thread::sleep(Duration::from_millis(5));
            };
            tree.track(inner);
            if orphan {
                assert_eq!(kill_reap(unshare), Some(Status::Signaled(libc::SIGKILL)));
            }
            assert!(
                wait_comm(inner, "getsig", DEATH_TIMEOUT) || !alive(inner),
                "offset {offset}: getsig never ran"
            );
            if orphan {
                let status = wait_status(inner, DEATH_TIMEOUT);
                eprintln!("prctl, boottime offset {offset}, adopted: {status:?}");
                assert_eq!(
                    status,
                    Some(Status::Signaled(libc::SIGTERM)),
                    "offset {offset}: an orphan adopted by an older reaper lived"
                );
            } else {
                let status = wait_status(inner, Duration::from_secs(1));
                eprintln!("prctl, boottime offset {offset}, under a live middle: {status:?}");
                assert_eq!(status, None, "offset {offset}: killed under a live middle");
                assert_eq!(kill_reap(unshare), Some(Status::Signaled(libc::SIGKILL)));
                assert_eq!(
                    wait_status(inner, DEATH_TIMEOUT),
                    Some(Status::Signaled(libc::SIGTERM)),
                    "offset {offset}: outlived its parent"
                );
            }
        }
    }
}
