package pdeathsig_test

// Real processes, real kernel. The test process makes itself a child
// subreaper (PR_SET_CHILD_SUBREAPER), so the orphans of the parents it kills
// come back to it: it reaps them to learn how they died, and kills and
// reaps everything it started (tagged by PDEATHSIG_TEST_TAG in the
// environment) when it ends, pass or fail.
//
// The parent in each test is this test binary re-executed with
// PDEATHSIG_GO_TEST_ROLE=parent: it starts the child given on its command
// line, exporting PDEATHSIG_PPID=<its own pid> (the handoff) unless told
// not to, prints "pid N", and waits to be killed (or kills itself at once).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pdeathsig/pdeathsig/go/pdeathsig"
)

const (
	roleVar = "PDEATHSIG_GO_TEST_ROLE"
	tagVar  = "PDEATHSIG_TEST_TAG"
	// deathTimeout bounds "the child dies": generous for a loaded machine.
	deathTimeout        = 5 * time.Second
	prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER, see PR_SET_CHILD_SUBREAPER(2const)
)

var (
	tag      string
	childBin string // go/examples/child
	cgoBin   string // go/examples/cgosleep
	preload  string // libpdeathsig.so
)

// childFlag as the first argument makes this binary the child of
// runChild (checked before the role variable, which the child inherits).
const childFlag = "-pdeathsig-test-child"

// Both roles keep main on the main thread: the child arms in prctl mode
// from main (the setting is per thread), and in the parent no other
// goroutine can take the main thread, which a locked goroutine that returns
// would only wedge instead of ending.
func init() {
	if os.Getenv(roleVar) == "parent" {
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		runChild(os.Args[2:])
		return
	}
	if os.Getenv(roleVar) == "parent" {
		runParent(os.Args[1:])
		return
	}
	os.Exit(runTests(m))
}

// runChild is a child that arms in mode: MODE SIGNUM [ARG]. MODE is
// prctl (Arm), process (ArmProcess), grace (ArmProcessWithGrace with ARG,
// a time.ParseDuration text; SIGNUM is then ignored, once armed, so that
// only the escalation to SIGKILL can end it: arming a signal already
// ignored would report ENOTSUP), tree (ArmTree: the anchor from
// PDEATHSIG_PPID), tree-anchor (ArmTreeExpecting with the anchor pid ARG)
// or tree-ignored (SIGNUM ignored first; ArmTreeExpecting with the anchor
// ARG must report ENOTSUP with SIGNUM armed all the same, then
// ArmTreeWithGrace with a 200ms grace must succeed: only the escalation to
// SIGKILL can end it). Rearm must fail with EINVAL before the first arming
// and succeed after it. Prints "armed SIG" (Get) and waits to be killed;
// exits 3 on any failure.
func runChild(args []string) {
	fail := func(format string, a ...interface{}) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", a...)
		os.Exit(3)
	}
	if len(args) < 2 {
		fail("usage: MODE SIGNUM [ARG]")
	}
	arg := func() int {
		if len(args) < 3 {
			fail("mode %s needs a pid", args[0])
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			fail("bad pid %q", args[2])
		}
		return n
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		fail("bad signal %q", args[1])
	}
	sig := syscall.Signal(n)
	if err := pdeathsig.Rearm(); !errors.Is(err, syscall.EINVAL) {
		fail("Rearm() before any arming = %v, want EINVAL", err)
	} else if !strings.HasPrefix(err.Error(), "pdeathsig: Rearm: ") {
		fail("Rearm() error %q does not start with %q", err, "pdeathsig: Rearm: ")
	}
	switch args[0] {
	case "prctl":
		err = pdeathsig.Arm(sig)
	case "process":
		err = pdeathsig.ArmProcess(sig)
	case "grace":
		if len(args) < 3 {
			fail("grace needs GRACE")
		}
		grace, perr := time.ParseDuration(args[2])
		if perr != nil {
			fail("bad grace %q: %v", args[2], perr)
		}
		err = pdeathsig.ArmProcessWithGrace(sig, 0, grace)
	case "tree":
		err = pdeathsig.ArmTree(sig)
	case "tree-anchor":
		err = pdeathsig.ArmTreeExpecting(sig, arg())
	case "tree-ignored":
		anchor := arg()
		signal.Ignore(sig)
		err = pdeathsig.ArmTreeExpecting(sig, anchor)
		if !errors.Is(err, syscall.ENOTSUP) {
			fail("ArmTreeExpecting(%d, %d) with the signal ignored = %v, want ENOTSUP", sig, anchor, err)
		}
		if !strings.HasPrefix(err.Error(), "pdeathsig: ArmTreeExpecting: ") {
			fail("error %q does not start with %q", err, "pdeathsig: ArmTreeExpecting: ")
		}
		if got, gerr := pdeathsig.Get(); gerr != nil || got != sig {
			fail("after ENOTSUP, Get() = %v, %v; want %v armed all the same", got, gerr, sig)
		}
		// With a grace period the SIGKILL follows: no error.
		err = pdeathsig.ArmTreeWithGrace(sig, anchor, 200*time.Millisecond)
	default:
		fail("bad mode %q", args[0])
	}
	if err != nil {
		fail("arming in mode %s: %v", args[0], err)
	}
	if err := pdeathsig.Rearm(); err != nil {
		fail("Rearm() after arming: %v", err)
	}
	armed, err := pdeathsig.Get()
	if err != nil {
		fail("Get: %v", err)
	}
	if args[0] == "grace" {
		signal.Ignore(sig)
	}
	fmt.Printf("armed %d\n", int(armed))
	for {
		time.Sleep(time.Hour)
	}
}

// runParent is the parent process: [--no-handoff] [--die] [--thread] PROG
// ARGS... With --thread, see runThreadParent.
func runParent(args []string) {
	handoff, die, thread := true, false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		switch args[0] {
		case "--no-handoff":
			handoff = false
		case "--die":
			die = true
		case "--thread":
			thread = true
		}
		args = args[1:]
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = os.Environ()
	if handoff {
		cmd.Env = append(cmd.Env, "PDEATHSIG_PPID="+strconv.Itoa(os.Getpid()))
	}
	if thread {
		runThreadParent(cmd)
		return
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "parent:", err)
		os.Exit(127)
	}
	fmt.Printf("pid %d\n", cmd.Process.Pid)
	if die {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// runThreadParent starts the child from a goroutine locked to its OS
// thread, passes on the child's "armed" line, and returns from the goroutine
// without unlocking, which ends that thread (runtime.LockOSThread). The
// child's parent thread is then gone while this process lives on. Prints
// "pid N" (the child), "armed ..." (from the child), "thread-gone TID" once
// the thread has left /proc/self/task, and "child-signaled SIG" or
// "child-exited CODE" if the child ends. Waits to be killed.
func runThreadParent(cmd *exec.Cmd) {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parent:", err)
		os.Exit(127)
	}
	tids := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "parent:", err)
			os.Exit(127)
		}
		fmt.Printf("pid %d\n", cmd.Process.Pid)
		// Wait until the child has armed: arming after its parent thread
		// ended would find nothing to fire on, in either mode.
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			fmt.Fprintln(os.Stderr, "parent: no line from the child:", err)
			os.Exit(127)
		}
		fmt.Print(line)
		tids <- syscall.Gettid()
	}()
	tid := <-tids
	go func() {
		// wait4 works for a child of another thread of this process.
		cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			fmt.Printf("child-signaled %d\n", int(ws.Signal()))
		} else {
			fmt.Printf("child-exited %d\n", ws.ExitStatus())
		}
	}()
	deadline := time.Now().Add(deathTimeout)
	for fileExists(fmt.Sprintf("/proc/self/task/%d", tid)) {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "parent: thread %d still alive after %v\n", tid, deathTimeout)
			os.Exit(127)
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("thread-gone %d\n", tid)
	for {
		time.Sleep(time.Hour)
	}
}

func runTests(m *testing.M) int {
	tag = fmt.Sprintf("go-%d", os.Getpid())
	os.Setenv(tagVar, tag) // inherited by every process the tests start
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", errno)
		return 1
	}
	dir, err := os.MkdirTemp("", "pdeathsig-go-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	childBin = filepath.Join(dir, "child")
	cgoBin = filepath.Join(dir, "cgosleep")
	for bin, pkg := range map[string]string{childBin: "../examples/child", cgoBin: "../examples/cgosleep"} {
		if out, err := exec.Command(goTool(), "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	preload = libraryPath()
	defer cleanup()
	return m.Run()
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// libraryPath: PDEATHSIG_LIBRARY, else libpdeathsig.so in the libdir of
// the pdeathsig.pc that the package builds with, else the cargo build of
// this repository.
func libraryPath() string {
	if p := os.Getenv("PDEATHSIG_LIBRARY"); p != "" {
		return p
	}
	if out, err := exec.Command("pkg-config", "--variable=libdir", "pdeathsig").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(out)), "libpdeathsig.so"); fileExists(p) {
			return p
		}
	}
	target := os.Getenv("CARGO_TARGET_DIR")
	if target == "" {
		target = "../../target"
	} else if !filepath.IsAbs(target) {
		target = filepath.Join("../..", target)
	}
	p, _ := filepath.Abs(filepath.Join(target, "release", "libpdeathsig.so"))
	return p
}

// tagged lists living processes that carry this test run's tag.
func tagged() []int {
	needle := []byte(tagVar + "=" + tag + "\x00")
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && strings.Contains(string(env), string(needle)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cleanup kills every tagged process and reaps our children.
func cleanup() {
	for round := 0; round < 20; round++ {
		pids := tagged()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
		reapAll()
	}
	reapAll()
}

func reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// alive: exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// waitReap waits (bounded) for pid, our child or an orphan reparented to
// us, to exit, and reaps it. ok is false if it is still alive at the end.
func waitReap(t *testing.T, pid int, timeout time.Duration) (ws syscall.WaitStatus, ok bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4(%d): %v (not our child?)", pid, err)
		}
		if got == pid {
			return ws, true
		}
		if time.Now().After(deadline) {
			return ws, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lines delivers the lines of r on a channel.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

// run is one started parent/child pair.
type run struct {
	parent *exec.Cmd
	child  int
	lines  <-chan string
	// Lines read while looking for another prefix. The parent and the
	// child write to one pipe, so the child's "armed" line can come
	// before the parent's "pid" line.
	skipped []string
}

// start starts a parent (this binary) that starts child. Lines from both
// come on r.lines; start returns once the parent printed the child's pid.
func start(t *testing.T, env []string, parentFlags []string, child ...string) *run {
	t.Helper()
	args := append(append([]string{}, parentFlags...), child...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), roleVar+"=parent"), env...)
	cmd.Stderr = os.Stderr
	// Our own pipe, not StdoutPipe: Wait on the parent would close that,
	// and the orphaned child would die of SIGPIPE on its next line.
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanup(); out.Close() })
	r := &run{parent: cmd, lines: lines(out)}
	r.child = r.expect(t, "pid ")
	return r
}

// expect waits for a line starting with prefix and returns the integer
// after it. Lines already read are searched first, in order; lines read
// now that do not match are kept for a later expect.
func (r *run) expect(t *testing.T, prefix string) int {
	t.Helper()
	number := func(line string) int {
		fields := strings.Fields(line[len(prefix):])
		if len(fields) == 0 {
			t.Fatalf("bad line %q", line)
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		return n
	}
	for i, line := range r.skipped {
		if strings.HasPrefix(line, prefix) {
			r.skipped = append(r.skipped[:i:i], r.skipped[i+1:]...)
			return number(line)
		}
	}
	timeout := time.After(deathTimeout)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("output closed before a %q line (other lines: %q)", prefix, r.skipped)
			}
			if strings.HasPrefix(line, prefix) {
				return number(line)
			}
			r.skipped = append(r.skipped, line)
		case <-timeout:
			t.Fatalf("no %q line within %v (other lines: %q)", prefix, deathTimeout, r.skipped)
		}
	}
}

// killParent SIGKILLs the parent and reaps it: its children are then ours.
func (r *run) killParent(t *testing.T) {
	t.Helper()
	if err := r.parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.parent.Wait()
}

func assertDiedBy(t *testing.T, what string, pid int, sig syscall.Signal) {
	t.Helper()
	ws, ok := waitReap(t, pid, deathTimeout)
	if !ok {
		t.Fatalf("%s (pid %d) still alive %v after the death it follows", what, pid, deathTimeout)
	}
	if !ws.Signaled() || ws.Signal() != sig {
		t.Fatalf("%s ended with status %#x, want death by %v", what, uint32(ws), sig)
	}
}

func TestArmedGoChildDiesWithParent(t *testing.T) {
	for _, c := range []struct {
		arg string
		sig syscall.Signal
	}{{"TERM", syscall.SIGTERM}, {"KILL", syscall.SIGKILL}} {
		r := start(t, nil, nil, childBin, c.arg)
		if got := r.expect(t, "armed "); got != int(c.sig) {
			t.Fatalf("child reports signal %d armed, want %d", got, c.sig)
		}
		r.killParent(t)
		assertDiedBy(t, "armed Go child", r.child, c.sig)
	}
}

func TestUnarmedControlSurvives(t *testing.T) {
	r := start(t, nil, nil, cgoBin)
	if got := r.expect(t, "ready pid "); got != r.child {
		t.Fatalf("ready line from pid %d, want %d", got, r.child)
	}
	r.killParent(t)
	if _, gone := waitReap(t, r.child, 300*time.Millisecond); gone {
		t.Fatal("the unarmed control died with its parent: the test could not fail")
	}
	if !alive(r.child) {
		t.Fatal("control not alive")
	}
}

// A cgo binary that does not link libpdeathsig, armed by the loader alone.
func TestPreloadArmsCgoBinary(t *testing.T) {
	if !fileExists(preload) {
		t.Fatalf("%s not found: install the C library (scripts/install-c-lib.sh), or set PDEATHSIG_LIBRARY", preload)
	}
	r := start(t, []string{"LD_PRELOAD=" + preload, "PDEATHSIG=TERM"}, nil, cgoBin)
	var line string
	select {
	case line = <-r.lines:
	case <-time.After(deathTimeout):
		t.Fatal("no ready line")
	}
	var pid, sig int
	var envPPID string
	if _, err := fmt.Sscanf(line, "ready pid %d pdeathsig %d env_ppid %s", &pid, &sig, &envPPID); err != nil {
		t.Fatalf("bad line %q: %v", line, err)
	}
	if pid != r.child || sig != int(syscall.SIGTERM) {
		t.Fatalf("got %q, want pid %d armed with %d", line, r.child, syscall.SIGTERM)
	}
	// Observed with Go 1.19 and glibc 2.36: the constructor's stamp of
	// PDEATHSIG_PPID=<own pid>[:...] is visible to os.Getenv, so Go's own
	// children inherit the right stamp. The library may append fields after
	// the pid (PID:TICKS[:WATCHED][:INO]) and pad the pid with zeros; only
	// the pid's value is checked here.
	t.Logf("cgo binary under LD_PRELOAD: os.Getenv(PDEATHSIG_PPID) = %s (own pid %d)", envPPID, pid)
	if stamped, err := strconv.Atoi(strings.SplitN(envPPID, ":", 2)[0]); err != nil || stamped != pid {
		t.Errorf("os.Getenv(PDEATHSIG_PPID) = %s, want the process's own pid %d (then optional :fields)", envPPID, pid)
	}
	r.killParent(t)
	assertDiedBy(t, "preloaded cgo binary", r.child, syscall.SIGTERM)
}

// The race: the parent kills itself right after starting the child, and
// the child (behind a short `sh -c 'sleep 0.02; exec child'`, a slow
// start-up) arms only after its parent is gone. With the handoff the child
// knows its parent is gone and must die every time; without it, the library
// can only compare with the parent seen at load time, already the reaper,
// and the child lives on as an orphan (which shows the test can fail).
func TestRaceClosedByHandoff(t *testing.T) {
	const trials = 5
	orphans := func(flags ...string) int {
		n := 0
		for i := 0; i < trials; i++ {
			r := start(t, nil, append(flags, "--die"),
				"sh", "-c", `sleep 0.02; exec "$0" TERM`, childBin)
			r.parent.Wait()
			// Wait for the child to arm (it prints) or die (output closes).
			timeout := time.After(deathTimeout)
		wait:
			for {
				select {
				case line, ok := <-r.lines:
					if !ok || strings.HasPrefix(line, "armed ") {
						break wait
					}
				case <-timeout:
					t.Fatal("the child neither armed nor died")
				}
			}
			if ws, gone := waitReap(t, r.child, 300*time.Millisecond); !gone {
				n++
			} else if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Errorf("the child ended with status %#x, want SIGTERM", uint32(ws))
			}
			cleanup()
		}
		return n
	}
	if n := orphans(); n != 0 {
		t.Errorf("with the handoff, %d of %d children outlived their parent", n, trials)
	}
	n := orphans("--no-handoff")
	t.Logf("without the handoff, %d of %d children outlived their parent", n, trials)
	if n == 0 {
		t.Errorf("without the handoff no child leaked: the race test cannot fail")
	}
}

func TestInvalidArguments(t *testing.T) {
	for _, sig := range []syscall.Signal{0, -1, 32, 33, 65, 1000} {
		if err := pdeathsig.Arm(sig); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Arm(%d) = %v, want EINVAL", sig, err)
		}
	}
	if err := pdeathsig.ArmExpecting(syscall.SIGTERM, 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("ArmExpecting(SIGTERM, 0) = %v, want EINVAL", err)
	}
	if err := pdeathsig.ArmExpecting(syscall.SIGTERM, -5); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("ArmExpecting(SIGTERM, -5) = %v, want EINVAL", err)
	}
	var errno syscall.Errno
	if err := pdeathsig.Arm(0); !errors.As(err, &errno) {
		t.Errorf("Arm(0) error %T is not a syscall.Errno", err)
	}
	if sig, err := pdeathsig.Get(); err != nil || sig != 0 {
		t.Errorf("after failed calls Get() = %v, %v; want nothing armed", sig, err)
	}
}

// Arm, Get and Disarm in this process, on one OS thread (the setting is per
// thread). SIGWINCH is ignored by default, should the test's parent die.
func TestGetAndDisarm(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := pdeathsig.ArmExpecting(syscall.SIGWINCH, os.Getppid()); err != nil {
		t.Fatalf("ArmExpecting: %v", err)
	}
	if sig, err := pdeathsig.Get(); err != nil || sig != syscall.SIGWINCH {
		t.Errorf("Get() = %v, %v; want SIGWINCH", sig, err)
	}
	if err := pdeathsig.Disarm(); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	if sig, err := pdeathsig.Get(); err != nil || sig != 0 {
		t.Errorf("after Disarm, Get() = %v, %v; want 0", sig, err)
	}
	if armed, err := pdeathsig.ArmFromEnv(); err != nil || armed {
		// PDEATHSIG is not set in the test's environment.
		if os.Getenv("PDEATHSIG") == "" {
			t.Errorf("ArmFromEnv() = %v, %v without PDEATHSIG", armed, err)
		}
	}
	pdeathsig.Disarm()
	if v := pdeathsig.Version(); v == "" || strings.Count(v, ".") != 2 {
		t.Errorf("Version() = %q", v)
	}
}

// Process mode: the child watches its parent process (a pidfd) and dies by
// the signal when the parent is SIGKILLed (TestUnarmedControlSurvives is
// the control). Rearm is checked inside the child (see runChild). Not
// SIGUSR1: the Go runtime catches it and does nothing (os/signal).
func TestProcessModeChildDiesWithParent(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGHUP} {
		r := start(t, nil, nil, os.Args[0], childFlag, "process", strconv.Itoa(int(sig)))
		if got := r.expect(t, "armed "); got != int(sig) {
			t.Fatalf("process-mode child reports signal %d armed, want %d", got, sig)
		}
		r.killParent(t)
		assertDiedBy(t, "process-mode child", r.child, sig)
	}
}

// Escalation: the child ignores SIGTERM, so only the SIGKILL after the
// grace can end it. A 500µs grace must be rounded up to 1ms, not down to 0
// (no escalation); the control with grace 0 outlives its parent.
func TestProcessModeGraceEscalates(t *testing.T) {
	term := strconv.Itoa(int(syscall.SIGTERM))
	for _, grace := range []string{"200ms", "500us"} {
		r := start(t, nil, nil, os.Args[0], childFlag, "grace", term, grace)
		r.expect(t, "armed ")
		r.killParent(t)
		assertDiedBy(t, "child with grace "+grace, r.child, syscall.SIGKILL)
	}
	r := start(t, nil, nil, os.Args[0], childFlag, "grace", term, "0")
	r.expect(t, "armed ")
	r.killParent(t)
	if _, gone := waitReap(t, r.child, 500*time.Millisecond); gone {
		t.Fatal("the child ignoring SIGTERM with grace 0 died: the escalation test could not fail")
	}
}

// The case process mode exists for: a Go parent starts the child from a
// goroutine locked to an OS thread, which then ends. The kernel fires
// PR_SET_PDEATHSIG when that thread exits (the prctl-mode child dies while
// its parent lives); the process-mode child lives on until the parent
// process is killed.
func TestSpawnerThreadExit(t *testing.T) {
	term := strconv.Itoa(int(syscall.SIGTERM))

	r := start(t, nil, []string{"--thread"}, os.Args[0], childFlag, "prctl", term)
	if got := r.expect(t, "armed "); got != int(syscall.SIGTERM) {
		t.Fatalf("prctl-mode child reports signal %d armed", got)
	}
	if got := r.expect(t, "child-signaled "); got != int(syscall.SIGTERM) {
		t.Fatalf("prctl-mode child killed by signal %d, want SIGTERM", got)
	}
	if !alive(r.parent.Process.Pid) {
		t.Fatal("the parent died: the prctl-mode child's death proves nothing")
	}
	cleanup()

	r = start(t, nil, []string{"--thread"}, os.Args[0], childFlag, "process", term)
	if got := r.expect(t, "armed "); got != int(syscall.SIGTERM) {
		t.Fatalf("process-mode child reports signal %d armed", got)
	}
	r.expect(t, "thread-gone ")
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		if !alive(r.child) {
			t.Fatal("the process-mode child died when its parent's spawning thread exited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.killParent(t)
	assertDiedBy(t, "process-mode child", r.child, syscall.SIGTERM)
}

// Bad input to the process-mode functions is EINVAL and arms nothing: after
// a Disarm first (clearing what other tests armed), Get still reports 0 at
// the end (a process-mode watcher would show there).
func TestProcessModeInvalidArguments(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := pdeathsig.Disarm(); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	for _, sig := range []syscall.Signal{0, -1, 32, 33, 65, 1000} {
		if err := pdeathsig.ArmProcess(sig); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmProcess(%d) = %v, want EINVAL", sig, err)
		}
		if err := pdeathsig.ArmProcessWithGrace(sig, 0, time.Second); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmProcessWithGrace(%d, 0, 1s) = %v, want EINVAL", sig, err)
		}
	}
	for _, ppid := range []int{0, -5, 1 << 40} {
		if err := pdeathsig.ArmProcessExpecting(syscall.SIGTERM, ppid); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmProcessExpecting(SIGTERM, %d) = %v, want EINVAL", ppid, err)
		}
	}
	for _, c := range []struct {
		ppid  int
		grace time.Duration
		want  string // in the message, when the Go side rejects it
	}{
		{-1, 0, "-1"},
		{1 << 40, 0, "1099511627776"},
		{0, -time.Nanosecond, "-1ns"},
		{0, -time.Hour, "-1h0m0s"},
		{0, time.Duration(math.MaxUint32+1) * time.Millisecond, "does not fit"},
		{0, math.MaxInt64, "does not fit"},
		{0, time.Hour + time.Millisecond, ""}, // above the C library's limit
		{0, 2 * time.Hour, ""},
	} {
		err := pdeathsig.ArmProcessWithGrace(syscall.SIGTERM, c.ppid, c.grace)
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmProcessWithGrace(SIGTERM, %d, %v) = %v, want EINVAL", c.ppid, c.grace, err)
			continue
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("ArmProcessWithGrace(SIGTERM, %d, %v): message %q does not name %q",
				c.ppid, c.grace, err, c.want)
		}
	}
	if sig, err := pdeathsig.Get(); err != nil || sig != 0 {
		t.Errorf("after failed calls Get() = %v, %v; want nothing armed", sig, err)
	}
}

// Every error wraps a syscall.Errno under one message shape, "pdeathsig:
// FUNC: [DETAIL: ]ERRNO TEXT": one or two EINVAL cases per function that has
// one, rejected by the Go side or by the C library. Rearm's (nothing armed
// yet) needs a fresh process: runChild checks it in every child. Get,
// Disarm and Version have no EINVAL case.
func TestErrorsWrapped(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := pdeathsig.Disarm(); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	ppid := os.Getppid()
	fromEnv := func(env ...string) func() error {
		return func() error {
			for i := 0; i+1 < len(env); i += 2 {
				t.Setenv(env[i], env[i+1]) // os.Setenv reaches C's getenv under cgo
			}
			armed, err := pdeathsig.ArmFromEnv()
			if armed {
				t.Errorf("ArmFromEnv armed with %q", env)
			}
			return err
		}
	}
	for _, c := range []struct {
		fn   string
		what string
		call func() error
	}{
		{"Arm", "signal 0", func() error { return pdeathsig.Arm(0) }},
		{"Arm", "signal 65", func() error { return pdeathsig.Arm(65) }},
		{"ArmExpecting", "ppid 0 (Go side)", func() error { return pdeathsig.ArmExpecting(syscall.SIGTERM, 0) }},
		{"ArmExpecting", "signal 0 (C side)", func() error { return pdeathsig.ArmExpecting(0, ppid) }},
		{"ArmFromEnv", "PDEATHSIG=NOSUCHSIG", fromEnv("PDEATHSIG", "NOSUCHSIG")},
		{"ArmFromEnv", "grace without process mode",
			fromEnv("PDEATHSIG", "TERM", "PDEATHSIG_MODE", "prctl", "PDEATHSIG_GRACE", "5")},
		{"ArmProcess", "signal 65", func() error { return pdeathsig.ArmProcess(65) }},
		{"ArmProcessExpecting", "ppid -1 (Go side)",
			func() error { return pdeathsig.ArmProcessExpecting(syscall.SIGTERM, -1) }},
		{"ArmProcessExpecting", "signal 0 (C side)",
			func() error { return pdeathsig.ArmProcessExpecting(0, ppid) }},
		{"ArmProcessWithGrace", "grace -1ns (Go side)",
			func() error { return pdeathsig.ArmProcessWithGrace(syscall.SIGTERM, 0, -1) }},
		{"ArmProcessWithGrace", "grace 2h (C side)",
			func() error { return pdeathsig.ArmProcessWithGrace(syscall.SIGTERM, 0, 2*time.Hour) }},
		{"ArmTree", "signal 32", func() error { return pdeathsig.ArmTree(32) }},
		{"ArmTreeExpecting", "anchor 0 (Go side)",
			func() error { return pdeathsig.ArmTreeExpecting(syscall.SIGTERM, 0) }},
		{"ArmTreeExpecting", "signal 0 (C side)",
			func() error { return pdeathsig.ArmTreeExpecting(0, ppid) }},
		{"ArmTreeWithGrace", "anchor -1 (Go side)",
			func() error { return pdeathsig.ArmTreeWithGrace(syscall.SIGTERM, -1, 0) }},
		{"ArmTreeWithGrace", "grace 2h (C side)",
			func() error { return pdeathsig.ArmTreeWithGrace(syscall.SIGTERM, 0, 2*time.Hour) }},
	} {
		t.Run(c.fn+"/"+c.what, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("%s = %v, want an error wrapping EINVAL", c.fn, err)
			}
			var errno syscall.Errno
			if !errors.As(err, &errno) || errno != syscall.EINVAL {
				t.Errorf("errors.As(%v, *syscall.Errno) = %v", err, errno)
			}
			if _, bare := err.(syscall.Errno); bare {
				t.Errorf("%s returned a bare syscall.Errno, want it wrapped", c.fn)
			}
			msg := err.Error()
			if prefix := "pdeathsig: " + c.fn + ": "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			if !strings.HasSuffix(msg, syscall.EINVAL.Error()) {
				t.Errorf("message %q does not end with %q", msg, syscall.EINVAL.Error())
			}
		})
	}
	if sig, err := pdeathsig.Get(); err != nil || sig != 0 {
		t.Errorf("after failed calls Get() = %v, %v; want nothing armed", sig, err)
	}
}

// A signal this process ignores is armed, and reported: ENOTSUP (the same
// number as EOPNOTSUPP on Linux), wrapped like every error. SIGUSR2 is
// ignored only for the test, and the setting cleared after it.
func TestArmIgnoredSignalReported(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)
	defer pdeathsig.Disarm()
	err := pdeathsig.ArmExpecting(syscall.SIGUSR2, os.Getppid())
	if err == nil {
		t.Skip("this libpdeathsig does not report an ignored signal (arms it silently)")
	}
	if !errors.Is(err, syscall.ENOTSUP) {
		t.Fatalf("ArmExpecting(SIGUSR2) with SIGUSR2 ignored = %v, want ENOTSUP", err)
	}
	if !strings.HasPrefix(err.Error(), "pdeathsig: ArmExpecting: ") {
		t.Errorf("message %q does not start with %q", err, "pdeathsig: ArmExpecting: ")
	}
	if sig, err := pdeathsig.Get(); err != nil || sig != syscall.SIGUSR2 {
		t.Errorf("Get() = %v, %v; want SIGUSR2 armed despite the error", sig, err)
	}
}

// An expected parent that lives but is no ancestor of ours (a sleep we
// started) cannot be verified: armed, and the error wraps ErrUnverified,
// in prctl and process mode. Control: the real parent verifies (nil).
func TestUnverifiedIsReported(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer pdeathsig.Disarm()
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	pid := other.Process.Pid
	if err := pdeathsig.ArmExpecting(syscall.SIGTERM, pid); !errors.Is(err, pdeathsig.ErrUnverified) {
		t.Errorf("ArmExpecting(SIGTERM, %d) of a live non-ancestor = %v, want ErrUnverified", pid, err)
	} else if !strings.HasPrefix(err.Error(), "pdeathsig: ArmExpecting: ") {
		t.Errorf("message %q does not start with %q", err, "pdeathsig: ArmExpecting: ")
	}
	if err := pdeathsig.ArmExpecting(syscall.SIGTERM, os.Getppid()); err != nil {
		t.Errorf("control: ArmExpecting(SIGTERM, getppid()) = %v, want nil", err)
	}
	pdeathsig.Disarm()
	if err := pdeathsig.ArmProcessExpecting(syscall.SIGTERM, pid); !errors.Is(err, pdeathsig.ErrUnverified) {
		t.Errorf("ArmProcessExpecting(SIGTERM, %d) = %v, want ErrUnverified", pid, err)
	}
	// The same through the environment: Arm reads PDEATHSIG_PPID.
	pdeathsig.Disarm()
	os.Setenv("PDEATHSIG_PPID", strconv.Itoa(pid))
	defer os.Unsetenv("PDEATHSIG_PPID")
	if err := pdeathsig.Arm(syscall.SIGTERM); !errors.Is(err, pdeathsig.ErrUnverified) {
		t.Errorf("Arm(SIGTERM) with PDEATHSIG_PPID=%d = %v, want ErrUnverified", pid, err)
	}
}

// Bad input to the tree-mode functions is EINVAL and arms nothing, as in
// TestProcessModeInvalidArguments.
func TestTreeModeInvalidArguments(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := pdeathsig.Disarm(); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	for _, sig := range []syscall.Signal{0, -1, 32, 33, 65, 1000} {
		if err := pdeathsig.ArmTree(sig); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmTree(%d) = %v, want EINVAL", sig, err)
		}
		if err := pdeathsig.ArmTreeExpecting(sig, os.Getppid()); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmTreeExpecting(%d, ppid) = %v, want EINVAL", sig, err)
		}
		if err := pdeathsig.ArmTreeWithGrace(sig, 0, time.Second); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmTreeWithGrace(%d, 0, 1s) = %v, want EINVAL", sig, err)
		}
	}
	for _, anchor := range []int{0, -5, 1 << 40} {
		err := pdeathsig.ArmTreeExpecting(syscall.SIGTERM, anchor)
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmTreeExpecting(SIGTERM, %d) = %v, want EINVAL", anchor, err)
		} else if want := fmt.Sprintf("anchor pid %d", anchor); !strings.Contains(err.Error(), want) {
			t.Errorf("ArmTreeExpecting(SIGTERM, %d): message %q does not name %q", anchor, err, want)
		}
	}
	for _, c := range []struct {
		anchor int
		grace  time.Duration
		want   string // in the message, when the Go side rejects it
	}{
		{-1, 0, "anchor pid -1"},
		{1 << 40, 0, "anchor pid 1099511627776"},
		{0, -time.Nanosecond, "-1ns"},
		{0, time.Duration(math.MaxUint32+1) * time.Millisecond, "does not fit"},
		{0, time.Hour + time.Millisecond, ""}, // above the C library's limit
	} {
		err := pdeathsig.ArmTreeWithGrace(syscall.SIGTERM, c.anchor, c.grace)
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ArmTreeWithGrace(SIGTERM, %d, %v) = %v, want EINVAL", c.anchor, c.grace, err)
			continue
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("ArmTreeWithGrace(SIGTERM, %d, %v): message %q does not name %q",
				c.anchor, c.grace, err, c.want)
		}
	}
	if sig, err := pdeathsig.Get(); err != nil || sig != 0 {
		t.Errorf("after failed calls Get() = %v, %v; want nothing armed", sig, err)
	}
}

// anchor is a tree's anchor for the tree-mode tests: a `sleep 600` started
// by the test (tagged like everything else, killed and reaped at the end).
type anchor struct {
	cmd   *exec.Cmd
	pid   int
	ticks string // its start time in clock ticks (/proc/PID/stat field 22)
}

func startAnchor(t *testing.T) *anchor {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &anchor{cmd: cmd, pid: cmd.Process.Pid}
	t.Cleanup(a.kill)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command's closing parenthesis: state is field 3.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 20 {
		t.Fatalf("short /proc/%d/stat: %q", a.pid, stat)
	}
	a.ticks = fields[22-3]
	return a
}

// kill SIGKILLs the anchor and reaps it (once; later calls do nothing).
func (a *anchor) kill() {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	}
}

// Tree mode: a Go child armed against an anchor that is NOT its parent
// dies of SIGTERM when its own parent is SIGKILLed (it has not detached),
// the anchor alive, and when the anchor is SIGKILLed, its parent alive. The anchor comes from
// PDEATHSIG_PPID, as a plain pid and as PID:TICKS (what the library
// writes), or explicitly (ArmTreeExpecting; the parent's handoff names
// itself, and must not count). The controls: a prctl-mode child (Arm) with
// the same anchor alive dies when its parent exits; a process-mode child
// lives on when the anchor dies.
func TestTreeModeFollowsAnchor(t *testing.T) {
	term := strconv.Itoa(int(syscall.SIGTERM))
	t.Run("control/Arm dies with its parent", func(t *testing.T) {
		a := startAnchor(t)
		r := start(t, nil, nil, os.Args[0], childFlag, "prctl", term)
		r.expect(t, "armed ")
		r.killParent(t)
		assertDiedBy(t, "prctl-mode child", r.child, syscall.SIGTERM)
		if !alive(a.pid) {
			t.Fatal("the anchor died: the control proves nothing")
		}
	})
	for _, c := range []struct {
		name string
		run  func(a *anchor) *run
	}{
		{"ArmTree/PDEATHSIG_PPID=PID", func(a *anchor) *run {
			return start(t, []string{"PDEATHSIG_PPID=" + strconv.Itoa(a.pid)}, []string{"--no-handoff"},
				os.Args[0], childFlag, "tree", term)
		}},
		{"ArmTree/PDEATHSIG_PPID=PID:TICKS", func(a *anchor) *run {
			return start(t, []string{fmt.Sprintf("PDEATHSIG_PPID=%d:%s", a.pid, a.ticks)}, []string{"--no-handoff"},
				os.Args[0], childFlag, "tree", term)
		}},
		{"ArmTreeExpecting", func(a *anchor) *run {
			return start(t, nil, nil, os.Args[0], childFlag, "tree-anchor", term, strconv.Itoa(a.pid))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := startAnchor(t)
			r := c.run(a)
			if got := r.expect(t, "armed "); got != int(syscall.SIGTERM) {
				t.Fatalf("tree-mode child reports signal %d armed, want %d", got, syscall.SIGTERM)
			}
			r.killParent(t)
			assertDiedBy(t, "tree-mode child, its parent killed", r.child, syscall.SIGTERM)
			if !alive(a.pid) {
				t.Fatal("the anchor died: the test proves nothing")
			}
			// The anchor's death, the parent alive.
			r = c.run(a)
			r.expect(t, "armed ")
			a.kill()
			diedParentAlive(t, r, "tree-mode child, its anchor killed", syscall.SIGTERM)
		})
	}
	t.Run("control/ArmProcess lives on without the anchor", func(t *testing.T) {
		a := startAnchor(t)
		r := start(t, nil, nil, os.Args[0], childFlag, "process", term)
		r.expect(t, "armed ")
		a.kill()
		time.Sleep(500 * time.Millisecond)
		if !alive(r.child) {
			t.Fatal("the process-mode child died with the anchor: the tree-mode test proves nothing")
		}
	})
}

// diedParentAlive waits (bounded) for r.child to end while its parent
// lives, then kills the parent, so that the zombie comes to this
// subreaper, and checks that it died of sig.
func diedParentAlive(t *testing.T, r *run, what string, sig syscall.Signal) {
	t.Helper()
	for deadline := time.Now().Add(deathTimeout); alive(r.child); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still alive %v later", what, deathTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !alive(r.parent.Process.Pid) {
		t.Fatalf("%s: the child's parent died first: the test proves nothing", what)
	}
	r.killParent(t)
	assertDiedBy(t, what, r.child, sig)
}

// The race in tree mode: the anchor is already dead (killed and reaped)
// when the child arms, so the child gets the signal at once, from the
// arming call: it dies of SIGTERM without printing "armed". Through
// PDEATHSIG_PPID=PID:TICKS (pid reuse ruled out by the start time) and
// through ArmTreeExpecting. TestTreeModeFollowsAnchor is the control: with
// the anchor alive, the same children live.
func TestTreeModeAnchorAlreadyDead(t *testing.T) {
	term := strconv.Itoa(int(syscall.SIGTERM))
	a := startAnchor(t)
	a.kill()
	for _, c := range []struct {
		name string
		env  []string
		flag []string
		mode []string
	}{
		{"ArmTree/PDEATHSIG_PPID=PID:TICKS", []string{fmt.Sprintf("PDEATHSIG_PPID=%d:%s", a.pid, a.ticks)},
			[]string{"--no-handoff"}, []string{"tree", term}},
		{"ArmTreeExpecting", nil, nil, []string{"tree-anchor", term, strconv.Itoa(a.pid)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := start(t, c.env, c.flag, append([]string{os.Args[0], childFlag}, c.mode...)...)
			// The child is its parent's (which never waits): wait for it to
			// end while the parent lives, then kill the parent, so that the
			// zombie comes to this subreaper and tells how it died.
			for deadline := time.Now().Add(deathTimeout); alive(r.child); {
				if time.Now().After(deadline) {
					t.Fatalf("the child of a dead anchor still alive %v after it started", deathTimeout)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if !alive(r.parent.Process.Pid) {
				t.Fatal("the child's parent died first: the test proves nothing")
			}
			r.killParent(t)
			assertDiedBy(t, "tree-mode child of a dead anchor", r.child, syscall.SIGTERM)
			for _, line := range r.skipped {
				if strings.HasPrefix(line, "armed ") {
					t.Errorf("the child printed %q: it returned from arming", line)
				}
			}
		})
	}
}

// A signal ignored before arming in tree mode is armed and reported
// (ENOTSUP), and with a grace period arms without error: the SIGKILL after
// the grace ends the child when the anchor dies (checked in runChild's
// tree-ignored mode; here the end: SIGKILL, not SIGTERM, and not before the
// anchor dies).
func TestTreeModeIgnoredSignalEscalates(t *testing.T) {
	a := startAnchor(t)
	r := start(t, nil, nil, os.Args[0], childFlag, "tree-ignored",
		strconv.Itoa(int(syscall.SIGTERM)), strconv.Itoa(a.pid))
	if got := r.expect(t, "armed "); got != int(syscall.SIGTERM) {
		t.Fatalf("child reports signal %d armed, want %d", got, syscall.SIGTERM)
	}
	a.kill()
	diedParentAlive(t, r, "tree-mode child ignoring SIGTERM, grace 200ms", syscall.SIGKILL)
}
