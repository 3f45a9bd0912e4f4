//! PID namespaces: a process whose parent is outside its PID namespace
//! sees `getppid() == 0`. prctl mode arms (the kernel still signals across
//! the boundary) and never mistakes the 0 for a death; process mode cannot
//! name the parent from inside and says so. Skipped, with a message, where
//! unshare(1) may not create a PID namespace.
mod support;
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;
use support::*;

/// The unshare(1) flags that work here: as root `--pid --fork`, else with
/// a user namespace. `None` when neither is permitted.
fn unshare_flags() -> Option<Vec<&'static str>> {
    for flags in [
        vec!["--pid", "--fork"],
        vec!["--user", "--map-root-user", "--pid", "--fork"],
    ] {
        let ok = std::process::Command::new("unshare")
            .args(&flags)
            .arg("true")
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(flags);
        }
    }
    None
}

/// Starts `unshare FLAGS env [LD_PRELOAD PDEATHSIG=KILL VARS] sh -c ...`:
/// the shell is pid 1 of a new PID namespace, its parent (unshare) outside.
/// Returns unshare's child, the namespace's init (outer pid), and the line
/// it printed ("ready <getppid()>").
fn namespace_init(
    tree: &mut Tree,
    flags: &[&str],
    preload: bool,
    vars: &[&str],
) -> (std::process::Child, Pid, String) {
    let mut cmd = tree.command("unshare");
    cmd.args(flags).arg("env");
    if preload {
        cmd.arg(format!("LD_PRELOAD={}", preload_lib().display()))
            .arg("PDEATHSIG=KILL")
            .args(vars);
    }
    cmd.args(["sh", "-c", "echo ready $PPID; exec sleep 60"])
        .stderr(Stdio::piped());
    let mut unshare = tree.spawn(piped(&mut cmd));
    let line = read_line(&mut unshare, DEATH_TIMEOUT);
    let pid = unshare.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let init: Pid = children
        .split_whitespace()
        .next()
        .expect("unshare has a child")
        .parse()
        .unwrap();
    tree.track(init);
    (unshare, init, line)
}

#[test]
fn prctl_mode_across_a_pid_namespace() {
    let Some(flags) = unshare_flags() else {
        skip(
            "prctl_mode_across_a_pid_namespace",
            "unshare --pid is not permitted here",
        );
        return;
    };
    let mut tree = Tree::new();
    // A stale PDEATHSIG_PPID from outside must not fool it either.
    for vars in [&[][..], &["PDEATHSIG_PPID=2147483646"]] {
        let (mut unshare, init, line) = namespace_init(&mut tree, &flags, true, vars);
        assert_eq!(line, "ready 0", "getppid() is 0 inside");
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            alive(init),
            "armed across the namespace without killing itself"
        );
        unshare.kill().unwrap();
        unshare.wait().unwrap();
        assert_eq!(
            wait_status(init, DEATH_TIMEOUT),
            Some(Status::Signaled(libc::SIGKILL)),
            "the parent outside died: the kernel's signal crosses the boundary"
        );
    }
    // Control: unarmed, the namespace's init outlives its parent.
    let (mut unshare, init, _) = namespace_init(&mut tree, &flags, false, &[]);
    unshare.kill().unwrap();
    unshare.wait().unwrap();
    assert_eq!(wait_status(init, Duration::from_millis(500)), None);
    assert!(alive(init), "the unarmed control should live on");
}

/// Process mode: a documented error (EOPNOTSUPP, one line), nothing armed,
/// and the process is not killed.
#[test]
fn process_mode_across_a_pid_namespace_is_a_clear_error() {
    let Some(flags) = unshare_flags() else {
        skip(
            "process_mode_across_a_pid_namespace_is_a_clear_error",
            "unshare --pid is not permitted here",
        );
        return;
    };
    let mut tree = Tree::new();
    let (mut unshare, init, line) =
        namespace_init(&mut tree, &flags, true, &["PDEATHSIG_MODE=process"]);
    assert_eq!(line, "ready 0");
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(init), "never kills itself by mistake");
    unshare.kill().unwrap();
    unshare.wait().unwrap();
    tree.cleanup();
    let mut stderr = String::new();
    unshare
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.starts_with(
            "pdeathsig: process mode cannot watch a parent outside our PID namespace \
             (getppid() is 0); use PDEATHSIG_MODE=prctl there; not armed\n"
        ),
        "{stderr}"
    );
}
