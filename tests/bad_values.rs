//! Bad values of PDEATHSIG and PDEATHSIG_PPID under LD_PRELOAD: each gives
//! exactly one stderr line `pdeathsig: ...` naming the value (escaped as the
//! library prints it) and what is accepted; the host runs normally, exits 0
//! and has nothing armed. Valid spellings arm the right signal, checked from
//! outside the library with prctl(PR_GET_PDEATHSIG) (tests/helpers/getsig.c).
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;
use support::*;

/// The value as the library quotes it: `"..."`, then `...` when it was cut.
fn escaped(value: &[u8]) -> String {
    let cut = if value.len() > MESSAGE_KEEPS {
        "..."
    } else {
        ""
    };
    format!("\"{}\"{cut}", message_escaped(value))
}

struct Run {
    status: Option<Status>,
    stdout: String,
    stderr: String,
}

/// Runs `host` with the library preloaded and `env` set (all else of the
/// protocol removed), bounded.
fn run_host(tree: &mut Tree, host: &[&str], env: &[(&str, &[u8])]) -> Run {
    let mut cmd = tree.command(host[0]);
    cmd.args(&host[1..])
        .env("LD_PRELOAD", preload_lib())
        .env_remove("PDEATHSIG")
        .env_remove("PDEATHSIG_PPID")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        cmd.env(name, OsStr::from_bytes(value));
    }
    let mut child = tree.spawn(&mut cmd);
    let status = wait_status(child.id() as Pid, DEATH_TIMEOUT);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if status.is_some() {
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_end(&mut stderr)
            .unwrap();
    }
    Run {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn getsig() -> String {
    c_helper("getsig.c", "getsig", &[])
        .to_str()
        .unwrap()
        .to_owned()
}

/// PR_GET_PDEATHSIG of a host, from getsig's first field.
fn armed_signal(run: &Run) -> i32 {
    run.stdout
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("getsig printed {:?}", run.stdout))
}

const BAD_SIGNALS: &[&[u8]] = &[
    b"garbage",
    b"0",
    b"65",
    b"-9",
    b"SIGFOO",
    b"99999999999999999999999999",
    b"2147483648",
    b"4294967311", // 15 + 2^32: must not wrap around to SIGTERM
    b"\xff\xfe",
    b"TERM\xc3",
    b" TERM",
    b"TERM ",
    b"RTMIN+99",
    b"RTMAX+1",
    b"RTMIN-1",
    b"SIG",
    b"15x",
    b"0x0f",
    b"TERM\nKILL",
    b"SIGTERM\"; echo \\",
    &[b'A'; 5000],
    &[0xff; 50],
];

const BAD_PIDS: &[&[u8]] = &[
    b"abc",
    b"0",
    b"-1",
    b"-0",
    b"99999999999999999999",
    b"2147483648",
    b"\xff1",
    b" 123",
    b"123 ",
    b"1e3",
    b"12\n",
    &[b'9'; 300],
];

/// One bad value: one line, the value, `accepted`, exit 0, nothing armed.
fn check_bad(tree: &mut Tree, var: &str, env: &[(&str, &[u8])], value: &[u8]) {
    let needle = format!("{var}={}", escaped(value));
    let getsig = getsig();
    for host in [
        &["/bin/true"][..],
        &["sh", "-c", "exit 0"],
        &[getsig.as_str()],
    ] {
        let run = run_host(tree, host, env);
        let what = format!("{var}={value:?} in {host:?}");
        assert_eq!(
            run.status,
            Some(Status::Exited(0)),
            "{what}: {}",
            run.stderr
        );
        let lines: Vec<&str> = run.stderr.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 1, "{what}: not one line: {:?}", run.stderr);
        let line = lines[0];
        assert!(line.ends_with('\n'), "{what}: {line:?}");
        assert!(line.starts_with("pdeathsig: "), "{what}: {line:?}");
        assert!(
            line.contains(&needle),
            "{what}: {line:?} does not name {needle}"
        );
        assert!(line.contains("accepted"), "{what}: {line:?}");
        if host[0].ends_with("getsig") {
            assert_eq!(armed_signal(&run), 0, "{what}: armed anyway");
        }
    }
}

#[test]
fn bad_pdeathsig_values() {
    let mut tree = Tree::new();
    assert!(BAD_SIGNALS.len() + BAD_PIDS.len() >= 15);
    for &value in BAD_SIGNALS {
        check_bad(&mut tree, "PDEATHSIG", &[("PDEATHSIG", value)], value);
    }
}

#[test]
fn bad_pdeathsig_ppid_values() {
    let mut tree = Tree::new();
    for &value in BAD_PIDS {
        check_bad(
            &mut tree,
            "PDEATHSIG_PPID",
            &[("PDEATHSIG", b"TERM"), ("PDEATHSIG_PPID", value)],
            value,
        );
    }
}

#[test]
fn empty_values_do_nothing() {
    let mut tree = Tree::new();
    let getsig = getsig();
    let me = std::process::id();
    // PDEATHSIG empty: nothing done, nothing said.
    for host in [
        &["/bin/true"][..],
        &["sh", "-c", "exit 0"],
        &[getsig.as_str()],
    ] {
        let run = run_host(&mut tree, host, &[("PDEATHSIG", b"")]);
        assert_eq!(run.status, Some(Status::Exited(0)), "{host:?}");
        assert_eq!(run.stderr, "", "{host:?}");
    }
    let run = run_host(&mut tree, &[getsig.as_str()], &[("PDEATHSIG", b"")]);
    assert_eq!(run.stdout, format!("0 {me}\n"));
    // PDEATHSIG_PPID empty counts as unset: armed against the parent seen
    // at load time (this test), silently.
    let run = run_host(
        &mut tree,
        &[getsig.as_str()],
        &[("PDEATHSIG", b"TERM"), ("PDEATHSIG_PPID", b"")],
    );
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (Some(Status::Exited(0)), "")
    );
    assert_eq!(run.stdout, format!("{} {me}\n", libc::SIGTERM));
}

#[test]
fn valid_spellings_arm_the_right_signal() {
    let mut tree = Tree::new();
    let getsig = getsig();
    let me = std::process::id();
    let rtmin = libc::SIGRTMIN();
    let rtmax = libc::SIGRTMAX();
    let table: &[(&str, i32)] = &[
        ("TERM", libc::SIGTERM),
        ("SIGTERM", libc::SIGTERM),
        ("term", libc::SIGTERM),
        ("SigTerm", libc::SIGTERM),
        ("15", libc::SIGTERM),
        ("KILL", libc::SIGKILL),
        ("sigkill", libc::SIGKILL),
        ("9", libc::SIGKILL),
        ("HUP", libc::SIGHUP),
        ("usr1", libc::SIGUSR1),
        ("SIGUSR2", libc::SIGUSR2),
        ("1", 1),
        ("64", 64),
        ("RTMIN", rtmin),
        ("rtmin", rtmin),
        ("SIGRTMIN", rtmin),
        ("RTMIN+3", rtmin + 3),
        ("SIGRTMIN+1", rtmin + 1),
        ("RTMAX", rtmax),
        ("RTMAX-1", rtmax - 1),
    ];
    for &(spelling, number) in table {
        // Once with the handoff (PDEATHSIG_PPID = this test), once without.
        let me_text = me.to_string();
        for env in [
            &[("PDEATHSIG", spelling.as_bytes())][..],
            &[
                ("PDEATHSIG", spelling.as_bytes()),
                ("PDEATHSIG_PPID", me_text.as_bytes()),
            ],
        ] {
            let run = run_host(&mut tree, &[getsig.as_str()], env);
            assert_eq!(
                (run.status, run.stderr.as_str()),
                (Some(Status::Exited(0)), ""),
                "PDEATHSIG={spelling}"
            );
            assert_eq!(
                run.stdout,
                format!("{number} {me}\n"),
                "PDEATHSIG={spelling} should arm signal {number}"
            );
        }
    }
}
