//! The guards compared (`Mode`: no guard, the C shim's plain prctl, the
//! library's modes) and `start_parent`, which starts the helper parent that
//! spawns the guarded child and later dies.

use std::ffi::CString;

use crate::ctx::Ctx;
use crate::proc::{close, cstr, pipe, spawn, Lines, Pid};

/// One way of guarding the child.
pub struct Mode {
    pub name: &'static str,
    /// Variables set in the child only (LD_PRELOAD, PDEATHSIG...).
    pub child_env: Vec<String>,
    pub handoff: bool,
    /// The child leads a process group of its own (`parent --pgroup`): the
    /// teardown's reference, killed as a group.
    pub pgroup: bool,
}

pub fn modes(ctx: &Ctx, with_none: bool) -> Vec<Mode> {
    let lib = ctx.lib.display().to_string();
    let mut modes = Vec::new();
    if with_none {
        modes.push(Mode {
            name: "no guard",
            child_env: vec![],
            handoff: false,
            pgroup: false,
        });
    }
    modes.push(Mode {
        name: "plain prctl at load (C shim -DNO_CHECK)",
        child_env: vec![
            format!("LD_PRELOAD={}", ctx.shim_nocheck.display()),
            "PDEATHSIG=TERM".into(),
        ],
        handoff: false,
        pgroup: false,
    });
    modes.push(Mode {
        name: "libpdeathsig, prctl + handoff (default mode)",
        child_env: vec![format!("LD_PRELOAD={lib}"), "PDEATHSIG=TERM".into()],
        handoff: true,
        pgroup: false,
    });
    if ctx.process_mode {
        modes.push(Mode {
            name: "libpdeathsig, PDEATHSIG_MODE=process",
            child_env: vec![
                format!("LD_PRELOAD={lib}"),
                "PDEATHSIG=TERM".into(),
                "PDEATHSIG_MODE=process".into(),
            ],
            handoff: true,
            pgroup: false,
        });
    }
    if ctx.tree_mode {
        // Every process of the tree watches the anchor (the process named
        // in PDEATHSIG_PPID when the tree starts: here the helper parent).
        modes.push(Mode {
            name: "libpdeathsig, PDEATHSIG_MODE=tree",
            child_env: vec![
                format!("LD_PRELOAD={lib}"),
                "PDEATHSIG=TERM".into(),
                "PDEATHSIG_MODE=tree".into(),
            ],
            handoff: true,
            pgroup: false,
        });
    }
    modes
}

/// What the summary says about modes the library built here refuses.
pub fn pending_note(ctx: &Ctx) -> String {
    let mut note = String::new();
    if !ctx.process_mode {
        note.push_str(
            "\nProcess mode (`PDEATHSIG_MODE=process`): pending, the library built here does \
             not have it yet.\n",
        );
    }
    if !ctx.tree_mode {
        note.push_str(TREE_MISSING);
    }
    note
}

/// The note for a library that answers `PDEATHSIG_MODE=tree` with "invalid
/// PDEATHSIG_MODE".
pub const TREE_MISSING: &str = "\nTree mode (`PDEATHSIG_MODE=tree`): not available in this \
     build (the library answered \"invalid PDEATHSIG_MODE\"); its rows are skipped.\n";

/// Starts `parent` (which spawns `program`), returns (parent pid, its stdout).
pub fn start_parent(
    ctx: &Ctx,
    mode: &Mode,
    delay_us: Option<u64>,
    program: &[CString],
) -> (Pid, Lines) {
    let mut argv = vec![cstr(&ctx.parent)];
    if mode.handoff {
        argv.push(cstr("--handoff"));
    }
    if mode.pgroup {
        argv.push(cstr("--pgroup"));
    }
    match delay_us {
        Some(d) => {
            argv.push(cstr("--delay-us"));
            argv.push(cstr(d.to_string()));
        }
        None => argv.push(cstr("--pause")),
    }
    for kv in &mode.child_env {
        argv.push(cstr("--set"));
        argv.push(cstr(kv));
    }
    argv.push(cstr("--"));
    argv.extend(program.iter().cloned());
    let (r, w) = pipe();
    let pid = spawn(&argv, &ctx.base_env, Some(w));
    close(w);
    (pid, Lines::new(r))
}
