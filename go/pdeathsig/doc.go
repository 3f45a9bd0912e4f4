// Package pdeathsig makes this process die when its parent dies (Linux
// prctl(PR_SET_PDEATHSIG), see PR_SET_PDEATHSIG(2const)), with the start-up
// race closed by the parent-pid handoff: a spawner that exports
// PDEATHSIG_PPID=<its own pid> into the child's environment lets the child
// tell "my parent died before I armed" from "my parent is alive".
//
// The one call a child needs, at the top of main:
//
//	func init() { runtime.LockOSThread() } // arm on the main thread
//
//	func main() {
//		if err := pdeathsig.Arm(syscall.SIGTERM); err != nil {
//			log.Fatal(err) // e.g. "pdeathsig: Arm: no such process"
//		}
//		// ...
//	}
//
// # Installing
//
// The package wraps the C library libpdeathsig through cgo, and finds it
// with pkg-config (#cgo pkg-config: pdeathsig). Install the C library
// first, from a checkout of the repository (needs cargo):
//
//	sudo scripts/install-c-lib.sh /usr/local && sudo ldconfig
//
// or from the Debian package built from the repository, which installs the
// library, pdeathsig.h and pdeathsig.pc. Then, in your module:
//
//	go get github.com/pdeathsig/pdeathsig/go/pdeathsig
//
// The module is github.com/pdeathsig/pdeathsig/go, in the go/ directory of
// the repository github.com/pdeathsig/pdeathsig; its releases are the tags
// go/vX.Y.Z of that repository (the tag go/v0.1.0 is the version v0.1.0,
// go get github.com/pdeathsig/pdeathsig/go/pdeathsig@v0.1.0). Before the
// first such tag, go get resolves a pseudo-version of the latest commit.
// From a local clone instead:
//
//	go mod edit -require=github.com/pdeathsig/pdeathsig/go@v0.0.0 \
//		-replace=github.com/pdeathsig/pdeathsig/go=/path/to/clone/go
//
// Building needs cgo (CGO_ENABLED=1, the default with a C compiler) and
// pkg-config finding pdeathsig.pc: under /usr/local or /usr it does; for
// another prefix set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig. The binaries link
// libpdeathsig.so dynamically: the loader finds it in /usr/local/lib after
// ldconfig; for another prefix set LD_LIBRARY_PATH=PREFIX/lib at run time,
// or build with CGO_LDFLAGS=-Wl,-rpath,PREFIX/lib. Go's build cache does not
// notice a change of pkg-config's output (golang/go#24544): after moving the
// library to another prefix, rebuild with go build -a (or a fresh GOCACHE).
//
// Inside the repository, scripts/test-languages.sh installs the library
// into a temporary prefix and runs this package's tests against it, and
// scripts/ci-go-module.sh builds and runs a throwaway module that imports
// this package.
//
// # Threads
//
// The kernel keeps the prctl setting per thread and sends the signal when
// the parent dies if any thread of this process has it set; the setting is
// lost if the thread that armed exits (Go retires an OS thread only when a
// goroutine exits while locked to it with runtime.LockOSThread). Arm,
// ArmExpecting, Rearm, Get and Disarm act on the OS thread they run on.
// Calling runtime.LockOSThread in an init function keeps main on the main
// thread, which lives as long as the process: arm from main and Get from
// main then agree.
//
// The parent side has the same trap: the kernel fires when the parent's
// thread that started this process exits, even if the parent process lives
// on (a Go parent that starts children from a goroutine locked with
// runtime.LockOSThread, which then returns).
//
// # Process mode
//
// Process mode (ArmProcess, ArmProcessExpecting, ArmProcessWithGrace) has
// neither trap: it fires only when the parent process exits, not when the
// parent's OS thread that started this process exits. It watches a pidfd of
// the parent (pidfd_open(2)) from a thread of the C library, and can
// escalate to SIGKILL after a grace period. It needs Linux 5.3 or later
// (syscall.ENOSYS before).
//
// # Tree mode
//
// Tree mode (ArmTree, ArmTreeExpecting, ArmTreeWithGrace) watches the
// parent, as process mode does, and the tree's anchor: the pid given to
// ArmTreeExpecting, else the anchor the tree passes on (PDEATHSIG_ANCHOR),
// else the process named in PDEATHSIG_PPID (the tool that started the
// tree exports its own pid there), else this process. This process gets
// the signal when its parent or the anchor dies; once it has detached
// (syscall.Setsid, nohup, a daemon's double fork, or left behind by a
// parent that exited with status 0) only the anchor counts. A child created by
// fork without exec gets a watcher of its own (pthread_atfork; Go itself
// never forks without exec, but C code it calls may), and children exec'd
// with LD_PRELOAD=libpdeathsig.so PDEATHSIG_MODE=tree arm the same way, so
// the whole tree gets the signal at once. An anchor already gone when this
// process arms (or whose pid was reused, told by its start time in
// PID:TICKS) means the signal is sent at once. A dev tool that starts a Go
// server under it:
//
//	// the tool: cmd.Env = append(os.Environ(), "PDEATHSIG_PPID="+strconv.Itoa(os.Getpid()))
//	// the server, at the top of main:
//	if err := pdeathsig.ArmTreeWithGrace(syscall.SIGTERM, 0, 5*time.Second); err != nil {
//		log.Fatal(err)
//	}
//
// Tree mode needs Linux 5.3 or later, as process mode, and costs one
// thread per process of the tree.
//
// # Ignored signals
//
// Arming a signal that this process ignores (signal.Ignore, or SIG_IGN
// inherited: a background job of a non-interactive shell starts with
// SIGINT and SIGQUIT ignored, nohup ignores SIGHUP) returns an error
// wrapping syscall.ENOTSUP, although the signal IS armed (Get reports it):
// when the parent or anchor dies the signal would do nothing. Pick another
// signal (SIGTERM, SIGKILL), restore the default action first
// (signal.Reset), or give a grace period (ArmProcessWithGrace,
// ArmTreeWithGrace): the SIGKILL after it still ends the process, so no
// error is reported then. On Linux syscall.ENOTSUP and syscall.EOPNOTSUPP
// are the same number: from ArmProcess it can also mean a parent outside
// this PID namespace, where nothing is armed (Get tells the two apart).
//
// # Unverified
//
// Where the facts cannot be read (a /proc of another PID namespace or with
// hidepid, a stamped process that lives but is not an ancestor), the
// library arms against the current parent, sends no signal, and every
// arming function returns an error wrapping ErrUnverified: armed, as a
// warning, never silent. Test it with errors.Is(err, pdeathsig.ErrUnverified)
// before treating err as fatal.
//
// # Errors
//
// Every error of this package but ErrUnverified wraps a syscall.Errno and reads
// "pdeathsig: FUNC: [DETAIL: ]ERRNO TEXT", for example
// "pdeathsig: ArmExpecting: parent pid 0: want a positive pid: invalid
// argument". Test it with errors.Is (errors.Is(err, syscall.ESRCH)) or get
// the number with errors.As (var errno syscall.Errno); do not compare err
// with == against a syscall.Errno. syscall.EINVAL always means bad input:
// nothing was armed (a signal outside 1..31 and SIGRTMIN..SIGRTMAX, so 32
// and 33 too; a pid that is not positive in the *Expecting functions,
// where the C library would take 0 as the default).
//
// # Examples
//
// go/examples/child is a Go child that arms with one call; go/examples/cgosleep
// is a cgo program armed from outside by LD_PRELOAD=libpdeathsig.so
// PDEATHSIG=TERM without importing this package. Both wait to be killed: they
// never return on their own.
package pdeathsig
