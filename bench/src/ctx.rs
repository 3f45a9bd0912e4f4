//! What every benchmark shares: the paths of the library, the C shim and the
//! helpers (built here with gcc when missing or stale), the environment the
//! children start from, the sample sizes (`--quick`) and the machine line of
//! the summary.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::proc::TAG_VAR;

/// Paths and settings shared by every benchmark.
pub struct Ctx {
    pub lib: PathBuf,
    pub shim: PathBuf,
    pub shim_nocheck: PathBuf,
    pub parent: PathBuf,
    pub ready: PathBuf,
    pub chain: PathBuf,
    pub out: PathBuf,
    /// Our environment less LD_PRELOAD and PDEATHSIG*, plus the tag.
    pub base_env: Vec<CString>,
    pub quick: bool,
    /// Does the library accept `PDEATHSIG_MODE=process`?
    pub process_mode: bool,
    /// Does the library accept `PDEATHSIG_MODE=tree`?
    pub tree_mode: bool,
}

impl Ctx {
    pub fn new(quick: bool) -> Ctx {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let lib = target.join("release/libpdeathsig.so");
        if !lib.exists() {
            eprintln!(
                "pdeathsig-bench: {} missing: run `cargo build --release -p pdeathsig-capi` \
                 (bench/run.sh does)",
                lib.display()
            );
            std::process::exit(1);
        }
        let bin = target.join("bench");
        std::fs::create_dir_all(&bin).unwrap();
        let out = root.join("bench/results");
        std::fs::create_dir_all(&out).unwrap();
        let shim_src = root.join("bench/c-shim/shim.c");
        let helpers = root.join("bench/helpers");
        let shim = gcc(&shim_src, &bin.join("shim.so"), &["-shared", "-fPIC"]);
        let shim_nocheck = gcc(
            &shim_src,
            &bin.join("shim-nocheck.so"),
            &["-shared", "-fPIC", "-DNO_CHECK"],
        );
        let parent = gcc(&helpers.join("parent.c"), &bin.join("parent"), &[]);
        let ready = gcc(&helpers.join("ready.c"), &bin.join("ready"), &[]);
        let chain = gcc(&helpers.join("chain.c"), &bin.join("chain"), &[]);
        let tag = format!("{TAG_VAR}={}", std::process::id());
        let mut base_env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| {
                let k = k.as_bytes();
                k != b"LD_PRELOAD" && !k.starts_with(b"PDEATHSIG")
            })
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).unwrap()
            })
            .collect();
        base_env.push(CString::new(tag).unwrap());
        let process_mode = mode_accepted(&lib, &base_env, "process");
        let tree_mode = mode_accepted(&lib, &base_env, "tree");
        if !tree_mode {
            eprintln!(
                "pdeathsig-bench: tree mode not available in this build \
                 (PDEATHSIG_MODE=tree refused): its rows are skipped"
            );
        }
        Ctx {
            lib,
            shim,
            shim_nocheck,
            parent,
            ready,
            chain,
            out,
            base_env,
            quick,
            process_mode,
            tree_mode,
        }
    }

    pub fn n(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    pub fn env_with(&self, extra: &[String]) -> Vec<CString> {
        let mut env = self.base_env.clone();
        env.extend(extra.iter().map(|kv| CString::new(kv.as_str()).unwrap()));
        env
    }

    pub fn machine(&self) -> String {
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = run_text("uname", &["-r"]);
        let date = run_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split(' ').take(3).collect();
        format!(
            "Machine: {model}, {cores} cores, Linux {kernel}; run {date}; \
             load average at start {}{}.\n",
            load.join(" "),
            if self.quick {
                "; QUICK run (small samples)"
            } else {
                ""
            }
        )
    }
}

/// Does the library accept `PDEATHSIG_MODE=<mode>`? Runs `/bin/true` with
/// it preloaded and that mode set: a library that does not know the mode
/// says "invalid PDEATHSIG_MODE" on stderr (and does not arm).
fn mode_accepted(lib: &Path, base_env: &[CString], mode: &str) -> bool {
    let mut cmd = Command::new("/bin/true");
    cmd.env_clear();
    for kv in base_env {
        let kv = kv.as_bytes();
        if let Some(eq) = kv.iter().position(|&b| b == b'=') {
            cmd.env(
                OsStr::from_bytes(&kv[..eq]),
                OsStr::from_bytes(&kv[eq + 1..]),
            );
        }
    }
    let out = cmd
        .env("LD_PRELOAD", lib)
        .env("PDEATHSIG", "TERM")
        .env("PDEATHSIG_MODE", mode)
        .env("PDEATHSIG_PPID", std::process::id().to_string())
        .output()
        .expect("run /bin/true");
    out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("invalid PDEATHSIG_MODE")
}

pub fn run_text(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Compiles a helper with gcc when the output is missing or older.
pub fn gcc(src: &Path, out: &Path, args: &[&str]) -> PathBuf {
    let fresh = match (std::fs::metadata(src), std::fs::metadata(out)) {
        (Ok(s), Ok(o)) => o.modified().unwrap() >= s.modified().unwrap(),
        _ => false,
    };
    if !fresh {
        let status = Command::new("gcc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror"])
            .args(args)
            .arg("-o")
            .arg(out)
            .arg(src)
            .status()
            .expect("run gcc (apt-get install gcc)");
        assert!(status.success(), "gcc {} failed", src.display());
    }
    out.to_path_buf()
}

pub fn csv_name(ctx: &Ctx, what: &str) -> String {
    if ctx.quick {
        format!("{what}-quick.csv")
    } else {
        format!("{what}.csv")
    }
}
