//! Property tests of the environment parser (issue 5 point 3), with a
//! hand-rolled generator (xorshift, fixed seed: every run checks the same
//! inputs; no new dependency). For hundreds of thousands of generated
//! values of PDEATHSIG, PDEATHSIG_PPID, PDEATHSIG_MODE and PDEATHSIG_GRACE:
//!
//! - nothing panics (`EnvConfig::from_lookup`, `Signal::parse`, `FromStr`);
//! - what is accepted agrees with an independent oracle written here from
//!   the documented rules;
//! - every invalid input gets its message: one line, printable ASCII,
//!   naming the variable and the (escaped) value and what is accepted;
//! - through the real load-time constructor (LD_PRELOAD, real processes),
//!   a sample of invalid values each gives exactly one `pdeathsig:` line on
//!   stderr naming the value, and the host still exits 0.
mod support;
use support::*;

use pdeathsig::{EnvConfig, Error, Mode, Signal};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const VARS: [&str; 4] = [
    "PDEATHSIG",
    "PDEATHSIG_PPID",
    "PDEATHSIG_MODE",
    "PDEATHSIG_GRACE",
];

/// Inputs: mutations of valid values, edge numbers, random bytes.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn value(&mut self, var: usize) -> Vec<u8> {
        const SIGNALS: &[&str] = &[
            "TERM",
            "SIGTERM",
            "term",
            "15",
            "9",
            "KILL",
            "sigkill",
            "HUP",
            "CLD",
            "RTMIN",
            "RTMIN+3",
            "SIGRTMAX-2",
            "rtmax",
            "64",
            "1",
            "31",
            "32",
            "34",
            "IOT",
            "POLL",
        ];
        const PIDS: &[&str] = &["1", "42", "0001234", "4194304", "2147483647", "99999"];
        const MODES: &[&str] = &["prctl", "process", "PROCESS", "Prctl"];
        const GRACES: &[&str] = &["500ms", "5s", "5", "1MS", "3600", "3600000ms", "1s"];
        const EDGES: &[&str] = &[
            "",
            "0",
            "-1",
            "+1",
            "65",
            "-9",
            "2147483648",
            "4294967311",
            "18446744073709551615",
            "18446744073709551616ms",
            "99999999999999999999999",
            "0ms",
            "3601",
            "RTMIN+99",
            "RTMAX-99",
            "RTMIN-1",
            "SIG",
            "SIGSIG",
            " ",
            "\t",
        ];
        let base: &str = match self.below(4) {
            0 => self.pick(EDGES),
            _ => self.pick([SIGNALS, PIDS, MODES, GRACES][var]),
        };
        let mut v = base.as_bytes().to_vec();
        match self.below(6) {
            0 => return v,
            1 => {
                // Random bytes, any value but NUL (environment strings).
                let len = self.below(48);
                return (0..len).map(|_| (self.next() % 255 + 1) as u8).collect();
            }
            _ => {}
        }
        for _ in 0..1 + self.below(3) {
            let at = if v.is_empty() {
                0
            } else {
                self.below(v.len() + 1)
            };
            let byte = match self.below(4) {
                0 => b"0123456789"[self.below(10)],
                1 => b"+- SIGsigRTMINAXms.x\n\"\\"[self.below(23)],
                2 => (self.next() % 255 + 1) as u8,
                _ => b'A' + self.below(26) as u8,
            };
            match self.below(5) {
                0 if at < v.len() => {
                    v.remove(at);
                }
                1 if at < v.len() => v[at] = byte,
                2 if at < v.len() => v[at] ^= 0x20,
                3 => v.extend_from_slice(&v.clone()),
                _ => v.insert(at, byte),
            }
        }
        v
    }
}

// The oracle: the documented rules, written independently of src/.

fn digits(v: &[u8]) -> Option<u128> {
    if v.is_empty() || v.len() > 30 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn oracle_signal(v: &[u8]) -> Option<i32> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Some(n) = digits(v) {
        return (1..=max as u128).contains(&n).then_some(n as i32);
    }
    let up = v.to_ascii_uppercase();
    let name = up.strip_prefix(b"SIG").unwrap_or(&up);
    let named: &[(&str, i32)] = &[
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("POLL", 29),
        ("PWR", 30),
        ("SYS", 31),
    ];
    if let Some(&(_, n)) = named.iter().find(|(s, _)| s.as_bytes() == name) {
        return Some(n);
    }
    let n = if name == b"RTMIN" {
        min as i128
    } else if name == b"RTMAX" {
        max as i128
    } else if let Some(d) = name.strip_prefix(b"RTMIN+") {
        min as i128 + digits(d)? as i128
    } else if let Some(d) = name.strip_prefix(b"RTMAX-") {
        max as i128 - digits(d)? as i128
    } else {
        return None;
    };
    (min as i128..=max as i128).contains(&n).then_some(n as i32)
}

fn oracle_pid(v: &[u8]) -> Option<i32> {
    digits(v)
        .filter(|&n| (1..=i32::MAX as u128).contains(&n))
        .map(|n| n as i32)
}

fn oracle_mode(v: &[u8]) -> Option<Mode> {
    if v.eq_ignore_ascii_case(b"prctl") {
        Some(Mode::Prctl)
    } else if v.eq_ignore_ascii_case(b"process") {
        Some(Mode::Process)
    } else {
        None
    }
}

fn oracle_grace(v: &[u8]) -> Option<Duration> {
    let lower = v.to_ascii_lowercase();
    let (num, unit) = if let Some(n) = lower.strip_suffix(b"ms") {
        (n, 1)
    } else if let Some(n) = lower.strip_suffix(b"s") {
        (n, 1000)
    } else {
        (&lower[..], 1000)
    };
    let ms = digits(num)?.checked_mul(unit)?;
    (1..=3_600_000)
        .contains(&ms)
        .then(|| Duration::from_millis(ms as u64))
}

fn check_message(msg: &str, context: &str) {
    assert!(!msg.is_empty(), "{context}: empty message");
    assert!(
        msg.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "{context}: message is not one line of printable ASCII: {msg:?}"
    );
}

#[test]
fn env_config_never_panics_and_agrees_with_the_oracle() {
    let mut gen = Gen(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut rejected) = (0usize, 0usize);
    for i in 0..200_000 {
        let mut values: [Option<Vec<u8>>; 4] = Default::default();
        for (k, slot) in values.iter_mut().enumerate() {
            // Each variable set half the time; mode often "process" so that
            // graces get judged on their own merits.
            if gen.below(2) == 0 {
                *slot = Some(if k == 2 && gen.below(2) == 0 {
                    b"process".to_vec()
                } else {
                    gen.value(k)
                });
            }
        }
        let context = format!("input {i}: {values:?}");
        let lookup = |name: &str| {
            let k = VARS.iter().position(|v| *v == name)?;
            values[k].as_deref()
        };
        let got = catch_unwind(AssertUnwindSafe(|| EnvConfig::from_lookup(lookup)))
            .unwrap_or_else(|_| panic!("{context}: from_lookup panicked"));

        // The oracle: first bad variable in order, then the grace rule.
        let set = |k: usize| values[k].as_deref().filter(|v| !v.is_empty());
        let checks: [bool; 4] = [
            set(0).map_or(true, |v| oracle_signal(v).is_some()),
            set(1).map_or(true, |v| oracle_pid(v).is_some()),
            set(2).map_or(true, |v| oracle_mode(v).is_some()),
            set(3).map_or(true, |v| oracle_grace(v).is_some()),
        ];
        match (checks.iter().position(|ok| !ok), got) {
            (None, Ok(config)) => {
                accepted += 1;
                assert_eq!(
                    config.signal.map(|s| s.as_raw()),
                    set(0).and_then(oracle_signal),
                    "{context}"
                );
                assert_eq!(config.parent, set(1).and_then(oracle_pid), "{context}");
                assert_eq!(
                    config.mode,
                    set(2).and_then(oracle_mode).unwrap_or_default(),
                    "{context}"
                );
                assert_eq!(config.grace, set(3).and_then(oracle_grace), "{context}");
                assert!(
                    config.grace.is_none() || config.mode == Mode::Process,
                    "{context}"
                );
            }
            (None, Err(err)) => {
                rejected += 1;
                // Only the grace rule can reject valid values.
                assert_eq!(err, Error::GraceNeedsProcessMode, "{context}");
                assert!(set(3).is_some() && set(2).and_then(oracle_mode) != Some(Mode::Process));
                let msg = err.to_string();
                check_message(&msg, &context);
                assert!(
                    msg.contains("PDEATHSIG_GRACE") && msg.contains("PDEATHSIG_MODE=process"),
                    "{msg}"
                );
            }
            (Some(bad), Err(err)) => {
                rejected += 1;
                let value = set(bad).unwrap();
                match &err {
                    Error::InvalidEnv(e) => {
                        assert_eq!(e.var(), VARS[bad], "{context}: wrong variable named");
                        assert_eq!(e.value(), &value[..value.len().min(40)], "{context}");
                    }
                    other => panic!("{context}: expected InvalidEnv, got {other:?}"),
                }
                assert_eq!(err.errno(), libc::EINVAL);
                let msg = err.to_string();
                check_message(&msg, &context);
                let named = format!("invalid {}=\"{}\"", VARS[bad], message_escaped(value));
                assert!(
                    msg.starts_with(&named),
                    "{context}: {msg:?} does not start with {named:?}"
                );
                assert!(
                    msg.contains("accepted: "),
                    "{context}: {msg:?} does not say what is accepted"
                );
                if value.len() > 40 {
                    assert!(
                        msg.contains("\"..."),
                        "{context}: cut value not marked: {msg:?}"
                    );
                }
            }
            (Some(bad), Ok(config)) => {
                panic!(
                    "{context}: accepted {config:?} though {} is invalid",
                    VARS[bad]
                )
            }
        }
    }
    // The generator must exercise both sides.
    assert!(
        accepted > 20_000 && rejected > 20_000,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn signal_parse_never_panics_and_round_trips() {
    let mut gen = Gen(0x2545_f491_4f6c_dd1d);
    let mut valid = 0;
    for i in 0..200_000 {
        let v = gen.value(0);
        let got = catch_unwind(|| Signal::parse(&v))
            .unwrap_or_else(|_| panic!("input {i}: Signal::parse({v:?}) panicked"));
        assert_eq!(
            got.map(|s| s.as_raw()),
            oracle_signal(&v),
            "input {i}: {v:?}"
        );
        if let Ok(text) = std::str::from_utf8(&v) {
            assert_eq!(text.parse::<Signal>().ok(), got, "FromStr {text:?}");
        }
        if let Some(sig) = got {
            valid += 1;
            let shown = sig.to_string();
            check_message(&shown, &format!("{v:?}"));
            if !shown.starts_with("signal ") {
                assert_eq!(
                    Signal::parse(shown.as_bytes()),
                    Some(sig),
                    "round trip {shown}"
                );
            }
        }
    }
    assert!(valid > 10_000, "only {valid} valid inputs generated");
}

/// The same rules through the real constructor: LD_PRELOAD into /bin/true.
#[test]
fn constructor_prints_one_line_per_invalid_value() {
    let tree = Tree::new();
    let lib = preload_lib();
    let mut gen = Gen(0x1234_5678_9abc_def1);
    let mut checked = 0;
    while checked < 300 {
        let k = gen.below(4);
        let value = gen.value(k);
        let valid = match k {
            0 => oracle_signal(&value).is_some(),
            1 => oracle_pid(&value).is_some(),
            2 => oracle_mode(&value).is_some(),
            _ => oracle_grace(&value).is_some(),
        };
        if valid || value.is_empty() {
            continue;
        }
        checked += 1;
        let mut cmd = tree.command("/bin/true");
        cmd.env("LD_PRELOAD", &lib)
            .env_remove("PDEATHSIG_PPID")
            .env_remove("PDEATHSIG_MODE")
            .env_remove("PDEATHSIG_GRACE")
            .env("PDEATHSIG", "TERM")
            .env(VARS[k], std::ffi::OsStr::from_bytes(&value));
        if k == 3 {
            cmd.env("PDEATHSIG_MODE", "process");
        }
        let out = cmd.output().expect("run /bin/true");
        let context = format!("{}={:?}", VARS[k], String::from_utf8_lossy(&value));
        assert!(
            out.status.success(),
            "{context}: host did not exit 0: {}",
            out.status
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.matches('\n').count(),
            1,
            "{context}: stderr {stderr:?}"
        );
        let named = format!(
            "pdeathsig: invalid {}=\"{}\"",
            VARS[k],
            message_escaped(&value)
        );
        assert!(
            stderr.starts_with(&named),
            "{context}: {stderr:?} does not start with {named:?}"
        );
    }
}
