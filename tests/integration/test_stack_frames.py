"""Stack locals read only from frames that are their function's.

stack_prologue (built at -O0 by GCC, whose frame base is the CFA, and by
clang, whose frame base is rbp) spins calling probe(struct other *o) just
after stash(q) left q in the slot probe's parameter is given: gdb stops
the thread on probe's first instruction, on its second (rbp pushed, not
yet set), on its third (the frame set up, the parameter not yet stored:
the line table's prologue is not over) and on its ret (rbp popped), and
writes a core there; `memprof
leaks --blocks` on each core must type q's block as the struct node the
program recorded, never as struct other.  The program also runs free while `leaks --pid` samples it
several times, under the same rule.  Built by GCC without call-frame
information, the frames are the frame-pointer chain's: its guess at the
CFA is no frame base, and on probe's ret, where rbp is spinner's again,
the guess would name spinner's slots.

stack_ranges (C++, clang++ -O0: a unit with DW_AT_low_pc 0, DW_AT_ranges
and no .debug_aranges; g++ -O0 -ffunction-sections) holds two Nodes only
from main's local and hold's parameter: both must be typed Node, on a
core and live.  So must stack_line0's struct node (clang -O0), held by a
local of a frame whose pc the line table puts on line 0: no line, so no
local is taken for one declared after it."""
import json
import os
import shutil
import subprocess
import tempfile

from mptest import Held, check, finish, gcore, helper, memprof, read_truth, type_tally

# Stops the thread running probe at one of its instructions (STOP: entry,
# pushed, spill: the frame set up, the parameter not yet in its slot; ret)
# and writes a core (CORE) there.
STOP_SCRIPT = r'''
import os
import gdb

start = int(gdb.parse_and_eval("(long)&probe"))
block = gdb.block_for_pc(start)
insns = gdb.selected_frame().architecture().disassemble(block.start, block.end - 1)
stop = os.environ["STOP"]
index = {"entry": 0, "pushed": 1, "spill": 2, "ret": -1}[stop]
address = insns[index]["addr"]
text = {"entry": "push", "pushed": "mov", "spill": "%rdi,", "ret": "ret"}[stop]
if text not in insns[index]["asm"]:
    raise gdb.GdbError("probe's instructions are not push, mov, mov %%rdi ... ret: %s" % insns)
gdb.execute("break *%#x" % address)
gdb.execute("continue")
pc = int(gdb.parse_and_eval("(long)$pc"))
if pc != address:
    raise gdb.GdbError("stopped at %#x, not %#x" % (pc, address))
gdb.execute("delete")
gdb.execute("gcore " + os.environ["CORE"])
print("stopped at %#x" % pc)
'''


def leaks_blocks(name, where, target):
    """(json, stderr) of leaks --blocks, or (None, None)."""
    status, out, err = memprof("leaks", *target, "--blocks", "--format", "json")
    if not check(status == 0, "%s %s: leaks --blocks exits 0: %s" % (name, where, err[-300:])):
        return None, None
    return json.loads(out), err


def check_typed(name, where, truth, report, untyped_ok=False):
    tally = type_tally(truth, report["blocks"])
    for address, kind in tally["missing"]:
        check(False, "%s %s: block %#x (%s) is in the listing" % (name, where, address, kind))
    for address, kind, said, evidence in tally["wrong"]:
        check(False, "%s %s: block %#x is %s, memprof says %s (%s)"
              % (name, where, address, kind, said, evidence))
    for address in [] if untyped_ok else tally["untyped"]:
        check(False, "%s %s: block %#x (%s) is untyped" % (name, where, address, truth[address]))
    return len(tally["right"])


def stack_prologue(name, tmp):
    """untyped_ok: without CFI the frame holding q is the frame-pointer
    chain's, whose locals are not read."""
    exe = helper(name)
    untyped_ok = name == "stack_prologue_nocfi"
    if not os.path.exists(exe):
        print("%s: not built, skipped" % name)
        return
    truth_path = os.path.join(tmp, name + ".truth")
    script = os.path.join(tmp, "stop.py")
    with open(script, "w") as f:
        f.write(STOP_SCRIPT)
    held = Held([exe, truth_path, "--hold"])
    try:
        truth = read_truth(truth_path)
        for stop in ("entry", "pushed", "spill", "ret"):
            core = os.path.join(tmp, "%s.%s.core" % (name, stop))
            proc = subprocess.run(
                ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                 "-iex", "set pagination off", exe, "-p", str(held.pid), "-x", script],
                capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL,
                env=dict(os.environ, STOP=stop, CORE=core), timeout=180)
            if not check(os.path.exists(core) and "stopped at" in proc.stdout,
                         "%s: gdb stops probe at %s and writes a core: %s"
                         % (name, stop, (proc.stdout + proc.stderr)[-600:])):
                continue
            report, _ = leaks_blocks(name, "at " + stop, ["--core", core])
            if report is None:
                continue
            right = check_typed(name, "at " + stop, truth, report, untyped_ok)
            print("%s at %s: %d of %d blocks typed right" % (name, stop, right, len(truth)))
            os.unlink(core)
        # Free running: wherever the samples catch the thread.
        for sample in range(8):
            report, _ = leaks_blocks(name, "live sample %d" % sample, ["--pid", str(held.pid)])
            if report is not None:
                check_typed(name, "live sample %d" % sample, truth, report, untyped_ok)
    finally:
        check(held.release() == 0, "%s exits normally" % name)


def held_locals(name, tmp):
    """stack_ranges_*, stack_line0: every recorded block typed right, on a
    core and live."""
    exe = helper(name)
    if not os.path.exists(exe):
        print("%s: not built, skipped" % name)
        return
    truth_path = os.path.join(tmp, name + ".truth")
    held = Held([exe, truth_path, "--hold"])
    try:
        truth = read_truth(truth_path)
        core = gcore(held.pid, os.path.join(tmp, name + ".core"))
        for where, target in (("core", ["--core", core]), ("live", ["--pid", str(held.pid)])):
            report, _ = leaks_blocks(name, where, target)
            if report is not None:
                right = check_typed(name, where, truth, report)
                print("%s %s: %d of %d blocks typed right" % (name, where, right, len(truth)))
    finally:
        check(held.release() == 0, "%s exits normally" % name)


tmp = tempfile.mkdtemp(prefix="memprof-frames-")
try:
    for compiler in ("gcc", "clang"):
        stack_prologue("stack_prologue_" + compiler, tmp)
        held_locals("stack_ranges_" + compiler, tmp)
    stack_prologue("stack_prologue_nocfi", tmp)
    held_locals("stack_line0", tmp)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
