"""Shared pieces of memprof's integration tests.

Tests drive the real things: the memprof binary, example programs built by
meson, cores written by gdb's gcore (never the kernel's core_pattern), and
gdb itself as the reference.  Paths arrive in environment variables set by
tests/meson.build.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

MEMPROF = os.environ.get("MEMPROF", "memprof")
EXAMPLES = os.environ.get("EXAMPLES_DIR", "")
HELPERS = os.environ.get("HELPERS_DIR", "")

failures = []


def check(condition, message):
    """Records a failed expectation; the test fails at the end with all of them."""
    if not condition:
        failures.append(message)
        print("FAIL: " + message, file=sys.stderr)
    return condition


def finish():
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def seeded_random(name):
    """A random.Random for a randomised test: the seed comes from
    MEMPROF_TEST_SEED when set, else is fresh, and is printed either way so
    a failure reproduces with MEMPROF_TEST_SEED=<seed>."""
    import random
    seed = os.environ.get("MEMPROF_TEST_SEED")
    seed = int(seed) if seed else random.SystemRandom().randrange(1 << 32)
    print("%s: seed %d (rerun with MEMPROF_TEST_SEED=%d)" % (name, seed, seed), flush=True)
    return random.Random(seed)


def example(name):
    path = os.path.join(EXAMPLES, name)
    if not os.path.exists(path):
        raise SystemExit("example %s not built at %s" % (name, path))
    return path


def helper(name):
    return os.path.join(HELPERS, name)


def memprof(*args, check_status=None, timeout=120):
    """Runs memprof; returns (status, stdout, stderr)."""
    proc = subprocess.run([MEMPROF, *args], capture_output=True, text=True, errors="replace",
                          timeout=timeout)
    if check_status is not None and proc.returncode != check_status:
        raise SystemExit("memprof %s exited %d (wanted %d)\nstdout: %s\nstderr: %s"
                         % (" ".join(args), proc.returncode, check_status,
                            proc.stdout[-2000:], proc.stderr[-2000:]))
    return proc.returncode, proc.stdout, proc.stderr


def memprof_json(*args):
    _, out, _ = memprof(*args, "--format", "json", check_status=0)
    return json.loads(out)


class Held:
    """A program started with --hold: it prints 'ready PID' and blocks
    reading stdin until we close it, then exits normally."""

    def __init__(self, argv, env=None, before_ready=None):
        """before_ready(line) takes each line printed before 'ready PID' (a
        program's own truth) and returns whether it knew the line."""
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        line = None
        for line in self.proc.stdout:
            m = re.match(r"ready (\d+)", line)
            if m:
                self.pid = int(m.group(1))
                return
            if not before_ready or not before_ready(line):
                break
        self.proc.kill()
        self.proc.wait()
        raise SystemExit("%s did not print 'ready PID' (got %r)" % (argv, line))

    def release(self, timeout=30):
        """Lets the program finish; returns its exit status."""
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def read_truth(path):
    """A helper's truth file ("0xADDR TYPE" lines) as {address: type}."""
    truth = {}
    for line in open(path):
        address, kind = line.rstrip("\n").split(" ", 1)
        truth[int(address, 16)] = kind
    return truth


def type_tally(truth, blocks):
    """Compares `leaks --blocks` JSON blocks with a helper's truth
    ({address: type}, "-" where nothing in memory tells the type).
    Returns {"right": [address], "wrong": [(address, truth, type,
    evidence)], "untyped": [address], "unknowable": [(address, type,
    evidence)], "missing": [(address, truth)]}."""
    seen = {int(b["address"], 16): b for b in blocks}
    tally = {"right": [], "wrong": [], "untyped": [], "unknowable": [], "missing": []}
    for address, kind in sorted(truth.items()):
        block = seen.get(address)
        if block is None:
            tally["missing"].append((address, kind))
        elif kind == "-":
            tally["unknowable"].append((address, block["type"], block["evidence"]))
        elif block["type"] == kind:
            tally["right"].append(address)
        elif block["type"] is None:
            tally["untyped"].append(address)
        else:
            tally["wrong"].append((address, kind, block["type"], block["evidence"]))
    return tally


def gcore(pid, path):
    """Writes a core of a running process with gdb's gcore."""
    proc = subprocess.run(["gdb", "-batch", "-nx", "-p", str(pid), "-ex",
                           "gcore " + path], capture_output=True, text=True,
                          timeout=300)
    if not os.path.exists(path):
        raise SystemExit("gcore failed: %s" % proc.stderr[-2000:])
    return path


@contextlib.contextmanager
def held_core(argv, name="test.core", before_ready=None):
    """Runs argv with --hold, writes its core, lets it exit; yields the core
    path inside a temporary directory that is removed afterwards.
    before_ready: as Held's."""
    tmp = tempfile.mkdtemp(prefix="memprof-test-")
    held = Held([*argv, "--hold"], None, before_ready)
    try:
        path = gcore(held.pid, os.path.join(tmp, name))
        status = held.release()
        check(status == 0, "%s exited %r after gcore" % (argv[0], status))
        yield path
    finally:
        held.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def gdb_batch(*args, timeout=120):
    proc = subprocess.run(["gdb", "-batch", "-nx", *args], capture_output=True,
                          text=True, timeout=timeout)
    return proc.stdout


def gdb_registers(exe, core):
    """{tid: {register: value}} from gdb's `thread apply all info registers`."""
    out = gdb_batch(exe, core, "-ex", "thread apply all info registers")
    threads, current = {}, None
    for line in out.splitlines():
        m = re.match(r"Thread \d+ \(.*?LWP (\d+)\)", line)
        if m:
            current = threads.setdefault(int(m.group(1)), {})
            continue
        m = re.match(r"^([a-z0-9_]+)\s+(0x[0-9a-f]+)", line)
        if m and current is not None:
            current[m.group(1)] = int(m.group(2), 16)
    return threads


def gdb_file_mappings(exe, core):
    """[(start, end, offset, path)] from gdb's `info proc mappings` (NT_FILE)."""
    out = gdb_batch(exe, core, "-ex", "info proc mappings")
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(?:\S+\s+)?(/\S.*)$", line)
        if m:
            rows.append((int(m.group(1), 16), int(m.group(2), 16),
                         int(m.group(3), 16), m.group(4).strip()))
    return rows


def gdb_shared_libraries(*args):
    """{path: text_start} from gdb's `info sharedlibrary`."""
    out = gdb_batch(*args, "-ex", "info sharedlibrary")
    libs = {}
    for line in out.splitlines():
        m = re.match(r"(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+\S+\s+(?:\(\*\)\s+)?(/\S+)", line)
        if m:
            libs[m.group(2)] = int(m.group(1), 16)
    return libs


def text_address(path):
    """Link-time address of .text in an ELF file, from readelf."""
    out = subprocess.run(["readelf", "-SW", path], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        m = re.search(r"\]\s+\.text\s+\S+\s+([0-9a-f]+)", line)
        if m:
            return int(m.group(1), 16)
    return None


def readelf_build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True,
                         text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    return m.group(1) if m else None


# valgrind's leak kinds, as memprof's JSON names them and memcheck's
# summary says them.
LEAK_KINDS = [("definitely_lost", "definitely lost"), ("indirectly_lost", "indirectly lost"),
              ("possibly_lost", "possibly lost"), ("still_reachable", "still reachable")]


def valgrind_summary(argv, *options, env=None):
    """{kind: (blocks, bytes)} of memcheck's leak summary of argv; options
    go to valgrind (--soname-synonyms=somalloc=*jemalloc* for a program on
    another allocator)."""
    proc = subprocess.run(["valgrind", "--leak-check=full", "--run-libc-freeres=no",
                           "--show-leak-kinds=all", *options, *argv], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
    out = {}
    for key, words in LEAK_KINDS:
        m = re.search(words + r": ([\d,]+) bytes in ([\d,]+) blocks", proc.stderr)
        out[key] = ((int(m.group(2).replace(",", "")), int(m.group(1).replace(",", "")))
                    if m else (0, 0))
    return out


def heap_json(*args):
    """memprof heap's JSON report of a target, or None (a failed check)."""
    code, out, err = memprof("heap", *args, "--format", "json")
    if not check(code == 0, "heap %s exited %d: %s" % (" ".join(args), code, err[-500:])):
        return None
    return json.loads(out)


def core_offset(core, address):
    """File offset of a target address in an ELF core (its PT_LOAD)."""
    with open(core, "rb") as f:
        header = f.read(64)
        phoff, = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1 and p_vaddr <= address < p_vaddr + p_filesz:
            return p_offset + address - p_vaddr
    return None
