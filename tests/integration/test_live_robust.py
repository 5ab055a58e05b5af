"""Live targets are never left worse than found.

A busy multi-threaded helper (tests/helpers/busy.c: threads freeing and
allocating all the time over a sizeable heap) is read with `memprof
info|heap|leaks|logical --pid` and run under `memprof run`, and memprof is
killed (SIGKILL) or interrupted (SIGINT, SIGTERM) at seeded random moments.
The target meanwhile exits, execs, forks, churns threads, gets SIGSTOP and
SIGCONT or SIGKILL, has 300 threads, has a thread that cannot stop, or was
stopped before memprof came.  After every trial:
- no thread of the target (/proc/PID/task/*) is traced, and none is stopped,
  unless a signal stopped the target: then every thread is, as found;
- the target still makes progress (its operation counter grows);
- memprof ended within its time limit with a clear answer: status 0, or
  status 1 with one line saying why; never a crash, never status 2.

Strikes are aimed at random moments from memprof's start or from the
moment it holds the target (watched in /proc).  To strike, memprof is first
frozen with SIGSTOP: the test sees whether the target is traced at that
moment (the strike hit a read), then sends the signal.  Timing only draws the moments (scaled
by calibration runs, so a slow ASan build gets later ones); nothing asserts
a duration."""
import ctypes
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time

from mptest import MEMPROF, check, finish, helper, seeded_random

rng = seeded_random("live-robust")
BUSY = helper("busy")
PID_VERBS = [["info"], ["heap"], ["leaks"], ["logical", "registry"]]
MEMPROF_TIMEOUT = 120
BLOCKS = "20000"          # heap blocks of the main busy target (~25 MB)
KILL_TRIALS = 24          # SIGKILL during --pid reads
SIGNAL_TRIALS = 10        # SIGINT/SIGTERM during --pid reads
RUN_KILL_TRIALS = 6       # SIGKILL during `memprof run`
RUN_SIGNAL_TRIALS = 3     # SIGINT/SIGTERM during `memprof run`
MANY_THREADS = 300

started = time.monotonic()
section_started = [started]


def section(name):
    now = time.monotonic()
    print("[%5.1f s, +%4.1f s] %s" % (now - started, now - section_started[0], name), flush=True)
    section_started[0] = now


# Orphans come to us: a program that `memprof run` started outlives a killed
# memprof as our child, so its exit status can be checked.
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Busy:
    """busy with its stdin/stdout on pipes; via_run starts it under
    `memprof run` (the program inherits memprof's pipes, so requests reach
    it and its answers come back the same way)."""

    def __init__(self, *args, via_run=False):
        argv = [BUSY, *args]
        if via_run:
            argv = [MEMPROF, "run", "--", *argv]
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.buffer = b""
        self.pid = None
        if not via_run and self.wait_ready() is None:
            self.kill()
            raise SystemExit("busy %s did not get ready" % " ".join(args))

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def wait_ready(self, timeout=60):
        """Reads up to "ready PID" (memprof's own output may come first)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                return None
            m = re.match(r"ready (\d+)$", line)
            if m:
                self.pid = int(m.group(1))
                return self.pid

    def send(self, request):
        try:
            self.proc.stdin.write((request + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def progress(self, timeout=15):
        """The operation counter, or None when busy does not answer."""
        if not self.send("p"):
            return None
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                return None
            m = re.match(r"progress (\d+)$", line)
            if m:
                return int(m.group(1))

    def wait_exit(self, timeout=MEMPROF_TIMEOUT):
        """Waits for the process we started (memprof under `run`) while
        draining its output, so it never blocks on a full pipe; its status,
        or None."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if ready:
                self.buffer += os.read(self.proc.stdout.fileno(), 65536)
        return self.proc.poll()

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def stop(self):
        """Ends busy normally (end of input); returns its status."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            status = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            status = None
        self.kill()
        return status

    def kill(self):
        # The program of `memprof run`, unless someone reaped it (then its
        # pid may belong to another process): callers clear self.pid.
        if self.pid and self.pid != self.proc.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for f in (self.proc.stdin, self.proc.stdout, self.err):
            try:
                f.close()
            except OSError:
                pass


def task_states(pid):
    """{tid: (state letter, TracerPid)} of every thread of pid; {} when gone."""
    states = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return states
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                text = f.read()
        except OSError:
            continue
        state = re.search(r"^State:\s+(\S)", text, re.M)
        tracer = re.search(r"^TracerPid:\s+(\d+)", text, re.M)
        if state and tracer:
            states[int(tid)] = (state.group(1), int(tracer.group(1)))
    return states


def untouched(pid, label, stopped=False, settle=5.0):
    """No thread of pid is traced; none is stopped ('t' or 'T'), or with
    stopped every live one is in a group stop ('T').  A thread may need a
    moment to leave a stop after its tracer went, so a wrong state is looked
    at again for a few seconds: a stray stop never goes away by itself."""
    deadline = time.monotonic() + settle
    while True:
        states = task_states(pid)
        if stopped:
            bad = {t: s for t, s in states.items()
                   if s[1] != 0 or (s[0] != "T" and s[0] not in "ZX")}
        else:
            bad = {t: s for t, s in states.items() if s[1] != 0 or s[0] in "tT"}
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return check(not bad, "%s: threads of pid %d left %s: %s" % (
        label, pid, "not in a group stop or traced" if stopped else "stopped or traced",
        sorted(bad.items())[:8]))


def traced_by(pid, tracer):
    return any(s[1] == tracer for s in task_states(pid).values())


def children(pid):
    """Child processes of pid."""
    found = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


def process_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def all_stopped(pid, timeout=10):
    """Waits until every thread of pid is in a group stop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = task_states(pid)
        if states and all(s[0] in "TZX" for s in states.values()):
            return True
        time.sleep(0.02)
    return False


def makes_progress(busy, label, timeout=20):
    first = busy.progress()
    if not check(first is not None, "%s: busy (pid %s) does not answer" % (label, busy.pid)):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = busy.progress()
        if not check(now is not None, "%s: busy (pid %s) stopped answering" % (label, busy.pid)):
            return False
        if now > first:
            return True
    return check(False, "%s: busy (pid %s) made no progress in %d s" % (label, busy.pid, timeout))


def start_memprof(args):
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([MEMPROF, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    return proc, out, err


def finish_memprof(proc, out, err, label, timeout=MEMPROF_TIMEOUT):
    """Waits for memprof; returns (status, stdout, stderr); status None if
    it did not end in time (then it is killed)."""
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = None
    check(status is not None, "%s: memprof did not end within %d s" % (label, timeout))
    out.seek(0)
    err.seek(0)
    texts = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    out.close()
    err.close()
    return (status, *texts)


def strike(proc, sig, target):
    """Freezes memprof (SIGSTOP), notes whether it holds the target at that
    moment, sends sig and lets it go on.  Returns whether the target was
    traced by memprof: the strike hit a read."""
    try:
        os.kill(proc.pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while process_state(proc.pid) not in ("T", "Z", None) and time.monotonic() < deadline:
        time.sleep(0.001)
    hit = target is not None and traced_by(target, proc.pid)
    try:
        os.kill(proc.pid, sig)
        os.kill(proc.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    return hit


def error_lines(stderr):
    return [line for line in stderr.splitlines() if not line.startswith("memprof: warning:")]


def clear_answer(status, stderr, label):
    """Status 0, or status 1 with one line saying why (warnings aside)."""
    if status is None:
        return False
    lines = error_lines(stderr)
    if status == 0:
        return True
    return check(status == 1 and len(lines) == 1 and lines[0].startswith("memprof: "),
                 "%s: memprof status %s, wanted 0 or 1 with one line; stderr: %s"
                 % (label, status, stderr[-1500:]))


def interrupted_answer(status, stderr, sig, hit, label, pid=None):
    """After SIGINT/SIGTERM: status 1 and one line naming the signal (and
    the pid of --pid).  A signal that came before main() installed the
    handler kills memprof by default, one after it finished finds it gone:
    neither can have hit a read."""
    lines = error_lines(stderr)
    if status in (0, -sig) and not hit:
        return check(status == 0 or not lines, "%s: killed by the signal, yet said %s" % (label, lines))
    return check(status == 1 and len(lines) == 1 and "interrupted by %s" % sig.name in lines[0] and
                 (pid is None or str(pid) in lines[0]),
                 "%s: status %s, wanted 1 with one line naming %s%s; stderr: %s"
                 % (label, status, sig.name, " and pid %s" % pid if pid else "", stderr[-800:]))


def whole_answer(stdout, stderr, label):
    """A status-0 answer read all the memory it needed: valid JSON, and no
    warning that the process had gone."""
    try:
        json.loads(stdout)
    except ValueError:
        check(False, "%s: status 0 without valid JSON: %s" % (label, stdout[:300]))
    check("exited" not in stderr,
          "%s: status 0 although the target exited during the read: %s" % (label, stderr[-800:]))


def run_read(args, label, timeout=MEMPROF_TIMEOUT):
    proc, out, err = start_memprof(args)
    return finish_memprof(proc, out, err, label, timeout)


def random_moment(verb):
    """A moment to strike, anywhere from memprof's start to a little after
    the end its calibration run took."""
    return rng.uniform(0.0, calibration[verb[0]][0] * 1.1)


def sleep_to_strike(proc, verb, target):
    """Waits for a random moment to strike memprof (proc) reading target:
    a third of the time from memprof's start (before it attaches, while it
    attaches, after it let go), else from the moment it holds the target
    (start-up time varies too much on a loaded machine to aim from the
    start), often in the first milliseconds of attaching."""
    if rng.random() < 0.33:
        time.sleep(random_moment(verb))
        return
    end, first, last = calibration[verb[0]]
    held = (last - first) if first is not None else end
    deadline = time.monotonic() + MEMPROF_TIMEOUT
    while proc.poll() is None and not traced_by(target, proc.pid) and time.monotonic() < deadline:
        time.sleep(0.0005)
    if rng.random() < 0.3:
        time.sleep(rng.uniform(0.0, 0.005))
    else:
        time.sleep(rng.uniform(0.0, held * 0.9))


def calibrate(args, target, label):
    """Runs memprof to its end, watching when it traces target; returns
    (status, stdout, stderr, (seconds, first traced, last traced))."""
    t0 = time.monotonic()
    proc, out, err = start_memprof(args)
    first = last = None
    while proc.poll() is None and time.monotonic() - t0 < MEMPROF_TIMEOUT:
        if traced_by(target, proc.pid):
            last = time.monotonic() - t0
            first = last if first is None else first
        time.sleep(0.0005)
    end = time.monotonic() - t0
    return (*finish_memprof(proc, out, err, label), (end, first, last))


def pid_args(busy, verb):
    return [verb[0], "--pid", str(busy.pid), *verb[1:], "--format", "json"]


def kill_trial(busy, verb, label, stopped=False):
    """SIGKILL memprof during a read of busy; returns whether it hit one."""
    proc, out, err = start_memprof(pid_args(busy, verb))
    sleep_to_strike(proc, verb, busy.pid)
    hit = strike(proc, signal.SIGKILL, busy.pid)
    finish_memprof(proc, out, err, label)
    untouched(busy.pid, label, stopped=stopped)
    if not stopped:
        makes_progress(busy, label)
    return hit


# ---------------------------------------------------------------------------
# Reads of a busy target: calibration, then SIGKILL at random moments.

busy = Busy("--threads", "4", "--blocks", BLOCKS)
calibration = {}
try:
    for verb in PID_VERBS:
        label = "calibrate %s" % verb[0]
        status, out, err, calibration[verb[0]] = calibrate(pid_args(busy, verb), busy.pid, label)
        if check(status == 0, "%s: status %s: %s" % (label, status, err[-1500:])):
            try:
                json.loads(out)
            except ValueError:
                check(False, "%s: output is not JSON" % label)
        untouched(busy.pid, label)
    makes_progress(busy, "calibration")
    section("calibration: %s" % ", ".join(
        "%s %.2f s (held %s)" % (verb, end, "%.3f-%.3f s" % (first, last) if first else "unseen")
        for verb, (end, first, last) in calibration.items()))

    hits = 0
    for trial in range(KILL_TRIALS):
        verb = rng.choice(PID_VERBS)
        hits += kill_trial(busy, verb, "SIGKILL trial %d (%s)" % (trial, verb[0]))
    section("SIGKILL trials: %d of %d hit a read" % (hits, KILL_TRIALS))
    check(hits > 0, "no SIGKILL trial hit a read")

    # SIGINT/SIGTERM: one line, status 1, the target released.
    hits = 0
    for trial in range(SIGNAL_TRIALS):
        verb = rng.choice(PID_VERBS[1:])
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        label = "%s trial %d (%s)" % (sig.name, trial, verb[0])
        proc, out, err = start_memprof(pid_args(busy, verb))
        sleep_to_strike(proc, verb, busy.pid)
        hit = strike(proc, sig, busy.pid)
        hits += hit
        status, _, stderr = finish_memprof(proc, out, err, label)
        interrupted_answer(status, stderr, sig, hit, label, busy.pid)
        untouched(busy.pid, label)
        makes_progress(busy, label)
    section("signal trials: %d of %d hit a read" % (hits, SIGNAL_TRIALS))
    check(hits > 0, "no signal trial hit a read")

    # Stopped (SIGSTOP) before memprof came: left stopped, as found.
    os.kill(busy.pid, signal.SIGSTOP)
    check(all_stopped(busy.pid), "busy did not stop on SIGSTOP")
    for verb in (["info"], ["heap"]):
        label = "stopped target, %s" % verb[0]
        status, out, err = run_read(pid_args(busy, verb), label)
        check(status == 0, "%s: status %s: %s" % (label, status, err[-1500:]))
        untouched(busy.pid, label, stopped=True)
    for trial in range(2):
        kill_trial(busy, ["leaks"], "stopped target, SIGKILL during leaks, trial %d" % trial,
                   stopped=True)
    os.kill(busy.pid, signal.SIGCONT)
    untouched(busy.pid, "SIGCONT after the stopped-target reads")
    makes_progress(busy, "SIGCONT after the stopped-target reads")
    section("stopped target")

    # SIGSTOP (then SIGCONT, or not) sent during a read: the target ends as
    # the signals say, untraced.
    for trial in range(3):
        resume = trial != 1
        duration = calibration["heap"][0]
        label = "SIGSTOP%s during heap, trial %d" % ("/SIGCONT" if resume else "", trial)
        proc, out, err = start_memprof(pid_args(busy, ["heap"]))
        time.sleep(rng.uniform(0.0, duration))
        os.kill(busy.pid, signal.SIGSTOP)
        if resume:
            time.sleep(rng.uniform(0.0, duration / 2))
            os.kill(busy.pid, signal.SIGCONT)
        status, _, stderr = finish_memprof(proc, out, err, label)
        clear_answer(status, stderr, label)
        if not resume:
            untouched(busy.pid, label, stopped=True)
            os.kill(busy.pid, signal.SIGCONT)
        untouched(busy.pid, label)
        makes_progress(busy, label)
    section("SIGSTOP during reads")

    # Fork storms and thread churn while threads are being stopped.
    busy.send("fork")
    busy.send("churn")
    for trial in range(4):
        verb = rng.choice(PID_VERBS)
        label = "forking and churning target, %s, trial %d" % (verb[0], trial)
        if trial % 2:
            status, _, stderr = run_read(pid_args(busy, verb), label)
            clear_answer(status, stderr, label)
            untouched(busy.pid, label)
            makes_progress(busy, label)
        else:
            kill_trial(busy, verb, label)
    section("fork and churn")
finally:
    status = busy.stop()
check(status == 0, "busy exited with %r after the --pid trials" % status)


# ---------------------------------------------------------------------------
# The target exits, is killed or execs during a read; it loses its main
# thread; it has a thread that cannot stop.

for trial in range(6):
    event = ["exit", "SIGKILL", "exec"][trial % 3]
    verb = rng.choice([["heap"], ["leaks"]])
    label = "target %s during %s, trial %d" % (event, verb[0], trial)
    busy = Busy("--threads", "4", "--blocks", "20000")
    status = None
    try:
        proc, out, err = start_memprof(pid_args(busy, verb))
        time.sleep(random_moment(verb) / 2)
        if event == "SIGKILL":
            os.kill(busy.pid, signal.SIGKILL)
        else:
            busy.send(event)
        answer, stdout, stderr = finish_memprof(proc, out, err, label)
        if clear_answer(answer, stderr, label) and answer == 0 and event != "exec":
            whole_answer(stdout, stderr, label)
        if event == "exec":
            check(busy.wait_ready(timeout=30) is not None, "%s: the new image never got ready" % label)
            untouched(busy.pid, label)
            makes_progress(busy, label)
            status = busy.stop()
            check(status == 0, "%s: busy exited with %r" % (label, status))
    finally:
        busy.kill()
section("target exits, is killed, execs")

# SIGKILL to the target while memprof holds it stopped, at a random moment
# of the read: what memprof has not read yet is gone, so the answer is the
# one line saying so (status 1), or, when the read was complete before the
# kill, a whole answer.  Never an answer built from half the memory, where
# every block whose root was not read looks leaked.
struck = 0
for trial in range(6):
    verb = [["leaks"], ["heap"], ["logical", "registry"]][trial % 3]
    label = "target SIGKILLed while held, %s, trial %d" % (verb[0], trial)
    busy = Busy("--threads", "2", "--blocks", "400000")
    try:
        proc, out, err = start_memprof(pid_args(busy, verb))
        deadline = time.monotonic() + MEMPROF_TIMEOUT
        while proc.poll() is None and not traced_by(busy.pid, proc.pid) and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(busy.pid, signal.SIGKILL)
        answer, stdout, stderr = finish_memprof(proc, out, err, label)
        if clear_answer(answer, stderr, label):
            if answer == 0:
                whole_answer(stdout, stderr, label)
            else:
                struck += 1
                check("exited while memprof was reading it" in stderr or "has exited" in stderr or
                      "no process" in stderr or "exited while memprof was attaching" in stderr,
                      "%s: the error line does not say the target exited: %s" % (label, stderr[-600:]))
    finally:
        busy.kill()
check(struck > 0, "no SIGKILL of a held target landed during a read in 6 trials")
section("target SIGKILLed while held")

busy = Busy("--threads", "4", "--blocks", "20000")
try:
    busy.send("leader-exit")
    time.sleep(0.1)
    for verb in (["info"], ["leaks"]):
        label = "main thread gone (pthread_exit), %s" % verb[0]
        status, out, stderr = run_read(pid_args(busy, verb), label)
        if check(status == 0, "%s: status %s: %s" % (label, status, stderr[-1500:])) and verb == ["info"]:
            info = json.loads(out)
            check(any(m.get("path", "").endswith("/busy") for m in info["modules"]),
                  "%s: the executable is among the modules" % label)
        untouched(busy.pid, label)
        makes_progress(busy, label)
    kill_trial(busy, ["leaks"], "main thread gone, SIGKILL during leaks")
finally:
    status = busy.stop()
check(status == 0, "busy exited with %r after losing its main thread" % status)
section("main thread gone")

# A thread that cannot stop (it waits for a vfork child): memprof waits a
# bounded time, says so, marks the result partial, leaves everything running.
busy = Busy("--threads", "2", "--blocks", "20000")
try:
    busy.send("vfork 60000")
    time.sleep(0.2)
    label = "thread in vfork"
    status, out, stderr = run_read(pid_args(busy, ["info"]), label, timeout=60)
    if clear_answer(status, stderr, label) and status == 0:
        check("did not stop" in stderr, "%s: no warning about the thread: %s" % (label, stderr[-800:]))
        check(json.loads(out).get("partial") is True, "%s: result not marked partial" % label)
    untouched(busy.pid, label)
    makes_progress(busy, label)
finally:
    for child in children(busy.pid):
        os.kill(child, signal.SIGKILL)   # the sleeping vfork child
    busy.kill()
section("thread in vfork")

# Hundreds of threads.
busy = Busy("--threads", "2", "--sleepers", str(MANY_THREADS - 2), "--blocks", "20000")
try:
    label = "%d threads, info" % MANY_THREADS
    status, out, stderr = run_read(pid_args(busy, ["info"]), label)
    if check(status == 0, "%s: status %s: %s" % (label, status, stderr[-1500:])):
        info = json.loads(out)
        tids = sorted(task_states(busy.pid))
        check(len(info["threads"]) == len(tids) >= MANY_THREADS,
              "%s: %d threads listed, /proc has %d" % (label, len(info["threads"]), len(tids)))
        check(all(t["registers"] is not None for t in info["threads"]),
              "%s: every thread has registers" % label)
    untouched(busy.pid, label)
    for trial in range(4):
        verb = rng.choice(PID_VERBS)
        kill_trial(busy, verb, "%d threads, SIGKILL during %s, trial %d" % (MANY_THREADS, verb[0], trial))
    label = "%d threads, leaks" % MANY_THREADS
    status, _, stderr = run_read(pid_args(busy, ["leaks"]), label)
    check(status == 0, "%s: status %s: %s" % (label, status, stderr[-1500:]))
    untouched(busy.pid, label)
    makes_progress(busy, label)
finally:
    status = busy.stop()
check(status == 0, "busy with %d threads exited with %r" % (MANY_THREADS, status))
section("%d threads" % MANY_THREADS)


# ---------------------------------------------------------------------------
# `memprof run`: killed or interrupted at any moment, the program runs on
# untraced and finishes by itself with status 0.

def reap(pid, timeout=60):
    """The program's wait status once it has exited (it is our child once
    memprof is gone), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "reaped by memprof"
        if got == pid:
            return status
        time.sleep(0.02)
    return None


def orphans():
    """Wait statuses of the children we have not started ourselves."""
    statuses = []
    while True:
        try:
            got, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return statuses
        if got == 0:
            return statuses
        statuses.append(status)


run_args = ["--threads", "3", "--blocks", "10000", "--exit-after", "300"]
label = "run, calibration"
t0 = time.monotonic()
program = Busy(*run_args, via_run=True)
ready = program.wait_ready()
status = program.wait_exit()
run_duration = time.monotonic() - t0
check(ready is not None and status == 0, "%s: ready %s, memprof run status %s: %s"
      % (label, ready, status, program.stderr()[-800:]))
if status is not None:
    program.pid = None   # memprof reaped it
program.kill()

hits = 0
for trial in range(RUN_KILL_TRIALS + RUN_SIGNAL_TRIALS):
    sig = signal.SIGKILL if trial < RUN_KILL_TRIALS else rng.choice([signal.SIGINT, signal.SIGTERM])
    label = "run, %s, trial %d" % (sig.name, trial)
    # Leftovers of earlier trials (a program we SIGKILLed in a finally,
    # reparented to us) are reaped here, not taken for this trial's.
    orphans()
    program = Busy(*run_args, via_run=True)
    try:
        time.sleep(rng.uniform(0.0, run_duration * 1.1))
        # The program is traced from its start to its exit: any moment
        # before memprof let it go is a hit.
        hit = strike(program.proc, sig, program.pid or program.wait_ready(timeout=0))
        hits += hit
        status = program.wait_exit()
        check(status is not None, "%s: memprof did not end" % label)
        if sig != signal.SIGKILL:
            interrupted_answer(status, program.stderr(), sig, hit, label)
        pid = program.pid or program.wait_ready(timeout=30)
        if pid is None:
            # Nobody holds the pipe any more: memprof died before the
            # program was ready.  What it had forked is our orphan now: the
            # child before its exec ends with 127 (it never runs the
            # program); the program itself must end normally.
            deadline = time.monotonic() + 5
            while True:
                for status in orphans():
                    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 127),
                          "%s: the program ended with wait status %#x" % (label, status))
                stuck = children(os.getpid())
                if not stuck or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            check(not stuck, "%s: the program never got ready: %s" % (
                label, {c: task_states(c) for c in stuck}))
            continue
        if any(s[0] not in "ZX" for s in task_states(pid).values()):
            untouched(pid, label)
            program.progress(timeout=5)   # answers unless it is exiting
        result = reap(pid)
        check(result is not None, "%s: the program (pid %d) never finished" % (label, pid))
        if result is not None:
            program.pid = None   # reaped: the pid may be reused, never kill it
        if isinstance(result, int):
            check(os.WIFEXITED(result) and os.WEXITSTATUS(result) == 0,
                  "%s: the program ended with wait status %#x" % (label, result))
    finally:
        program.kill()
section("run: calibration %.2f s, %d of %d strikes hit the traced program"
        % (run_duration, hits, RUN_KILL_TRIALS + RUN_SIGNAL_TRIALS))
orphans()
finish()
