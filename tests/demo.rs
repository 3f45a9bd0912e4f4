//! The README's demo does what it says: the guarded child dies with its
//! parent, the unguarded one survives as an orphan and is cleaned up.
mod support;
use support::*;

#[test]
fn demo_reports_guarded_gone_and_unguarded_orphan() {
    let mut tree = Tree::new();
    let mut cmd = tree.command(example("demo"));
    let child = tree.spawn(piped(&mut cmd));
    let pid = child.id() as Pid;
    assert!(
        wait_gone(pid, std::time::Duration::from_secs(20)),
        "demo hung"
    );
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{text}");
    assert!(text.contains("gone (killed by SIGTERM)"), "{text}");
    assert!(text.contains("still running, an orphan"), "{text}");
    assert!(text.contains("cleaned up"), "{text}");
    assert!(tree.living().is_empty(), "demo left processes behind");
}
