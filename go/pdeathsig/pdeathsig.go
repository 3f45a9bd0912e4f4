// Package pdeathsig makes this process die when its parent dies (Linux
// prctl(PR_SET_PDEATHSIG), see PR_SET_PDEATHSIG(2const)), with the start-up
// race closed by the parent-pid handoff: a spawner that exports
// PDEATHSIG_PPID=<its own pid> into the child's environment lets the child
// tell "my parent died before I armed" from "my parent is alive".
//
// It wraps the C library libpdeathsig (include/pdeathsig.h) through cgo.
// Inside this repository the #cgo directives below find the header in
// ../../include and the library in ../../target/release (build it with
// `cargo build --release -p pdeathsig-capi`; the rpath lets binaries run
// without LD_LIBRARY_PATH). For a library installed elsewhere:
//
//	CGO_CFLAGS="$(pkg-config --cflags pdeathsig)" \
//	CGO_LDFLAGS="$(pkg-config --libs pdeathsig)" go build
//
// and LD_LIBRARY_PATH (or -Wl,-rpath in CGO_LDFLAGS) at run time if the
// dynamic loader does not search that directory.
//
// Threads: the kernel keeps the setting per thread and sends the signal
// when the parent dies if any thread of this process has it set; the setting
// is lost if the thread that armed exits (Go retires an OS thread only when a
// goroutine exits while locked to it with runtime.LockOSThread). Get reports
// the setting of the OS thread it runs on. Calling runtime.LockOSThread in an
// init function keeps main on the main thread, which lives as long as the
// process: arm from main and Get from main then agree.
//
// Process mode (ArmProcess, ArmProcessExpecting, ArmProcessWithGrace) has no
// such trap: it fires only when the parent process exits, not when the
// parent's OS thread that started this process exits (a Go parent that
// starts children from a goroutine locked with runtime.LockOSThread, which
// then returns). It watches a pidfd of the parent (pidfd_open(2)) from a
// thread of the C library, and can escalate to SIGKILL after a grace period.
// It needs Linux 5.3 or later (syscall.ENOSYS before).
package pdeathsig

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lpdeathsig
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

// errnoOf turns the -1/errno convention into a Go error: the errno itself
// (a syscall.Errno, so errors.Is(err, syscall.ESRCH) works).
func errnoOf(rc C.int, err error) error {
	if rc != -1 {
		return nil
	}
	if err == nil {
		// Never expected: the library sets errno on every failure.
		return errors.New("pdeathsig: call failed without setting errno")
	}
	return err
}

// Arm asks for sig when the parent dies, and closes the race with a parent
// that already died: the expected parent is PDEATHSIG_PPID from the
// environment or, when unset, the parent seen when the library was loaded.
// If that parent is gone (and is not an ancestor of the current parent),
// sig is sent to this process at once, as the kernel would have.
//
// Returns nil when armed, or a syscall.Errno: syscall.EINVAL for a signal
// outside 1..SIGRTMAX or a bad PDEATHSIG_PPID (nothing armed),
// syscall.ESRCH when the parent had already died and this process survived
// sig (caught with signal.Notify, or ignored).
//
// Wraps arm_parent_death_signal(3) of libpdeathsig, which wraps
// prctl(PR_SET_PDEATHSIG): see PR_SET_PDEATHSIG(2const).
func Arm(sig syscall.Signal) error {
	rc, err := C.arm_parent_death_signal(C.int(sig))
	return errnoOf(rc, err)
}

// ArmExpecting is Arm with the expected parent pid given explicitly instead
// of read from PDEATHSIG_PPID. A ppid that is not positive is
// syscall.EINVAL.
//
// Wraps arm_parent_death_signal_expecting of libpdeathsig, see
// PR_SET_PDEATHSIG(2const).
func ArmExpecting(sig syscall.Signal, ppid int) error {
	if ppid <= 0 || ppid > int(^uint32(0)>>1) {
		return syscall.EINVAL
	}
	rc, err := C.arm_parent_death_signal_expecting(C.int(sig), C.pid_t(ppid))
	return errnoOf(rc, err)
}

// ArmFromEnv arms as the environment asks: PDEATHSIG names the signal
// (TERM, SIGTERM, 15, RTMIN+3), PDEATHSIG_PPID the expected parent,
// PDEATHSIG_MODE the mode (prctl, the default, or process) and
// PDEATHSIG_GRACE the grace before SIGKILL (500ms, 5s or 5; process mode
// only). It reports whether it armed (false when PDEATHSIG is unset or
// empty).
//
// Wraps arm_parent_death_signal_from_env of libpdeathsig, see
// PR_SET_PDEATHSIG(2const).
func ArmFromEnv() (bool, error) {
	rc, err := C.arm_parent_death_signal_from_env()
	if rc == -1 {
		return false, errnoOf(rc, err)
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
// Returns nil when armed, or a syscall.Errno: syscall.EINVAL for a bad
// signal or PDEATHSIG_PPID; syscall.ESRCH when the parent had already died
// and this process survived sig; syscall.ENOSYS when the kernel has no
// pidfd_open (before Linux 5.3; nothing armed); syscall.EOPNOTSUPP when the
// parent is outside this PID namespace; syscall.EBUSY when this process
// already watches a different parent; EAGAIN, ENOMEM or EMFILE when the
// thread or the pidfd cannot be created.
//
// Wraps arm_parent_process_death_signal of libpdeathsig: see
// pidfd_open(2), poll(2), pthread_create(3), and PR_SET_PDEATHSIG(2const)
// for the thread-exit behaviour it avoids.
func ArmProcess(sig syscall.Signal) error {
	rc, err := C.arm_parent_process_death_signal(C.int(sig))
	return errnoOf(rc, err)
}

// ArmProcessExpecting is ArmProcess with the expected parent pid given
// explicitly instead of read from PDEATHSIG_PPID. A ppid that is not
// positive is syscall.EINVAL.
//
// Wraps arm_parent_process_death_signal_expecting of libpdeathsig, see
// pidfd_open(2).
func ArmProcessExpecting(sig syscall.Signal, ppid int) error {
	if ppid <= 0 || ppid > math.MaxInt32 {
		return fmt.Errorf("pdeathsig: parent pid %d: want a positive pid: %w", ppid, syscall.EINVAL)
	}
	rc, err := C.arm_parent_process_death_signal_expecting(C.int(sig), C.pid_t(ppid))
	return errnoOf(rc, err)
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
// value (errors.Is(err, syscall.EINVAL) holds); the C library returns a
// bare syscall.EINVAL for a grace above one hour. Other errors as for
// ArmProcess.
//
// Wraps arm_parent_process_death_signal_with_grace of libpdeathsig, see
// pidfd_open(2) and nanosleep(2).
func ArmProcessWithGrace(sig syscall.Signal, ppid int, grace time.Duration) error {
	if ppid < 0 || ppid > math.MaxInt32 {
		return fmt.Errorf("pdeathsig: parent pid %d: want a positive pid, or 0 for PDEATHSIG_PPID: %w",
			ppid, syscall.EINVAL)
	}
	if grace < 0 {
		return fmt.Errorf("pdeathsig: grace %v is negative: want 0 (no escalation) up to 1h: %w",
			grace, syscall.EINVAL)
	}
	ms := grace / time.Millisecond
	if grace%time.Millisecond != 0 {
		ms++ // round up: a grace is never shortened
	}
	if uint64(ms) > uint64(math.MaxUint32) {
		return fmt.Errorf("pdeathsig: grace %v does not fit in milliseconds (C unsigned int): want 0 up to 1h: %w",
			grace, syscall.EINVAL)
	}
	rc, err := C.arm_parent_process_death_signal_with_grace(C.int(sig), C.pid_t(ppid), C.uint(ms))
	return errnoOf(rc, err)
}

// Rearm arms again what the last successful arming in this process armed
// (same signal, expected parent, mode and grace), with the same race
// check. Call it after dropping privileges: setuid, setgid and any change
// of effective or filesystem ids clear the prctl setting. In prctl mode it
// arms the calling OS thread (see the package comment about threads).
//
// Returns nil when armed, or a syscall.Errno: syscall.EINVAL when nothing
// was armed in this process before; syscall.ESRCH when the parent died
// meanwhile (sig was sent, and this process survived it); the errors of the
// arming functions.
//
// Wraps rearm_parent_death_signal of libpdeathsig, see
// PR_SET_PDEATHSIG(2const) and pidfd_open(2).
func Rearm() error {
	rc, err := C.rearm_parent_death_signal()
	return errnoOf(rc, err)
}

// Get returns the signal armed for the calling OS thread, 0 when none (see
// the package comment about threads); when that is empty and process mode
// watches the parent, its signal.
//
// Wraps get_parent_death_signal of libpdeathsig, which wraps
// prctl(PR_GET_PDEATHSIG): see PR_GET_PDEATHSIG(2const).
func Get() (syscall.Signal, error) {
	rc, err := C.get_parent_death_signal()
	if rc == -1 {
		return 0, errnoOf(rc, err)
	}
	return syscall.Signal(rc), nil
}

// Disarm clears the setting of the calling OS thread: no signal when the
// parent dies. A process-mode watcher is disarmed too (its idle thread
// remains).
//
// Wraps disarm_parent_death_signal of libpdeathsig, which wraps
// prctl(PR_SET_PDEATHSIG, 0): see PR_SET_PDEATHSIG(2const).
func Disarm() error {
	rc, err := C.disarm_parent_death_signal()
	return errnoOf(rc, err)
}

// Version returns the version of the loaded libpdeathsig, such as "0.1.0".
func Version() string {
	return C.GoString(C.pdeathsig_version())
}
