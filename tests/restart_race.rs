//! The hot-reload tool's restart, with real shells: the tool (the helper
//! tests/helpers/restart.c, alive throughout and a subreaper, as tools that
//! reap are) starts `SHELL -c 'sleep 30; true'` under the library and
//! SIGKILLs it, either 0-3 ms after spawning it (the race: the shell may not
//! have armed, or its `sleep` may not have armed yet) or a second later (a
//! reload). The grandchild `sleep` must die every time: its parent, the
//! shell, is dead, even though the tool, which the spawner's stamp names,
//! lives on. The tool reaps every orphan and reports how many were still
//! alive after the wait. In every mode: tree mode too, where `sleep`
//! follows its parent as well as the anchor (the tool), and learns from
//! the dead shell's exit status that it was killed (about 1 in 500 once
//! lived on, the kernel answering ESRCH for a moment after the reap: see
//! tests/tree_exit_status.rs).
//!
//! The shell must pass its own stamp on for this: bash replaces setenv(3),
//! and the library once wrote the stamp through it, so `sleep` compared
//! against the tool and lived. Control: the same trials without the
//! library leave `sleep` alive, so the trials do exercise the race.
mod support;
use std::process::Command;
use std::time::Duration;
use support::*;

const GUARDED_TRIALS: usize = 500;
const CONTROL_TRIALS: usize = 150;
/// A guarded run stops after this many survivors: it has failed already.
const GIVE_UP_AFTER: usize = 3;
/// How long the orphans of a guarded trial have to die (they normally take
/// a millisecond), and how long a control's orphan must live to count.
const GUARDED_WAIT_MS: u64 = 5000;
const CONTROL_WAIT_MS: u64 = 300;

/// A small xorshift generator: the kill delays, seeded per test.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Rng(u64::from(nanos) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the tool exports, in turn: the README's `PDEATHSIG_PPID=$$`,
/// pdeathsig's own `PID:TICKS`, or nothing.
fn handoff(trial: usize) -> &'static str {
    ["plain", "ticks", "none"][trial % 3]
}

/// A delay of 1-3000 us, or none one time in four (a loaded machine's
/// wake-up latency would otherwise stretch every delay past the race).
fn race_delay(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => 0,
        _ => 1 + rng.below(3000),
    }
}

/// One restart: `(orphans, survivors)` as the tool reports them.
fn restart(
    shell: &str,
    mode: Option<&str>,
    trial: usize,
    delay_us: u64,
    wait_ms: u64,
) -> (u32, u32) {
    restart_program(
        &[shell, "-c", "sleep 30; true"],
        mode,
        trial,
        delay_us,
        wait_ms,
    )
}

/// One restart of `program` (under the library in `mode`, None: without).
fn restart_program(
    program: &[&str],
    mode: Option<&str>,
    trial: usize,
    delay_us: u64,
    wait_ms: u64,
) -> (u32, u32) {
    restart_under(&[], program, mode, trial, delay_us, wait_ms)
}

/// One restart of `program` by the tool, itself run as `prefix... tool`
/// (`unshare -pf --mount-proc`: the tool is a PID namespace's init).
fn restart_under(
    prefix: &[&str],
    program: &[&str],
    mode: Option<&str>,
    trial: usize,
    delay_us: u64,
    wait_ms: u64,
) -> (u32, u32) {
    let mut tree = Tree::new();
    let tool = c_helper("restart.c", "restart", &[]);
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = tree.command(first);
            c.args(rest).arg(tool);
            c
        }
        None => tree.command(tool),
    };
    clean(&mut cmd);
    cmd.args(["--handoff", handoff(trial)])
        .args(["--delay-us", &delay_us.to_string()])
        .args(["--wait-ms", &wait_ms.to_string()])
        .arg("--")
        .args(program);
    if let Some(mode) = mode {
        cmd.env("LD_PRELOAD", preload_lib())
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", mode);
    }
    let mut child = tree.spawn(piped(&mut cmd));
    // The program may print lines of its own first (spawn prints a pid).
    let mut line = String::new();
    for _ in 0..3 {
        line = read_line(&mut child, Duration::from_millis(wait_ms) + DEATH_TIMEOUT);
        if line.starts_with("orphans") {
            break;
        }
    }
    assert_eq!(
        wait_status(child.id() as Pid, DEATH_TIMEOUT),
        Some(Status::Exited(0)),
        "the tool failed: {line:?}"
    );
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        ["orphans", o, "survivors", s] => (o.parse().unwrap(), s.parse().unwrap()),
        _ => panic!("unexpected report {line:?}"),
    }
}

/// Guarded trials behind `shell` in `mode`: no grandchild may survive.
/// Returns (survivors, trials run, trials whose shell had started `sleep`).
fn guarded(shell: &str, mode: &str, trials: usize) -> (usize, usize, usize) {
    let mut rng = Rng::new();
    let (mut survivors, mut started, mut done) = (0, 0, 0);
    for trial in 0..trials {
        let (orphans, left) = restart(
            shell,
            Some(mode),
            trial,
            race_delay(&mut rng),
            GUARDED_WAIT_MS,
        );
        started += usize::from(orphans > 0);
        if left > 0 {
            survivors += 1;
            eprintln!(
                "{shell} {mode} trial {trial} ({}): sleep outlived the shell",
                handoff(trial)
            );
        }
        done += 1;
        if survivors >= GIVE_UP_AFTER {
            break;
        }
    }
    (survivors, done, started)
}

/// Control trials: the same restarts without the library; counts the
/// trials whose grandchild was still alive CONTROL_WAIT_MS later.
fn control(shell: &str, trials: usize) -> usize {
    let mut rng = Rng::new();
    (0..trials)
        .filter(|&trial| restart(shell, None, trial, race_delay(&mut rng), CONTROL_WAIT_MS).1 > 0)
        .count()
}

fn shell_here(test: &str, shell: &str) -> bool {
    let here = Command::new(shell).args(["-c", "true"]).status().is_ok();
    if !here {
        skip(test, &format!("{shell} is not installed"));
    }
    here
}

fn race_behind(test: &str, shell: &str, modes: &[&str]) {
    if !shell_here(test, shell) {
        return;
    }
    preload_lib();
    let mut failed = Vec::new();
    for &mode in modes {
        let (survivors, done, started) = guarded(shell, mode, GUARDED_TRIALS);
        eprintln!(
            "restart race behind {shell}, {mode} mode: {survivors}/{done} grandchildren survived \
             (in {started} trials the shell had started one)"
        );
        if (survivors, done) != (0, GUARDED_TRIALS) {
            failed.push(format!("{mode}: {survivors}/{done}"));
        }
    }
    let leaked = control(shell, CONTROL_TRIALS);
    eprintln!(
        "restart race behind {shell}, without the library (control): {leaked}/{CONTROL_TRIALS} \
         grandchildren survived"
    );
    assert!(
        failed.is_empty(),
        "grandchildren outlived {shell}: {failed:?}"
    );
    assert!(leaked > 0, "the control never leaked: the race was not run");
}

#[test]
fn restart_race_behind_bash() {
    race_behind(
        "restart_race_behind_bash",
        "bash",
        &["prctl", "process", "tree"],
    );
}

#[test]
fn restart_race_behind_dash() {
    race_behind(
        "restart_race_behind_dash",
        "dash",
        &["prctl", "process", "tree"],
    );
}

/// The reload: the shell is killed a second after it started, its `sleep`
/// long armed. Control: without the library `sleep` lives on.
#[test]
fn one_second_reload_kills_the_grandchild() {
    preload_lib();
    for shell in ["bash", "dash"] {
        if !shell_here("one_second_reload_kills_the_grandchild", shell) {
            continue;
        }
        for mode in ["prctl", "process", "tree"] {
            for trial in 0..3 {
                let (orphans, left) = restart(shell, Some(mode), trial, 1_000_000, GUARDED_WAIT_MS);
                assert_eq!(
                    (orphans, left),
                    (1, 0),
                    "{shell} {mode} trial {trial} ({})",
                    handoff(trial)
                );
            }
        }
        let (orphans, left) = restart(shell, None, 0, 1_000_000, CONTROL_WAIT_MS);
        assert_eq!(
            (orphans, left),
            (1, 1),
            "{shell} control: without the library sleep should outlive the shell"
        );
    }
}

/// A static middle (a Go binary such as dlv, here a static C spawner)
/// cannot load the library, so it never re-stamps: its child would compare
/// against the tool. The recipe: start it through the exec wrapper with
/// LD_PRELOAD set, so that the wrapper (prctl mode: the same pid as the
/// middle after its exec; process mode: the middle's supervisor) stamps
/// for it. Race trials with the wrapper: no grandchild survives. Control:
/// the same middle without the wrapper leaks.
#[test]
fn static_middle_under_the_exec_wrapper() {
    preload_lib();
    let wrapper = env!("CARGO_BIN_EXE_pdeathsig");
    let middle = c_helper("spawn.c", "spawn-static", &["-static"]);
    let middle = middle.to_str().unwrap();
    let wrapped = [wrapper, "--", middle, "--wait", "--", "sleep", "30"];
    let bare = [middle, "--wait", "--", "sleep", "30"];
    let mut rng = Rng::new();
    for mode in ["prctl", "process"] {
        let mut survivors = 0;
        for trial in 0..200 {
            let delay = race_delay(&mut rng);
            survivors += restart_program(&wrapped, Some(mode), trial, delay, GUARDED_WAIT_MS).1;
        }
        eprintln!(
            "static middle under the wrapper, {mode} mode: {survivors}/200 grandchildren survived"
        );
        assert_eq!(
            survivors, 0,
            "{mode}: grandchildren outlived the static middle"
        );
        for trial in 0..3 {
            let (orphans, left) =
                restart_program(&wrapped, Some(mode), trial, 1_000_000, GUARDED_WAIT_MS);
            assert_eq!(
                left, 0,
                "{mode}: killed after 1 s, {left} of {orphans} orphans lived on"
            );
        }
    }
    let leaked = (0..CONTROL_TRIALS)
        .filter(|&trial| {
            let delay = race_delay(&mut rng);
            restart_program(&bare, Some("prctl"), trial, delay, CONTROL_WAIT_MS).1 > 0
        })
        .count();
    eprintln!("static middle without the wrapper (control): {leaked}/{CONTROL_TRIALS} grandchildren survived");
    assert!(leaked > 0, "the control never leaked: the race was not run");
}

/// The same race with the tool as a fresh PID namespace's init (a
/// tini-like layout: `unshare -pf --mount-proc restart ...`): the init
/// starts in the same clock tick as the shell's stamp, and adopts the
/// orphaned `sleep`. Clock ticks cannot tell that the init is older than
/// the stamper (a reaper), pidfs inode numbers can: no grandchild may
/// survive. Control: without the library they do.
#[test]
fn restart_race_under_a_namespace_init() {
    let usable = command_succeeds("unshare", &["-pf", "--mount-proc", "true"]);
    if !usable || !pidfs() {
        skip(
            "restart_race_under_a_namespace_init",
            "needs unshare -pf --mount-proc (root) and pidfs (Linux 6.9+)",
        );
        return;
    }
    preload_lib();
    let mut rng = Rng::new();
    let trials = 150;
    let init = ["unshare", "-pf", "--mount-proc"];
    let shell = ["bash", "-c", "sleep 30; true"];
    let mut run = |mode: Option<&str>, wait_ms: u64| {
        (0..trials)
            .filter(|&trial| {
                let delay = race_delay(&mut rng);
                restart_under(&init, &shell, mode, trial, delay, wait_ms).1 > 0
            })
            .count()
    };
    for mode in ["prctl", "process", "tree"] {
        let survived = run(Some(mode), GUARDED_WAIT_MS);
        eprintln!("restart race under a namespace init, {mode} mode: {survived}/{trials} survived");
        assert_eq!(
            survived, 0,
            "{mode}: grandchildren adopted by the init survived"
        );
    }
    let leaked = run(None, CONTROL_WAIT_MS);
    eprintln!(
        "restart race under a namespace init, without the library (control): {leaked}/{trials}"
    );
    assert!(leaked > 0, "the control never leaked: the race was not run");
}
