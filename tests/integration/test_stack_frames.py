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
local is taken for one declared after it.

stack_dag (g++ -O0), its DWARF rewritten into a DAG of namespaces whose
walk would take 2^38 steps and z::hold's code range emptied: `leaks` on
it must finish (within 60 s) and warn that the search for hold's function
stopped at its bound."""
import json
import os
import re
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


def namespace_dag(exe, out):
    """Writes exe with the DW_AT_sibling of each namespace n2..n39 pointing
    at its own first child (n3..n40) and the definition of z::hold given
    an empty code range (DW_AT_high_pc, a length, 0).  Places come from
    readelf's dump: "<offset>" of each DIE and attribute in .debug_info."""
    sections = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True).stdout
    info = int(re.search(r"\.debug_info\s+PROGBITS\s+[0-9a-f]+\s+([0-9a-f]+)", sections).group(1), 16)
    dump = subprocess.run(["readelf", "--debug-dump=info", exe], capture_output=True,
                          text=True).stdout
    data = bytearray(open(exe, "rb").read())
    unit = 0
    die = tag = name = specification = hold = hold_high = None
    namespaces = {}     # name: [DIE offset, sibling attribute offset, unit offset]
    for line in dump.splitlines():
        m = re.match(r"\s*Compilation Unit @ offset (0x[0-9a-f]+)", line)
        if m:
            unit = int(m.group(1), 16)
        m = re.match(r"\s*<\d+><([0-9a-f]+)>: Abbrev Number: \d+ \((\w+)\)", line)
        if m:
            die, tag, name, specification = int(m.group(1), 16), m.group(2), None, None
            continue
        m = re.match(r"\s*<([0-9a-f]+)>\s+(DW_AT_\w+)\s*:\s*(.*)", line)
        if not m or die is None:
            continue
        at, attribute, value = int(m.group(1), 16), m.group(2), m.group(3)
        if attribute == "DW_AT_name":
            name = value.split(": ")[-1].strip()
            if tag == "DW_TAG_namespace":
                namespaces[name] = [die, None, unit]
            if tag == "DW_TAG_subprogram" and name == "hold":
                hold = die
        elif attribute == "DW_AT_sibling" and tag == "DW_TAG_namespace" and name in namespaces:
            namespaces[name][1] = at
        elif attribute == "DW_AT_specification":
            specification = int(value.strip("<>"), 16)
        elif attribute == "DW_AT_high_pc" and specification is not None and specification == hold:
            hold_high = at
    linked = 0
    for level in range(2, 40):
        _, sibling, unit = namespaces.get("n%d" % level, [None, None, None])
        child = namespaces.get("n%d" % (level + 1), [None])[0]
        if sibling is None or child is None:
            break
        data[info + sibling:info + sibling + 4] = (child - unit).to_bytes(4, "little")
        linked += 1
    if linked != 38 or hold_high is None:
        return "%d of 38 sibling links, hold's DW_AT_high_pc %s" % (linked, hold_high)
    data[info + hold_high:info + hold_high + 8] = bytes(8)
    with open(out, "wb") as f:
        f.write(data)
    os.chmod(out, 0o755)
    return None


def stack_dag(tmp):
    exe = helper("stack_dag")
    if not os.path.exists(exe):
        print("stack_dag: not built (no C++ compiler), skipped")
        return
    dag = os.path.join(tmp, "stack_dag")
    problem = namespace_dag(exe, dag)
    if not check(problem is None, "stack_dag: its DWARF rewritten: %s" % problem):
        return
    held = Held([dag, "--hold"])
    try:
        try:
            status, out, err = memprof("leaks", "--pid", str(held.pid), timeout=60)
        except subprocess.TimeoutExpired:
            check(False, "stack_dag: leaks finishes within 60 s on a DAG of namespaces")
            return
        check(status == 0, "stack_dag: leaks exits 0: %s" % err[-300:])
        warned = [line for line in out.splitlines() if "DIEs read, the most allowed" in line]
        check(len(warned) == 1 and "stack locals" in warned[0],
              "stack_dag: one warning says the search for the function stopped: %s" % warned)
        print("stack_dag: %s" % (warned[0].strip() if warned else None))
    finally:
        check(held.release() == 0, "stack_dag exits normally")


tmp = tempfile.mkdtemp(prefix="memprof-frames-")
try:
    for compiler in ("gcc", "clang"):
        stack_prologue("stack_prologue_" + compiler, tmp)
        held_locals("stack_ranges_" + compiler, tmp)
    stack_prologue("stack_prologue_nocfi", tmp)
    held_locals("stack_line0", tmp)
    stack_dag(tmp)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
