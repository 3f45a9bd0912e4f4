//! Arming tree mode in a process whose process-mode watcher already runs
//! is refused (`Error::AlreadyWatching`, EBUSY from the C API), never a
//! silent success that leaves fork children without a watcher. Control:
//! arming process mode again against the same parent updates it (Ok).
use pdeathsig::{Error, Mode, Options, Signal};

#[test]
fn tree_mode_after_process_mode_is_refused() {
    let parent = std::os::unix::process::parent_id() as i32;
    let process = Options::new(Signal::TERM)
        .mode(Mode::Process)
        .parent(parent);
    process.arm().expect("process mode against our parent");
    // Control: the same again is an update.
    process.arm().expect("process mode again, same parent");
    let tree = Options::new(Signal::TERM)
        .mode(Mode::Tree)
        .parent(parent)
        .arm();
    match tree {
        Err(err @ Error::AlreadyWatching { .. }) => assert_eq!(err.errno(), libc::EBUSY),
        other => panic!("tree mode after process mode: {other:?}, want AlreadyWatching"),
    }
    pdeathsig::disarm_parent_death_signal().unwrap();
}
