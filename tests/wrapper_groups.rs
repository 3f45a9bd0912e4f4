//! The exec wrapper as a supervisor (process and tree mode) and process
//! groups: a signal sent to the job's whole group reaches PROGRAM once, as
//! without the wrapper, and job control (^Z, `fg`, `bg`, a background read,
//! `kill %1`) in an interactive bash under tmux reads as it does for the
//! bare program. The wrapper steps out of the job's group before PROGRAM
//! starts in it, and stops with PROGRAM.
mod support;
use support::*;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pdeathsig"))
}

/// PROGRAM: takes SIGTERM and SIGRTMIN+1 with sigwaitinfo(2), one line per
/// signal received: `SIGNO SENDER_PID`. A real-time signal is queued once
/// per kill(2), so the count is exact; two SIGTERMs may merge.
const COUNTER: &str = "import signal, sys\n\
    wanted = {signal.SIGTERM, signal.SIGRTMIN + 1}\n\
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)\n\
    print('ready', flush=True)\n\
    while True:\n\
    \x20   info = signal.sigwaitinfo(wanted)\n\
    \x20   print(info.si_signo, info.si_pid, flush=True)\n";

/// Every line the child writes within `window`.
fn lines_within(child: &mut Child, window: Duration) -> Vec<String> {
    let stdout = child.stdout.as_mut().expect("stdout must be piped");
    let deadline = Instant::now() + window;
    let mut text = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: stdout.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 256];
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Senders of the lines for signal `signo`.
fn senders(lines: &[String], signo: i32) -> Vec<Pid> {
    lines
        .iter()
        .filter_map(|l| {
            let (sig, pid) = l.split_once(' ')?;
            (sig.parse::<i32>().ok()? == signo).then(|| pid.parse().ok())?
        })
        .collect()
}

fn killpg(group: Pid, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no
    // memory is involved. The group is one this test started.
    assert_eq!(unsafe { libc::kill(-group, sig) }, 0, "kill(-{group})");
}

/// How the wrapper is started: leading a process group of its own (a job,
/// Popen(process_group=0)), or leading a new session (setsid,
/// start_new_session=True), where it cannot step out of the group.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Launch {
    Group,
    Session,
}

#[test]
fn a_signal_to_the_job_group_reaches_program_once() {
    let rt = libc::SIGRTMIN() + 1;
    let me = std::process::id() as Pid;
    let cases = [
        ("process", Launch::Group),
        ("tree", Launch::Group),
        // Control: prctl mode execs PROGRAM, so this is PROGRAM without a
        // supervisor.
        ("prctl", Launch::Group),
        // Control: a session leader cannot leave its group; the wrapper
        // then passes the group's signal on again.
        ("process", Launch::Session),
    ];
    for (mode, launch) in cases {
        let what = format!("{mode}, {launch:?}");
        let mut tree = Tree::new();
        let mut cmd = tree.command(wrapper());
        clean(&mut cmd)
            .args([
                "--mode", mode, "--signal", "RTMIN+1", "--", "python3", "-c", COUNTER,
            ])
            .stdin(Stdio::null());
        match launch {
            Launch::Group => {
                cmd.process_group(0);
            }
            Launch::Session => {
                // SAFETY: setsid(2) is async-signal-safe; it runs in the
                // fork child before exec.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::setsid();
                        Ok(())
                    })
                };
            }
        }
        let mut child = tree.spawn(piped(&mut cmd));
        let wrapper_pid = child.id() as Pid;
        let job = wrapper_pid;
        assert_eq!(
            read_line(&mut child, Duration::from_secs(20)),
            "ready",
            "{what}"
        );
        let program = if mode == "prctl" {
            wrapper_pid
        } else {
            find_descendant(wrapper_pid, "python3")
        };
        // PROGRAM is in the job's group (its children too, then).
        // SAFETY: getpgid(2) takes a pid; no memory is involved.
        let program_group = unsafe { libc::getpgid(program) };

        // A real-time signal to the group: queued once per sender.
        killpg(job, rt);
        let group_rt = senders(&lines_within(&mut child, Duration::from_millis(400)), rt);
        // The same to the wrapper's pid alone: forwarded once.
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(wrapper_pid, rt) };
        let direct_rt = senders(&lines_within(&mut child, Duration::from_millis(400)), rt);
        // SIGTERM to the group, three times: never from the wrapper.
        let mut group_term = Vec::new();
        for _ in 0..3 {
            killpg(job, libc::SIGTERM);
            group_term.extend(senders(
                &lines_within(&mut child, Duration::from_millis(300)),
                libc::SIGTERM,
            ));
        }
        tree.cleanup();
        eprintln!(
            "{what}: PROGRAM's group {program_group} (job {job}); group RT from {group_rt:?}, \
             direct RT from {direct_rt:?}, group TERM from {group_term:?} (test {me}, wrapper {wrapper_pid})"
        );
        assert_eq!(
            program_group, job,
            "{what}: PROGRAM is not in the job's group"
        );
        let forwarder = if mode == "prctl" { me } else { wrapper_pid };
        assert_eq!(
            direct_rt,
            [forwarder],
            "{what}: a signal to the wrapper's pid"
        );
        if launch == Launch::Session {
            let mut got = group_rt.clone();
            got.sort_unstable();
            let mut want = vec![me, wrapper_pid];
            want.sort_unstable();
            assert_eq!(got, want, "{what}: the control should get it twice");
            continue;
        }
        assert_eq!(group_rt, [me], "{what}: a signal to the job's group");
        assert!(
            !group_term.is_empty() && group_term.iter().all(|&p| p == me),
            "{what}: SIGTERM to the job's group came from {group_term:?}"
        );
    }
}

/// An interactive bash in a tmux server of its own, at its prompt.
fn bash_in_tmux(tree: &mut Tree, name: &str) -> Tmux {
    let path = std::env::var("PATH").unwrap_or_default();
    let home = std::env::temp_dir();
    let shell = format!(
        "env -i PATH='{path}' HOME='{}' TERM=xterm PS1='$ ' bash --norc --noprofile -i",
        home.display()
    );
    let tmux = Tmux::start(tree, &format!("jobs-{name}"), &shell, |_| {});
    tmux.wait_for("$", 1);
    tmux
}

/// ^Z, `jobs`, `fg`, a background job that reads the terminal, `bg`,
/// `kill %1` and ^C, typed into bash, for `cat` under the wrapper in
/// process and tree mode and for the bare `cat` (the control: what bash
/// says of its own job). The wrapper, out of the job's group, must stop
/// with PROGRAM, or bash would wait for it with the terminal taken.
#[test]
fn job_control_in_bash_reads_as_for_the_bare_program() {
    if tmux_missing("job_control_in_bash_reads_as_for_the_bare_program") {
        return;
    }
    let w = wrapper().display().to_string();
    for (name, prefix) in [
        ("bare", String::new()),
        ("process", format!("{w} --mode process -- ")),
        ("tree", format!("{w} --mode tree -- ")),
    ] {
        let mut tree = Tree::new();
        let tmux = bash_in_tmux(&mut tree, name);
        // Foreground: ^Z stops the job and gives the prompt back.
        tmux.keys(&[&format!("{prefix}cat"), "Enter"]);
        let shell = tmux.pane_pids()[0];
        let cat = find_descendant(shell, "cat");
        tree.track(cat);
        tmux.keys(&["C-z"]);
        tmux.wait_for("Stopped", 1);
        tmux.keys(&["jobs -l", "Enter"]);
        tmux.wait_for("Stopped", 2);
        // fg: the terminal and the job again; cat echoes a line.
        tmux.keys(&["fg", "Enter"]);
        tmux.keys(&["hello", "Enter"]);
        tmux.wait_for("hello", 2);
        // ^C ends it; bash reports 130 (128 + SIGINT).
        tmux.keys(&["C-c"]);
        tmux.keys(&["echo \"rc=$?\"", "Enter"]);
        tmux.wait_for("rc=130", 1);
        // Background: reading the terminal stops it (SIGTTIN).
        tmux.keys(&[&format!("{prefix}cat &"), "Enter"]);
        tmux.keys(&["sleep 0.5; jobs -l", "Enter"]);
        tmux.wait_for("Stopped (tty input)", 1);
        // bg lets it run into the same stop; kill %1 (SIGTERM, then
        // SIGCONT to a job bash knows stopped) ends it.
        tmux.keys(&["bg; sleep 0.5; jobs; echo bg-done", "Enter"]);
        tmux.wait_for("bg-done", 2);
        tmux.keys(&["kill %1; sleep 0.5; jobs", "Enter"]);
        tmux.wait_for("Terminated", 1);
        // A stopped job whose program is continued alone (kill -CONT PID)
        // runs again for bash too.
        tmux.keys(&["clear", "Enter"]);
        tmux.keys(&[&format!("{prefix}sleep 600"), "Enter"]);
        let sleep = find_descendant(shell, "sleep 600");
        tree.track(sleep);
        tmux.keys(&["C-z"]);
        tmux.wait_for("Stopped", 1);
        tmux.keys(&[
            &format!("kill -CONT {sleep}; sleep 0.5; jobs; echo cont-done"),
            "Enter",
        ]);
        let screen = tmux.wait_for("cont-done", 2);
        let after = screen.rsplit("cont-done").nth(1).unwrap_or_default();
        assert!(
            after.contains("Running"),
            "{name}: not running again:\n{screen}"
        );
        tmux.keys(&["kill %1; sleep 0.5; jobs", "Enter"]);
        tmux.wait_for("Terminated", 1);
        tree.cleanup();
    }
}
