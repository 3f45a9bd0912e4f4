//! Property tests of the environment parser, with proptest: random values
//! of PDEATHSIG, PDEATHSIG_PPID, PDEATHSIG_MODE and PDEATHSIG_GRACE
//! (mutations of valid values, edge numbers, random bytes), and on a failure
//! the smallest input that still fails. Checked:
//!
//! - nothing panics (`EnvConfig::from_lookup`, `Signal::parse`, `FromStr`);
//! - what is accepted agrees with an independent oracle written here from
//!   the documented rules;
//! - every invalid input gets its message: one line, printable ASCII,
//!   naming the variable and the (escaped) value and what is accepted;
//! - through the real load-time constructor (LD_PRELOAD, real processes),
//!   invalid values each give exactly one `pdeathsig:` line on stderr naming
//!   the value, and the host still exits 0.
//!
//! The inputs are random on every run; `PROPTEST_RNG_SEED=N` replays a run,
//! `PROPTEST_CASES=N` changes how many inputs each test draws.
mod support;
use support::*;

use pdeathsig::{EnvConfig, Error, Mode, Signal};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError, TestCaseResult, TestRunner};
use std::cell::Cell;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const VARS: [&str; 4] = [
    "PDEATHSIG",
    "PDEATHSIG_PPID",
    "PDEATHSIG_MODE",
    "PDEATHSIG_GRACE",
];

// The inputs: valid values of each variable, edge cases, and edits of them.

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
    "33",
    "34",
    "IOT",
    "POLL",
];
const PIDS: &[&str] = &[
    "1",
    "42",
    "0001234",
    "4194304",
    "2147483647",
    "99999",
    "1234:5678",
    "42:0:43",
    "7:18446744073709551615",
    "7:18446744073709551616",
    "1:",
    ":1",
    "1::2",
    "1:2:3:4",
];
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

/// An environment value: bytes, shown as a byte string (`b"RTMIN+3"`) in
/// the failure report.
#[derive(Clone, PartialEq)]
struct Value(Vec<u8>);

impl std::ops::Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// One edit of a value; `at` picks a byte, or the end for an insertion.
#[derive(Clone, Debug)]
enum Edit {
    Remove(Index),
    Replace(Index, u8),
    FlipCase(Index),
    Double,
    Insert(Index, u8),
}

/// A byte to put in a value: digits, the characters of the syntax, any byte
/// but NUL (environment strings hold none), capital letters.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        select(&b"0123456789"[..]),
        select(&b"+- SIGsigRTMINAXms.x:\n\"\\"[..]),
        1u8..=255,
        b'A'..=b'Z',
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), byte()).prop_map(|(at, b)| Edit::Replace(at, b)),
        any::<Index>().prop_map(Edit::FlipCase),
        Just(Edit::Double),
        (any::<Index>(), byte()).prop_map(|(at, b)| Edit::Insert(at, b)),
    ]
}

fn apply(mut v: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        // Positions 0..=len: the last one (or any, on an empty value) inserts.
        let at = |i: &Index| i.index(v.len() + 1);
        match edit {
            Edit::Remove(i) if at(i) < v.len() => {
                v.remove(at(i));
            }
            Edit::Replace(i, b) if at(i) < v.len() => {
                let k = at(i);
                v[k] = *b;
            }
            Edit::FlipCase(i) if at(i) < v.len() => {
                let k = at(i);
                // Not a space: that would make a NUL.
                if v[k] != b' ' {
                    v[k] ^= 0x20;
                }
            }
            Edit::Double => v.extend_from_slice(&v.clone()),
            Edit::Remove(i) | Edit::FlipCase(i) => {
                let k = at(i);
                v.insert(k, b'x');
            }
            Edit::Replace(i, b) | Edit::Insert(i, b) => {
                let k = at(i);
                v.insert(k, *b);
            }
        }
    }
    v
}

/// A value for `VARS[var]`: a valid or edge value as it is, random bytes, or
/// one to three edits of a valid or edge value.
fn value(var: usize) -> BoxedStrategy<Value> {
    let typical = [SIGNALS, PIDS, MODES, GRACES][var];
    let base = prop_oneof![1 => select(EDGES), 3 => select(typical)]
        .prop_map(|s: &str| s.as_bytes().to_vec());
    prop_oneof![
        1 => base.clone(),
        1 => proptest::collection::vec(1u8..=255, 0..48),
        4 => (base, proptest::collection::vec(edit(), 1..=3)).prop_map(|(v, e)| apply(v, &e)),
    ]
    .prop_map(Value)
    .boxed()
}

/// The four variables, each set half the time; the mode often "process" so
/// that graces get judged on their own merits.
fn environment() -> impl Strategy<Value = [Option<Value>; 4]> {
    let mode = prop_oneof![Just(Value(b"process".to_vec())), value(2)];
    (
        proptest::option::of(value(0)),
        proptest::option::of(value(1)),
        proptest::option::of(mode),
        proptest::option::of(value(3)),
    )
        .prop_map(|(signal, ppid, mode, grace)| [signal, ppid, mode, grace])
}

/// `cases` inputs, unless PROPTEST_CASES says otherwise; no regression files.
fn runner(cases: u32) -> TestRunner {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    TestRunner::new(config)
}

/// Runs the property; on a failure, panics with the shrunk input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult) -> u32 {
    let mut runner = runner(cases);
    if let Err(err) = runner.run(&strategy, test) {
        panic!("{err}");
    }
    runner.config().cases
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
    // Numbers: the standard signals and the real-time range; not the ones
    // between (32 and 33 with glibc), which the C library keeps for itself.
    if let Some(n) = digits(v) {
        let ok = (1..=31).contains(&n) || (min as u128..=max as u128).contains(&n);
        return ok.then_some(n as i32);
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

/// PDEATHSIG_PPID: `PID`, `PID:TICKS`, `PID:TICKS:WATCHED` or
/// `PID:TICKS:[WATCHED]:INO`; TICKS and INO any decimal that fits 64 bits,
/// WATCHED a pid (empty only before INO). Gives the pid.
fn oracle_stamp(v: &[u8]) -> Option<i32> {
    let fields: Vec<&[u8]> = v.split(|&b| b == b':').collect();
    let (pid, rest) = fields.split_first()?;
    let ticks_ok = |t: &[u8]| digits(t).is_some_and(|n| n <= u64::MAX as u128);
    let ok = match rest {
        [] => true,
        [ticks] => ticks_ok(ticks),
        [ticks, watched] => ticks_ok(ticks) && oracle_pid(watched).is_some(),
        [ticks, watched, ino] => {
            ticks_ok(ticks)
                && (watched.is_empty() || oracle_pid(watched).is_some())
                && ticks_ok(ino)
        }
        _ => false,
    };
    if ok {
        oracle_pid(pid)
    } else {
        None
    }
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

fn check_message(msg: &str) -> TestCaseResult {
    prop_assert!(!msg.is_empty(), "empty message");
    prop_assert!(
        msg.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "message is not one line of printable ASCII: {:?}",
        msg
    );
    Ok(())
}

#[test]
fn env_config_never_panics_and_agrees_with_the_oracle() {
    let (accepted, rejected) = (Cell::new(0u32), Cell::new(0u32));
    let cases = check(100_000, environment(), |values| {
        let lookup = |name: &str| {
            let k = VARS.iter().position(|v| *v == name)?;
            values[k].as_deref()
        };
        let got = catch_unwind(AssertUnwindSafe(|| EnvConfig::from_lookup(lookup)))
            .map_err(|_| TestCaseError::fail("from_lookup panicked"))?;

        // The oracle: first bad variable in order, then the grace rule.
        let set = |k: usize| values[k].as_deref().filter(|v| !v.is_empty());
        let checks: [bool; 4] = [
            set(0).map_or(true, |v| oracle_signal(v).is_some()),
            set(1).map_or(true, |v| oracle_stamp(v).is_some()),
            set(2).map_or(true, |v| oracle_mode(v).is_some()),
            set(3).map_or(true, |v| oracle_grace(v).is_some()),
        ];
        match (checks.iter().position(|ok| !ok), got) {
            (None, Ok(config)) => {
                accepted.set(accepted.get() + 1);
                prop_assert_eq!(
                    config.signal.map(|s| s.as_raw()),
                    set(0).and_then(oracle_signal)
                );
                prop_assert_eq!(config.parent, set(1).and_then(oracle_stamp));
                prop_assert_eq!(
                    config.mode,
                    set(2).and_then(oracle_mode).unwrap_or_default()
                );
                prop_assert_eq!(config.grace, set(3).and_then(oracle_grace));
                prop_assert!(config.grace.is_none() || config.mode == Mode::Process);
            }
            (None, Err(err)) => {
                rejected.set(rejected.get() + 1);
                // Only the grace rule can reject valid values.
                prop_assert_eq!(&err, &Error::GraceNeedsProcessMode);
                prop_assert!(
                    set(3).is_some() && set(2).and_then(oracle_mode) != Some(Mode::Process)
                );
                let msg = err.to_string();
                check_message(&msg)?;
                prop_assert!(
                    msg.contains("PDEATHSIG_GRACE") && msg.contains("PDEATHSIG_MODE=process"),
                    "{}",
                    msg
                );
            }
            (Some(bad), Err(err)) => {
                rejected.set(rejected.get() + 1);
                let value = set(bad).unwrap_or_default();
                match &err {
                    Error::InvalidEnv(e) => {
                        prop_assert_eq!(e.var(), VARS[bad], "wrong variable named");
                        prop_assert_eq!(e.value(), &value[..value.len().min(40)]);
                    }
                    other => {
                        return Err(TestCaseError::fail(format!(
                            "expected InvalidEnv, got {other:?}"
                        )))
                    }
                }
                prop_assert_eq!(err.errno(), libc::EINVAL);
                let msg = err.to_string();
                check_message(&msg)?;
                let named = format!("invalid {}=\"{}\"", VARS[bad], message_escaped(value));
                prop_assert!(
                    msg.starts_with(&named),
                    "{:?} does not start with {:?}",
                    msg,
                    named
                );
                prop_assert!(
                    msg.contains("accepted: "),
                    "{:?} does not say what is accepted",
                    msg
                );
                if value.len() > 40 {
                    prop_assert!(msg.contains("\"..."), "cut value not marked: {:?}", msg);
                }
            }
            (Some(bad), Ok(config)) => {
                return Err(TestCaseError::fail(format!(
                    "accepted {config:?} though {} is invalid",
                    VARS[bad]
                )))
            }
        }
        Ok(())
    });
    // The generator must exercise both sides (about 16% and 84%).
    let (accepted, rejected) = (accepted.get(), rejected.get());
    assert!(
        accepted > cases / 10 && rejected > cases / 10,
        "{accepted} accepted, {rejected} rejected of {cases}"
    );
}

#[test]
fn signal_parse_never_panics_and_round_trips() {
    let valid = Cell::new(0u32);
    let cases = check(100_000, value(0), |v| {
        let got = catch_unwind(|| Signal::parse(&v))
            .map_err(|_| TestCaseError::fail("Signal::parse panicked"))?;
        prop_assert_eq!(got.map(|s| s.as_raw()), oracle_signal(&v));
        if let Ok(text) = std::str::from_utf8(&v) {
            prop_assert_eq!(text.parse::<Signal>().ok(), got, "FromStr {:?}", text);
        }
        if let Some(sig) = got {
            valid.set(valid.get() + 1);
            let shown = sig.to_string();
            check_message(&shown)?;
            if !shown.starts_with("signal ") {
                prop_assert_eq!(
                    Signal::parse(shown.as_bytes()),
                    Some(sig),
                    "round trip {}",
                    shown
                );
            }
        }
        Ok(())
    });
    assert!(
        valid.get() > cases / 20,
        "only {} valid inputs of {cases}",
        valid.get()
    );
}

/// The same rules through the real constructor: LD_PRELOAD into /bin/true.
#[test]
fn constructor_prints_one_line_per_invalid_value() {
    let tree = Tree::new();
    let lib = preload_lib();
    let invalid = (0..4usize)
        .prop_flat_map(|k| (Just(k), value(k)))
        .prop_filter("a valid or empty value", |(k, value)| {
            let valid = match k {
                0 => oracle_signal(value).is_some(),
                1 => oracle_stamp(value).is_some(),
                2 => oracle_mode(value).is_some(),
                _ => oracle_grace(value).is_some(),
            };
            !valid && !value.is_empty()
        });
    check(300, invalid, |(k, value)| {
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
        let out = cmd
            .output()
            .map_err(|e| TestCaseError::fail(format!("run /bin/true: {e}")))?;
        prop_assert!(out.status.success(), "host did not exit 0: {}", out.status);
        let stderr = String::from_utf8_lossy(&out.stderr);
        prop_assert_eq!(stderr.matches('\n').count(), 1, "stderr {:?}", stderr);
        let named = format!(
            "pdeathsig: invalid {}=\"{}\"",
            VARS[k],
            message_escaped(&value)
        );
        prop_assert!(
            stderr.starts_with(&named),
            "{:?} does not start with {:?}",
            stderr,
            named
        );
        Ok(())
    });
}
