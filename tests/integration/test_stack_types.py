"""Stack locals as typed roots without a debugger: the stack_typed helper
(built at -O0 and -O2) holds its blocks only from locals and parameters of
several frames (a lexical block, an inlined call, a struct in memory, a
second thread) and records the type of every block it allocates;
`memprof leaks --blocks` on a core and on the live process must type none
wrongly and every one right, and leave untyped the one block only a
`void *` holds, whose address a not-yet-declared local's slot holds.  The
shares typed right, wrong and untyped are printed, and those without the
locals (MEMPROF_STACK_LOCALS=off).  Then stack_waste (C++, -O0 and -O2):
its blocks typed right likewise (a Holder only a local points at, its
std::vector's and std::string's buffers, Padded objects and the buffer of
the local std::vector holding them), and `memprof recommend` on its core
must find the overcapacity of the Holder's std::vector and std::string
and the padding of the Padded objects, with savings within 10% of the
program's own measure."""
import contextlib
import json
import os
import shutil
import tempfile

from mptest import Held, check, finish, gcore, helper, memprof, read_truth, type_tally


@contextlib.contextmanager
def held_with_core(name):
    """Runs helper name TRUTH --hold; yields (truth path, held, core path)."""
    tmp = tempfile.mkdtemp(prefix="memprof-stack-")
    try:
        truth_path = os.path.join(tmp, "truth.txt")
        held = Held([helper(name), truth_path, "--hold"])
        try:
            yield truth_path, held, gcore(held.pid, os.path.join(tmp, "stack.core"))
        finally:
            check(held.release() == 0, "%s exits normally" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def type_counts(name, where, target, truth):
    """(right, wrong, untyped) of the recorded blocks, or None."""
    status, out, err = memprof("leaks", *target, "--blocks", "--format", "json")
    if not check(status == 0, "%s %s: leaks --blocks exits 0: %s" % (name, where, err[-300:])):
        return None
    tally = type_tally(truth, json.loads(out)["blocks"])
    for address, kind in tally["missing"]:
        check(False, "%s %s: block %#x (%s) is in the listing" % (name, where, address, kind))
    # Only a void * holds it, and a local declared after the line its
    # frame waits at has a stale pointer to it in its slot (at -O0): that
    # local is not in scope yet.
    for address, said, evidence in tally["unknowable"]:
        check(said is None, "%s %s: block %#x, held by a void * only, is untyped: %s (%s)"
              % (name, where, address, said, evidence))
    for address, kind, said, evidence in tally["wrong"][:3]:
        print("%s %s: block %#x is %s, memprof says %s (%s)"
              % (name, where, address, kind, said, evidence))
    right, wrong, untyped = (len(tally[k]) for k in ("right", "wrong", "untyped"))
    total = right + wrong + untyped
    print("%s %s: %d blocks only stack locals lead to: %d right (%.1f%%), %d wrong, %d untyped"
          % (name, where, total, right, 100.0 * right / max(total, 1), wrong, untyped))
    recorded = sum(1 for kind in truth.values() if kind != "-")
    check(total == recorded, "%s %s: the %d recorded blocks were compared: %d"
          % (name, where, recorded, total))
    return right, wrong, untyped


for name in ("stack_typed_O0", "stack_typed_O2"):
    with held_with_core(name) as (truth_path, held, core):
        truth = read_truth(truth_path)
        for where, target in (("core", ["--core", core]), ("live", ["--pid", str(held.pid)])):
            counts = type_counts(name, where, target, truth)
            check(counts and counts[1] == 0 and counts[2] == 0,
                  "%s %s: every block typed right: %s" % (name, where, counts))
        # Without the frames' locals the other roots reach none of it.
        os.environ["MEMPROF_STACK_LOCALS"] = "off"
        try:
            counts = type_counts(name, "core, stack locals off", ["--core", core], truth)
        finally:
            del os.environ["MEMPROF_STACK_LOCALS"]
        check(counts and counts[0] == 0,
              "%s: without stack locals no block is typed right: %s" % (name, counts))


def waste_truth(path):
    """{(kind, subject): bytes} as the program measured them."""
    truth = {}
    for line in open(path):
        kind, subject, size = line.split()
        truth[(kind, subject)] = int(size)
    return truth


for name in ("stack_waste_O0", "stack_waste_O2"):
    if not os.path.exists(helper(name)):
        print("%s: not built (no C++ compiler), skipped" % name)
        continue
    with held_with_core(name) as (truth_path, held, core):
        blocks = read_truth(truth_path + ".blocks")
        for where, target in (("core", ["--core", core]), ("live", ["--pid", str(held.pid)])):
            counts = type_counts(name, where, target, blocks)
            check(counts and counts[1] == 0 and counts[2] == 0,
                  "%s %s: every block typed right: %s" % (name, where, counts))
        truth = waste_truth(truth_path)
        check(len(truth) == 3, "%s: three measures recorded: %s" % (name, truth))
        status, out, err = memprof("recommend", "--core", core, "--format", "json")
        if not check(status == 0, "%s: recommend exits 0: %s" % (name, err[-300:])):
            continue
        found = json.loads(out)["recommendations"]
        for (kind, subject), size in sorted(truth.items()):
            # The description names the struct and member ("size
            # Holder.numbers (...) to ...", "the members of Padded to ...").
            match = [r for r in found if r["kind"] == kind and
                     " %s " % subject in " %s " % r["description"]]
            if not check(len(match) == 1, "%s: one %s finding for %s: %s"
                         % (name, kind, subject,
                            [(r["kind"], r["description"][:80]) for r in found])):
                continue
            saved = match[0]["estimated_savings_bytes"]
            print("%s: %s %s: memprof %d bytes, the program %d" % (name, kind, subject, saved, size))
            check(abs(saved - size) <= size // 10,
                  "%s: %s %s saves %d bytes, the program says %d (within 10%%)"
                  % (name, kind, subject, saved, size))
finish()
