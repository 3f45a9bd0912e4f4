// Command cgosleep is a cgo program that knows nothing of pdeathsig: it does
// not link libpdeathsig. Being dynamically linked (cgo), it can still be
// armed from outside by the loader:
//
//	go build -o /tmp/cgosleep ./examples/cgosleep
//	LD_PRELOAD=/path/to/libpdeathsig.so PDEATHSIG=TERM /tmp/cgosleep
//
// It prints "ready pid PID pdeathsig SIG env_ppid VALUE", where SIG is
// prctl(PR_GET_PDEATHSIG) of the main thread and VALUE is PDEATHSIG_PPID as
// Go's os.Getenv sees it, then sleeps until killed: it never returns on its
// own (Ctrl-C, or its parent's death once armed, ends it). Without
// LD_PRELOAD it is the unarmed control: it outlives its parent. A pure-Go
// (static) binary ignores LD_PRELOAD: use the pdeathsig exec wrapper for
// those.
package main

/*
#include <unistd.h>
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// Stay on the main thread, where the load-time constructor armed.
func init() { runtime.LockOSThread() }

func main() {
	var sig int32
	const prGetPdeathsig = 2 // PR_GET_PDEATHSIG, see PR_GET_PDEATHSIG(2const)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetPdeathsig,
		uintptr(unsafe.Pointer(&sig)), 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "cgosleep: PR_GET_PDEATHSIG: %v\n", errno)
		os.Exit(1)
	}
	env, ok := os.LookupEnv("PDEATHSIG_PPID")
	if !ok {
		env = "unset"
	}
	fmt.Printf("ready pid %d pdeathsig %d env_ppid %s\n", int(C.getpid()), sig, env)
	for {
		time.Sleep(time.Hour)
	}
}
