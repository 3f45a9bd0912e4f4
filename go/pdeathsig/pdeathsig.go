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
package pdeathsig

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lpdeathsig
#include <pdeathsig.h>
*/
import "C"

import (
	"errors"
	"syscall"
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
// (TERM, SIGTERM, 15, RTMIN+3), PDEATHSIG_PPID the expected parent. It
// reports whether it armed (false when PDEATHSIG is unset or empty).
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

// Get returns the signal armed for the calling OS thread, 0 when none (see
// the package comment about threads).
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
// parent dies.
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
