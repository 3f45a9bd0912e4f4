//! What the load-time constructor leaves behind: no heap allocation on the
//! common path, and no file descriptor.
//!
//! - In the default (prctl) mode the constructor performs no heap
//!   allocation: with `PDEATHSIG_PPID` already set by the spawner as
//!   `PID:TICKS`, the stamp overwrites the inherited value in place. Observed with a malloc
//!   interposer (tests/helpers/alloc_count.c) preloaded after the library,
//!   which counts every malloc/calloc/realloc/posix_memalign before `main`.
//!   A plain-pid or missing `PDEATHSIG_PPID` allocates nothing either (the
//!   stamp goes into the library's own string). A control (process mode,
//!   whose pthread_create(3) allocates) shows that the counter does see the
//!   library's allocations.
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
    // A stamp as pdeathsig's spawners write it (PID:TICKS::INO), the pid
    // zero-padded to 10 digits as the library pads it: room for any pid;
    // ticks of now, which have as many digits as the child's stamp will
    // (same second), and an inode number padded to 12 digits.
    let stamp = format!("{me:010}:{}::{:012}", boot_ticks(), 1);
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

    // A plain pid (PDEATHSIG_PPID=$$) is shorter than PID:TICKS, and an
    // unset variable has nothing to overwrite: the stamp then lives in the
    // library's own string (and, unset, in a new environ array it maps),
    // still without a heap allocation.
    let plain = [
        ("PDEATHSIG", "TERM".to_string()),
        ("PDEATHSIG_PPID", me.to_string()),
    ];
    let unset = [("PDEATHSIG", "TERM".to_string())];
    for (case, env) in [("plain pid", &plain[..]), ("unset", &unset[..])] {
        let (n, pid, seen) = allocs(&tree, &both, env);
        assert_eq!(stamp_pid(seen.as_bytes()), Some(pid as Pid), "{case}");
        assert!(seen.contains(':'), "{case}: stamp {seen:?} has no time");
        assert_eq!(n, baseline, "{case}: the constructor allocated");
    }

    // Control: process mode starts the watcher thread, and
    // pthread_create(3) allocates (the thread's TLS vector): the counter
    // must see that allocation, or it proves nothing.
    let process = [
        ("PDEATHSIG", "TERM".to_string()),
        ("PDEATHSIG_PPID", stamp.clone()),
        ("PDEATHSIG_MODE", "process".to_string()),
    ];
    let (n, _, _) = allocs(&tree, &both, &process);
    assert!(
        n > baseline,
        "control: pthread_create's allocation was not observed ({n} vs {baseline})"
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
