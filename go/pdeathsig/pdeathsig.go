package pdeathsig

// The installed C library: pkg-config's pdeathsig.pc gives -I, -L and
// -lpdeathsig (the package documentation, in doc.go, says how to install it).

/*
#cgo pkg-config: pdeathsig
#include <pdeathsig.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"syscall"
	"time"
)

// fail is the one shape of every error of this package: "pdeathsig: FUNC:
// [DETAIL: ]ERRNO TEXT", wrapping errno (a syscall.Errno), so that
// errors.Is(err, syscall.EINVAL) and errors.As(err, &errno) work.
func fail(fn string, errno error, detail string) error {
	if detail != "" {
		return fmt.Errorf("pdeathsig: %s: %s: %w", fn, detail, errno)
	}
	return fmt.Errorf("pdeathsig: %s: %w", fn, errno)
}

// ErrUnverified is wrapped by the error an arming function returns when it
// armed but could not verify that the expected parent (tree mode: the
// anchor) is alive: /proc unreadable or another PID namespace's, or the
// stamped process alive but not an ancestor. The guard is armed against the
// current parent and no signal was sent; the C library returns
// PDEATHSIG_UNVERIFIED and its load-time constructor prints the same on
// stderr. Treat it as a warning: errors.Is(err, pdeathsig.ErrUnverified).
var ErrUnverified = errors.New("armed, but the parent could not be verified alive (no signal sent)")

// check turns the C library's -1/errno convention into nil or an error of
// fn (see fail); PDEATHSIG_UNVERIFIED into an error wrapping ErrUnverified.
func check(fn string, rc C.int, err error) error {
	if rc == C.PDEATHSIG_UNVERIFIED {
		return fail(fn, ErrUnverified, "")
	}
	if rc != -1 {
		return nil
	}
	if err == nil {
		// Never expected: the library sets errno on every failure.
		return fmt.Errorf("pdeathsig: %s: the C library failed without setting errno", fn)
	}
	return fail(fn, err, "")
}

// badPid rejects a pid argument (what: "parent" or "anchor") that a C
// pid_t cannot hold or that is below min (1 for an explicit pid, 0 where 0
// means PDEATHSIG_PPID, else the parent seen at load time). The C library
// itself takes 0 as the default everywhere; the *Expecting functions of
// this package want the pid they are named after, so 0 is refused there.
func badPid(fn, what string, pid, min int) error {
	if pid >= min && pid <= math.MaxInt32 {
		return nil
	}
	want := "want a positive pid"
	if min == 0 {
		want = "want a positive pid, or 0 for PDEATHSIG_PPID"
	}
	return fail(fn, syscall.EINVAL, fmt.Sprintf("%s pid %d: %s", what, pid, want))
}

// graceMillis converts a grace period to the C library's milliseconds: 0
// means no escalation, a fraction of a millisecond is rounded up (a grace
// is never shortened). A negative grace, or one that does not fit a C
// unsigned int in milliseconds, is an error of fn wrapping syscall.EINVAL
// that names it; the C library refuses more than an hour itself.
func graceMillis(fn string, grace time.Duration) (C.uint, error) {
	if grace < 0 {
		return 0, fail(fn, syscall.EINVAL,
			fmt.Sprintf("grace %v is negative: want 0 (no escalation) up to 1h", grace))
	}
	ms := grace / time.Millisecond
	if grace%time.Millisecond != 0 {
		ms++ // round up: a grace is never shortened
	}
	if uint64(ms) > uint64(math.MaxUint32) {
		return 0, fail(fn, syscall.EINVAL,
			fmt.Sprintf("grace %v does not fit in milliseconds (C unsigned int): want 0 up to 1h", grace))
	}
	return C.uint(ms), nil
}

// Arm asks for sig when the parent dies, and closes the race with a parent
// that already died: the expected parent is PDEATHSIG_PPID from the
// environment or, when unset, the parent seen when the library was loaded.
// If that parent is gone (and is not an ancestor of the current parent),
// sig is sent to this process at once, as the kernel would have. In this
// prctl mode the setting belongs to the calling OS thread (see "Threads" in
// the package documentation).
//
// Returns nil when armed, an error wrapping ErrUnverified when armed but
// the parent could not be verified, or an error wrapping a syscall.Errno
// (see "Errors" in the package documentation): syscall.EINVAL for a signal
// outside 1..31 and SIGRTMIN..SIGRTMAX (34..64 with glibc: 32 and 33 are
// refused) or a bad PDEATHSIG_PPID (nothing armed),
// syscall.ESRCH when the parent had already died and this process survived
// sig (caught with signal.Notify, or ignored), syscall.ENOTSUP (the number
// of syscall.EOPNOTSUPP on Linux) when this process ignores sig
// (signal.Ignore, or SIG_IGN inherited, as nohup does for SIGHUP): sig is
// armed, but the parent's death will not end this process; pick another
// signal (see "Ignored signals" in the package documentation).
//
// Wraps arm_parent_death_signal of libpdeathsig, which wraps
// prctl(PR_SET_PDEATHSIG): see PR_SET_PDEATHSIG(2const).
func Arm(sig syscall.Signal) error {
	rc, err := C.arm_parent_death_signal(C.int(sig))
	return check("Arm", rc, err)
}

// ArmExpecting is Arm with the expected parent pid given explicitly instead
// of read from PDEATHSIG_PPID. A ppid that is not positive (or does not fit
// a pid_t) is an error wrapping syscall.EINVAL that names it (the C
// function takes 0 as "the default"; use Arm for that); other errors as for
// Arm.
//
// Wraps arm_parent_death_signal_expecting of libpdeathsig, see
// PR_SET_PDEATHSIG(2const).
func ArmExpecting(sig syscall.Signal, ppid int) error {
	if err := badPid("ArmExpecting", "parent", ppid, 1); err != nil {
		return err
	}
	rc, err := C.arm_parent_death_signal_expecting(C.int(sig), C.pid_t(ppid))
	return check("ArmExpecting", rc, err)
}

// ArmFromEnv arms as the environment asks: PDEATHSIG names the signal
// (TERM, SIGTERM, 15, RTMIN+3), PDEATHSIG_PPID the expected parent,
// PDEATHSIG_MODE the mode (prctl, the default, process or tree) and
// PDEATHSIG_GRACE the grace before SIGKILL (500ms, 5s or 5; process and
// tree mode only). PDEATHSIG_PPID is a pid or PID:TICKS, as the library
// writes it. It reports whether it armed (false when PDEATHSIG is unset or
// empty).
//
// A bad value is an error wrapping syscall.EINVAL (nothing armed); the
// errors of the mode's function otherwise (Arm, ArmProcess, ArmTree).
//
// Wraps arm_parent_death_signal_from_env of libpdeathsig, see
// PR_SET_PDEATHSIG(2const).
func ArmFromEnv() (bool, error) {
	rc, err := C.arm_parent_death_signal_from_env()
	if rc == -1 || rc == C.PDEATHSIG_UNVERIFIED {
		return rc != -1, check("ArmFromEnv", rc, err)
	}
	return rc == 1, nil
}

// ArmProcess is Arm in process mode: sig is sent when the parent process
// has exited, and not when the parent's OS thread that started this process
// exits. No prctl is made: the C library opens a pidfd on the expected
// parent (PDEATHSIG_PPID, else the parent seen when the library was loaded)
// and one detached thread of this process waits for it and then sends sig
// to this process. The race is closed as in Arm. The watcher does not
// survive fork or execve; it survives setuid.
//
// Returns nil when armed, or an error wrapping a syscall.Errno:
// syscall.EINVAL for a bad signal or PDEATHSIG_PPID; syscall.ESRCH when the
// parent had already died and this process survived sig; syscall.ENOTSUP
// when sig is ignored (armed, as for Arm; not with a grace period, whose
// SIGKILL still ends the process); syscall.ENOSYS when the kernel
// has no pidfd_open (before Linux 5.3; nothing armed); syscall.EOPNOTSUPP,
// the same number as ENOTSUP, when the parent is outside this PID namespace
// (nothing armed: Get tells the two apart);
// syscall.EBUSY when this process already watches a different parent;
// EAGAIN, ENOMEM or EMFILE when the thread or the pidfd cannot be created.
//
// Wraps arm_parent_process_death_signal of libpdeathsig: see
// pidfd_open(2), poll(2), pthread_create(3), and PR_SET_PDEATHSIG(2const)
// for the thread-exit behaviour it avoids.
func ArmProcess(sig syscall.Signal) error {
	rc, err := C.arm_parent_process_death_signal(C.int(sig))
	return check("ArmProcess", rc, err)
}

// ArmProcessExpecting is ArmProcess with the expected parent pid given
// explicitly instead of read from PDEATHSIG_PPID. A ppid that is not
// positive (or does not fit a pid_t) is an error wrapping syscall.EINVAL
// that names it (use ArmProcess for the default); other errors as for
// ArmProcess.
//
// Wraps arm_parent_process_death_signal_expecting of libpdeathsig, see
// pidfd_open(2).
func ArmProcessExpecting(sig syscall.Signal, ppid int) error {
	if err := badPid("ArmProcessExpecting", "parent", ppid, 1); err != nil {
		return err
	}
	rc, err := C.arm_parent_process_death_signal_expecting(C.int(sig), C.pid_t(ppid))
	return check("ArmProcessExpecting", rc, err)
}

// ArmProcessWithGrace is ArmProcess with graceful escalation: when the
// parent process has exited, sig is sent, then SIGKILL if this process is
// still alive grace later. A grace of 0 means no escalation; a grace below
// a millisecond is rounded up to one; the C library accepts up to one hour.
// ppid is the expected parent pid, or 0 for PDEATHSIG_PPID / the parent seen
// when the library was loaded.
//
// A negative ppid or grace, or a grace that does not fit in milliseconds in
// a C unsigned int, is an error wrapping syscall.EINVAL that names the
// value; so is a grace above one hour (from the C library, without the
// value). Other errors as for ArmProcess.
//
// Wraps arm_parent_process_death_signal_with_grace of libpdeathsig, see
// pidfd_open(2) and nanosleep(2).
func ArmProcessWithGrace(sig syscall.Signal, ppid int, grace time.Duration) error {
	const fn = "ArmProcessWithGrace"
	if err := badPid(fn, "parent", ppid, 0); err != nil {
		return err
	}
	ms, err := graceMillis(fn, grace)
	if err != nil {
		return err
	}
	rc, err := C.arm_parent_process_death_signal_with_grace(C.int(sig), C.pid_t(ppid), ms)
	return check(fn, rc, err)
}

// ArmTree arms tree mode: sig is sent when the tree's anchor exits, whoever
// this process's parent is. The anchor is the process named in
// PDEATHSIG_PPID (the tool that started the tree exports its pid there; a
// pid, or PID:TICKS as the library writes it), else the parent seen when
// the library was loaded. The C library watches a pidfd of the anchor from
// one thread of this process, as in process mode; a child this process
// creates with fork() without exec gets a watcher of its own
// (pthread_atfork), and exec'd children under LD_PRELOAD with
// PDEATHSIG_MODE=tree arm the same way, so the whole tree gets sig at once
// when the anchor dies. A process detached from its parent (setsid,
// daemonized, its parent gone) still follows the anchor. The race is
// closed: if the anchor is already gone (or its pid was reused: its start
// time is checked against the stamp's), sig is sent at once. A process
// that is itself the anchor has nothing to follow: nil, no watcher.
//
// Returns nil when armed, or an error wrapping a syscall.Errno:
// syscall.EINVAL for a bad signal or PDEATHSIG_PPID (nothing armed);
// syscall.ESRCH when the anchor had already died and this process survived
// sig; syscall.ENOTSUP when sig is ignored (armed, as for Arm; not with a
// grace period); syscall.ENOSYS before Linux 5.3 (nothing armed);
// syscall.EBUSY when this process already watches another process;
// EAGAIN, ENOMEM or EMFILE when the thread or the pidfd cannot be created.
// A parent outside this PID namespace is no error: only the anchor
// matters.
//
// Wraps arm_parent_tree_death_signal of libpdeathsig: see pidfd_open(2)
// and pthread_atfork(3).
func ArmTree(sig syscall.Signal) error {
	rc, err := C.arm_parent_tree_death_signal(C.int(sig))
	return check("ArmTree", rc, err)
}

// ArmTreeExpecting is ArmTree with the anchor's pid given explicitly
// instead of read from PDEATHSIG_PPID. An anchor that is not positive (or
// does not fit a pid_t) is an error wrapping syscall.EINVAL that names it
// (use ArmTree for the default); other errors as for ArmTree. Without a
// stamp's start time, a pid already reused by another process counts as
// the anchor alive.
//
// Wraps arm_parent_tree_death_signal_expecting of libpdeathsig, see
// pidfd_open(2).
func ArmTreeExpecting(sig syscall.Signal, anchor int) error {
	if err := badPid("ArmTreeExpecting", "anchor", anchor, 1); err != nil {
		return err
	}
	rc, err := C.arm_parent_tree_death_signal_expecting(C.int(sig), C.pid_t(anchor))
	return check("ArmTreeExpecting", rc, err)
}

// ArmTreeWithGrace is ArmTree with graceful escalation: when the anchor has
// exited, sig is sent, then SIGKILL if this process is still alive grace
// later. grace as for ArmProcessWithGrace (0: no escalation; rounded up to
// a millisecond; at most one hour). anchor is the anchor's pid, or 0 for
// PDEATHSIG_PPID / the parent seen when the library was loaded. A fork
// child's watcher escalates the same way.
//
// A negative anchor or grace, or a grace that does not fit in milliseconds
// in a C unsigned int, is an error wrapping syscall.EINVAL that names the
// value; so is a grace above one hour (from the C library, without the
// value). Other errors as for ArmTree, but no ENOTSUP for an ignored sig
// with a grace: the SIGKILL still ends the process.
//
// Wraps arm_parent_tree_death_signal_with_grace of libpdeathsig, see
// pidfd_open(2) and nanosleep(2).
func ArmTreeWithGrace(sig syscall.Signal, anchor int, grace time.Duration) error {
	const fn = "ArmTreeWithGrace"
	if err := badPid(fn, "anchor", anchor, 0); err != nil {
		return err
	}
	ms, err := graceMillis(fn, grace)
	if err != nil {
		return err
	}
	rc, err := C.arm_parent_tree_death_signal_with_grace(C.int(sig), C.pid_t(anchor), ms)
	return check(fn, rc, err)
}

// Rearm arms again what the last successful arming in this process armed
// (same signal, expected parent, mode and grace), with the same race
// check. Call it after dropping privileges: setuid, setgid and any change
// of effective or filesystem ids clear the prctl setting. In prctl mode it
// arms the calling OS thread (see "Threads" in the package documentation).
//
// Returns nil when armed, or an error wrapping a syscall.Errno:
// syscall.EINVAL when nothing was armed in this process before;
// syscall.ESRCH when the parent (tree mode: the anchor) died meanwhile (sig was sent, and this
// process survived it); the errors of the arming functions.
//
// Wraps rearm_parent_death_signal of libpdeathsig, see
// PR_SET_PDEATHSIG(2const) and pidfd_open(2).
func Rearm() error {
	rc, err := C.rearm_parent_death_signal()
	return check("Rearm", rc, err)
}

// Get returns the signal armed for the calling OS thread, 0 when none (see
// "Threads" in the package documentation); when that is empty and a
// watcher runs (process or tree mode), its signal. An error (not expected
// in practice) wraps a syscall.Errno.
//
// Wraps get_parent_death_signal of libpdeathsig, which wraps
// prctl(PR_GET_PDEATHSIG): see PR_GET_PDEATHSIG(2const).
func Get() (syscall.Signal, error) {
	rc, err := C.get_parent_death_signal()
	if rc == -1 {
		return 0, check("Get", rc, err)
	}
	return syscall.Signal(rc), nil
}

// Disarm clears the setting of the calling OS thread: no signal when the
// parent dies. A process- or tree-mode watcher is disarmed too (its idle
// thread remains, and fork children start none). An error (not expected in
// practice) wraps a syscall.Errno.
//
// Wraps disarm_parent_death_signal of libpdeathsig, which wraps
// prctl(PR_SET_PDEATHSIG, 0): see PR_SET_PDEATHSIG(2const).
func Disarm() error {
	rc, err := C.disarm_parent_death_signal()
	return check("Disarm", rc, err)
}

// Version returns the version of the loaded libpdeathsig, such as "0.1.0".
func Version() string {
	return C.GoString(C.pdeathsig_version())
}
