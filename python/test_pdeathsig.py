"""Tests of the pdeathsig package with real processes (stdlib unittest
only).

Run from this directory: python3 -m unittest -v (the package in
./pdeathsig/, the library from PDEATHSIG_LIBRARY or the repository's
target/release). scripts/ci-python-wheel.sh runs this file from elsewhere
against the package installed from a wheel, with PDEATHSIG_TEST_INSTALLED=1.

Every process the tests start imports the very package this process
imported (the directory holding it goes first on their sys.path).

The test process makes itself a child subreaper (PR_SET_CHILD_SUBREAPER,
through ctypes), so the orphans of the parents it kills come back to it: it
waits for them with pidfds, reaps them to learn how they died, and kills and
reaps everything it started (tagged by PDEATHSIG_TEST_TAG in the
environment) after every test, pass or fail.
"""

import ctypes
import ctypes.util
import datetime
import errno
import importlib.metadata
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import pdeathsig

# The directory holding the imported package: first on the children's path.
PACKAGE_DIR = os.path.dirname(os.path.abspath(pdeathsig.__file__))
IMPORT_ROOT = os.path.dirname(PACKAGE_DIR)
INSTALLED_VAR = "PDEATHSIG_TEST_INSTALLED"
TAG_VAR = "PDEATHSIG_TEST_TAG"
TAG = "py-%d" % os.getpid()
DEATH_TIMEOUT = 5.0  # bound for "the child dies"
PR_SET_CHILD_SUBREAPER = 36  # see PR_SET_CHILD_SUBREAPER(2const)

# The child: arms (unless MODE is "none"), prints, sleeps until killed.
# MODE: none; TERM or KILL (prctl mode, arm); process:SIG (arm_process);
# grace:SIG:SECONDS (ignores SIG, then arm_process with that grace, so that
# only the escalation to SIGKILL can end it; with 0 seconds the arming must
# report ENOTSUP, the signal armed all the same); tree:SIG[:ANCHOR]
# (arm_tree, the anchor from PDEATHSIG_PPID unless given);
# treeign:SIG:ANCHOR:SECONDS (ignores SIG: arm_tree must report ENOTSUP with
# SIG armed, then arm_tree with that grace must succeed);
# treedetach:SIG:ANCHOR (os.setsid(), then arm_tree: a detached child);
# treefork:SIG:ANCHOR and processfork:SIG (arm_tree or arm_process, then
# start a multiprocessing child with the "fork" start method, which sleeps;
# prints "fork PID" before "armed"). In the watcher modes rearm() must fail
# with EINVAL before the first arming and succeed after it.
CHILD = r"""
import errno, multiprocessing, os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import pdeathsig
mode = sys.argv[2].split(":")


def ignored_is_enotsup(arming, sig):
    try:
        arming()
    except OSError as err:
        if err.errno != errno.ENOTSUP or "IS armed" not in str(err):
            raise
    else:
        sys.exit("child: arming an ignored signal without a grace did not raise ENOTSUP")
    if pdeathsig.get() != sig:
        sys.exit("child: after ENOTSUP get() = %r, want %r armed" % (pdeathsig.get(), sig))


if mode[0] not in ("none", "TERM", "KILL"):
    try:
        pdeathsig.rearm()
        sys.exit("child: rearm() before any arming succeeded")
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
    sig = signal.Signals["SIG" + mode[1]]
    if mode[0] == "grace":
        signal.signal(sig, signal.SIG_IGN)
        if float(mode[2]) == 0:
            ignored_is_enotsup(lambda: pdeathsig.arm_process(sig, grace=0), sig)
        else:
            pdeathsig.arm_process(sig, grace=float(mode[2]))
    elif mode[0] == "tree":
        pdeathsig.arm_tree(sig, anchor=int(mode[2]) if len(mode) > 2 else None)
    elif mode[0] == "treedetach":
        os.setsid()
        pdeathsig.arm_tree(sig, anchor=int(mode[2]))
    elif mode[0] == "treeign":
        signal.signal(sig, signal.SIG_IGN)
        ignored_is_enotsup(lambda: pdeathsig.arm_tree(sig, anchor=int(mode[2])), sig)
        pdeathsig.arm_tree(sig, anchor=int(mode[2]), grace=float(mode[3]))
    elif mode[0] == "treefork":
        pdeathsig.arm_tree(sig, anchor=int(mode[2]))
    else:  # process, processfork
        pdeathsig.arm_process(sig)
    if mode[0] == "grace" and float(mode[2]) == 0:
        ignored_is_enotsup(pdeathsig.rearm, sig)
    else:
        pdeathsig.rearm()
    if mode[0].endswith("fork"):
        worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(600,))
        worker.start()
        print("fork", worker.pid, flush=True)
elif mode[0] != "none":
    pdeathsig.arm(signal.Signals["SIG" + mode[0]])
print("armed", int(pdeathsig.get() or 0), os.getppid(), flush=True)
while True:
    time.sleep(3600)
"""

# The parent: [--no-handoff] [--anchor=VALUE] [--die] [--thread] PROG
# ARGS...: starts the child, exporting PDEATHSIG_PPID=<own pid> unless
# --no-handoff or --anchor=VALUE (which exports PDEATHSIG_PPID=VALUE: a tree's
# anchor that is not this parent), prints its pid, then kills itself at once
# (--die) or waits to be killed.
#
# With --thread the child is started from a threading.Thread, which passes
# on the child's "armed" line (so the child has armed while its parent thread
# lives) and then ends; the main thread prints "thread-gone TID" once the
# thread has left /proc/self/task, and "child-signaled SIG" or
# "child-exited CODE" if the child ends.
PARENT = r"""
import os, signal, subprocess, sys, threading, time
args = sys.argv[1:]
handoff, die, thread, anchor = True, False, False, None
while args and args[0].startswith("--"):
    flag = args.pop(0)
    handoff = handoff and flag != "--no-handoff"
    die = die or flag == "--die"
    thread = thread or flag == "--thread"
    if flag.startswith("--anchor="):
        anchor = flag[len("--anchor="):]
env = dict(os.environ)
env.pop("PDEATHSIG_PPID", None)
if anchor is not None:
    env["PDEATHSIG_PPID"] = anchor
elif handoff:
    env["PDEATHSIG_PPID"] = str(os.getpid())
if thread:
    spawned = []
    def spawn():
        child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE)
        spawned.append(child)
        print("pid", child.pid, flush=True)
        sys.stdout.buffer.write(child.stdout.readline())
        sys.stdout.flush()
    spawner = threading.Thread(target=spawn)
    spawner.start()
    spawner.join()
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/self/task/%d" % spawner.native_id):
        if time.monotonic() > deadline:
            sys.exit("parent: thread %d still alive" % spawner.native_id)
        time.sleep(0.001)
    print("thread-gone", spawner.native_id, flush=True)
    status = spawned[0].wait()
    if status < 0:
        print("child-signaled", -status, flush=True)
    else:
        print("child-exited", status, flush=True)
    while True:
        time.sleep(3600)
child = subprocess.Popen(args, env=env)
print("pid", child.pid, flush=True)
if die:
    os.kill(os.getpid(), signal.SIGKILL)
while True:
    time.sleep(3600)
"""


def setUpModule():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER")
    os.environ[TAG_VAR] = TAG  # inherited by every process the tests start
    os.environ.pop("PDEATHSIG_PPID", None)
    os.environ.pop("PDEATHSIG", None)


def tearDownModule():
    cleanup()


def alive(pid):
    """Exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rindex(b")") + 2:][:1]
    return state not in (b"Z", b"X", b"")


def tagged():
    """Living processes that carry this test run's tag."""
    needle = ("%s=%s" % (TAG_VAR, TAG)).encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if needle in env and alive(int(name)):
            pids.append(int(name))
    return pids


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def cleanup():
    """SIGKILL every tagged process and reap our children (bounded)."""
    for _ in range(50):
        pids = tagged()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
        reap_all()
    reap_all()


def wait_reap(pid, timeout):
    """Wait (bounded) for pid, our child or an orphan reparented to us, to
    exit, and reap it. Returns its wait status, or None if still alive."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(int(timeout * 1000)):
                return None
        finally:
            os.close(fd)
    deadline = time.monotonic() + 2.0  # the exit is visible before waitpid sees it
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return status
        if time.monotonic() > deadline:
            raise AssertionError("pid %d exited but could not be reaped" % pid)
        time.sleep(0.005)


class Run:
    """A started parent and the pid of the child it started."""

    def __init__(self, flags, child_args, env=None):
        self.out, w = os.pipe()
        self.buf = b""
        # Lines read while looking for another prefix: the parent and the
        # child share the pipe, so the child's "armed" line can come first.
        self.skipped = []
        self.parent = subprocess.Popen(
            [sys.executable, "-c", PARENT] + flags + child_args,
            stdout=w, env=env)
        os.close(w)
        self.child = int(self.line("pid ").split()[1])

    def line(self, prefix, timeout=DEATH_TIMEOUT):
        """The next line starting with prefix, looking first among lines
        already read for another prefix (kept, in order); None if the
        output closes first; AssertionError after the timeout."""
        for i, line in enumerate(self.skipped):
            if line.startswith(prefix):
                return self.skipped.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                line = raw.decode()
                if line.startswith(prefix):
                    return line
                self.skipped.append(line)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.out], [], [], left)[0]:
                raise AssertionError("no %r line within %ss (other lines: %r)"
                                     % (prefix, timeout, self.skipped))
            data = os.read(self.out, 4096)
            if not data:
                return None
            self.buf += data

    def kill_parent(self):
        self.parent.kill()
        self.parent.wait()

    def close(self):
        os.close(self.out)


def child_args(mode):
    return [sys.executable, "-c", CHILD, IMPORT_ROOT, mode]


class ProcessTests(unittest.TestCase):
    def setUp(self):
        self.addCleanup(cleanup)

    def start(self, mode, flags=()):
        run = Run(list(flags), child_args(mode))
        self.addCleanup(run.close)
        return run

    def assert_died_by(self, pid, sig):
        status = wait_reap(pid, DEATH_TIMEOUT)
        self.assertIsNotNone(
            status, "child %d still alive %ss after its parent was killed" % (pid, DEATH_TIMEOUT))
        self.assertTrue(os.WIFSIGNALED(status), "status %#x" % status)
        self.assertEqual(os.WTERMSIG(status), sig)

    def test_armed_child_dies_with_parent(self):
        for mode, sig in (("TERM", signal.SIGTERM), ("KILL", signal.SIGKILL)):
            with self.subTest(signal=mode):
                run = self.start(mode)
                line = run.line("armed ")
                self.assertEqual(int(line.split()[1]), sig, line)
                run.kill_parent()
                self.assert_died_by(run.child, sig)

    def test_unarmed_control_survives(self):
        run = self.start("none")
        self.assertEqual(run.line("armed ").split()[1], "0")
        run.kill_parent()
        self.assertIsNone(wait_reap(run.child, 0.3),
                          "the unarmed control died with its parent: the test could not fail")
        self.assertTrue(alive(run.child))

    def test_race_closed_by_handoff(self):
        """The parent kills itself right after starting the child, long
        before a Python child can import pdeathsig and arm. With the handoff
        the child must die every time; without it the library can only
        compare with the parent seen at import, already the reaper, and the
        child lives on (which shows the test can fail)."""
        def orphans(flags):
            n = 0
            for _ in range(3):
                run = self.start("TERM", flags + ["--die"])
                run.parent.wait()
                # The child arms and prints, or dies and the output closes.
                run.line("armed ")
                status = wait_reap(run.child, 0.3)
                if status is None:
                    n += 1
                else:
                    self.assertEqual(os.WTERMSIG(status), signal.SIGTERM, "status %#x" % status)
                cleanup()
            return n
        self.assertEqual(orphans([]), 0, "children outlived their parent despite the handoff")
        self.assertGreater(orphans(["--no-handoff"]), 0,
                           "without the handoff no child leaked: the test cannot fail")


class ProcessModeTests(unittest.TestCase):
    """arm_process: the child watches its parent process (a pidfd).
    ProcessTests.test_unarmed_control_survives is the control for "dies"."""

    def setUp(self):
        self.addCleanup(cleanup)

    start = ProcessTests.start
    assert_died_by = ProcessTests.assert_died_by

    def test_process_mode_child_dies_with_parent(self):
        for name in ("TERM", "KILL", "USR1"):
            sig = signal.Signals["SIG" + name]
            with self.subTest(signal=name):
                run = self.start("process:" + name)
                line = run.line("armed ")
                self.assertEqual(int(line.split()[1]), sig, line)
                run.kill_parent()
                self.assert_died_by(run.child, sig)

    def test_grace_escalates_to_sigkill(self):
        """The child ignores SIGTERM: only the SIGKILL after the grace ends
        it. 0.0005 s must be rounded up to 1 ms, not down to 0 (no
        escalation); the control with grace 0 outlives its parent."""
        for grace in ("0.2", "0.0005"):
            with self.subTest(grace=grace):
                run = self.start("grace:TERM:" + grace)
                run.line("armed ")
                run.kill_parent()
                self.assert_died_by(run.child, signal.SIGKILL)
        run = self.start("grace:TERM:0")
        run.line("armed ")
        run.kill_parent()
        self.assertIsNone(wait_reap(run.child, 0.5),
                          "ignoring SIGTERM with grace 0, the child died: the test could not fail")

    def test_spawner_thread_exit(self):
        """The case process mode exists for: the parent starts the child
        from a threading.Thread, which then ends. The kernel fires
        PR_SET_PDEATHSIG when that thread exits: the prctl-mode child dies
        while its parent lives. The process-mode child lives on until the
        parent process is killed."""
        run = self.start("TERM", ["--thread"])
        self.assertEqual(int(run.line("armed ").split()[1]), signal.SIGTERM)
        line = run.line("child-")
        self.assertEqual(line, "child-signaled %d" % signal.SIGTERM)
        self.assertTrue(alive(run.parent.pid),
                        "the parent died: the prctl-mode child's death proves nothing")
        run.kill_parent()
        cleanup()

        run = self.start("process:TERM", ["--thread"])
        self.assertEqual(int(run.line("armed ").split()[1]), signal.SIGTERM)
        run.line("thread-gone ")
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            self.assertTrue(alive(run.child),
                            "the process-mode child died when its parent's spawning thread ended")
            time.sleep(0.01)
        run.kill_parent()
        self.assert_died_by(run.child, signal.SIGTERM)


def start_anchor(test):
    """A tree's anchor for the tree-mode tests: `sleep 600` started by the
    test (tagged like everything else), killed and reaped at the end.
    Returns (the Popen, "PID:TICKS" with its start time in clock ticks,
    /proc/PID/stat field 22)."""
    anchor = subprocess.Popen(["sleep", "600"])

    def kill():
        if anchor.poll() is None:
            anchor.kill()
        anchor.wait(timeout=DEATH_TIMEOUT)
    test.addCleanup(kill)
    with open("/proc/%d/stat" % anchor.pid, "rb") as f:
        stat = f.read()
    ticks = stat[stat.rindex(b")") + 2:].split()[22 - 3].decode()
    return anchor, "%d:%s" % (anchor.pid, ticks)


class TreeModeTests(unittest.TestCase):
    """arm_tree: the child follows its parent and the tree's anchor, a
    `sleep 600` that is NOT its parent, and the anchor only once it has
    detached."""

    def setUp(self):
        self.addCleanup(cleanup)

    start = ProcessTests.start
    assert_died_by = ProcessTests.assert_died_by

    def assert_lives(self, pid, seconds, why):
        self.assertIsNone(wait_reap(pid, seconds), why)
        self.assertTrue(alive(pid), why)

    def assert_died_parent_alive(self, run, sig):
        """run.child ends (of sig) while its parent lives; then the parent
        is killed so that the zombie comes to this subreaper, and reaped."""
        deadline = time.monotonic() + DEATH_TIMEOUT
        while alive(run.child):
            self.assertLess(time.monotonic(), deadline, "the child is still alive")
            time.sleep(0.005)
        self.assertIsNone(run.parent.poll(), "the child's parent died first: proves nothing")
        run.kill_parent()
        self.assert_died_by(run.child, sig)

    def test_tree_child_dies_with_parent_or_anchor(self):
        """The child dies of SIGTERM when the anchor is SIGKILLed while its
        parent lives, and when its parent is SIGKILLed while the anchor
        lives. The anchor as a plain pid and as PID:TICKS in PDEATHSIG_PPID,
        and explicit (the parent's own handoff must not count). The
        control: a process-mode child (arm_process) lives on when the anchor
        dies, its parent alive."""
        anchor, _ = start_anchor(self)
        run = self.start("process:TERM")
        run.line("armed ")
        anchor.kill()
        anchor.wait(timeout=DEATH_TIMEOUT)
        self.assert_lives(run.child, 0.5, "control: the process-mode child followed the anchor")
        run.kill_parent()
        self.assert_died_by(run.child, signal.SIGTERM)

        for how in ("PDEATHSIG_PPID=PID", "PDEATHSIG_PPID=PID:TICKS", "anchor=PID"):
            for killed in ("anchor", "parent"):
                with self.subTest(anchor=how, killed=killed):
                    anchor, stamp = start_anchor(self)
                    if how == "anchor=PID":
                        run = self.start("tree:TERM:%d" % anchor.pid)
                    else:
                        value = stamp if how.endswith("TICKS") else str(anchor.pid)
                        run = self.start("tree:TERM", ["--anchor=" + value])
                    self.assertEqual(int(run.line("armed ").split()[1]), signal.SIGTERM)
                    if killed == "anchor":
                        anchor.kill()
                        anchor.wait(timeout=DEATH_TIMEOUT)
                        self.assert_died_parent_alive(run, signal.SIGTERM)
                    else:
                        run.kill_parent()
                        self.assert_died_by(run.child, signal.SIGTERM)
                        self.assertIsNone(anchor.poll(), "the anchor died: proves nothing")

    def test_tree_detached_child_follows_the_anchor_only(self):
        """A child that has detached (os.setsid() before arm_tree) lives on
        when its parent is SIGKILLed, the anchor alive, and dies of SIGTERM
        with the anchor. test_tree_child_dies_with_parent_or_anchor is the
        control: without setsid the same child dies with its parent."""
        anchor, _ = start_anchor(self)
        run = self.start("treedetach:TERM:%d" % anchor.pid)
        self.assertEqual(int(run.line("armed ").split()[1]), signal.SIGTERM)
        run.kill_parent()
        self.assert_lives(run.child, 0.5, "the detached child died with its parent")
        anchor.kill()
        anchor.wait(timeout=DEATH_TIMEOUT)
        self.assert_died_by(run.child, signal.SIGTERM)

    def test_tree_anchor_already_dead(self):
        """The race: the anchor is dead (killed and reaped) before the child
        arms, so the arming sends the signal at once: the child dies of
        SIGTERM without printing "armed". Its parent (which never waits) is
        killed after the child's end, so that the zombie comes to this
        subreaper. test_tree_child_follows_anchor is the control: with the
        anchor alive the same children live."""
        anchor, stamp = start_anchor(self)
        anchor.kill()
        anchor.wait(timeout=DEATH_TIMEOUT)
        for mode, flags in (("tree:TERM", ["--anchor=" + stamp]),
                            ("tree:TERM:%d" % anchor.pid, [])):
            with self.subTest(mode=mode, flags=flags):
                run = self.start(mode, flags)
                deadline = time.monotonic() + DEATH_TIMEOUT
                while alive(run.child):
                    self.assertLess(time.monotonic(), deadline,
                                    "the child of a dead anchor is still alive")
                    time.sleep(0.005)
                self.assertIsNone(run.parent.poll(),
                                  "the child's parent died first: the test proves nothing")
                run.kill_parent()
                self.assert_died_by(run.child, signal.SIGTERM)
                self.assertIsNone(run.line("armed ", timeout=2),
                                  "the child returned from arming")

    def test_tree_ignored_signal_escalates(self):
        """SIGTERM ignored before arm_tree: ENOTSUP with the signal armed
        (checked in the child), then with a 0.2 s grace no error, and the
        child dies of the SIGKILL after the grace when the anchor dies."""
        anchor, _ = start_anchor(self)
        run = self.start("treeign:TERM:%d:0.2" % anchor.pid)
        self.assertEqual(int(run.line("armed ").split()[1]), signal.SIGTERM)
        self.assert_lives(run.child, 0.3, "the tree-mode child died, its parent and anchor alive")
        anchor.kill()
        anchor.wait(timeout=DEATH_TIMEOUT)
        self.assert_died_parent_alive(run, signal.SIGKILL)

    def test_fork_child_has_its_own_watcher(self):
        """A multiprocessing child (start method "fork") of a process armed
        with arm_tree gets a watcher of its own: it dies of SIGTERM when its
        parent (the armed child) is SIGKILLed, the anchor alive; and with
        the anchor when that dies. test_fork_child_unguarded_in_process_mode
        is the control."""
        anchor, _ = start_anchor(self)
        run = self.start("treefork:TERM:%d" % anchor.pid)
        worker = int(run.line("fork ").split()[1])
        self.assertEqual(int(run.line("armed ").split()[1]), signal.SIGTERM)
        run.kill_parent()
        self.assert_died_by(run.child, signal.SIGTERM)
        self.assert_died_by(worker, signal.SIGTERM)
        self.assertIsNone(anchor.poll(), "the anchor died: proves nothing")

        run = self.start("treefork:TERM:%d" % anchor.pid)
        worker = int(run.line("fork ").split()[1])
        run.line("armed ")
        anchor.kill()
        anchor.wait(timeout=DEATH_TIMEOUT)
        # The armed child first: until it is gone, the worker (dead or not)
        # is its child, not this subreaper's.
        self.assert_died_parent_alive(run, signal.SIGTERM)
        self.assert_died_by(worker, signal.SIGTERM)

    def test_fork_child_unguarded_in_process_mode(self):
        """The control: in process mode (arm_process) the watcher does not
        survive fork. The parent is SIGKILLed: the armed child dies of
        SIGTERM, its multiprocessing fork child lives on."""
        run = self.start("processfork:TERM")
        worker = int(run.line("fork ").split()[1])
        self.assertEqual(int(run.line("armed ").split()[1]), signal.SIGTERM)
        run.kill_parent()
        self.assert_died_by(run.child, signal.SIGTERM)
        self.assert_lives(worker, 0.5,
                          "the process-mode fork child died: the tree-mode test could not fail")


class InProcessTests(unittest.TestCase):
    def tearDown(self):
        pdeathsig.disarm()

    def test_invalid_signal_is_einval(self):
        for bad in (0, -1, 32, 33, 65, 2**40):
            with self.subTest(signal=bad):
                with self.assertRaises(OSError) as cm:
                    pdeathsig.arm(bad)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                self.assertIn(str(bad), str(cm.exception))
        # The C library takes a parent pid of 0 as "the default"; the
        # binding wants the pid arm_expecting is named after.
        for ppid in (0, -5):
            with self.subTest(ppid=ppid):
                with self.assertRaises(OSError) as cm:
                    pdeathsig.arm_expecting(signal.SIGTERM, ppid)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                self.assertIn("parent pid %d" % ppid, str(cm.exception))
        with self.assertRaises(TypeError):
            pdeathsig.arm("TERM")
        self.assertIsNone(pdeathsig.get(), "a failed call armed something")

    def test_process_mode_bad_values(self):
        """Bad input to arm_process is refused with a message naming it, and
        arms nothing (a process-mode watcher would show in get())."""
        pdeathsig.disarm()
        for bad in (0, -1, 32, 33, 65, 2**40):
            with self.subTest(signal=bad):
                with self.assertRaises(OSError) as cm:
                    pdeathsig.arm_process(bad)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                self.assertIn(str(bad), str(cm.exception))
                with self.assertRaises(OSError) as cm:
                    pdeathsig.arm_process(bad, grace=1)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
        for ppid in (0, -5):
            with self.subTest(ppid=ppid):
                for grace in (None, 1.5):
                    with self.assertRaises(OSError) as cm:
                        pdeathsig.arm_process(signal.SIGTERM, ppid=ppid, grace=grace)
                    self.assertEqual(cm.exception.errno, errno.EINVAL)
                    self.assertIn("parent pid %d" % ppid, str(cm.exception))
        for grace in (-1, -0.001, float("nan"), float("inf"), 2**40,
                      datetime.timedelta(seconds=-1)):
            with self.subTest(grace=grace):
                with self.assertRaises(ValueError) as cm:
                    pdeathsig.arm_process(signal.SIGTERM, grace=grace)
                self.assertIn(repr(grace), str(cm.exception))
        for grace in (3600.001, 7200, datetime.timedelta(hours=2)):
            with self.subTest(grace=grace):
                with self.assertRaises(OSError) as cm:
                    pdeathsig.arm_process(signal.SIGTERM, grace=grace)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                self.assertIn(repr(grace), str(cm.exception))
        for grace in ("5", True, [1]):
            with self.subTest(grace=grace):
                with self.assertRaises(TypeError):
                    pdeathsig.arm_process(signal.SIGTERM, grace=grace)
        with self.assertRaises(TypeError):
            pdeathsig.arm_process(signal.SIGTERM, ppid=1.5)
        self.assertIsNone(pdeathsig.get(), "a failed call armed something")

    def test_tree_mode_bad_values(self):
        """Bad input to arm_tree is refused with a message naming it, and
        arms nothing (a tree-mode watcher would show in get())."""
        pdeathsig.disarm()
        for bad in (0, -1, 32, 33, 65, 2**40):
            for grace in (None, 1):
                with self.subTest(signal=bad, grace=grace):
                    with self.assertRaises(OSError) as cm:
                        pdeathsig.arm_tree(bad, grace=grace)
                    self.assertEqual(cm.exception.errno, errno.EINVAL)
                    self.assertIn(str(bad), str(cm.exception))
        for anchor in (0, -5):
            for grace in (None, 1.5):
                with self.subTest(anchor=anchor, grace=grace):
                    with self.assertRaises(OSError) as cm:
                        pdeathsig.arm_tree(signal.SIGTERM, anchor=anchor, grace=grace)
                    self.assertEqual(cm.exception.errno, errno.EINVAL)
                    self.assertIn("anchor pid %d" % anchor, str(cm.exception))
        for grace in (-1, float("nan"), datetime.timedelta(seconds=-1)):
            with self.subTest(grace=grace):
                with self.assertRaises(ValueError):
                    pdeathsig.arm_tree(signal.SIGTERM, grace=grace)
        for grace in (3600.001, datetime.timedelta(hours=2)):
            with self.subTest(grace=grace):
                with self.assertRaises(OSError) as cm:
                    pdeathsig.arm_tree(signal.SIGTERM, grace=grace)
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                self.assertIn(repr(grace), str(cm.exception))
        with self.assertRaises(TypeError):
            pdeathsig.arm_tree(signal.SIGTERM, anchor=1.5)
        with self.assertRaises(TypeError):
            pdeathsig.arm_tree(signal.SIGTERM, grace="5")
        self.assertIsNone(pdeathsig.get(), "a failed call armed something")
        self.assertIn("arm_tree", pdeathsig.__all__)

    def test_ignored_signal_is_enotsup_and_armed(self):
        """A signal this process ignores is armed, and reported: OSError
        with ENOTSUP whose message says it is armed; get() shows it.
        SIGUSR2 is ignored only for the test (prctl mode, this thread)."""
        previous = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        self.addCleanup(signal.signal, signal.SIGUSR2, previous)
        with self.assertRaises(OSError) as cm:
            pdeathsig.arm_expecting(signal.SIGUSR2, os.getppid())
        self.assertEqual(cm.exception.errno, errno.ENOTSUP)
        self.assertIn("IS armed", str(cm.exception))
        self.assertEqual(pdeathsig.get(), signal.SIGUSR2)

    def test_unverified_is_reported(self):
        """An expected parent that lives but is no ancestor of ours (a sleep
        we started) cannot be verified: armed, False, and an
        UnverifiedWarning. Control: the real parent verifies (True, no
        warning)."""
        import warnings
        other = subprocess.Popen(["sleep", "60"])
        self.addCleanup(other.wait)
        self.addCleanup(other.kill)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertFalse(pdeathsig.arm_expecting(signal.SIGTERM, other.pid))
            self.assertFalse(pdeathsig.arm_process(signal.SIGTERM, ppid=other.pid))
        self.assertEqual([w.category for w in caught], [pdeathsig.UnverifiedWarning] * 2)
        self.assertIn("could not be verified", str(caught[0].message))
        # The same through the environment (arm() reads PDEATHSIG_PPID).
        pdeathsig.disarm()
        os.environ["PDEATHSIG_PPID"] = str(other.pid)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.assertFalse(pdeathsig.arm(signal.SIGTERM))
        finally:
            del os.environ["PDEATHSIG_PPID"]
        self.assertEqual([w.category for w in caught], [pdeathsig.UnverifiedWarning])
        self.assertEqual(pdeathsig.get(), signal.SIGTERM)
        pdeathsig.disarm()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertTrue(pdeathsig.arm_expecting(signal.SIGTERM, os.getppid()))
        self.assertEqual(caught, [])

    def test_bad_ppid_in_environment_is_einval(self):
        os.environ["PDEATHSIG_PPID"] = "not-a-pid"
        try:
            with self.assertRaises(OSError) as cm:
                pdeathsig.arm(signal.SIGTERM)
        finally:
            del os.environ["PDEATHSIG_PPID"]
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertIn("not-a-pid", str(cm.exception))
        self.assertIsNone(pdeathsig.get())

    def test_get_and_disarm(self):
        # SIGWINCH is ignored by default, should the test's parent die now.
        pdeathsig.arm_expecting(signal.SIGWINCH, os.getppid())
        self.assertEqual(pdeathsig.get(), signal.SIGWINCH)
        pdeathsig.disarm()
        self.assertIsNone(pdeathsig.get())
        self.assertFalse(pdeathsig.arm_from_env())  # PDEATHSIG unset: nothing done
        self.assertIsNone(pdeathsig.get())

    def test_version(self):
        self.assertRegex(pdeathsig.version(), r"^\d+\.\d+\.\d+")


class LoadingTests(unittest.TestCase):
    """Import a copy of the package (without any bundled library) from a
    temporary directory, in a fresh interpreter, with a controlled
    environment."""

    def import_copy(self, env_extra=None, with_library=False, in_checkout=False):
        """(the temporary directory, the finished import's CompletedProcess);
        in_checkout puts a Cargo.toml beside the package, as in python/ of a
        checkout whose root is the temporary directory."""
        tmp = tempfile.mkdtemp(prefix="pdeathsig-py-")
        self.addCleanup(shutil.rmtree, tmp)
        root = os.path.join(tmp, "python")
        shutil.copytree(PACKAGE_DIR, os.path.join(root, "pdeathsig"),
                        ignore=shutil.ignore_patterns("libpdeathsig.so", "__pycache__"))
        if in_checkout:
            open(os.path.join(tmp, "Cargo.toml"), "w").close()
        if with_library:
            os.symlink(pdeathsig.library_path,
                       os.path.join(root, "pdeathsig", "libpdeathsig.so"))
        env = {k: v for k, v in os.environ.items()
               if k not in ("PDEATHSIG_LIBRARY", "LD_LIBRARY_PATH", "CARGO_TARGET_DIR")}
        env.update(env_extra or {})
        proc = subprocess.run(
            [sys.executable, "-I", "-c",
             "import sys; sys.path.insert(0, %r); import pdeathsig; "
             "print(pdeathsig.library_path)" % root],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=30)
        return tmp, proc

    def assert_not_found(self, proc, tmp):
        self.assertNotEqual(proc.returncode, 0, proc.stdout)
        err = proc.stderr
        self.assertIn("LibraryNotFound", err)
        self.assertIn(os.path.join(tmp, "python", "pdeathsig", "libpdeathsig.so"), err)
        self.assertIn("find_library", err)
        self.assertIn("dynamic loader", err)
        self.assertIn("PDEATHSIG_LIBRARY", err)
        self.assertIn("pip install ./python", err)

    def test_not_found_names_every_place(self):
        if ctypes.util.find_library("pdeathsig"):
            self.skipTest("libpdeathsig is installed system-wide")
        tmp, proc = self.import_copy()
        self.assert_not_found(proc, tmp)
        self.assertIn("no repository checkout", proc.stderr)
        self.assertNotIn(os.path.join("target", "release"), proc.stderr)

        tmp, proc = self.import_copy(in_checkout=True,
                                     env_extra={"CARGO_TARGET_DIR": "elsewhere"})
        self.assert_not_found(proc, tmp)
        self.assertNotIn("no repository checkout", proc.stderr)
        self.assertIn(os.path.join(tmp, "target", "release", "libpdeathsig.so"), proc.stderr)
        self.assertIn(os.path.join(tmp, "elsewhere", "release", "libpdeathsig.so"), proc.stderr)

    def test_bad_env_path_is_named(self):
        _, proc = self.import_copy({"PDEATHSIG_LIBRARY": "/nonexistent/libpdeathsig.so"},
                                   with_library=True)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("/nonexistent/libpdeathsig.so", proc.stderr)
        self.assertIn("PDEATHSIG_LIBRARY", proc.stderr)

    def test_env_var_and_next_to_module(self):
        _, proc = self.import_copy({"PDEATHSIG_LIBRARY": pdeathsig.library_path})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), pdeathsig.library_path)
        tmp, proc = self.import_copy(with_library=True, in_checkout=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(),
                         os.path.join(tmp, "python", "pdeathsig", "libpdeathsig.so"))

    def test_armed_at_import(self):
        """Importing loads the library, whose constructor arms from
        PDEATHSIG before any call: a fresh interpreter that only imports
        reports the signal. Controls: no PDEATHSIG, nothing armed; a bad
        PDEATHSIG, one line on stderr and nothing armed, the import goes on."""
        code = ("import sys; sys.path.insert(0, %r); import pdeathsig; "
                "print(int(pdeathsig.get() or 0))" % IMPORT_ROOT)

        def imported(**env_extra):
            env = {k: v for k, v in os.environ.items() if not k.startswith("PDEATHSIG")
                   or k in (TAG_VAR, pdeathsig.LIBRARY_ENV)}
            env.update(env_extra)
            proc = subprocess.run([sys.executable, "-I", "-c", code], env=env,
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            return int(proc.stdout), proc.stderr

        self.assertEqual(imported(), (0, ""))
        self.assertEqual(imported(PDEATHSIG="USR2"), (signal.SIGUSR2, ""))
        self.assertEqual(imported(PDEATHSIG="USR2", PDEATHSIG_MODE="process"),
                         (signal.SIGUSR2, ""))
        self.assertEqual(imported(PDEATHSIG="USR2", PDEATHSIG_MODE="tree"),
                         (signal.SIGUSR2, ""))
        got, err = imported(PDEATHSIG="NOT-A-SIGNAL")
        self.assertEqual(got, 0)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("NOT-A-SIGNAL", err)


class InstalledTests(unittest.TestCase):
    """Only with PDEATHSIG_TEST_INSTALLED=1 (scripts/ci-python-wheel.sh): the
    package imported is the one installed from the wheel, with its bundled
    library, and the versions agree."""

    def setUp(self):
        if not os.environ.get(INSTALLED_VAR):
            self.skipTest("%s is not set: testing the package in place, not an "
                          "installed wheel (scripts/ci-python-wheel.sh does that)" % INSTALLED_VAR)

    def test_imported_from_installed_wheel(self):
        site = os.path.realpath(sys.prefix) + os.sep
        self.assertNotEqual(sys.prefix, sys.base_prefix, "not running in a venv")
        self.assertTrue(os.path.realpath(pdeathsig.__file__).startswith(site),
                        "pdeathsig imported from %s, not from the venv %s"
                        % (pdeathsig.__file__, sys.prefix))
        self.assertNotIn("PDEATHSIG_LIBRARY", os.environ)
        self.assertEqual(pdeathsig.library_path, os.path.join(PACKAGE_DIR, "libpdeathsig.so"))
        self.assertTrue(os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed")))
        self.assertEqual(importlib.metadata.version("pdeathsig"), pdeathsig.version())


if __name__ == "__main__":
    unittest.main()
