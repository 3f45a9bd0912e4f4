//! The restart race behind a shell: a live tool (tests/helpers/restart.c, a
//! subreaper) starts `bash -c 'sleep 30; true'` and SIGKILLs it 0-3 ms
//! later; a survivor is a grandchild `sleep` still alive afterwards. The
//! tool lives throughout, so only the shell's own stamp can tell `sleep`
//! that its parent died.

use std::fmt::Write as _;
use std::process::Command;

use crate::ctx::{gcc, Ctx};
use crate::stats::Rng;

/// How long a grandchild gets to die: a library mode's `sleep` dies within
/// milliseconds; one alive this long later lives on.
const WAIT_MS: u64 = 500;
/// The shell is SIGKILLed this long (at most) after it was spawned.
const MAX_DELAY_US: u64 = 3000;

/// `(orphans, survivors)` of one restart behind `bash` in `mode` (None: no
/// library).
fn trial(
    ctx: &Ctx,
    tool: &std::path::Path,
    mode: Option<&str>,
    delay_us: u64,
    handoff: &str,
) -> (u32, u32) {
    let mut cmd = Command::new(tool);
    cmd.env_clear();
    for kv in &ctx.base_env {
        let kv = kv.to_str().unwrap_or_default();
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.args(["--handoff", handoff])
        .args(["--delay-us", &delay_us.to_string()])
        .args(["--wait-ms", &WAIT_MS.to_string()])
        .args(["--", "bash", "-c", "sleep 30; true"]);
    if let Some(mode) = mode {
        cmd.env("LD_PRELOAD", &ctx.lib)
            .env("PDEATHSIG", "TERM")
            .env("PDEATHSIG_MODE", mode);
    }
    let out = cmd.output().expect("run the restart helper");
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    match words[..] {
        ["orphans", o, "survivors", s] => (o.parse().unwrap_or(0), s.parse().unwrap_or(0)),
        _ => panic!("restart helper: unexpected report {text:?}"),
    }
}

/// Runs the race per mode; returns the survivors in prctl and process
/// mode (which must be 0).
pub fn restart(ctx: &Ctx, report: &mut String) -> usize {
    let root = ctx
        .out
        .parent()
        .and_then(|b| b.parent())
        .expect("bench/results");
    let tool = gcc(
        &root.join("tests/helpers/restart.c"),
        &ctx.lib.with_file_name("bench-restart"),
        &[],
    );
    let trials = ctx.n(500, 60);
    let modes: [(&str, Option<&str>); 4] = [
        ("no library", None),
        ("prctl", Some("prctl")),
        ("process", Some("process")),
        ("tree", Some("tree")),
    ];
    let mut counts = [(0usize, 0usize); 4];
    let mut rng = Rng(0x0005_ee0d_ba5e);
    eprintln!(
        "restart: {trials} trials x {} modes behind bash",
        modes.len()
    );
    for t in 0..trials {
        let delay = if rng.below(4) == 0 {
            0
        } else {
            1 + rng.below(MAX_DELAY_US)
        };
        let handoff = ["plain", "ticks", "none"][t % 3];
        for k in 0..modes.len() {
            let m = (t + k) % modes.len();
            let (orphans, survivors) = trial(ctx, &tool, modes[m].1, delay, handoff);
            counts[m].0 += usize::from(orphans > 0);
            counts[m].1 += usize::from(survivors > 0);
        }
    }
    writeln!(
        report,
        "\n## Restart race behind bash: a live tool SIGKILLs `bash -c 'sleep 30; true'` 0-{} ms \
         after spawning it\n\n\
         {trials} trials per mode, modes interleaved, the same delay (fixed seed) for each; the \
         tool exports `PDEATHSIG_PPID` as a plain pid, as `PID:TICKS` or not at all, in turn. \
         Started: the shell had forked `sleep`. Survivor: `sleep` alive {WAIT_MS} ms after the \
         shell died, though its parent is dead (the tool, which the spawner's stamp names, \
         lives).\n\n\
         | guard | trials | `sleep` started | survivors |\n|---|---:|---:|---:|",
        MAX_DELAY_US / 1000
    )
    .unwrap();
    let mut must_be_zero = 0;
    for ((name, mode), (started, survivors)) in modes.iter().zip(counts) {
        writeln!(report, "| {name} | {trials} | {started} | {survivors} |").unwrap();
        if matches!(mode, Some("prctl") | Some("process")) {
            must_be_zero += survivors;
        }
    }
    must_be_zero
}
