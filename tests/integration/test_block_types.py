"""Block typing against the truth: the typed_blocks helper records the type
of every block it allocates; `memprof leaks --blocks` must type none of
them wrongly, and type every block whose type its memory can tell (typed
roots, arrays of pointers, lost lists and a lost cycle by their shape,
strings), on a core and on the live process.  The shares typed right,
wrong and untyped are printed (docs/leaks.md records them)."""
import json
import os
import shutil
import tempfile

from mptest import Held, check, finish, gcore, helper, memprof

tmp = tempfile.mkdtemp(prefix="memprof-types-")
try:
    truth_path = os.path.join(tmp, "truth.txt")
    held = Held([helper("typed_blocks"), truth_path, "--hold"])
    try:
        core = gcore(held.pid, os.path.join(tmp, "typed.core"))
        truth = {}
        for line in open(truth_path):
            address, kind = line.rstrip("\n").split(" ", 1)
            truth[int(address, 16)] = kind
        for where, target in (("core", ["--core", core]), ("live", ["--pid", str(held.pid)])):
            status, out, err = memprof("leaks", *target, "--blocks", "--format", "json")
            if not check(status == 0, "%s: leaks --blocks exits 0: %s" % (where, err[-300:])):
                continue
            seen = {int(b["address"], 16): b for b in json.loads(out)["blocks"]}
            right = wrong = untyped = unknowable = 0
            for address, kind in sorted(truth.items()):
                block = seen.get(address)
                if not check(block is not None, "%s: block %#x (%s) is in the listing" % (where, address, kind)):
                    continue
                if kind == "-":
                    unknowable += 1
                    continue
                if block["type"] == kind:
                    right += 1
                elif block["type"] is None:
                    untyped += 1
                else:
                    wrong += 1
                    check(False, "%s: block %#x is %s, memprof says %s (%s)"
                          % (where, address, kind, block["type"], block["evidence"]))
            total = right + wrong + untyped
            print("%s: %d blocks with a knowable type: %d right (%.1f%%), %d wrong, %d untyped; "
                  "%d unknowable" % (where, total, right, 100.0 * right / max(total, 1), wrong,
                                     untyped, unknowable))
            check(untyped == 0, "%s: every knowable type found (%d untyped)" % (where, untyped))
            lost = [b for b in seen.values() if b["kind"] in ("definitely_lost", "indirectly_lost")
                    and b["type"] in ("struct job", "struct ring")]
            check(len(lost) == 306, "%s: 300 jobs and 6 ring nodes lost and typed: %d" % (where, len(lost)))
    finally:
        check(held.release() == 0, "typed_blocks exits normally")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
