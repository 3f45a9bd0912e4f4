//! The `std::process::Command` extension (`ParentDeathSignalExt`): real
//! processes, real kernel. The parent is `examples/spawn_guarded.rs`.
mod support;
use support::*;

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pdeathsig::{ParentDeathSignalExt, Signal};

/// The tests of this file run one at a time: the race test reaps orphans it
/// cannot know the pid of, which must not be another test's children.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `spawn_guarded ARGS -- PROGRAM...`: waits until PROGRAM runs, SIGKILLs
/// the parent, and returns how the child ended (`None`: alive after `wait`).
/// The parent: examples/spawn_guarded.rs, built (or rebuilt when stale)
/// once per test process.
fn guarded_parent() -> std::path::PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", "spawn_guarded"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build --example spawn_guarded");
        assert!(
            status.success(),
            "cargo build --example spawn_guarded failed"
        );
    });
    example("spawn_guarded")
}

fn parent_killed(
    tree: &mut Tree,
    args: &[&str],
    program: &[&OsStr],
    comm: &str,
    wait: Duration,
) -> Option<Status> {
    let mut cmd = tree.command(guarded_parent());
    clean(&mut cmd).args(args).arg("--").args(program);
    kill_parent_then_wait(tree, &mut cmd, comm, wait)
}

const SHORT: Duration = Duration::from_millis(300);

fn sleep60() -> Vec<&'static OsStr> {
    vec![OsStr::new("sleep"), OsStr::new("60")]
}

#[test]
fn pre_exec_child_dies_with_parent_and_control_survives() {
    let _serial = serial();
    let mut tree = Tree::new();
    let sleep = sleep60();
    assert_eq!(
        parent_killed(&mut tree, &[], &sleep, "sleep", DEATH_TIMEOUT),
        Some(Status::Signaled(libc::SIGTERM))
    );
    assert_eq!(
        parent_killed(
            &mut tree,
            &["--signal", "KILL"],
            &sleep,
            "sleep",
            DEATH_TIMEOUT
        ),
        Some(Status::Signaled(libc::SIGKILL))
    );
    // Any program: a static binary that knows nothing of the protocol.
    let probe = c_helper("probe.c", "probe-static", &["-static"]);
    let static_prog = [probe.as_os_str(), OsStr::new("pause")];
    assert_eq!(
        parent_killed(
            &mut tree,
            &["--mode", "pre-exec"],
            &static_prog,
            "probe-static",
            DEATH_TIMEOUT
        ),
        Some(Status::Signaled(libc::SIGTERM))
    );
    // Control: no guard, the orphan lives on.
    assert_eq!(
        parent_killed(&mut tree, &["--mode", "none"], &sleep, "sleep", SHORT),
        None
    );
    assert_eq!(tree.living().len(), 1, "exactly the unguarded orphan lives");
}

#[test]
fn env_with_preload_child_dies_and_env_alone_needs_a_cooperating_child() {
    let _serial = serial();
    let lib = preload_lib();
    let preload = format!("preload={}", lib.display());
    let mut tree = Tree::new();
    let sleep = sleep60();
    assert_eq!(
        parent_killed(
            &mut tree,
            &["--mode", &preload],
            &sleep,
            "sleep",
            DEATH_TIMEOUT
        ),
        Some(Status::Signaled(libc::SIGTERM))
    );
    assert_eq!(
        parent_killed(
            &mut tree,
            &["--mode", &preload, "--signal", "USR1"],
            &sleep,
            "sleep",
            DEATH_TIMEOUT
        ),
        Some(Status::Signaled(libc::SIGUSR1))
    );
    // Control: the environment alone does nothing for a program that does
    // not read it (sleep does not link the library).
    assert_eq!(
        parent_killed(&mut tree, &["--mode", "env"], &sleep, "sleep", SHORT),
        None
    );
    assert_eq!(tree.living().len(), 1, "exactly the env-only orphan lives");
}

#[test]
fn thread_caveat_child_dies_when_the_spawning_thread_exits() {
    // Documented behaviour of PR_SET_PDEATHSIG, kept visible: spawned from a
    // thread that then exits, the child gets the signal while the parent
    // process lives on. From the main thread, it does not.
    let _serial = serial();
    let mut tree = Tree::new();
    for (from_thread, expect_death) in [(true, true), (false, false)] {
        let mut cmd = tree.command(guarded_parent());
        clean(&mut cmd).args(["--mode", "pre-exec"]);
        if from_thread {
            cmd.arg("--from-thread");
        }
        cmd.args(["--", "sleep", "60"]);
        let mut parent = tree.spawn(piped(&mut cmd));
        let parent_pid = parent.id() as Pid;
        let child = read_pid(&mut parent, DEATH_TIMEOUT);
        tree.track(child);
        let gone = wait_gone(child, if expect_death { DEATH_TIMEOUT } else { SHORT });
        assert_eq!(gone, expect_death, "from_thread={from_thread}");
        assert!(alive(parent_pid), "the parent process is alive throughout");
        parent.kill().unwrap();
        parent.wait().unwrap();
    }
}

/// Reaps every exited child of this process: orphans whose pid we never
/// learned. Only safe because this file's tests run one at a time.
fn reap_orphans() {
    let me = std::process::id() as Pid;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            if parent_of(pid) == Some(me) && !alive(pid) {
                reap(pid);
            }
        }
    }
}

/// The parent SIGKILLs itself from another thread 0..`within_us` after
/// start, possibly while its child is between fork and exec. Returns the
/// tagged processes still alive after `wait` (orphans).
fn killed_during_spawn(tree: &mut Tree, mode: &str, within_us: u32, wait: Duration) -> Vec<Pid> {
    let mut cmd = tree.command(guarded_parent());
    clean(&mut cmd)
        .args(["--mode", mode, "--kill-self-within-us"])
        .arg(within_us.to_string())
        .args(["--child-delay-us", CHILD_DELAY_US])
        .args(["--", "sleep", "60"])
        .stdout(Stdio::null());
    let mut parent = tree.spawn(&mut cmd);
    let status = parent.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the parent must die");
    let deadline = Instant::now() + wait;
    loop {
        let living = tree.living();
        for &pid in &living {
            tree.track(pid);
        }
        if living.is_empty() || Instant::now() >= deadline {
            reap_orphans();
            return living;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How long the fork child sleeps before arming (`--child-delay-us`): a
/// child descheduled between fork and exec. Without it the window is a few
/// microseconds and a killed parent almost never lands in it (measured: 0 of
/// 900 trials), so the unchecked control could not be shown to leak.
const CHILD_DELAY_US: &str = "2000";

#[test]
fn pre_exec_race_leaves_no_orphan_and_unchecked_prctl_leaks() {
    let _serial = serial();
    const TRIALS: usize = 200;
    const WITHIN_US: u32 = 3000;
    let mut tree = Tree::new();
    let mut orphans = Vec::new();
    for _ in 0..TRIALS {
        orphans.extend(killed_during_spawn(
            &mut tree,
            "pre-exec",
            WITHIN_US,
            DEATH_TIMEOUT,
        ));
        if orphans.len() >= 3 {
            break;
        }
    }
    assert!(orphans.is_empty(), "orphans with pre-exec: {orphans:?}");
    eprintln!("pre-exec race: {TRIALS} trials, 0 orphans");
    tree.cleanup();

    // Control: a bare prctl in pre_exec, no check against the captured pid.
    const CONTROL_TRIALS: usize = 50;
    let mut leaked = 0;
    for _ in 0..CONTROL_TRIALS {
        leaked += killed_during_spawn(&mut tree, "pre-exec-unchecked", WITHIN_US, SHORT).len();
        tree.cleanup();
    }
    eprintln!("unchecked pre-exec race: {CONTROL_TRIALS} trials, {leaked} orphans");
    assert!(leaked > 0, "the unchecked control should leak");
}

/// The protocol's variables in the environment a child was exec'd with
/// (from /proc/PID/environ, which a preloaded library's own stamping does
/// not change): "PDEATHSIG PDEATHSIG_PPID LD_PRELOAD", `-` for unset.
fn env_seen(configure: impl FnOnce(&mut Command) -> &mut Command) -> String {
    let mut tree = Tree::new();
    // A static program: LD_PRELOAD does not load the library into it, so
    // nothing re-stamps the environment we are looking at.
    let probe = c_helper("probe.c", "probe-static", &["-static"]);
    let mut cmd = tree.command(&probe);
    clean(&mut cmd).arg("pause");
    let mut child = tree.spawn(configure(&mut cmd));
    let pid = child.id() as Pid;
    assert!(wait_comm(pid, "probe-static", DEATH_TIMEOUT));
    // comm changes early in execve(2), the environment a little later.
    let deadline = Instant::now() + DEATH_TIMEOUT;
    let environ = loop {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        if environ
            .windows(TAG_VAR.len())
            .any(|w| w == TAG_VAR.as_bytes())
        {
            break environ;
        }
        assert!(Instant::now() < deadline, "no environment for {pid}");
        std::thread::sleep(Duration::from_millis(1));
    };
    let value = |name: &str| {
        let prefix = format!("{name}=");
        environ
            .split(|&b| b == 0)
            .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| "-".into())
    };
    // pdeathsig's spawners write PID:TICKS (ticks: when), and with pidfs
    // PID:TICKS::INO (the spawner's inode number); shown as PID.
    let stamp = value("PDEATHSIG_PPID");
    let fields: Vec<&str> = stamp.split(':').collect();
    let numbers = |f: &[&str]| f.iter().all(|f| f.parse::<u64>().is_ok());
    assert!(
        stamp == "-"
            || (fields.len() == 2 && numbers(&fields))
            || (fields.len() == 4
                && fields[2].is_empty()
                && numbers(&[fields[0], fields[1], fields[3]])),
        "PDEATHSIG_PPID={stamp}: not PID:TICKS or PID:TICKS::INO"
    );
    let seen = format!(
        "{} {} {}",
        value("PDEATHSIG"),
        fields[0],
        value("LD_PRELOAD")
    );
    child.kill().unwrap();
    child.wait().unwrap();
    seen
}

#[test]
fn environment_protocol_values() {
    let _serial = serial();
    let me = std::process::id();
    let seen = env_seen(|c| c.parent_death_signal_env(Signal::TERM));
    assert_eq!(seen, format!("15 {me} -"));
    // The pre-exec variant exports the stamp too, and does not ask the
    // child to arm itself again.
    let seen = env_seen(|c| c.parent_death_signal(Signal::KILL));
    assert_eq!(seen, format!("- {me} -"));

    let lib = preload_lib();
    let lib_s = lib.to_str().unwrap().to_string();
    // Appended to an LD_PRELOAD set on the command...
    let seen = env_seen(|c| {
        c.env("LD_PRELOAD", "libc.so.6")
            .parent_death_signal_preload(Signal::HUP, &lib)
            .unwrap()
    });
    assert_eq!(seen, format!("1 {me} libc.so.6:{lib_s}"));
    // ... not twice ...
    let seen = env_seen(|c| {
        c.env("LD_PRELOAD", format!("libc.so.6 {lib_s}"))
            .parent_death_signal_preload(Signal::TERM, &lib)
            .unwrap()
    });
    assert_eq!(seen, format!("15 {me} libc.so.6 {lib_s}"));
    // ... and alone when the command removed it.
    let seen = env_seen(|c| {
        c.env_remove("LD_PRELOAD")
            .parent_death_signal_preload(Signal::TERM, &lib)
            .unwrap()
    });
    assert_eq!(seen, format!("15 {me} {lib_s}"));
    // ... and alone after env_clear(), whatever this process's LD_PRELOAD
    // (one is set here, under the serial lock: it must not leak through).
    std::env::set_var("LD_PRELOAD", "libc.so.6");
    let seen = env_seen(|c| {
        let tag = c
            .get_envs()
            .find(|(k, _)| *k == TAG_VAR)
            .and_then(|(_, v)| v)
            .unwrap()
            .to_owned();
        c.env_clear()
            .env(TAG_VAR, tag)
            .parent_death_signal_preload(Signal::TERM, &lib)
            .unwrap()
    });
    std::env::remove_var("LD_PRELOAD");
    assert_eq!(seen, format!("15 {me} {lib_s}"));
    // A relative library path is made absolute (the child may run in
    // another directory, where ld.so would not find it).
    let dir = lib.parent().unwrap();
    let here = std::env::current_dir().unwrap();
    std::env::set_current_dir(dir).unwrap();
    let relative = lib.file_name().unwrap().to_owned();
    let seen = env_seen(|c| {
        c.current_dir("/")
            .env_remove("LD_PRELOAD")
            .parent_death_signal_preload(Signal::TERM, &relative)
            .unwrap()
    });
    std::env::set_current_dir(here).unwrap();
    assert_eq!(seen, format!("15 {me} {lib_s}"));
    // Bad paths: a clear error naming the path; nothing set.
    for bad in [
        "".to_string(),
        "/tmp/a b.so".to_string(),
        format!("/tmp:{lib_s}"),
        "/nonexistent/libpdeathsig.so".to_string(),
    ] {
        let mut cmd = Command::new("true");
        let err = cmd
            .parent_death_signal_preload(Signal::TERM, &bad)
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!("{bad:?}")) && err.to_string().contains("accepted"),
            "{err}"
        );
        assert_eq!(cmd.get_envs().count(), 0, "nothing set on error");
    }
}

#[test]
fn pre_exec_arms_the_child_directly() {
    let _serial = serial();
    let probe = c_helper("probe.c", "probe", &[]);
    let tree = Tree::new();
    for (sig, want) in [(Signal::TERM, libc::SIGTERM), (Signal::USR2, libc::SIGUSR2)] {
        let mut cmd = tree.command(&probe);
        let out = clean(&mut cmd).parent_death_signal(sig).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields[1], want.to_string(), "{text}");
        assert_eq!(
            stamp_pid(fields[2].as_bytes()),
            Some(std::process::id() as Pid),
            "{text}"
        );
    }
    // Control: a plain spawn is not armed.
    let mut cmd = tree.command(&probe);
    let out = clean(&mut cmd).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.split_whitespace().nth(1), Some("0"), "{text}");
}
