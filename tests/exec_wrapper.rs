//! The exec wrapper `pdeathsig [--signal SIG] [--ppid PID] -- PROGRAM`:
//! real processes, real kernel.
mod support;
use support::*;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pdeathsig"))
}

/// `spawn --handoff -- [pdeathsig WRAPPER_ARGS --] PROGRAM...`, then the
/// parent is SIGKILLed once PROGRAM runs. Returns how the child ended
/// (`None`: still alive after `wait`).
fn parent_killed(
    tree: &mut Tree,
    wrapper_args: Option<&[&str]>,
    program: &[&OsStr],
    comm: &str,
    wait: Duration,
) -> Option<Status> {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd = tree.command(&spawn);
    clean(&mut cmd).args(["--handoff", "--"]);
    if let Some(args) = wrapper_args {
        cmd.arg(wrapper()).args(args).arg("--");
    }
    cmd.args(program);
    kill_parent_then_wait(tree, &mut cmd, comm, wait)
}

#[test]
fn program_dies_with_its_parent_and_control_survives() {
    let mut tree = Tree::new();
    let sleep: &[&OsStr] = &["sleep".as_ref(), "60".as_ref()];
    assert_eq!(
        parent_killed(&mut tree, Some(&[]), sleep, "sleep", DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM)),
        "default signal is TERM"
    );
    assert_eq!(
        parent_killed(
            &mut tree,
            Some(&["-s", "KILL"]),
            sleep,
            "sleep",
            DEATH_TIMEOUT
        ),
        Some(Status::Signaled(libc::SIGKILL))
    );
    assert_eq!(
        parent_killed(
            &mut tree,
            Some(&["--signal=SIGUSR1"]),
            sleep,
            "sleep",
            DEATH_TIMEOUT
        ),
        Some(Status::Signaled(libc::SIGUSR1))
    );
    // Control: the same parent without the wrapper; the orphan lives on.
    let control = parent_killed(&mut tree, None, sleep, "sleep", Duration::from_millis(300));
    assert_eq!(control, None, "the unguarded orphan should be alive");
    assert_eq!(tree.living().len(), 1, "exactly the unguarded orphan lives");
}

#[test]
fn static_binary_dies_with_its_parent_and_control_survives() {
    let probe = c_helper("probe.c", "probe-static", &["-static"]);
    let program: &[&OsStr] = &[probe.as_os_str(), "pause".as_ref()];
    let mut tree = Tree::new();
    assert_eq!(
        parent_killed(&mut tree, Some(&[]), program, "probe-static", DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
    let control = parent_killed(
        &mut tree,
        None,
        program,
        "probe-static",
        Duration::from_millis(300),
    );
    assert_eq!(control, None, "the unguarded static orphan should be alive");
    assert_eq!(tree.living().len(), 1);
}

/// One trial of the race: the parent SIGKILLs itself 0-2 ms after it forks
/// the child that runs `pdeathsig -- sleep 60`. Returns the child's pid.
fn race_trial(tree: &mut Tree, spawn: &PathBuf, handoff: bool) -> Pid {
    let mut cmd = tree.command(spawn);
    clean(&mut cmd)
        .arg(if handoff { "--handoff" } else { "--no-handoff" })
        .args(["--die-after-us", "2000", "--"])
        .arg(wrapper())
        .args(["--", "sleep", "60"]);
    let mut parent = tree.spawn(piped(&mut cmd));
    let child = read_pid(&mut parent, DEATH_TIMEOUT);
    tree.track(child);
    let status = parent.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the parent must die");
    child
}

#[test]
fn race_with_handoff_leaves_no_orphan() {
    const TRIALS: usize = 500;
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut tree = Tree::new();
    let mut orphans = Vec::new();
    for _ in 0..TRIALS {
        let child = race_trial(&mut tree, &spawn, true);
        match wait_status(child, DEATH_TIMEOUT) {
            Some(Status::Signaled(sig)) if sig == libc::SIGTERM => {}
            Some(other) => panic!("child {child} ended with {other:?}, expected SIGTERM"),
            None => {
                orphans.push(child);
                // A broken guard must fail fast, not wait 5 s x 500.
                if orphans.len() >= 3 {
                    break;
                }
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "orphans left alive with the handoff: {orphans:?}"
    );
    eprintln!("race with handoff: {TRIALS} trials, 0 orphans");
}

#[test]
fn race_without_handoff_leaks() {
    // Control: no PDEATHSIG_PPID and no --ppid: the wrapper compares with
    // the parent it saw at load time, which is already the reaper when the
    // parent died first. Some orphans must survive.
    const TRIALS: usize = 200;
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut tree = Tree::new();
    let children: Vec<Pid> = (0..TRIALS)
        .map(|_| race_trial(&mut tree, &spawn, false))
        .collect();
    // Armed children die within milliseconds of their parent; give them a
    // generous moment, then count the ones still alive.
    std::thread::sleep(Duration::from_millis(500));
    for &child in &children {
        reap(child);
    }
    let leaked = children.iter().filter(|&&c| alive(c)).count();
    eprintln!("race without handoff: {TRIALS} trials, {leaked} orphans");
    assert!(
        leaked > 0,
        "the unguarded control should leak orphans ({TRIALS} trials)"
    );
}

/// Runs the wrapper directly (no parent death involved).
fn run(args: &[&OsStr], env: &[(&str, &str)]) -> std::process::Output {
    let tree = Tree::new();
    let mut cmd = tree.command(wrapper());
    clean(&mut cmd).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pdeathsig");
    drop(tree);
    out
}

fn os(args: &[&str]) -> Vec<&'static OsStr> {
    args.iter()
        .map(|a| OsStr::new(Box::leak(a.to_string().into_boxed_str())))
        .collect()
}

/// Arguments, environment, what stderr must contain.
type Case = (
    Vec<&'static OsStr>,
    Vec<(&'static str, &'static str)>,
    Vec<&'static str>,
);

#[test]
fn usage_errors_exit_125_with_one_line_naming_the_value() {
    let bad_sig_bytes = OsStr::from_bytes(b"TE\xffRM");
    let cases: Vec<Case> = vec![
        (
            os(&["--signal", "FOO", "--", "echo", "ran"]),
            vec![],
            vec!["--signal \"FOO\"", "accepted"],
        ),
        (
            os(&["--signal=0", "echo", "ran"]),
            vec![],
            vec!["\"0\"", "accepted"],
        ),
        (
            os(&["-s", "65", "echo", "ran"]),
            vec![],
            vec!["\"65\"", "accepted"],
        ),
        (
            os(&["-s", "", "echo", "ran"]),
            vec![],
            vec!["\"\"", "accepted"],
        ),
        (
            vec!["--signal".as_ref(), bad_sig_bytes, "echo".as_ref()],
            vec![],
            vec!["\"TE\\xffRM\"", "accepted"],
        ),
        (
            os(&["--ppid", "abc", "echo", "ran"]),
            vec![],
            vec!["--ppid \"abc\"", "accepted"],
        ),
        (
            os(&["--ppid=0", "echo", "ran"]),
            vec![],
            vec!["\"0\"", "accepted"],
        ),
        (
            os(&["-p", "-5", "echo", "ran"]),
            vec![],
            vec!["\"-5\"", "accepted"],
        ),
        (
            os(&["--ppid", "99999999999", "echo", "ran"]),
            vec![],
            vec!["\"99999999999\"", "accepted"],
        ),
        (os(&[]), vec![], vec!["missing PROGRAM"]),
        (os(&["--"]), vec![], vec!["missing PROGRAM"]),
        (os(&["-s", "TERM"]), vec![], vec!["missing PROGRAM"]),
        (
            os(&["--bogus", "echo", "ran"]),
            vec![],
            vec!["unknown option \"--bogus\"", "accepted"],
        ),
        (
            os(&["-x", "echo", "ran"]),
            vec![],
            vec!["unknown option \"-x\"", "accepted"],
        ),
        (
            os(&["--signal"]),
            vec![],
            vec!["--signal needs a signal", "accepted"],
        ),
        (
            os(&["--ppid"]),
            vec![],
            vec!["--ppid needs a parent pid", "accepted"],
        ),
        (
            os(&["echo", "ran"]),
            vec![("PDEATHSIG", "bogus")],
            vec!["PDEATHSIG=\"bogus\"", "accepted"],
        ),
        (
            os(&["echo", "ran"]),
            vec![("PDEATHSIG_PPID", "12x")],
            vec!["PDEATHSIG_PPID=\"12x\"", "accepted"],
        ),
    ];
    for (args, env, needles) in &cases {
        let out = run(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("pdeathsig {args:?} (env {env:?}): stderr {stderr:?}");
        assert_eq!(out.status.code(), Some(125), "{what}");
        assert!(out.stdout.is_empty(), "PROGRAM must not run: {what}");
        assert!(stderr.starts_with("pdeathsig: "), "{what}");
        assert!(
            stderr.ends_with('\n') && stderr.lines().count() == 1,
            "{what}"
        );
        for needle in needles {
            assert!(stderr.contains(needle), "missing {needle:?}: {what}");
        }
    }
    // --signal wins over a bad PDEATHSIG, which is then not consulted.
    let out = run(
        &os(&["--signal", "TERM", "echo", "ran"]),
        &[("PDEATHSIG", "bogus")],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"ran\n");
}

#[test]
fn exec_failures_exit_126_and_127() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let plain = dir.join(format!("not-executable-{}", std::process::id()));
    std::fs::write(&plain, "#!/bin/sh\necho ran\n").unwrap();
    for (program, code) in [
        (plain.as_os_str(), 126),
        (dir.as_os_str(), 126),
        (OsStr::new("/nonexistent/program"), 127),
        (OsStr::new("pdeathsig-no-such-program"), 127),
    ] {
        let out = run(&[OsStr::new("--"), program], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{program:?}: {stderr}");
        assert!(
            stderr.starts_with("pdeathsig: cannot run \"") && stderr.lines().count() == 1,
            "{stderr}"
        );
        assert!(stderr.contains(&*program.to_string_lossy()), "{stderr}");
    }
    std::fs::remove_file(&plain).unwrap();
}

#[test]
fn help_and_version() {
    for flag in ["--help", "-h"] {
        let out = run(&[OsStr::new(flag)], &[]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("Usage: pdeathsig "), "{text}");
        assert!(
            text.contains("--signal") && text.contains("--ppid"),
            "{text}"
        );
    }
    for flag in ["--version", "-V"] {
        let out = run(&[OsStr::new(flag)], &[]);
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            concat!("pdeathsig ", env!("CARGO_PKG_VERSION"), "\n")
        );
    }
}

/// `probe` prints "<pid> <armed signal> <PDEATHSIG_PPID>".
fn probe_line(out: &std::process::Output) -> (String, String, String) {
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut it = text.split_whitespace().map(str::to_string);
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

#[test]
fn program_is_armed_stamped_and_keeps_its_arguments() {
    for probe in [
        c_helper("probe.c", "probe", &[]),
        c_helper("probe.c", "probe-static", &["-static"]),
    ] {
        let p = probe.as_os_str();
        // Default TERM; the stamp is the program's own pid (exec keeps it).
        let (pid, sig, stamp) = probe_line(&run(&[p], &[]));
        assert_eq!(sig, libc::SIGTERM.to_string());
        assert_eq!(stamp, pid);
        // PDEATHSIG picks the default; --signal overrides it.
        let (_, sig, _) = probe_line(&run(&[p], &[("PDEATHSIG", "kill")]));
        assert_eq!(sig, libc::SIGKILL.to_string());
        let (_, sig, _) = probe_line(&run(
            &[OsStr::new("-s"), OsStr::new("USR2"), OsStr::new("--"), p],
            &[("PDEATHSIG", "kill")],
        ));
        assert_eq!(sig, libc::SIGUSR2.to_string());
        // An explicit --ppid that is the real parent (this test process).
        let me = std::process::id().to_string();
        let (_, sig, _) = probe_line(&run(
            &[OsStr::new("--ppid"), OsStr::new(&me), p],
            &[("PDEATHSIG_PPID", "1")],
        ));
        assert_eq!(sig, libc::SIGTERM.to_string());
    }
    // Arguments reach the program byte for byte, non-UTF-8 included, and
    // its exit status is the wrapper's.
    let raw = OsStr::from_bytes(b"a\xff b");
    let out = run(&[OsStr::new("printf"), OsStr::new("%s"), raw], &[]);
    assert_eq!(out.stdout, b"a\xff b");
    let out = run(&os(&["sh", "-c", "exit 7"]), &[]);
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn parent_already_gone_means_program_does_not_run() {
    // pid 2147483647 is above any pid_max: never our parent or an ancestor.
    let gone = "2147483647";
    let mut tree = Tree::new();
    // The signal is delivered to the wrapper, as the kernel would have.
    let mut cmd = tree.command(wrapper());
    clean(&mut cmd).args(["--ppid", gone, "echo", "ran"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{out:?}");
    assert!(out.stdout.is_empty());
    // The wrapper survives an ignored signal: it reports and does not run
    // PROGRAM.
    let mut cmd = tree.command("sh");
    clean(&mut cmd)
        .arg("-c")
        .arg("trap '' TERM; exec \"$0\" --ppid \"$1\" echo ran")
        .arg(wrapper())
        .arg(gone);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(out.stdout.is_empty(), "PROGRAM ran: {out:?}");
    assert!(
        stderr.starts_with("pdeathsig: parent process 2147483647 had already exited")
            && stderr.contains("not running \"echo\"")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    tree.cleanup();
}
