//! What the load-time constructor leaves behind: no heap allocation on the
//! common path, and no file descriptor.
//!
//! - In the default (prctl) mode, with `PDEATHSIG_PPID` already set by the
//!   spawner, the constructor performs no heap allocation: the stamp
//!   overwrites the inherited value in place. Observed with a malloc
//!   interposer (tests/helpers/alloc_count.c) preloaded after the library,
//!   which counts every malloc/calloc/realloc/posix_memalign before `main`;
//!   a control (`PDEATHSIG_PPID` unset, so setenv(3) must add it) shows that
//!   the counter does see the library's allocations.
//! - In every mode the constructor leaves no file descriptor open that the
//!   program did not ask for: the /proc/self/fd listing at the start of
//!   `main` is compared with and without the library.
mod support;
use support::*;

use std::process::{Command, Output};

fn run(cmd: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run helper");
    assert!(
        status.success() && stderr.is_empty(),
        "{cmd:?}: {status}, stderr {}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8(stdout).unwrap()
}

/// `(allocations before main, pid, PDEATHSIG_PPID seen in main)`.
fn allocs(tree: &Tree, preload: &str, env: &[(&str, String)]) -> (i64, i64, String) {
    let report = c_helper("alloc_report.c", "alloc_report", &[]);
    let mut cmd = tree.command(&report);
    cmd.env("LD_PRELOAD", preload).env_remove("PDEATHSIG_PPID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{out:?}");
    (
        fields[0].parse().unwrap(),
        fields[1].parse().unwrap(),
        fields[2].to_string(),
    )
}

#[test]
fn constructor_stamps_in_place_without_allocating() {
    let tree = Tree::new();
    let counter = c_helper(
        "alloc_count.c",
        "alloc_count.so",
        &["-shared", "-fPIC", "-ldl"],
    );
    let lib = preload_lib();
    let both = format!("{}:{}", lib.display(), counter.display());
    let me = std::process::id();
    // A stamp as pdeathsig's spawners write it (PID:TICKS), the pid
    // zero-padded to 10 digits: room for any pid, and ticks of now, which
    // have as many digits as the child's stamp will (same second).
    let stamp = format!("{me:010}:{}", boot_ticks());
    let armed = [
        ("PDEATHSIG", "TERM".to_string()),
        ("PDEATHSIG_PPID", stamp.clone()),
    ];

    let (baseline, _, seen) = allocs(&tree, &counter.display().to_string(), &armed);
    assert!(baseline >= 0, "the counter is not loaded");
    assert_eq!(seen, stamp, "without the library nothing stamps");

    let (with_lib, pid, seen) = allocs(&tree, &both, &armed);
    assert_eq!(
        with_lib,
        baseline,
        "the constructor allocated {} times before main",
        with_lib - baseline
    );
    // The stamp is ours, padded to the inherited length, and still parses.
    assert_eq!(
        seen.len(),
        stamp.len(),
        "stamp {seen:?} not written in place"
    );
    assert_eq!(
        stamp_pid(seen.as_bytes()),
        Some(pid as Pid),
        "stamp {seen:?}"
    );

    // A plain pid (PDEATHSIG_PPID=$$) is shorter than PID:TICKS: the stamp
    // cannot be written in place, and setenv(3) allocates. Checked, so that
    // the docs saying so stay true.
    let plain = [
        ("PDEATHSIG", "TERM".to_string()),
        ("PDEATHSIG_PPID", me.to_string()),
    ];
    let (n, pid, seen) = allocs(&tree, &both, &plain);
    assert_eq!(stamp_pid(seen.as_bytes()), Some(pid as Pid));
    assert!(seen.contains(':'), "stamp {seen:?} has no time");
    assert!(n > baseline, "a longer stamp cannot fit: setenv expected");

    // Control: nothing to overwrite, so setenv(3) must add the variable, and
    // the counter must see that allocation (else it proves nothing).
    let unset = [("PDEATHSIG", "TERM".to_string())];
    let (n, pid, seen) = allocs(&tree, &both, &unset);
    assert_eq!(
        stamp_pid(seen.as_bytes()),
        Some(pid as Pid),
        "stamp added by setenv"
    );
    assert!(
        n > baseline,
        "control: setenv's allocation was not observed ({n} vs {baseline})"
    );
}

/// `fd target flags` lines at the start of main, without and with the
/// library (PDEATHSIG set, plus `extra` variables).
fn fd_listing(tree: &Tree, preload: bool, extra: &[(&str, &str)]) -> Vec<String> {
    let list = c_helper("fd_list.c", "fd_list", &[]);
    let mut cmd = tree.command(&list);
    // Let a watcher thread (process mode) finish setting itself up.
    cmd.args(["--sleep-ms", "100"])
        .env("PDEATHSIG", "TERM")
        .env("PDEATHSIG_PPID", std::process::id().to_string());
    if preload {
        cmd.env("LD_PRELOAD", preload_lib());
        for (k, v) in extra {
            cmd.env(k, v);
        }
    }
    // stdout and stderr are new pipes on each run: compare them by kind.
    run(&mut cmd)
        .lines()
        .map(|l| match l.split_once(" pipe:[") {
            Some((fd, rest)) if fd == "1" || fd == "2" => {
                format!("{fd} pipe:[..{}", &rest[rest.find(']').unwrap()..])
            }
            _ => l.to_string(),
        })
        .collect()
}

#[test]
fn prctl_mode_leaves_no_file_descriptor() {
    let tree = Tree::new();
    let without = fd_listing(&tree, false, &[]);
    assert!(without.iter().any(|l| l.starts_with("1 ")), "{without:?}");
    for mode in [&[][..], &[("PDEATHSIG_MODE", "prctl")][..]] {
        let with = fd_listing(&tree, true, mode);
        assert_eq!(
            with, without,
            "{mode:?}: the constructor left a descriptor open"
        );
    }
}

/// Process mode watches the parent through a pidfd (pidfd_open(2)) held by
/// its watcher thread in a descriptor table of its own: the program's table
/// must be exactly what it is without the library.
#[test]
fn process_mode_leaves_no_file_descriptor() {
    let tree = Tree::new();
    let without = fd_listing(&tree, false, &[]);
    let with = fd_listing(&tree, true, &[("PDEATHSIG_MODE", "process")]);
    let extra: Vec<&String> = with.iter().filter(|l| !without.contains(l)).collect();
    assert!(
        with.iter().filter(|l| without.contains(l)).count() == without.len(),
        "process mode closed or changed a descriptor: {without:?} -> {with:?}"
    );
    // The watcher's pidfd lives in the watcher thread's own descriptor
    // table (unshare(CLONE_FILES)): the program's table gains nothing.
    assert!(
        extra.is_empty(),
        "process mode left descriptors open: {extra:?}"
    );
}
