// Command child is a Go child that asks to die with its parent: one call at
// the top of main.
//
//	child [SIGNAL]    SIGNAL: a number (15) or a name (TERM, SIGTERM, KILL,
//	                  INT, HUP, QUIT, USR1, USR2); default SIGTERM
//
// The spawner closes the start-up race by exporting PDEATHSIG_PPID=<its pid>.
// Prints "armed SIG parent PPID" once armed, then waits to be killed: it
// never returns on its own. `go run ./examples/child TERM` therefore runs
// until Ctrl-C; its parent is then the go command, not the shell. To see it
// die with its parent, build it and start it from a parent that dies:
//
//	go build -o /tmp/child ./examples/child
//	sh -c 'PDEATHSIG_PPID=$$ /tmp/child TERM & sleep 1; kill -KILL $$'
//	pgrep -x child    # nothing: the child died of SIGTERM with its sh
//
// It needs the C library installed (see the package documentation of
// github.com/pdeathsig/pdeathsig/go/pdeathsig).
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pdeathsig/pdeathsig/go/pdeathsig"
)

// Keep main on the main thread, which lives as long as the process: the
// kernel keeps the setting per thread (see the package documentation).
func init() { runtime.LockOSThread() }

var names = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"TERM": syscall.SIGTERM,
}

func parseSignal(text string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(text); err == nil {
		return syscall.Signal(n), n >= 1 && n <= 64
	}
	sig, ok := names[strings.TrimPrefix(strings.ToUpper(text), "SIG")]
	return sig, ok
}

func main() {
	sig := syscall.SIGTERM
	if len(os.Args) > 2 {
		fmt.Fprintf(os.Stderr, "usage: %s [SIGNAL]\n", os.Args[0])
		os.Exit(2)
	}
	if len(os.Args) == 2 {
		var ok bool
		if sig, ok = parseSignal(os.Args[1]); !ok {
			fmt.Fprintf(os.Stderr, "%s: bad signal %q: expected a number from 1 to 64 "+
				"or a name such as TERM, SIGTERM, KILL, INT, HUP, QUIT, USR1, USR2\n",
				os.Args[0], os.Args[1])
			os.Exit(2)
		}
	}

	// The one call a Go child needs.
	if err := pdeathsig.Arm(sig); err != nil {
		hint := ""
		if errors.Is(err, syscall.ESRCH) {
			hint = " (the parent had already died)"
		} else if errors.Is(err, syscall.EINVAL) {
			hint = " (bad signal, or PDEATHSIG_PPID is not a pid)"
		}
		fmt.Fprintf(os.Stderr, "%s: %v (signal %d)%s\n", os.Args[0], err, int(sig), hint)
		os.Exit(1)
	}

	armed, _ := pdeathsig.Get()
	fmt.Printf("armed %d parent %d\n", int(armed), os.Getppid())
	for {
		time.Sleep(time.Hour)
	}
}
