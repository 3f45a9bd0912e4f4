//! The C ABI through include/pdeathsig.h: a C file (tests/helpers/c_child.c)
//! compiled as strict C99 and as C++, linked against libpdeathsig.so and
//! libpdeathsig.a, checked in-process and as a real child whose parent is
//! SIGKILLed.
// Children are reaped by pid (waitid in support::wait_status, or the Tree's
// cleanup on drop), which this lint cannot see.
#![allow(clippy::zombie_processes)]
mod support;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use support::*;

#[derive(Clone, Copy, Debug)]
enum Variant {
    /// gcc -std=c99 -Wall -Wextra -Werror -pedantic, -lpdeathsig (shared).
    C99Shared,
    /// gcc -std=c99 -Wall -Wextra -Werror -pedantic, libpdeathsig.a.
    C99Static,
    /// g++ -Wall -Werror, -lpdeathsig (shared).
    CxxShared,
    /// g++ -Wall -Werror, libpdeathsig.a.
    CxxStatic,
}

const ALL: [Variant; 4] = [
    Variant::C99Shared,
    Variant::C99Static,
    Variant::CxxShared,
    Variant::CxxStatic,
];

/// Compiles c_child.c for `variant` once per test process (always afresh:
/// the binary embeds or points at the library just built).
fn c_child(variant: Variant) -> PathBuf {
    static BUILT: [OnceLock<PathBuf>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    BUILT[variant as usize]
        .get_or_init(|| compile(variant))
        .clone()
}

fn compile(variant: Variant) -> PathBuf {
    let root = workspace_root();
    let src = root.join("tests/helpers/c_child.c");
    let include = root.join("include");
    let so = preload_lib();
    let lib_dir = so.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("c_child-{variant:?}-{}", std::process::id()));
    let (compiler, flags): (&str, &[&str]) = match variant {
        Variant::C99Shared | Variant::C99Static => (
            "gcc",
            &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"],
        ),
        Variant::CxxShared | Variant::CxxStatic => ("g++", &["-Wall", "-Werror", "-x", "c++"]),
    };
    let mut cmd = std::process::Command::new(compiler);
    cmd.args(flags)
        .arg("-I")
        .arg(&include)
        .arg(&src)
        // Back to "guess from the extension" for the library and -l.
        .args(["-x", "none", "-o"])
        .arg(&out);
    match variant {
        Variant::C99Shared | Variant::CxxShared => {
            cmd.arg("-L")
                .arg(&lib_dir)
                .arg("-lpdeathsig")
                .arg(format!("-Wl,-rpath,{}", lib_dir.display()));
        }
        Variant::C99Static | Variant::CxxStatic => {
            cmd.arg(static_lib());
        }
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {compiler} (apt-get install gcc g++): {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

#[test]
fn header_compiles_and_api_works_in_every_variant() {
    let mut tree = Tree::new();
    for variant in ALL {
        let mut cmd = tree.command(c_child(variant));
        cmd.args(["selftest", env!("CARGO_PKG_VERSION")])
            .env_remove("PDEATHSIG")
            .env_remove("PDEATHSIG_PPID")
            .env_remove("LD_PRELOAD")
            .stderr(std::process::Stdio::piped());
        let mut child = tree.spawn(piped(&mut cmd));
        let pid = child.id() as Pid;
        let status = wait_status(pid, DEATH_TIMEOUT);
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(
            (status, out.as_str(), err.as_str()),
            (Some(Status::Exited(0)), "ok\n", ""),
            "{variant:?} selftest"
        );
    }
}

/// `spawn` starts the C child (`c_child ARGS`), which reports that it is
/// armed (or not); then `spawn` is SIGKILLed. Returns the child's fate
/// within `timeout` (`None`: still alive) and its report.
fn parent_killed(
    tree: &mut Tree,
    spawn_args: &[&str],
    variant: Variant,
    child_args: &[&str],
    timeout: Duration,
) -> (Pid, Option<Status>, String) {
    let spawn = c_helper("spawn.c", "spawn", &[]);
    let mut cmd = tree.command(&spawn);
    cmd.args(spawn_args)
        .arg("--")
        .arg(c_child(variant))
        .args(child_args)
        .env_remove("PDEATHSIG")
        .env_remove("LD_PRELOAD");
    let mut parent = tree.spawn(piped(&mut cmd));
    let (pids, reports) = split_pids(&read_lines(&mut parent, 2, DEATH_TIMEOUT));
    assert_eq!((pids.len(), reports.len()), (1, 1), "{pids:?} {reports:?}");
    let child = pids[0];
    tree.track(child);
    assert!(alive(child), "{variant:?} child died before its parent");
    assert_eq!(
        kill_reap(parent.id() as Pid),
        Some(Status::Signaled(libc::SIGKILL))
    );
    let status = wait_status(child, timeout);
    (child, status, reports[0].clone())
}

#[test]
fn c_child_dies_with_parent_and_control_survives() {
    let mut tree = Tree::new();
    for variant in [Variant::C99Shared, Variant::C99Static, Variant::CxxShared] {
        for sig in [libc::SIGTERM, libc::SIGKILL, libc::SIGUSR1] {
            let (_, status, report) = parent_killed(
                &mut tree,
                &["--handoff"],
                variant,
                &["arm", &sig.to_string()],
                DEATH_TIMEOUT,
            );
            assert_eq!(report, format!("armed {sig}"), "{variant:?}");
            assert_eq!(
                status,
                Some(Status::Signaled(sig)),
                "{variant:?} signal {sig}"
            );
        }
        // Control: the same child, not armed, outlives its parent.
        let (child, status, report) = parent_killed(
            &mut tree,
            &["--handoff"],
            variant,
            &["none"],
            Duration::from_millis(300),
        );
        assert_eq!(report, "unarmed");
        assert_eq!(status, None, "{variant:?}: the unarmed control died");
        assert!(alive(child));
        assert_eq!(parent_of(child), Some(std::process::id() as Pid));
        assert_eq!(kill_reap(child), Some(Status::Signaled(libc::SIGKILL)));
    }
}

#[test]
fn c_explicit_parent_pid() {
    let mut tree = Tree::new();
    // The right pid, exported by the parent under a name of our own: armed,
    // and the child dies with its parent.
    let (_, status, report) = parent_killed(
        &mut tree,
        &["--export-pid", "MY_PARENT"],
        Variant::C99Shared,
        &["expect", "15", "MY_PARENT"],
        DEATH_TIMEOUT,
    );
    assert_eq!(report, "armed 15");
    assert_eq!(status, Some(Status::Signaled(libc::SIGTERM)));

    // A wrong (dead) pid: the parent we expected is gone, so the child gets
    // the signal at once, though its real parent (this test) is alive.
    let dead = dead_pid(&mut tree);
    for variant in [Variant::C99Shared, Variant::C99Static] {
        let mut cmd = tree.command(c_child(variant));
        cmd.args(["expect", "15", "MY_PARENT"])
            .env("MY_PARENT", dead.to_string())
            .env_remove("PDEATHSIG")
            .env_remove("LD_PRELOAD");
        let child = tree.spawn(piped(&mut cmd));
        assert_eq!(
            wait_status(child.id() as Pid, DEATH_TIMEOUT),
            Some(Status::Signaled(libc::SIGTERM)),
            "{variant:?} expecting dead pid {dead}"
        );
    }
}
