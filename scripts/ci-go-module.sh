#!/bin/sh
# The Go package used from ANOTHER module, against an INSTALLED C library,
# as `go get` users build it:
#
#   1. builds the C library (cargo build --release -p pdeathsig-capi; honours
#      CARGO_TARGET_DIR) and installs it into a temporary prefix with
#      scripts/install-c-lib.sh;
#   2. creates a throwaway module example.com/consumer in a temporary
#      directory outside the repository, requiring
#      github.com/pdeathsig/pdeathsig/go v0.0.0 with a replace pointing at
#      this checkout's go/ (there is no network: GOPROXY=off, GOSUMDB=off,
#      GOFLAGS=-mod=mod, GOWORK=off); the package finds the library with
#      `#cgo pkg-config: pdeathsig` through PKG_CONFIG_PATH alone
#      (CGO_CFLAGS and CGO_LDFLAGS are unset);
#   3. go vet ./... in that module, builds its two commands and checks that
#      the consumer loads libpdeathsig.so from the prefix (LD_LIBRARY_PATH);
#   4. runs the harness: a parent (exporting PDEATHSIG_PPID) starts the
#      consumer, which imports the package and arms; the parent is
#      SIGKILLed and the consumer must die of SIGTERM (prctl mode, then
#      process mode); an unarmed consumer must outlive its parent (the
#      control: the check can fail).
#
# Every wait is bounded; every process started is killed on exit, and the
# temporary directory removed.
#
# Usage: scripts/ci-go-module.sh        Needs: cargo, cc, go, pkg-config.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)

run() {
    echo "+ $*" >&2
    "$@"
}

missing=
for tool in cargo cc go pkg-config timeout ldd; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "ci-go-module.sh: missing:$missing (Debian: apt-get install -y gcc golang-go pkg-config)" >&2
    exit 1
fi

target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
export CARGO_TARGET_DIR="$target"

work=$(mktemp -d "${TMPDIR:-/tmp}/pdeathsig-go-module.XXXXXX")
# Processes the harness starts carry this in their environment (not the
# script's own, so that its grep does not match itself).
tag="ci-go-module-$$-$(date +%s)"
kill_tagged() {
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [ "$pid" != $$ ] || continue
        if grep -qzx "PDEATHSIG_CI_TAG=$tag" "$dir/environ" 2>/dev/null; then
            echo "ci-go-module.sh: killing leftover process $pid" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}
cleanup() {
    kill_tagged
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case $work in
"$root" | "$root"/*)
    echo "ci-go-module.sh: $work is inside the repository: set TMPDIR elsewhere" >&2
    exit 1
    ;;
esac

echo "== C library: build, install into $work/prefix" >&2
run cargo build --release -p pdeathsig-capi
prefix=$work/prefix
PDEATHSIG_NO_BUILD=1 run scripts/install-c-lib.sh "$prefix"

# The Go environment of a user with the library in a prefix pkg-config does
# not search, offline.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
unset CGO_CFLAGS CGO_LDFLAGS PDEATHSIG_LIBRARY GOFLAGS
export CGO_ENABLED=1 GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOWORK=off
# A build cache of its own: Go's cache key leaves out pkg-config's output
# (golang/go#24544), so a shared cache would link with the -L of an earlier
# run's deleted prefix ("cannot find -lpdeathsig").
export GOCACHE="$work/go-build-cache"
[ -n "${HOME:-}" ] || export GOPATH="$work/gopath"
run pkg-config --modversion pdeathsig

echo "== throwaway module example.com/consumer in $work/consumer" >&2
mod=$work/consumer
mkdir -p "$mod/harness" "$work/bin"
cd "$mod"
run go mod init example.com/consumer
run go mod edit -require=github.com/pdeathsig/pdeathsig/go@v0.0.0 \
    -replace=github.com/pdeathsig/pdeathsig/go="$root/go"

cat >main.go <<'EOF'
// Command consumer imports the package as any module would, arms as its
// argument says (prctl: Arm, process: ArmProcess, none: the unarmed
// control) for SIGTERM, prints "armed SIG version V", and waits to be
// killed (it exits by itself after two minutes, so that nothing outlives a
// broken run).
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/pdeathsig/pdeathsig/go/pdeathsig"
)

// Arm on the main thread, which lives as long as the process.
func init() { runtime.LockOSThread() }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: consumer prctl|process|none")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "prctl":
		err = pdeathsig.Arm(syscall.SIGTERM)
	case "process":
		err = pdeathsig.ArmProcess(syscall.SIGTERM)
	case "none":
	default:
		fmt.Fprintln(os.Stderr, "consumer: bad mode", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
	// The error convention, seen from another module.
	if err := pdeathsig.ArmExpecting(syscall.SIGTERM, 0); !errors.Is(err, syscall.EINVAL) {
		fmt.Fprintf(os.Stderr, "consumer: ArmExpecting(SIGTERM, 0) = %v, want EINVAL\n", err)
		os.Exit(1)
	}
	sig, err := pdeathsig.Get()
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
	fmt.Printf("armed %d version %s\n", int(sig), pdeathsig.Version())
	time.Sleep(2 * time.Minute)
}
EOF

cat >harness/main.go <<'EOF'
// Command harness checks that the consumer dies with its parent.
//
//	harness CONSUMER                  the check (prints one line per case)
//	harness -parent CONSUMER MODE     the parent: starts CONSUMER MODE with
//	                                  PDEATHSIG_PPID=<own pid>, prints
//	                                  "pid N", waits (at most a minute)
//
// The check makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so the
// consumer orphaned by the SIGKILLed parent comes back to it, and wait4
// tells how it died. Every wait is bounded; on failure it kills what it
// started.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER
	timeout             = 10 * time.Second
)

// The parent forks from the main thread, which lives as long as it does.
func init() { runtime.LockOSThread() }

var started []int // pids to kill on failure

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "harness: FAIL: "+format+"\n", a...)
	for _, pid := range started {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.Exit(1)
}

func parent(consumer, mode string) {
	cmd := exec.Command(consumer, mode)
	cmd.Env = append(os.Environ(), "PDEATHSIG_PPID="+strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "parent:", err)
		os.Exit(127)
	}
	fmt.Printf("pid %d\n", cmd.Process.Pid)
	time.Sleep(time.Minute)
	cmd.Process.Kill()
	os.Exit(1)
}

// reap waits (bounded) for pid to end and returns how it ended.
func reap(pid int, within time.Duration) (syscall.WaitStatus, bool) {
	deadline := time.Now().Add(within)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err != nil {
			fail("wait4(%d): %v", pid, err)
		}
		if got == pid {
			return ws, true
		}
		if time.Now().After(deadline) {
			return ws, false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func check(consumer, mode string) {
	started = nil // the pids of earlier cases are reaped
	r, w, err := os.Pipe()
	if err != nil {
		fail("%v", err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-parent", consumer, mode)
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		fail("%v", err)
	}
	started = append(started, cmd.Process.Pid)
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	child, armed := 0, ""
	for deadline := time.After(timeout); child == 0 || armed == ""; {
		select {
		case line, ok := <-lines:
			if !ok {
				fail("%s: output closed before the pid and armed lines", mode)
			}
			if strings.HasPrefix(line, "pid ") {
				child, _ = strconv.Atoi(line[4:])
				started = append(started, child)
			} else if strings.HasPrefix(line, "armed ") {
				armed = line
			}
		case <-deadline:
			fail("%s: no pid and armed lines within %v", mode, timeout)
		}
	}
	want := "armed 15 "
	if mode == "none" {
		want = "armed 0 "
	}
	if !strings.HasPrefix(armed, want) {
		fail("%s: consumer says %q, want %q...", mode, armed, want)
	}
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	if mode == "none" {
		if _, gone := reap(child, 500*time.Millisecond); gone {
			fail("none: the unarmed consumer died with its parent: the check could not fail")
		}
		syscall.Kill(child, syscall.SIGKILL)
		reap(child, timeout)
		fmt.Printf("none: unarmed consumer %d outlived its SIGKILLed parent (control)\n", child)
		return
	}
	ws, gone := reap(child, timeout)
	if !gone {
		fail("%s: consumer %d still alive %v after its parent was SIGKILLed", mode, child, timeout)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		fail("%s: consumer %d ended with status %#x, want death by SIGTERM", mode, child, uint32(ws))
	}
	fmt.Printf("%s: consumer %d (%s) died of SIGTERM %v after its parent was SIGKILLed\n",
		mode, child, armed, time.Since(killed).Round(time.Millisecond))
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-parent" {
		parent(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: harness CONSUMER")
		os.Exit(2)
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fail("PR_SET_CHILD_SUBREAPER: %v", errno)
	}
	for _, mode := range []string{"prctl", "process", "none"} {
		check(os.Args[1], mode)
	}
}
EOF

run cat go.mod
run go list -m github.com/pdeathsig/pdeathsig/go
run gofmt -l .
[ -z "$(gofmt -l .)" ] || { echo "ci-go-module.sh: gofmt" >&2; exit 1; }
echo "== go vet ./... (in the throwaway module)" >&2
run timeout 600 go vet ./...
echo "== build" >&2
run timeout 600 go build -o "$work/bin/consumer" .
run timeout 600 go build -o "$work/bin/harness" ./harness

echo "== run against the installed library (LD_LIBRARY_PATH=$prefix/lib)" >&2
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
resolved=$(ldd "$work/bin/consumer" | awk '$1 == "libpdeathsig.so" { print $3 }')
echo "consumer: libpdeathsig.so => $resolved" >&2
if [ "$resolved" != "$prefix/lib/libpdeathsig.so" ]; then
    echo "ci-go-module.sh: the consumer does not load the installed library" >&2
    exit 1
fi
PDEATHSIG_CI_TAG=$tag run timeout 120 "$work/bin/harness" "$work/bin/consumer"

echo "== nothing left behind" >&2
cd "$root"
left=$(kill_tagged 2>&1)
if [ -n "$left" ]; then
    echo "$left" >&2
    echo "ci-go-module.sh: processes outlived the check" >&2
    exit 1
fi

echo "== Go module check passed in $(($(date +%s) - start)) s" >&2
