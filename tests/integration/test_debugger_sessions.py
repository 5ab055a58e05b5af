"""Whole debugger sessions, not single commands: one GDB and one LLDB each
run a few hundred randomised `memprof` commands (every verb, good and bad
arguments, garbage addresses and files) while the target changes under them
(other cores, two cores of one process, the executable reloaded or dropped,
a program run, killed and run again, stopped at its first instruction, a
process attached, detached and attached again); GDB also gets a burst of
Ctrl-C during a long leak check in the middle of its session, and a second
GDB calls the Python API a few hundred times with errors and target changes
mixed in.  Every answer must be the CLI's for the same target, and each
debugger must be alive at the end (its last command answered, no signal, no
traceback).

The expected answers are the CLI's, computed after each session by
replaying its commands in order on the same target: `--core CORE --exe EXE`
for a core, `--pid PID` for an attached process (it sits in read(2) and does
not change), a core written by GDB's gcore at the same stop for a process
GDB runs (target names masked).  LLDB 14 cannot write cores, so a process
LLDB launches is compared with a core of the same deterministic program at
the same point, with addresses, pids and target names masked.

Random choices come from mptest.seeded_random: MEMPROF_TEST_SEED=<seed>
replays a failing run; MEMPROF_TEST_KEEP=1 keeps the temporary directory
with each session's commands and output."""
import atexit
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mptest import MEMPROF, Held, check, example, finish, seeded_random

START = time.monotonic()
GDB_SCRIPT = os.environ["GDB_SCRIPT"]
LLDB_PLUGIN = os.environ.get("LLDB_PLUGIN")
WORKLOAD = os.environ.get("WORKLOAD")
MAKE_CORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                         "make_core.sh")
# Generous: a hang fails the test, a slow or busy machine does not.
SESSION_TIMEOUT = 300
CLI_TIMEOUT = 120

rng = seeded_random("debugger-sessions")
# One generator per session, so that a session's commands depend on the
# seed only, not on how many choices the others made.
gdb_rng = random.Random(rng.getrandbits(64))
lldb_rng = random.Random(rng.getrandbits(64))
api_rng = random.Random(rng.getrandbits(64))

tmp = tempfile.mkdtemp(prefix="memprof-sessions-")
OUT_DIR = os.path.join(tmp, "out")
os.makedirs(OUT_DIR)
holders = []  # the held processes, killed at exit whatever happened


def cleanup():
    for h in holders:
        h.kill()
    if os.environ.get("MEMPROF_TEST_KEEP"):
        print("kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


atexit.register(cleanup)


def tmp_path(name):
    return os.path.join(tmp, name)


def elapsed():
    return "%.1fs" % (time.monotonic() - START)


# ------------------------------------------------------------ the programs

class Program:
    """An example program and the names memprof can look up in it."""

    def __init__(self, name, types, variables, roots, patterns):
        self.name = name
        self.exe = os.path.realpath(example(name))
        self.types = types
        self.variables = variables
        self.roots = roots
        self.patterns = patterns


INSTANCE = Program("instance_c",
                   ["struct instance", "struct decision_variable", "struct constraint",
                    "struct parameter", "struct linear_term", "struct  instance"],
                   ["instance"], ["instance", "instance_c:instance"], ["instance", "linear*"])
CACHE = Program("leak_cache", ["struct cache_entry", "struct cache"], ["query_cache"],
                ["query_cache", "leak_cache:query_cache"], ["cache", "cache_*"])
CYCLE = Program("leak_cycle", ["struct node", "struct node_stats"], ["node_stats"],
                ["node_stats"], ["node"])
PROGRAMS = [INSTANCE, CACHE, CYCLE]

# ------------------------------------------------------------- the targets

def run_quiet(argv, timeout, **kwargs):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace", timeout=timeout, **kwargs)


def make_cores(specs):
    """Writes the cores of [(name, argv)] in parallel with bench/make_core.sh."""
    procs = {}
    for name, argv in specs:
        procs[name] = subprocess.Popen(["bash", MAKE_CORE, tmp_path(name), "--", *argv],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise SystemExit("make_core.sh %s timed out" % name)
        if proc.returncode != 0 or not os.path.exists(tmp_path(name)):
            raise SystemExit("make_core.sh %s failed: %s" % (name, err[-2000:]))
    return {name: tmp_path(name) for name, _ in specs}


core_specs = [("inst.core", [INSTANCE.exe]), ("cache.core", [CACHE.exe]),
              ("cycle.core", [CYCLE.exe])]
big_core = None
CTRL_C_SENT = os.path.join(tmp, "ctrl-c-sent")
if WORKLOAD and os.path.exists(WORKLOAD):
    # 600000 list nodes: a leak check long enough to be interrupted.
    core_specs.append(("big.core", [WORKLOAD, "--chunks", "600000", "--shape", "list"]))
cores = make_cores(core_specs)
big_core = cores.get("big.core")
if not big_core:
    print("no workload program: the Ctrl-C part is skipped")

# Two cores of one process, written one after the other: same pid, same
# threads, same registers, different files.  A debugger front-end that keys
# what it caches by the process alone answers for the wrong file.
held = Held([CYCLE.exe, "--hold"])
holders.append(held)
same = [tmp_path("same-a.core"), tmp_path("same-b.core")]
run_quiet(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-p",
           str(held.pid), "-ex", "gcore " + same[0], "-ex", "gcore " + same[1]], 300)
status = held.release()
holders.remove(held)
for p in same:
    if not os.path.exists(p):
        raise SystemExit("gcore of the held leak_cycle did not write %s" % p)
check(status == 0, "leak_cycle exits 0 after two gcores: %r" % status)

# instance_c stopped at its first instruction (as `starti` or LLDB's
# `process launch -s` leave it): no libc, no heap yet.
entry_core = tmp_path("entry.core")
run_quiet(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", INSTANCE.exe,
           "-ex", "starti --hold", "-ex", "gcore " + entry_core, "-ex", "kill"], 300)
if not os.path.exists(entry_core):
    raise SystemExit("cannot write a core of instance_c at its first instruction")

# Files that are not what the command line says they are.
garbage = {"text": tmp_path("not-a-core.txt"), "empty": tmp_path("empty.core"),
           "truncated": tmp_path("truncated.core"), "badsnap": tmp_path("bad.snap")}
with open(garbage["text"], "w") as f:
    f.write("this is not a core file\n")
open(garbage["empty"], "w").close()
with open(cores["inst.core"], "rb") as f, open(garbage["truncated"], "wb") as g:
    g.write(f.read(65536))
with open(garbage["badsnap"], "wb") as f:
    f.write(b"MEMPROF-SNAPSHOT?" + bytes(range(256)) * 4)
good_snap = tmp_path("good.snap")
run_quiet([MEMPROF, "snapshot", "save", good_snap, "--core", cores["inst.core"]], CLI_TIMEOUT)
if not os.path.exists(good_snap):
    raise SystemExit("memprof snapshot save failed on inst.core")

# A held process sits in read(2).  Right after a ptrace detach it is
# between the interrupted call and its restart for a moment, with other
# registers (rip 2 bytes back, rax the syscall number): whoever looks next
# (the CLI, a debugger attaching) waits until it is back in read.
WAIT_IN_READ = tmp_path("wait-in-read.sh")
with open(WAIT_IN_READ, "w") as f:
    f.write('for i in $(seq 3000); do\n'
            '  read -r nr rest < /proc/$1/syscall && [ "$nr" = 0 ] && exit 0\n'
            '  sleep 0.01\n'
            'done\n'
            'exit 1\n')


def wait_in_read(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/syscall" % pid) as f:
                if f.read().split(" ", 1)[0] == "0":
                    return True
        except OSError:
            return False
        time.sleep(0.01)
    return False


print("targets ready after %s" % elapsed(), flush=True)

# ------------------------------------------------------ the CLI's answers

class Answer:
    def __init__(self, status, out, err):
        self.status, self.out, self.err = status, out, err

    def error_line(self):
        """The line a debugger shows for a failed command."""
        lines = [l for l in self.err.splitlines() if l.strip()]
        return lines[-1] if lines else "memprof: exit status %d" % self.status

    def warnings(self):
        lines = [l for l in self.err.splitlines() if l.strip()]
        return lines if self.status == 0 else lines[:-1]


_cli_cache = {}
_cli_lock = threading.Lock()
held_pids = set()  # str(pid) of the held processes the sessions attach to
cli_time = {}


def cli(argv, cache=True):
    """The CLI's answer to argv, run in the directory the debuggers run in."""
    key = tuple(argv)
    if cache:
        with _cli_lock:
            if key in _cli_cache:
                return _cli_cache[key]
    if "--pid" in argv:
        i = argv.index("--pid")
        if i + 1 < len(argv) and argv[i + 1] in held_pids:
            wait_in_read(int(argv[i + 1]))
    for attempt in range(20):
        try:
            started = time.monotonic()
            proc = run_quiet([MEMPROF, *argv], CLI_TIMEOUT, cwd=tmp)
            with _cli_lock:
                cli_time[argv[0] if argv else ""] = cli_time.get(argv[0] if argv else "", 0) \
                    + time.monotonic() - started
            answer = Answer(proc.returncode, proc.stdout, proc.stderr)
            break
        except subprocess.TimeoutExpired:
            answer = Answer(-999, "", "memprof: CLI timed out")
            break
        except OSError:
            # The shared build tree is being relinked: try again shortly.
            answer = Answer(-998, "", "memprof: cannot run %s" % MEMPROF)
            time.sleep(0.5)
    if cache:
        with _cli_lock:
            _cli_cache[key] = answer
    return answer


# What differs between two runs of the same command on the same target.
VOLATILE_KEYS = {"timestamp", "microseconds", "rss_anon_bytes"}
# What differs between two runs of a deterministic program (stack contents,
# environment, addresses), for the comparisons of a process LLDB launched.
SHAPE_KEYS = {"scanned_root_bytes", "preview_hex", "preview_text"}
LIVE_RE = re.compile(r"live process (\d+) \(([^)]*)\)")
CORE_RE = re.compile(r"core file (\S+) \(pid (\d+), ([^)]*)\)")
HEX_RE = re.compile(r"0x[0-9a-f]+")


def mask_targets(text, keep_pid):
    """The target named in a report, without what says core or live."""
    text = LIVE_RE.sub(lambda m: "<target %s%s>" % (m.group(1) + " " if keep_pid else "",
                                                   m.group(2)), text)
    return CORE_RE.sub(lambda m: "<target %s%s>" % (m.group(2) + " " if keep_pid else "",
                                                   m.group(3)), text)


def _clean(value, shape):
    if isinstance(value, dict):
        return {k: _clean(v, shape) for k, v in value.items()
                if k not in VOLATILE_KEYS and not (shape and k in SHAPE_KEYS)}
    if isinstance(value, list):
        return [_clean(v, shape) for v in value]
    if shape and isinstance(value, str):
        return HEX_RE.sub("0x?", value)
    return value


def normalise(text, mode):
    """text with what may differ between the debugger's run and the CLI's
    removed: timings always; the target's kind for a core written at the
    debugger's stop (mode 'retarget'); addresses, pids and stack-dependent
    numbers for another run of the same program (mode 'shape')."""
    if mode in ("retarget", "shape"):
        text = mask_targets(text, keep_pid=mode == "retarget")
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(_clean(json.loads(stripped), mode == "shape"), sort_keys=True,
                              indent=1)
        except ValueError:
            pass
    if mode == "shape":
        lines = [l for l in text.splitlines() if not re.match(r"\s+e\.g\. ", l)]
        text = HEX_RE.sub("0x?", "\n".join(lines))
    # LLDB's result object ends what it prints with one newline of its own.
    return text.rstrip("\n")


def info_view(text):
    """What `info` must show alike for a live process and a core written at
    its stop: threads and registers, modules, auxv (mappings and the
    process line differ: the core has no [vvar], gcore's own args...)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            return text
        return json.dumps({"threads": [{"tid": t.get("tid"), "registers": t.get("registers")}
                                       for t in doc.get("threads", [])],
                           "modules": doc.get("modules"), "auxv": doc.get("auxv")},
                          sort_keys=True, indent=1)
    keep, section = [], None
    for line in text.splitlines():
        m = re.match(r"^(\w+) \(\d+\)$", line)
        if m:
            section = m.group(1)
        elif line and not line.startswith(" "):
            section = None
        if section in ("threads", "modules", "auxv"):
            keep.append(re.sub(r"  signal \d+$", "", line))
    return "\n".join(keep)


# --------------------------------------------------------- session model

class State:
    """What the debugger is looking at, and how to ask the CLI the same.

    kind:  core, live (GDB runs it; compared with a gcore of the stop),
           attached, shape (LLDB runs it), none (no process)
    cli:   the CLI's target options for the same target
    """

    def __init__(self, kind, cli=None, program=None, addresses=(), label="",
                 no_tls_registers=False):
        self.kind, self.cli, self.program = kind, cli, program
        self.addresses, self.label = list(addresses), label
        self.no_tls_registers = no_tls_registers

    @property
    def mode(self):
        return {"live": "retarget", "shape": "shape"}.get(self.kind, "exact")


NO_PROCESS = State("none", label="no process")


def heap_addresses(target_args):
    """Start and interior addresses of a few blocks of a target, from the
    CLI's leak report."""
    answer = cli(["leaks", *target_args, "--show-reachable", "--format", "json"])
    found = []
    try:
        for group in json.loads(answer.out).get("groups", []):
            if group.get("example"):
                found.append(group["example"])
    except ValueError:
        pass
    result = []
    for a in found[:12]:
        result += [a, hex(int(a, 16) + 8)]
    return result


def core_state(core, program, exe=True):
    args = ["--core", core] + (["--exe", program.exe] if exe else [])
    return State("core", args, program, heap_addresses(args),
                 label="core %s%s" % (os.path.basename(core), "" if exe else " (no exe)"))


# A path that does not exist, inside the test's own directory: garbage
# words land anywhere, `snapshot save` among them, and memprof as root
# would write a file named /nonexistent (which then broke unit-errors).
NO_SUCH_DIR = os.path.join(tmp, "no-such-dir", "sub")
GARBAGE = ["--bogus", "-z", "--format", "--threads", "--metric", "zzz", "0x", "0xzz", "-1", "0",
           "99999999999999999999999", "0xffffffffffffffff", "%s%n%x", "\u00e9t\u00e9", "::",
           ":", "0x10:struct nosuch", "x" * 300, "--", "--no-libc-debug", "-h", "--format=json",
           "--format=", "--fail-on", "none", "definite,bogus", "--max-depth", "--top",
           "--show-reachable", "--roots", "--reorganize", "--list", "--variable", "struct",
           "instance:", "--debug-dir", NO_SUCH_DIR, "save", "show"]
BAD_ADDRESSES = ["0x0", "0x10", "0xffffffffffffffff", "0x7fffffffe000", "zzz", "-5", "0x",
                 "0x1ffffffffffffffffff", "12345", "0x555555554000"]
FORMATS = {"info": ["text", "json"], "type": ["text", "json"], "heap": ["text", "json", "csv"],
           "leaks": ["text", "json"], "refs": ["text", "json"],
           "logical": ["text", "json", "folded"], "snapshot": ["text", "json", "csv"]}
ALL_FORMATS = ["text", "json", "folded", "csv", "prometheus", "svg", "xml", "", "JSON"]
UNKNOWN_VERBS = ["frobnicate", "heapx", "leakz", "xinfo", "snap-shot"]


class Generator:
    """Random memprof command lines for a state, good and bad."""

    def __init__(self, rng, debugger):
        self.rng = rng
        self.debugger = debugger
        self.files = 0

    def out_file(self, suffix):
        self.files += 1
        return os.path.join(OUT_DIR, "%s-%03d%s" % (self.debugger, self.files, suffix))

    def fmt(self, verb):
        r = self.rng.random()
        if r < 0.55:
            return []
        if r < 0.92:
            return ["--format", self.rng.choice(FORMATS[verb])]
        return ["--format", self.rng.choice(ALL_FORMATS)]

    def good(self, state, saved):
        rng, program = self.rng, state.program or self.rng.choice(PROGRAMS)
        # A leak check reads the DWARF of every module (libc's too) and is
        # the slowest verb here: fewer of them keeps the test short.
        verb = rng.choice(["info", "info", "info", "type", "type", "heap", "heap", "leaks",
                           "refs", "refs", "logical", "logical", "snapshot", "heap", "refs",
                           "logical", "type"])
        argv = [verb]
        # A name that is not there costs a search of every module's DWARF
        # (libc's too, about a second): such misses are kept rare.
        if verb == "type":
            r = rng.random()
            if r < 0.75:
                argv += [rng.choice(program.types)] + (["--reorganize"] if rng.random() < 0.3
                                                       else [])
            elif r < 0.8:
                argv += [rng.choice(["enum var_kind", "struct nosuch", "int"])]
            elif r < 0.86:
                argv += ["--list", rng.choice(program.patterns)]
            else:
                argv += ["--variable", rng.choice(program.variables * 6 + ["nosuch"])]
            if rng.random() < 0.5:
                argv += ["--format", rng.choice(FORMATS["type"])]
            return argv
        if verb == "heap":
            if rng.random() < 0.15:
                argv.append("--no-libc-debug")
        elif verb == "leaks":
            for option in rng.sample([["--show-reachable"],
                                      ["--fail-on", rng.choice(["definite", "definite,indirect",
                                                                "possible,reachable", "none"])],
                                      ["--roots", rng.choice(["strict", "all"])],
                                      ["--threads", rng.choice(["1", "2", "3"])]],
                                     rng.randrange(0, 3)):
                argv += option
        elif verb == "refs":
            pool = state.addresses if state.addresses and rng.random() < 0.75 else BAD_ADDRESSES
            argv.append(rng.choice(pool))
        elif verb == "logical":
            if state.addresses and rng.random() < 0.15:
                argv.append("%s:%s" % (rng.choice(state.addresses), rng.choice(program.types)))
            else:
                argv.append(rng.choice(program.roots * 8 + ["nosuch", "0x10:struct nosuch"]))
            for option in rng.sample([["--metric", rng.choice(["logical", "allocated", "slack",
                                                               "count"])],
                                      ["--max-objects", rng.choice(["1", "100", "100000"])],
                                      ["--max-depth", rng.choice(["1", "3", "50"])],
                                      ["--top", rng.choice(["1", "5", "20"])]],
                                     rng.randrange(0, 3)):
                argv += option
        elif verb == "snapshot":
            # Saving gathers what `patterns` needs (as slow as a leak
            # check): more shows than saves.
            if saved and rng.random() < 0.6:
                argv += ["show", rng.choice(saved)]
            elif rng.random() < 0.3:
                argv += ["show", rng.choice([good_snap, garbage["badsnap"], garbage["empty"],
                                             tmp_path("no-such.snap")])]
            else:
                path = self.out_file(".snap")
                argv += ["save", path]
        argv += self.fmt(verb)
        if verb != "snapshot" and rng.random() < 0.05:
            argv += ["--output", self.out_file("." + (argv[-1] if "--format" in argv[-2:-1]
                                                       else "txt"))]
        return argv

    def explicit_target(self, pid_holder):
        """A command line that names its own target: another core, the held
        process, or something that is no target at all."""
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            core = rng.choice([cores["inst.core"], cores["cache.core"], cores["cycle.core"]])
            target = ["--core", core]
        elif r < 0.55 and pid_holder is not None:
            target = ["--pid", str(pid_holder.pid)]
        elif r < 0.7:
            target = ["--core", rng.choice(list(garbage.values()) + [tmp_path("no-such.core")])]
        elif r < 0.8:
            target = ["--core", cores["inst.core"], "--exe",
                      rng.choice([garbage["text"], CACHE.exe, tmp_path("no-such-exe")])]
        else:
            target = ["--pid", rng.choice(["0", "-1", "abc", "999999999", "4194305"])]
        verb = rng.choice(["info", "info", "heap", "heap", "leaks", "type", "logical", "info",
                           "heap"])
        argv = [verb] + target
        if verb == "type":
            argv.append(rng.choice(INSTANCE.types + CACHE.types))
        elif verb == "logical":
            argv.append(rng.choice(INSTANCE.roots + CACHE.roots))
        return argv + self.fmt(verb)

    def bad(self, argv):
        """argv with one or two things wrong."""
        rng = self.rng
        argv = list(argv)
        for _ in range(rng.choice([1, 1, 2])):
            r = rng.random()
            if r < 0.4 or len(argv) < 2:
                argv.insert(rng.randrange(1, len(argv) + 1), rng.choice(GARBAGE))
            elif r < 0.55:
                argv[rng.randrange(1, len(argv))] = rng.choice(GARBAGE)
            elif r < 0.75:
                del argv[rng.randrange(1, len(argv))]
            elif r < 0.85:
                i = rng.randrange(1, len(argv))
                argv[i:i] = argv[i:i + 2]
            elif self.debugger == "gdb":
                # LLDB completes unique prefixes of sub-commands and has
                # its own error for unknown ones: GDB only.
                argv[0] = rng.choice(UNKNOWN_VERBS)
            else:
                argv.append(rng.choice(GARBAGE))
        return argv

    def command(self, state, saved, pid_holder):
        r = self.rng.random()
        if r < 0.03:
            return self.rng.choice([["--version"], ["help", self.rng.choice(list(FORMATS))]]
                                   if self.debugger == "gdb" else [["--version"]])
        if r < 0.13:
            argv = self.explicit_target(pid_holder)
        else:
            argv = self.good(state, saved)
        if self.rng.random() < 0.3:
            argv = self.bad(argv)
        return argv


class Step:
    def __init__(self, kind, argv=None, lines=None, state=None, note=""):
        self.kind, self.argv, self.lines, self.state, self.note = kind, argv, lines, state, note
        self.files = []      # (path, mode): files the command writes, compared afterwards
        self.reads = []      # snapshot files it reads, whose mode it takes


def explicit(argv):
    return "--core" in argv or "--pid" in argv


VALUE_OPTIONS = {"--format", "--output", "--core", "--exe", "--sysroot", "--pid", "--debug-dir"}


def snapshot_action(argv):
    """The first positional argument of a snapshot command line: `save`
    needs the debugger's target, `show` reads a file and takes none."""
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return argv[i + 1] if i + 1 < len(argv) else None
        if a in VALUE_OPTIONS:
            i += 2
            continue
        if a.startswith("-") and a != "-":
            i += 1
            continue
        return a
    return None


def cli_argv(argv, state):
    """The CLI command line that asks what argv asks in state."""
    if explicit(argv) or state.cli is None or argv[0] in ("--version", "--help", "help"):
        return list(argv)
    if argv[0] == "snapshot" and snapshot_action(argv) != "save":
        return list(argv)
    target = list(state.cli)
    if "--exe" in argv and "--exe" in target:
        i = target.index("--exe")
        del target[i:i + 2]
    return [argv[0]] + target + argv[1:]


class Session:
    """The commands of one debugger session, built in advance."""

    def __init__(self, name, rng, debugger, pid_holder):
        self.name, self.debugger, self.pid_holder = name, debugger, pid_holder
        self.gen = Generator(rng, debugger)
        self.rng = rng
        self.steps = []
        self.saved = []          # snapshot files saved so far (by the debugger)
        self.file_modes = {}

    def raw(self, *lines, note=""):
        self.steps.append(Step("raw", lines=list(lines), note=note))
        return self.steps[-1]

    def memprof(self, argv, state):
        step = Step("memprof", argv=argv, state=state)
        mode = "exact" if explicit(argv) else state.mode
        for i, a in enumerate(argv):
            if a in self.file_modes:
                # Named again (shown, or after a garbage "save"): only read.
                step.reads.append(a)
            elif a.startswith(OUT_DIR) and i > 0 and argv[i - 1] in ("--output", "save"):
                # A new file: this command may write it.
                step.files.append((a, mode))
                self.file_modes[a] = mode
                if argv[i - 1] == "save":
                    self.saved.append(a)
        self.steps.append(step)
        return step

    def random(self, state, count):
        if state is NO_PROCESS:
            # First, right after the target went away, a verb that needs
            # one: a front-end that still sees the old process answers.
            self.memprof(["info"], state)
        for _ in range(count):
            self.memprof(self.gen.command(state, self.saved, self.pid_holder), state)

    def memprof_count(self):
        return sum(1 for s in self.steps if s.kind == "memprof")


# ------------------------------------------------------------- comparing

FATAL_PATTERNS = [r"Fatal signal", r"Traceback \(most recent call last\)", r"Python Exception",
                  r"Error occurred in Python", r"Segmentation fault", r"internal-error",
                  r"PLEASE submit a bug report", r"Stack dump:", r"double free", r"corrupted"]


def compare_step(tag, step, out, errors, messages, pid=None):
    """Checks one memprof command against the CLI's answer: out is what it
    printed; messages every diagnostic line it showed; errors the lines the
    debugger marked as the command's failure, or None when the debugger
    does not mark them (GDB: then a failure is the last message)."""
    state, argv = step.state, step.argv
    what = "%s step %d [%s] memprof %s" % (tag, step.index, state.label, " ".join(argv))
    for line in messages:
        for pattern in FATAL_PATTERNS:
            if re.search(pattern, line):
                check(False, "%s: %r in the debugger's messages" % (what, line))
    mode = "exact" if explicit(argv) else state.mode
    for path in step.reads:
        mode = session_file_modes.get(path, mode)
    failure = messages[-1:] if errors is None else errors
    if state.kind == "none" and not explicit(argv):
        answer = cli(list(argv), cache=not step.files)
        if answer.status == 2 and answer.error_line().startswith("memprof: no target"):
            ok = any(re.match(r"memprof: (no process|the process has exited)", e)
                     for e in failure)
            check(ok and not out.strip(),
                  "%s: with no process, a one-line 'no process' error (got %r, output %r)"
                  % (what, messages, out[-300:]))
            return
    else:
        answer = cli(cli_argv(argv, state), cache=not step.files)
    if answer.status in (-999, -998):
        check(False, "%s: %s" % (what, answer.err))
        return
    if answer.status != 0:
        want = normalise(answer.error_line(), mode)
        check(any(normalise(e, mode) == want for e in failure),
              "%s: the CLI fails with %r (status %d); the debugger showed %r"
              % (what, answer.error_line(), answer.status, messages))
    else:
        expected = {normalise(w, mode) for w in answer.warnings()}
        unexpected = [m for m in (messages if errors is None else errors)
                      if normalise(m, mode) not in expected]
        check(not unexpected, "%s: the CLI succeeds; the debugger showed %r"
              % (what, unexpected))
    if answer.status == 0 or out.strip() or answer.out.strip():
        compare_output(what, step, mode, out, answer.out, pid)


VALUED_OPTIONS = {"--core", "--pid", "--exe", "--sysroot", "--debug-dir", "--output", "--format",
                  "--fail-on", "--roots", "--threads", "--limit", "--fail-on-pressure",
                  "--snapshot", "--metric", "--max-depth", "--top", "--hints", "--root"}


def compare_output(what, step, mode, ours, theirs, pid):
    """What the debugger printed (or wrote with --output) against the CLI's."""
    state, argv = step.state, step.argv
    # "-h" right after an option that takes a value is that value
    # (`--debug-dir -h`), not a request for help.
    asks_help = any(a in ("-h", "--help") and argv[i - 1] not in VALUED_OPTIONS
                    for i, a in enumerate(argv) if i >= 1)
    if argv[0] == "info" and not explicit(argv) and not asks_help:
        if state.no_tls_registers:
            ours, theirs = mask_tls_registers(ours), mask_tls_registers(theirs)
        if state.kind == "live":
            check(info_view(ours) == info_view(theirs),
                  "%s: threads, modules and auxv equal those of the core written at the stop"
                  "\n%s" % (what, diff_text(info_view(theirs), info_view(ours))))
            return
        if state.kind == "shape":
            if ours.strip() or theirs.strip():  # nothing on stdout with --output
                check_live_pid(what, ours, pid)
            return
    ours, theirs = normalise(ours, mode), normalise(theirs, mode)
    check(ours == theirs, "%s: output differs from the CLI's (%s)\n%s" % (what, mode,
                                                                         diff_text(theirs, ours)))


def mask_tls_registers(text):
    """fs_base and gs_base without their values: LLDB 14 does not report
    them for a live process, so the plug-in hands the engine zeros."""
    return re.sub(r'("?(?:fs|gs)_base"?:?\s+"?)0x[0-9a-f]+', r"\g<1>0x?", text)


def check_live_pid(what, out, pid):
    """The info of a process LLDB launched names that process."""
    m = re.search(r'"pid": (\d+)', out) or re.search(r"^process\s+pid (\d+)", out, re.M)
    check(m is not None and pid is not None and int(m.group(1)) == pid,
          "%s: info names the process LLDB launched (pid %s): %r" % (what, pid, out[:300]))


def diff_text(want, got):
    import difflib
    lines = list(difflib.unified_diff(want.splitlines(), got.splitlines(), "cli", "debugger",
                                      lineterm="", n=1))
    return "\n".join(lines[:40]) + ("\n..." if len(lines) > 40 else "")


session_file_modes = {}


def compare_files(tag, step, pid):
    """Files the command wrote in the debugger (path.dbg, renamed before the
    CLI's replay) against the CLI's (path)."""
    for path, mode in step.files:
        mine, theirs = path + ".dbg", path
        what = "%s step %d memprof %s" % (tag, step.index, " ".join(step.argv))
        if not os.path.exists(theirs):
            check(not os.path.exists(mine), "%s: the debugger wrote %s, the CLI did not"
                  % (what, path))
            continue
        if not check(os.path.exists(mine), "%s: the CLI wrote %s, the debugger did not"
                     % (what, path)):
            continue
        if path.endswith(".snap"):
            a = cli(["snapshot", "show", mine, "--format", "json"], cache=False).out
            b = cli(["snapshot", "show", theirs, "--format", "json"], cache=False).out
            check(normalise(a, mode) == normalise(b, mode), "%s: %s differs from the CLI's "
                  "(%s)\n%s" % (what, path, mode, diff_text(normalise(b, mode),
                                                          normalise(a, mode))))
        else:
            a, b = open(mine, errors="replace").read(), open(theirs, errors="replace").read()
            compare_output("%s (%s)" % (what, path), step, mode, a, b, pid)


def replay(tag, steps, outputs):
    """The CLI's answers to a session's commands, in order, and the checks.
    outputs(step) -> (stdout, error lines, all diagnostic lines, pid)."""
    for step in steps:
        if step.kind != "memprof":
            continue
        for path, _ in step.files:
            if os.path.exists(path):
                os.replace(path, path + ".dbg")
        result = outputs(step)
        if result is None:
            check(False, "%s step %d: no output found for memprof %s"
                  % (tag, step.index, " ".join(step.argv)))
            continue
        out, errors, messages, pid = result
        compare_step(tag, step, out, errors, messages, pid)
        if step.files:
            compare_files(tag, step, pid)


# ------------------------------------------------------------------ quoting

def quote(argv):
    words = []
    for a in argv:
        if a == "" or re.search(r"\s", a):
            words.append('"%s"' % a)
        else:
            words.append(a)
    return " ".join(words)


# --------------------------------------------------------------------- GDB

def build_gdb_session():
    s = Session("gdb", gdb_rng, "gdb", gdb_pid_holder)
    inst = core_state(cores["inst.core"], INSTANCE)
    s.random(inst, 30)
    s.raw("file " + INSTANCE.exe, note="file reloaded")
    s.random(inst, 8)
    s.raw("file " + CACHE.exe, "core-file " + cores["cache.core"], note="another core")
    cache = core_state(cores["cache.core"], CACHE)
    s.random(cache, 16)
    s.raw("add-inferior", "inferior 2", note="an empty inferior")
    s.random(NO_PROCESS, 3)
    s.raw("inferior 1", note="back to the core")
    s.random(cache, 5)
    if big_core:
        s.steps.append(Step("long", note="Ctrl-C"))
        s.memprof(["heap", "--core", big_core, "--format", "json"], cache)
        s.random(cache, 8)
    s.raw("file " + CYCLE.exe, "core-file " + same[0], note="same pid, first core")
    same_a = core_state(same[0], CYCLE)
    s.random(same_a, 6)
    s.raw("core-file " + same[1], note="same pid, second core")
    same_b = core_state(same[1], CYCLE)
    s.random(same_b, 6)
    s.raw("file", note="no executable")
    s.random(core_state(same[1], CYCLE, exe=False), 6)
    s.raw("file " + CYCLE.exe, "core-file", note="core detached")
    s.random(NO_PROCESS, 5)

    # A process GDB runs: stopped in read(2), killed, run again; then at its
    # first instruction.  Each stop is written with gcore for the CLI.
    s.raw("file " + INSTANCE.exe, "break read", "run --hold < /dev/null",
          "gcore " + tmp_path("gdb-run1.core"), note="run")
    s.random(State("live", ["--core", tmp_path("gdb-run1.core"), "--exe", INSTANCE.exe],
                   INSTANCE, label="run 1"), 16)
    s.raw("kill", note="killed")
    s.random(NO_PROCESS, 3)
    s.raw("run --hold < /dev/null", "gcore " + tmp_path("gdb-run2.core"), note="run again")
    s.random(State("live", ["--core", tmp_path("gdb-run2.core"), "--exe", INSTANCE.exe],
                   INSTANCE, label="run 2"), 10)
    s.raw("kill", "delete", "starti --hold < /dev/null", "gcore " + tmp_path("gdb-starti.core"),
          note="starti")
    s.random(State("live", ["--core", tmp_path("gdb-starti.core"), "--exe", INSTANCE.exe],
                   INSTANCE, label="starti"), 10)
    s.raw("kill", note="killed")

    # A process that was running before GDB: attach, detach, attach again.
    attached = State("attached", ["--pid", str(gdb_attach_holder.pid)], CACHE,
                     heap_addresses(["--pid", str(gdb_attach_holder.pid)]), label="attached")
    wait = "shell /bin/sh %s %d" % (WAIT_IN_READ, gdb_attach_holder.pid)
    s.raw("file " + CACHE.exe, wait, "attach %d" % gdb_attach_holder.pid, note="attach")
    s.random(attached, 14)
    s.raw("detach", note="detach")
    s.random(NO_PROCESS, 3)
    s.raw(wait, "attach %d" % gdb_attach_holder.pid, note="attach again")
    s.random(attached, 8)
    s.raw("detach", note="detach")

    s.raw("file " + INSTANCE.exe, "core-file " + cores["inst.core"], note="a core again")
    s.random(inst, 12)
    return s


def gdb_command_lines(step):
    if step.kind == "raw":
        return step.lines
    if step.kind == "long":
        # The long leak check, then a gate that holds GDB until the test
        # has sent its SIGINTs (GDB's stdout is a buffered pipe, so the test
        # cannot tell from it how far GDB got: without the gate a late
        # SIGINT hit whatever step came next), then commands that absorb a
        # SIGINT still pending (each goes through Python, which takes it as
        # a Quit), then the end marker.  The gate takes a SIGINT that lands
        # in it as what it is, not as an error.
        gate = ("python exec(\"import os, time\\ntry:\\n while not os.path.exists(%r):"
                " time.sleep(0.01)\\nexcept KeyboardInterrupt:\\n pass\")" % CTRL_C_SENT)
        # GDB turns a SIGINT still pending into KeyboardInterrupt when it
        # next runs Python code: the pads run Python that takes it.
        pad = ("python exec(\"try:\\n import time\\n time.sleep(0.01)\\n"
               "except KeyboardInterrupt:\\n pass\")")
        return ["echo @@LONG-BEGIN@@\\n", "python gdb.write('@@LONG-BEGIN@@\\n', gdb.STDERR)",
                "memprof leaks --threads 1 --core " + big_core,
                "echo @@LONG-DONE@@\\n", gate, pad, pad, pad,
                "echo @@LONG-END@@\\n"]
    if step.argv == ["--help"]:
        return ["memprof"]
    return ["memprof " + quote(step.argv)]


class Pipe:
    """Collects a stream in a thread; waits for text to appear in it."""

    def __init__(self, stream):
        self.chunks = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in iter(stream.readline, ""):
            with self.lock:
                self.chunks.append(line)

    def text(self):
        with self.lock:
            return "".join(self.chunks)


def run_gdb(session, initial_args):
    argv = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-iex",
            "set pagination off", "-iex", "set confirm off", "-x", GDB_SCRIPT, *initial_args]
    long_index = None
    for i, step in enumerate(session.steps):
        step.index = i
        argv += ["-ex", "echo @@S%d@@\\n" % i,
                 "-ex", "python gdb.write('@@S%d@@\\n', gdb.STDERR)" % i]
        if step.kind == "long":
            long_index = i
        for line in gdb_command_lines(step):
            argv += ["-ex", line]
    argv += ["-ex", "echo @@SESSION-END@@\\n"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", cwd=tmp)
    out, err = Pipe(proc.stdout), Pipe(proc.stderr)
    deadline = time.monotonic() + SESSION_TIMEOUT
    signals = 0
    if long_index is not None:
        # Ctrl-C: a burst of three SIGINTs to GDB (not its inferiors), 50 ms
        # into the long leak check (it takes longer than that), as from a
        # user pressing it again and again: the later ones land while
        # memprof handles the first.  The check stops at its next poll, or
        # ends and GDB quits; signals sent after it ended would hit the
        # next commands, the pads.
        while time.monotonic() < deadline and proc.poll() is None \
                and "@@LONG-BEGIN@@" not in err.text():
            time.sleep(0.01)
        time.sleep(0.05)
        for _ in range(3):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                signals += 1
                time.sleep(0.005)
        # Lets GDB past the gate; the signals have all been delivered.
        time.sleep(0.05)
        open(CTRL_C_SENT, "w").close()
    try:
        proc.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        check(False, "gdb session hung (killed after %ds); last output: %r"
              % (SESSION_TIMEOUT, out.text()[-1000:]))
    out.thread.join(10)
    err.thread.join(10)
    keep_transcript("gdb", argv, out.text(), err.text())
    return proc.returncode, out.text(), err.text(), signals


def keep_transcript(name, argv, out, err=""):
    """With MEMPROF_TEST_KEEP=1 the temporary directory stays, with each
    session's command line and output in it."""
    if os.environ.get("MEMPROF_TEST_KEEP"):
        with open(tmp_path(name + "-transcript.txt"), "w") as f:
            f.write("\n".join(argv) + "\n\n==== stdout\n" + out + "\n==== stderr\n" + err)


def split_markers(text, pattern=r"@@S(\d+)@@\n"):
    parts = re.split(pattern, text)
    segments = {}
    for i in range(1, len(parts) - 1, 2):
        segments[int(parts[i])] = parts[i + 1]
    return segments


# A Ctrl-C still pending when GDB next runs a `python` command (the gate
# and the pads of the long step) is raised by GDB itself before the first
# line runs: GDB's own report of the user's extra key presses, not memprof's.
PENDING_CTRL_C = re.compile(r'Traceback \(most recent call last\):\n  File "<string>", line 0, in '
                            r'<module>\nKeyboardInterrupt\nError while executing Python code\.\n')


def check_gdb_session(s, status, out, err, signals):
    tag = "gdb"
    err = PENDING_CTRL_C.sub("", err)
    check(status is not None and status >= 0, "gdb ended by a signal: %r" % status)
    check("@@SESSION-END@@" in out, "gdb ran the whole session (end marker printed): %s"
          % err[-1500:])
    for pattern in FATAL_PATTERNS:
        m = re.search(pattern, err)
        check(m is None, "gdb session: %r in its messages: %s"
              % (pattern, err[max(0, m.start() - 500):m.start() + 500] if m else ""))
    outs = split_markers(out.split("@@SESSION-END@@")[0])
    errs = split_markers(err)

    for step in s.steps:
        if step.kind == "raw" and step.note in ("run", "run again", "starti"):
            check(re.search(r"Saved corefile", errs.get(step.index, "") +
                            outs.get(step.index, "")),
                  "gdb step %d (%s): gcore at the stop: %s" % (step.index, step.note,
                                                               errs.get(step.index, "")[-500:]))
        if step.kind == "long":
            check_ctrl_c(step, outs.get(step.index, ""), errs.get(step.index, ""), signals)

    def outputs(step):
        if step.index not in outs:
            return None
        messages = [l for l in errs.get(step.index, "").splitlines() if l.strip()]
        return outs[step.index], None, messages, None

    replay(tag, s.steps, outputs)


def check_ctrl_c(step, out, err, signals):
    what = "gdb Ctrl-C during `memprof leaks` on 600000 blocks"
    check("@@LONG-END@@" in out, "%s: gdb goes on with the next commands: %r %r"
          % (what, out[-300:], err[-500:]))
    check(not re.search(r"Traceback|Python Exception", PENDING_CTRL_C.sub("", err)),
          "%s: no Python traceback: %r"
          % (what, err[-800:]))
    if re.search(r"^memprof: .*interrupted", err, re.M):
        outcome = "interrupted by memprof"
    elif re.search(r"^Quit", err, re.M):
        outcome = "quit by gdb"
    elif "LEAK SUMMARY" in out:
        outcome = "finished before the interrupt"
    else:
        outcome = None
    check(outcome is not None, "%s: interrupted, quit or finished: %r %r"
          % (what, out[-300:], err[-300:]))
    print("gdb ctrl-c: %d SIGINT sent, outcome: %s" % (signals, outcome), flush=True)


# -------------------------------------------------------------------- LLDB

LLDB_NOISE = [r"^Traceback \(most recent call last\):$", r'^  File "<string>", line \d+, in',
              r"^NameError: name 'run_one_line' is not defined$",
              r"^ModuleNotFoundError: No module named 'lldb\.embedded_interpreter'$",
              r"^Process \d+ (exited with status|detached|stopped|launched|resuming|killed)",
              r"^\* thread #\d+", r"^    frame #\d+", r"^ready \d+$",
              r"^\d+ location(s)? added to breakpoint", r"^Executable module set to",
              r"^Architecture set to", r"^warning: \(x86_64\) .*vdso", ]
LLDB_NOISE_RE = re.compile("|".join(LLDB_NOISE))


def build_lldb_session():
    s = Session("lldb", lldb_rng, "lldb", lldb_pid_holder)
    inst = core_state(cores["inst.core"], INSTANCE)
    cache = core_state(cores["cache.core"], CACHE)
    s.raw("target create --core %s %s" % (cores["inst.core"], INSTANCE.exe), note="a core")
    s.random(inst, 30)
    s.raw("target create --core %s %s" % (cores["cache.core"], CACHE.exe), note="another core")
    s.random(cache, 18)
    s.raw("target select 0", note="the first target again")
    s.random(inst, 6)
    s.raw("target select 1", note="the second")
    s.random(cache, 4)
    s.raw("target delete -a", note="no target")
    s.random(NO_PROCESS, 3)
    s.raw("target create --core %s %s" % (same[0], CYCLE.exe), note="same pid, first core")
    s.random(core_state(same[0], CYCLE), 8)
    s.raw("target create --core %s %s" % (same[1], CYCLE.exe), note="same pid, second core")
    s.random(core_state(same[1], CYCLE), 8)
    s.raw("target select 0", note="same pid, first core again")
    s.random(core_state(same[0], CYCLE), 4)
    s.raw("target delete -a", "target create " + INSTANCE.exe, note="an executable alone")
    s.random(NO_PROCESS, 3)

    # A process LLDB launches: stopped at read(2), killed, launched again,
    # then stopped at its entry.  LLDB 14 writes no cores: the CLI answers
    # for a core of the same program at the same point.
    at_read = State("shape", ["--core", cores["inst.core"], "--exe", INSTANCE.exe], INSTANCE,
                    label="launched")
    at_entry = State("shape", ["--core", entry_core, "--exe", INSTANCE.exe], INSTANCE,
                     label="launched, at entry")
    s.raw("breakpoint set -n read", "process launch -i /dev/null -- --hold", note="launch")
    s.random(at_read, 14)
    s.raw("process kill", note="killed")
    s.random(NO_PROCESS, 3)
    s.raw("process launch -i /dev/null -- --hold", note="launch")
    s.random(at_read, 8)
    s.raw("process kill", "breakpoint delete -f", "process launch -s -i /dev/null -- --hold",
          note="launch")
    s.random(at_entry, 6)
    s.raw("process kill", "target delete -a", note="killed")

    attached = State("attached", ["--pid", str(lldb_attach_holder.pid)], CACHE,
                     heap_addresses(["--pid", str(lldb_attach_holder.pid)]), label="attached",
                     no_tls_registers=True)
    wait = "platform shell /bin/sh %s %d" % (WAIT_IN_READ, lldb_attach_holder.pid)
    s.raw(wait, "process attach --pid %d" % lldb_attach_holder.pid, note="attach")
    s.random(attached, 14)
    s.raw("process detach", note="detach")
    s.random(NO_PROCESS, 3)
    s.raw(wait, "process attach --pid %d" % lldb_attach_holder.pid, note="attach again")
    s.random(attached, 8)
    s.raw("process detach", "target delete -a",
          "target create --core %s %s" % (cores["cache.core"], CACHE.exe), note="a core again")
    s.random(cache, 12)
    return s


def lldb_lines(step):
    if step.kind == "raw":
        return step.lines
    if step.argv == ["--version"]:
        return ["memprof version"]
    return ["memprof " + quote(step.argv)]


def run_lldb(session):
    script = tmp_path("lldb-session.txt")
    with open(script, "w") as f:
        for i, step in enumerate(session.steps):
            step.index = i
            step.command_lines = lldb_lines(step)
            for line in step.command_lines:
                f.write(line + "\n")
    argv = ["lldb", "-b", "-o", "plugin load " + LLDB_PLUGIN,
            "-o", "command source -e false " + script, "-o", "version"]
    # One stream: LLDB writes a command's error right after its output.
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=SESSION_TIMEOUT, cwd=tmp)
        keep_transcript("lldb", argv + [open(script).read()], proc.stdout)
        return proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        check(False, "lldb session hung (killed after %ds); last output: %r"
              % (SESSION_TIMEOUT, out[-1000:]))
        return None, out


def check_lldb_session(s, status, out):
    tag = "lldb"
    check(status is not None and status >= 0, "lldb ended by a signal: %r" % status)
    check(re.search(r"^\(lldb\) version\nlldb version", out, re.M),
          "lldb ran the whole session (the final `version` answered): %r" % out[-1500:])
    # Split at the echoed commands, in order.
    blocks = re.split(r"^\(lldb\) (.*)\n", out, flags=re.M)
    echoed = [(blocks[i], blocks[i + 1]) for i in range(1, len(blocks) - 1, 2)]
    at = 0
    results = {}
    pid = None
    for step in s.steps:
        texts = []
        for line in step.command_lines:
            while at < len(echoed) and echoed[at][0] != line:
                at += 1
            if at == len(echoed):
                break
            texts.append(echoed[at][1])
            at += 1
        text = "".join(texts)
        clean = [l for l in text.splitlines() if not LLDB_NOISE_RE.search(l)]
        for line in clean:
            for pattern in FATAL_PATTERNS[:1] + FATAL_PATTERNS[4:]:
                check(not re.search(pattern, line), "lldb step %d: %r" % (step.index, line))
        if step.kind == "raw":
            m = re.search(r"Process (\d+) (launched|stopped)", text)
            if "launch" in step.note:
                pid = int(m.group(1)) if m else None
                check(m is not None, "lldb step %d: launched: %r" % (step.index, text[-500:]))
            continue
        if len(texts) != len(step.command_lines):
            continue
        # The plug-in shows memprof's messages as LLDB warnings and errors;
        # some reports print their own "warning: ..." lines on stdout.
        def diagnostic(l):
            return l.startswith("error: ") or l.startswith("warning: memprof:")
        errors = [l[len("error: "):] for l in clean if l.startswith("error: ")]
        messages = [l.split(": ", 1)[1] for l in clean if diagnostic(l)]
        output = "\n".join(l for l in clean if not diagnostic(l))
        results[step.index] = (output, errors, messages, pid)

    def outputs(step):
        result = results.get(step.index)
        if result is None:
            return None
        output, errors, messages, pid = result
        return output, errors, messages, pid

    replay(tag, s.steps, outputs)


# ---------------------------------------------------------- GDB Python API

API_SCRIPT = r'''
import json
import gdb
import memprof

plan = json.load(open(PLAN))
results = []
for item in plan:
    if item[0] == "gdb":
        try:
            gdb.execute(item[1], to_string=True)
            results.append(["gdb", None])
        except gdb.error as e:
            results.append(["gdb", str(e)])
        continue
    _, function, args = item
    args = [None if a == ["None"] else a for a in args]
    try:
        if function == "verbs":
            value = [list(v) for v in memprof.verbs()]
        else:
            value = getattr(memprof, function)(*args)
        results.append(["ok", value])
    except memprof.Error as e:
        results.append(["error", e.status, str(e)])
    except Exception as e:
        results.append(["exception", type(e).__name__, str(e)])
with open(OUT, "w") as f:
    json.dump(results, f)
print("@@API-DONE@@ %d" % len(results))
'''


def build_api_plan(rng):
    """[("gdb", command) | ("call", function, args)], with the state each
    call runs in."""
    plan, states = [], []
    choices = [(INSTANCE, cores["inst.core"]), (CACHE, cores["cache.core"])]
    program, core = choices[0]
    state = core_state(core, program)
    api_saved = []
    count = 0
    while count < 200:
        if rng.random() < 0.03:
            program, core = rng.choice(choices)
            plan.append(("gdb", "file " + program.exe))
            plan.append(("gdb", "core-file " + core))
            state = core_state(core, program)
            states += [None, None]
            continue
        count += 1
        r = rng.random()
        if r < 0.12:
            verb = rng.choice(["info", "heap", "type"])
            args = [verb, "--format", "json"] + (["struct instance"] if verb == "type" else [])
            function = "run"
        elif r < 0.16:
            function, args = "run", [rng.choice(UNKNOWN_VERBS + ["run", "help"])]
        elif r < 0.18:
            function, args = "verbs", []
        else:
            function = rng.choice(["info", "info", "heap", "heap", "leaks", "type", "type",
                                   "refs", "refs", "logical", "logical", "snapshot", "heap",
                                   "info", "refs", "logical"])
            if function == "info":
                args = []
            elif function == "heap":
                args = rng.choice([[], [], ["--no-libc-debug"], ["--format", "csv"]])
            elif function == "leaks":
                args = rng.choice([[], ["--show-reachable"], ["--roots", "strict"],
                                   ["--fail-on", "definite"], ["--threads", "2"],
                                   ["--format", "text"]])
            elif function == "type":
                args = [rng.choice(program.types)] + rng.choice([[], ["--reorganize"]])
            elif function == "refs":
                args = [rng.choice(state.addresses + BAD_ADDRESSES[:3])]
            elif function == "logical":
                args = [rng.choice(program.roots)] + rng.choice(
                    [[], ["--metric", "count"], ["--top", "3"], ["--format", "folded"]])
            else:
                if api_saved and rng.random() < 0.7:
                    args = ["show", rng.choice(api_saved)]
                else:
                    path = os.path.join(OUT_DIR, "api-%03d.snap" % count)
                    api_saved.append(path)
                    args = ["save", path]
            if rng.random() < 0.25:
                # Errors mixed in: bad options and values, and arguments
                # that are not strings (the API converts them with str()).
                bad = rng.choice(["--bogus", "zzz", "0x", "--format", 42, 3.5, None,
                                  "--threads", "--metric", "nosuch"])
                args = list(args)
                args.insert(rng.randrange(0, len(args) + 1), bad)
        plan.append(("call", function, [["None"] if a is None else a for a in args]))
        states.append(state)
    return plan, states


def api_expected(function, args, state):
    """(kind, value) the API call should give, from the CLI."""
    args = ["None" if a == ["None"] else str(a) for a in args]
    if function == "verbs":
        help_text = cli(["--help"]).out.split("verbs:\n", 1)[1].split("\n\n")[0]
        return "ok", [[l.split(None, 1)[0], l.split(None, 1)[1].strip()]
                      for l in help_text.splitlines()]
    if function == "run":
        argv = args
    else:
        argv = [function] + args
    has_format = any(a == "--format" or a.startswith("--format=") for a in argv)
    json_wanted = function != "run" and not has_format
    if json_wanted:
        argv = argv + ["--format", "json"]
    answer = cli(cli_argv(argv, state), cache="save" not in argv)
    if answer.status != 0:
        return "error", (answer.status, answer.error_line())
    if json_wanted:
        try:
            return "ok", json.loads(answer.out)
        except ValueError:
            return "ok", answer.out  # a verb that writes no JSON here: its text
    return "ok", answer.out


def run_api_session():
    plan, states = build_api_plan(api_rng)
    plan_path, out_path = tmp_path("api-plan.json"), tmp_path("api-results.json")
    with open(plan_path, "w") as f:
        json.dump(plan, f)
    script = tmp_path("api-session.py")
    with open(script, "w") as f:
        f.write("PLAN = %r\nOUT = %r\n" % (plan_path, out_path) + API_SCRIPT)
    argv = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-iex",
            "set pagination off", "-iex", "set confirm off", "-x", GDB_SCRIPT,
            INSTANCE.exe, cores["inst.core"], "-ex", "source " + script,
            "-ex", "echo @@SESSION-END@@\\n"]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=SESSION_TIMEOUT, cwd=tmp)
    except subprocess.TimeoutExpired:
        check(False, "gdb Python API session hung")
        return 0
    check(proc.returncode >= 0, "gdb (Python API) ended by a signal: %d" % proc.returncode)
    check("@@SESSION-END@@" in proc.stdout and "@@API-DONE@@" in proc.stdout,
          "gdb ran the whole Python API loop: %s" % proc.stderr[-1500:])
    for pattern in FATAL_PATTERNS:
        check(not re.search(pattern, proc.stderr), "gdb Python API session: %r in %s"
              % (pattern, proc.stderr[-1500:]))
    if not os.path.exists(out_path):
        return len(plan)
    results = json.load(open(out_path))
    check(len(results) == len(plan), "one result per API call")
    for i, (item, state, result) in enumerate(zip(plan, states, results)):
        if item[0] == "gdb":
            check(result == ["gdb", None], "api %d: gdb %s: %r" % (i, item[1], result))
            continue
        _, function, args = item
        what = "api %d [%s]: memprof.%s(%s)" % (i, state.label, function,
                                               ", ".join(repr(a) for a in args))
        saved = [a for a in args if isinstance(a, str) and a.startswith(OUT_DIR)
                 and "save" in args]
        for path in saved:
            if os.path.exists(path):
                os.replace(path, path + ".dbg")
        kind, want = api_expected(function, args, state)
        for path in saved:
            if os.path.exists(path) and os.path.exists(path + ".dbg"):
                a = cli(["snapshot", "show", path + ".dbg", "--format", "json"], cache=False)
                b = cli(["snapshot", "show", path, "--format", "json"], cache=False)
                check(normalise(a.out, "exact") == normalise(b.out, "exact"),
                      "%s: the snapshot equals the CLI's" % what)
            else:
                check(os.path.exists(path) == os.path.exists(path + ".dbg"),
                      "%s: the API and the CLI both write %s, or neither" % (what, path))
        if kind == "error":
            check(result[:1] == ["error"] and result[1:] == list(want),
                  "%s: raises memprof.Error(status %d, %r); got %r"
                  % (what, want[0], want[1], result[:3]))
            continue
        if not check(result[:1] == ["ok"], "%s: returns; got %r" % (what, result[:3])):
            continue
        got = result[1]
        if isinstance(want, str):
            got, want = normalise(str(got), "exact"), normalise(want, "exact")
            check(got == want, "%s: returns the CLI's text\n%s" % (what, diff_text(want, got)))
        else:
            a, b = _clean(got, False), _clean(want, False)
            check(a == b, "%s: returns the CLI's JSON\n%s"
                  % (what, diff_text(json.dumps(b, indent=1, sort_keys=True),
                                     json.dumps(a, indent=1, sort_keys=True))))
    return sum(1 for p in plan if p[0] == "call")


# ------------------------------------------------------------------- main

gdb_attach_holder = Held([CACHE.exe, "--hold"])
holders.append(gdb_attach_holder)
gdb_pid_holder = Held([INSTANCE.exe, "--hold"])
holders.append(gdb_pid_holder)
lldb_attach_holder = lldb_pid_holder = None
if LLDB_PLUGIN and shutil.which("lldb"):
    lldb_attach_holder = Held([CACHE.exe, "--hold"])
    holders.append(lldb_attach_holder)
    lldb_pid_holder = Held([INSTANCE.exe, "--hold"])
    holders.append(lldb_pid_holder)
held_pids.update(str(h.pid) for h in holders)

gdb_session = build_gdb_session()
lldb_session = build_lldb_session() if lldb_attach_holder else None
for sess in (gdb_session, lldb_session):
    if sess:
        session_file_modes.update(sess.file_modes)


def gdb_job():
    status, out, err, signals = run_gdb(gdb_session, [INSTANCE.exe, cores["inst.core"]])
    print("gdb session: %d memprof commands, %d steps, done after %s"
          % (gdb_session.memprof_count(), len(gdb_session.steps), elapsed()), flush=True)
    check_gdb_session(gdb_session, status, out, err, signals)
    print("gdb session checked after %s" % elapsed(), flush=True)


def lldb_job():
    if not lldb_session:
        print("lldb or its plug-in missing: the LLDB session is skipped")
        return
    status, out = run_lldb(lldb_session)
    print("lldb session: %d memprof commands, %d steps, done after %s"
          % (lldb_session.memprof_count(), len(lldb_session.steps), elapsed()), flush=True)
    check_lldb_session(lldb_session, status, out)
    print("lldb session checked after %s" % elapsed(), flush=True)


def api_job():
    calls = run_api_session()
    print("gdb Python API: %d calls checked after %s" % (calls, elapsed()), flush=True)


# Two at a time (the machine has two cores and other work), the longest
# first.
with ThreadPoolExecutor(max_workers=2) as pool:
    for job in [pool.submit(gdb_job), pool.submit(lldb_job), pool.submit(api_job)]:
        job.result()

# Detaching left the attached processes as they were: they still run and
# exit normally once released.
for h in list(holders):
    check(h.proc.poll() is None, "held process %d still alive after the sessions" % h.pid)
    status = h.release()
    check(status == 0, "held process %d exits 0 after the sessions: %r" % (h.pid, status))

print("CLI time by verb: %s" % ", ".join("%s %.1fs" % kv for kv in sorted(cli_time.items())))
print("wall time %s" % elapsed())
finish()
