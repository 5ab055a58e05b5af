"""The fragmentation and arena-bloat patterns against malloc's own numbers:
the fragment helper frees every other 8000-byte block of the main arena;
memprof's fragmentation finding must count exactly the free bytes outside
the top that mallinfo2 reports (fordblks - keepcost, one arena), and with
six idle thread arenas an arena-bloat finding must hold their system
memory (mallinfo2's arena growth across the threads, within 10%) and no
fragmentation finding count their free chunks again: the findings on free
memory save at most mallinfo2's free bytes, and recommend's total at most
its arena bytes."""
import json
import os
import shutil
import tempfile

from mptest import Held, check, finish, helper, memprof

tmp = tempfile.mkdtemp(prefix="memprof-frag-")
try:
    for threads in (False, True):
        truth_path = os.path.join(tmp, "truth")
        held = Held([helper("fragment"), truth_path] + (["--threads"] if threads else []) + ["--hold"])
        try:
            fordblks, keepcost, arena, before = map(int, open(truth_path).read().split())
            status, out, err = memprof("patterns", "--pid", str(held.pid), "--format", "json")
            if not check(status == 0, "patterns --pid: %s" % err[-300:]):
                continue
            findings = json.loads(out)["findings"]
            frag = [f for f in findings if f["kind"] == "fragmentation" and "main" in f["subject"]]
            bloat = [f for f in findings if f["kind"] == "arena-bloat"]
            if check(len(frag) == 1, "one fragmentation finding for the main arena: %s" % findings):
                f = frag[0]
                if not threads:
                    check(f["bytes"] == fordblks - keepcost,
                          "free bytes outside top %d == mallinfo2 fordblks - keepcost %d"
                          % (f["bytes"], fordblks - keepcost))
                check(0 < f["estimated_savings_bytes"] <= f["bytes"],
                      "trimmable pages within the free bytes: %s" % f)
                check(f["blocks"] >= 990, "about 1000 free chunks: %d" % f["blocks"])
            if threads:
                if check(len(bloat) == 1, "an arena-bloat finding: %s" % findings):
                    grown = arena - before
                    check(abs(bloat[0]["bytes"] - grown) <= grown * 0.10,
                          "non-main arenas hold %d bytes, mallinfo2 grew by %d"
                          % (bloat[0]["bytes"], grown))
                # The thread arenas' free chunks are arena bloat's savings,
                # not fragmentation's too.
                others = [f for f in findings if f["kind"] == "fragmentation" and f not in frag]
                check(not others, "no fragmentation finding beside arena bloat: %s" % others)
            else:
                check(not bloat, "one arena: no arena bloat")
            # No free byte counted twice: the savings of the findings on
            # free memory are within malloc's free bytes, and recommend's
            # total within what malloc holds from the system.
            free_savings = sum(f["estimated_savings_bytes"] for f in frag + bloat)
            check(free_savings <= fordblks, "savings on free memory %d <= mallinfo2 fordblks %d"
                  % (free_savings, fordblks))
            status, out, err = memprof("recommend", "--pid", str(held.pid), "--format", "json")
            if check(status == 0, "recommend --pid: %s" % err[-300:]):
                total = json.loads(out)["estimated_savings_bytes"]
                check(total <= arena, "recommend's total %d <= mallinfo2 arena %d" % (total, arena))
        finally:
            check(held.release() == 0, "fragment exits normally")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
