"""memprof triage over a directory of cores of crashed tests, against the
truths the programs and gdb give for the same cores:

- examples/crash_segv --crash (a NULL dereference three calls deep) and
  examples/crash_heap --crash (an overflow into the next chunk's header,
  caught by free()) run under gdb until their signal, and gdb's gcore
  writes the core (never the kernel's core_pattern);
- leak_cycle held with --hold gives a core of a live, leaking process;
- a truncated copy of a core and a text file lie beside them;
- crash_segv built without call-frame information for its own code: the
  frames come from the frame-pointer chain, marked uncertain.

Signal number, si_code and fault address, and every frame (pc and function
start) are checked against what gdb itself reads from the same core; the
corrupt chunk against the address crash_heap printed before freeing it;
the leak summary against `memprof leaks` on the same core."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from mptest import Held, check, example, finish, gcore, memprof

tmp = tempfile.mkdtemp(prefix="memprof-triage-")
cores = os.path.join(tmp, "cores")
os.mkdir(cores)


def crash_core(name):
    """Runs example NAME --crash under gdb until its fatal signal and writes
    the core there; returns (core path, what the program wrote)."""
    path = os.path.join(cores, name + ".core")
    proc = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                           "-ex", "run", "-ex", "gcore " + path,
                           "--args", example(name), "--crash"],
                          capture_output=True, text=True, timeout=300)
    if not os.path.exists(path):
        raise SystemExit("gcore of %s failed: %s" % (name, proc.stderr[-2000:]))
    return path, proc.stdout + proc.stderr


# What gdb says about a core: the signal and the frames that are on the
# stack, each with its pc and the start of its function (gdb also shows
# frames for inlined calls and, from DWARF call-site records, for tail calls
# that left no frame: those have no return address of their own).
GDB_FRAMES = r"""
python
import gdb
si = gdb.parse_and_eval("$_siginfo")
print("signo %d code %d" % (int(si["si_signo"]), int(si["si_code"])))
try:
    print("addr %d" % int(si["_sifields"]["_sigfault"]["si_addr"]))
except gdb.error:
    pass
f = gdb.newest_frame()
while f is not None:
    if f.type() not in (gdb.INLINE_FRAME, gdb.TAILCALL_FRAME):
        fn = f.function()
        start = int(fn.value().address) if fn is not None else -1
        print("frame %d %d %s" % (f.pc(), start, f.name()))
    f = f.older()
end
"""


def gdb_truth(exe, core):
    script = os.path.join(tmp, "frames.gdb")
    with open(script, "w") as f:
        f.write(GDB_FRAMES)
    proc = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                           "-x", script, exe, core], capture_output=True, text=True, timeout=300)
    out = proc.stdout
    m = re.search(r"^signo (\d+) code (-?\d+)$", out, re.M)
    addr = re.search(r"^addr (\d+)$", out, re.M)
    frames = [(int(a), int(b), c) for a, b, c in re.findall(r"^frame (\d+) (-?\d+) (\S+)$", out, re.M)]
    return {"signo": int(m.group(1)) if m else None, "code": int(m.group(2)) if m else None,
            "addr": int(addr.group(1)) if addr else None, "frames": frames}


segv_exe, heap_exe, leak_exe = example("crash_segv"), example("crash_heap"), example("leak_cycle")
segv_core, _ = crash_core("crash_segv")
heap_core, heap_said = crash_core("crash_heap")
printed = re.search(r"corrupt chunk (0x[0-9a-f]+)", heap_said)
check(printed is not None, "crash_heap printed its corrupt chunk: %r" % heap_said[-500:])
held = Held([leak_exe, "--hold"])
try:
    leak_core = gcore(held.pid, os.path.join(cores, "leak_cycle.core"))
finally:
    check(held.release() == 0, "leak_cycle exits 0 after gcore")

# A core cut inside its program headers cannot be read at all; a text file
# in the directory is not a core and is left out.
with open(segv_core, "rb") as f:
    head = f.read(100)
with open(os.path.join(cores, "truncated.core"), "wb") as f:
    f.write(head)
with open(os.path.join(cores, "test.log"), "w") as f:
    f.write("a log beside the cores\n")

status, out, err = memprof("triage", cores, "--format", "json")
check(status == 1, "a directory with an unreadable core: status 1 (%d) %s" % (status, err[-300:]))
report = json.loads(out) if out.strip() else {"cores": []}
names = [os.path.basename(c["core"]) for c in report["cores"]]
check(names == ["crash_heap.core", "crash_segv.core", "leak_cycle.core", "truncated.core"],
      "the cores of the directory, by name, and nothing else: %s" % names)
by_name = dict(zip(names, report["cores"]))
bad = by_name.get("truncated.core", {})
check(bad.get("error") and "truncated.core" in err, "the truncated core: an error naming it: %s / %s"
      % (bad.get("error"), err))
check(report.get("unreadable") == 1, "one unreadable core: %s" % report.get("unreadable"))

for name, exe, core in (("crash_segv.core", segv_exe, segv_core),
                        ("crash_heap.core", heap_exe, heap_core)):
    r = by_name.get(name)
    if not check(r is not None and r["error"] is None, "%s was read: %s" % (name, r and r["error"])):
        continue
    truth = gdb_truth(exe, core)
    sig = r["signal"]
    check(sig is not None and sig["number"] == truth["signo"] and sig["code"] == truth["code"],
          "%s: signal %s code %s, gdb: %s %s" % (name, sig and sig["number"], sig and sig["code"],
                                                 truth["signo"], truth["code"]))
    if truth["signo"] == 11:
        check(sig["fault_address"] is not None and int(sig["fault_address"], 16) == truth["addr"],
              "%s: fault address %s, gdb %s" % (name, sig["fault_address"], truth["addr"]))
    frames = r["thread"]["frames"]
    # gdb stops at main; memprof goes on to _start.  Every frame gdb shows
    # is memprof's at the same place, with the same function start.
    gdb_frames = truth["frames"]
    check(len(gdb_frames) >= 4 and len(frames) >= len(gdb_frames),
          "%s: %d frames, gdb %d" % (name, len(frames), len(gdb_frames)))
    for i, (pc, start, gname) in enumerate(gdb_frames[:len(frames)]):
        f = frames[i]
        check(int(f["pc"], 16) == pc, "%s: frame %d pc %s, gdb %#x (%s)" % (name, i, f["pc"], pc, gname))
        if start >= 0 and f["function"]:
            check(int(f["pc"], 16) - f["offset"] == start,
                  "%s: frame %d in %s starting %#x, gdb's %s starts %#x"
                  % (name, i, f["function"], int(f["pc"], 16) - f["offset"], gname, start))
        if f["module"] == exe:
            check(f["function"] == gname, "%s: frame %d is %s, gdb %s" % (name, i, f["function"], gname))
    check(not r["thread"]["frames_uncertain"], "%s: every frame from call-frame information" % name)

segv = by_name.get("crash_segv.core")
if segv and segv["error"] is None:
    top = [f["function"] for f in segv["thread"]["frames"][:4]]
    check(top == ["read_id", "lookup", "process_request", "main"], "crash_segv's top frames: %s" % top)
    check(segv["heap"]["problems"] == [], "crash_segv: no heap corruption: %s" % segv["heap"]["problems"])

heap = by_name.get("crash_heap.core")
if heap and heap["error"] is None and printed:
    corrupt = int(printed.group(1), 16)
    found = [p for p in heap["heap"]["problems"] if int(p["address"], 16) == corrupt]
    if check(len(found) == 1, "crash_heap: a problem at the chunk the program corrupted (%#x): %s"
             % (corrupt, heap["heap"]["problems"])):
        p = found[0]
        check("size" in p["message"] and p["chunk"] and p["chunk"]["state"] == "corrupt",
              "crash_heap: the corrupt chunk and why: %s" % p)
        # Three malloc(24) side by side: 32-byte chunks before and after it.
        prev, nxt = p["previous"], p["next"]
        check(prev and int(prev["address"], 16) == corrupt - 32 and prev["size"] == 32
              and prev["state"] == "in-use",
              "crash_heap: the block before it, whose overflow it was: %s" % prev)
        check(nxt and int(nxt["address"], 16) == corrupt + 32 and nxt["size"] == 32,
              "crash_heap: the block after it: %s" % nxt)

# Without call-frame information for the program's own code (built with
# -fno-asynchronous-unwind-tables), the frames come from the frame-pointer
# chain: the same frames as gdb's, marked uncertain.
nocfi_exe = example("crash_segv_nocfi")
os.makedirs(os.path.join(tmp, "nocfi"))
nocfi_core = os.path.join(tmp, "nocfi", "nocfi.core")
proc = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-ex", "run",
                       "-ex", "gcore " + nocfi_core, "--args", nocfi_exe, "--crash"],
                      capture_output=True, text=True, timeout=300)
status, out, err = memprof("triage", nocfi_core, "--format", "json")
if check(status == 0, "triage without CFI: %d %s" % (status, err[-300:])):
    t = json.loads(out)["cores"][0]["thread"]
    gdb_frames = gdb_truth(nocfi_exe, nocfi_core)["frames"]
    pcs = [int(f["pc"], 16) for f in t["frames"]]
    check(pcs[:len(gdb_frames)] == [pc for pc, _, _ in gdb_frames],
          "without CFI: the frames are gdb's: %s vs %s" % ([hex(p) for p in pcs],
                                                           [hex(p) for p, _, _ in gdb_frames]))
    check([f["function"] for f in t["frames"][:4]] == ["read_id", "lookup", "process_request", "main"],
          "without CFI: the top functions: %s" % [f["function"] for f in t["frames"]])
    check(t["frames_uncertain"] and t["frames"][1]["source"] == "frame-pointer",
          "without CFI: frames from the frame pointer, marked uncertain: %s"
          % [(f["function"], f["source"]) for f in t["frames"]])

# The leak summary is `memprof leaks`'s on the same core.
for name, core in (("crash_segv.core", segv_core), ("crash_heap.core", heap_core),
                   ("leak_cycle.core", leak_core)):
    r = by_name.get(name)
    status, out, err = memprof("leaks", "--core", core, "--format", "json")
    if r and r["error"] is None and check(status == 0, "memprof leaks on %s: %s" % (name, err[-200:])):
        check(r["leaks"]["summary"] == json.loads(out)["summary"],
              "%s: the leak summary is memprof leaks's: %s" % (name, r["leaks"]["summary"]))
leak = by_name.get("leak_cycle.core")
if leak and leak["error"] is None:
    check(leak["leaks"]["summary"]["definitely_lost"]["blocks"] == 1, "leak_cycle: one block definitely lost")

# Text: one section per core; readable cores alone exit 0.
status, out, err = memprof("triage", segv_core, heap_core)
check(status == 0, "two readable crashed cores: status 0 (%d) %s" % (status, err[-300:]))
check(out.count("== core ") == 2 and re.search(r"#0 +0x[0-9a-f]+ in read_id\+", out)
      and "SIGSEGV" in out and "SIGABRT" in out and "corruption found" in out,
      "text: sections, signals, frames, corruption: %s" % out[:1500])
status, out, err = memprof("triage")
check(status == 2, "no core: usage error (%d)" % status)
empty = os.path.join(tmp, "empty")
os.mkdir(empty)
status, out, err = memprof("triage", empty, segv_core)
check(status == 1 and "no core file" in err and out.count("== core ") == 2,
      "a directory without cores is an error, the other core still reported: %d %s" % (status, err))

shutil.rmtree(tmp, ignore_errors=True)
finish()
