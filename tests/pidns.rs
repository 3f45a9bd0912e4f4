//! A child in a new PID namespace sees `getppid() == 0`: its parent is
//! outside. That is not a death: arming succeeds silently and the child
//! lives; the kernel still signals it when the parent outside dies.
//!
//! Needs unshare(1) and permission for a PID namespace (directly, or in a
//! new user namespace when unprivileged); otherwise the tests say so and
//! pass without running.
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

/// The unshare(1) arguments that give a new PID namespace here, if any.
fn unshare_args(tree: &mut Tree) -> Option<Vec<&'static str>> {
    let candidates: [&[&str]; 2] = [
        &["--pid", "--fork"],
        &["--user", "--map-root-user", "--pid", "--fork"],
    ];
    for args in candidates {
        let mut cmd = tree.command("unshare");
        cmd.args(args)
            .args(["--", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(child) = cmd.spawn() else {
            skip("pidns", "unshare(1) not found (apt-get install util-linux)");
            return None;
        };
        tree.track(child.id() as Pid);
        if wait_status(child.id() as Pid, DEATH_TIMEOUT) == Some(Status::Exited(0)) {
            return Some(args.to_vec());
        }
    }
    skip(
        "pidns",
        "this machine does not permit a new PID namespace \
         (unshare --pid --fork and unshare --user --map-root-user --pid --fork both failed)",
    );
    None
}

/// `unshare ARGS -- PROGRAM...`, the whole command preloaded with
/// `PDEATHSIG=<signal>` when `preloaded` is `Some(signal)`.
fn in_namespace(
    tree: &Tree,
    unshare: &[&str],
    program: &[&str],
    preloaded: Option<&str>,
) -> Command {
    let mut cmd = tree.command("unshare");
    cmd.args(unshare)
        .arg("--")
        .args(program)
        .env_remove("LD_PRELOAD")
        .env_remove("PDEATHSIG")
        .env_remove("PDEATHSIG_PPID");
    if let Some(signal) = preloaded {
        cmd.env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", signal);
    }
    cmd
}

/// Runs `cmd` to its end (bounded): (status, stdout, stderr).
fn output(tree: &mut Tree, mut cmd: Command) -> (Option<Status>, String, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = tree.spawn(&mut cmd);
    let status = wait_status(child.id() as Pid, DEATH_TIMEOUT);
    let mut out = String::new();
    let mut err = String::new();
    if status.is_some() {
        let mut stdout = child.stdout.take().unwrap();
        stdout.read_to_string(&mut out).unwrap();
        let mut stderr = child.stderr.take().unwrap();
        stderr.read_to_string(&mut err).unwrap();
    }
    (status, out, err)
}

/// What getsig must print in the namespace: armed with SIGTERM, parent 0,
/// and the one line saying that a parent outside cannot be verified.
fn armed_term_parent_zero() -> (Option<Status>, String, String) {
    (
        Some(Status::Exited(0)),
        format!("{} 0\n", libc::SIGTERM),
        "pdeathsig: the parent is outside this PID namespace (getppid() is 0): armed, but \
         whether it is still alive cannot be verified; no signal sent\n"
            .to_string(),
    )
}

fn getsig() -> String {
    let path = c_helper("getsig.c", "getsig", &[]);
    path.to_str().unwrap().to_owned()
}

#[test]
fn arming_across_a_pid_namespace_succeeds() {
    let mut tree = Tree::new();
    let Some(unshare) = unshare_args(&mut tree) else {
        return;
    };
    let getsig = getsig();
    let lib = format!("LD_PRELOAD={}", preload_lib().display());
    let me = format!("PDEATHSIG_PPID={}", std::process::id());
    // The whole tree preloaded: unshare (outside) arms and stamps its pid,
    // which the child cannot see; the child's getppid() is 0.
    let cmd = in_namespace(&tree, &unshare, &[&getsig], Some("TERM"));
    assert_eq!(
        output(&mut tree, cmd),
        armed_term_parent_zero(),
        "unshare preloaded: expected armed with SIGTERM, getppid() 0, one line, exit 0"
    );
    // The first preloaded process is inside the namespace, with a stamp
    // naming a process outside (this test).
    let cmd = in_namespace(
        &tree,
        &unshare,
        &["env", &lib, "PDEATHSIG=TERM", &me, &getsig],
        None,
    );
    assert_eq!(
        output(&mut tree, cmd),
        armed_term_parent_zero(),
        "PDEATHSIG_PPID outside the namespace: expected armed with SIGTERM, getppid() 0, \
         one line, exit 0"
    );
}

#[test]
fn arming_in_a_pid_namespace_without_stamp_succeeds() {
    let mut tree = Tree::new();
    let Some(unshare) = unshare_args(&mut tree) else {
        return;
    };
    let getsig = getsig();
    let lib = format!("LD_PRELOAD={}", preload_lib().display());
    // The first preloaded process is inside the namespace and nothing is
    // stamped: the expected parent is the one seen at load time, 0.
    let cmd = in_namespace(
        &tree,
        &unshare,
        &["env", &lib, "PDEATHSIG=TERM", &getsig],
        None,
    );
    assert_eq!(
        output(&mut tree, cmd),
        armed_term_parent_zero(),
        "no PDEATHSIG_PPID: expected armed with SIGTERM, getppid() 0, one line, exit 0"
    );
}

/// `sleep 60` as pid 1 of a new PID namespace; its parent, unshare, is
/// SIGKILLed. Returns sleep's fate within `timeout`.
fn parent_outside_killed(
    tree: &mut Tree,
    unshare: &[&str],
    preloaded: Option<&str>,
    timeout: Duration,
) -> (Pid, Option<Status>) {
    let mut cmd = in_namespace(tree, unshare, &["sleep", "60"], preloaded);
    let parent = tree.spawn(&mut cmd);
    let parent = parent.id() as Pid;
    let deadline = std::time::Instant::now() + DEATH_TIMEOUT;
    let child = loop {
        if let Some(&pid) = descendants(parent).first() {
            if wait_comm(pid, "sleep", DEATH_TIMEOUT) {
                break pid;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sleep in the namespace"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    tree.track(child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(child), "the child in the namespace died at start-up");
    assert_eq!(kill_reap(parent), Some(Status::Signaled(libc::SIGKILL)));
    (child, wait_status(child, timeout))
}

#[test]
fn child_in_namespace_dies_with_parent_outside() {
    let mut tree = Tree::new();
    let Some(unshare) = unshare_args(&mut tree) else {
        return;
    };
    // SIGKILL: the only child with getppid() == 0 is the namespace's init
    // (pid 1), and the kernel delivers to an init only the signals it has a
    // handler for, except SIGKILL and SIGSTOP from an ancestor namespace
    // (pid_namespaces(7)). PDEATHSIG=TERM would be dropped for it.
    let (_, status) = parent_outside_killed(&mut tree, &unshare, Some("KILL"), DEATH_TIMEOUT);
    assert_eq!(status, Some(Status::Signaled(libc::SIGKILL)));
    // Control: without the library it outlives its parent.
    let (child, status) =
        parent_outside_killed(&mut tree, &unshare, None, Duration::from_millis(300));
    assert_eq!(status, None);
    assert!(alive(child), "the unarmed control died");
}

/// A namespace's init whose parent outside is already dead when it arms
/// (tests/helpers/pidns_orphan.c): nothing inside can tell that from a
/// live parent (getppid() is 0 either way), so it is armed without a
/// signal and says so in the same one line, never silently. Control: the
/// same init without the library says nothing and is not armed.
#[test]
fn init_whose_parent_outside_died_first_says_so() {
    let helper = c_helper("pidns_orphan.c", "pidns_orphan", &[]);
    let getsig = getsig();
    for preloaded in [true, false] {
        let mut tree = Tree::new();
        let err_path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "pidns-orphan-{}-{preloaded}.stderr",
            std::process::id()
        ));
        let mut cmd = tree.command(&helper);
        cmd.arg("env")
            .env_remove("LD_PRELOAD")
            .env_remove("PDEATHSIG_PPID")
            .stderr(std::fs::File::create(&err_path).unwrap());
        if preloaded {
            cmd.arg(format!("LD_PRELOAD={}", preload_lib().display()))
                .arg("PDEATHSIG=TERM");
        }
        cmd.arg(&getsig);
        let mut launcher = tree.spawn(piped(&mut cmd));
        let first = read_line(&mut launcher, DEATH_TIMEOUT);
        if wait_status(launcher.id() as Pid, DEATH_TIMEOUT) == Some(Status::Exited(3)) {
            skip(
                "init_whose_parent_outside_died_first_says_so",
                "unshare(CLONE_NEWPID) is not permitted here (needs root)",
            );
            return;
        }
        let init: Pid = first.trim().parse().expect("the launcher printed no pid");
        tree.track(init);
        let report = read_line(&mut launcher, DEATH_TIMEOUT);
        assert_eq!(wait_status(init, DEATH_TIMEOUT), Some(Status::Exited(0)));
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let _ = std::fs::remove_file(&err_path);
        if preloaded {
            let (_, out, line) = armed_term_parent_zero();
            assert_eq!(
                format!("{report}\n"),
                out,
                "armed with SIGTERM, getppid() 0"
            );
            assert_eq!(stderr, line, "the one line");
        } else {
            assert_eq!(report, "0 0", "control: not armed");
            assert_eq!(stderr, "", "control: nothing said");
        }
    }
}
