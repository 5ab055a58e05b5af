"""examples/jemalloc_heap's truth and the checks made against it, shared by
test_heap_jemalloc.py (Debian bookworm's libjemalloc2 5.3.0) and
test_allocator_binaries.py (bullseye's 5.2.1).

The program prints jemalloc's own figures (mallctl stats.allocated,
active, resident, mapped after an "epoch" refresh), its own truth (the
blocks it holds, by malloc_usable_size, and the lost ones) and a sample
block's address, then holds."""
import json
import shutil

from mptest import Held, check, memprof, valgrind_summary, LEAK_KINDS

FIGURES = ("allocated", "active", "resident", "mapped")


class HeldTruth(Held):
    """The example with --hold: its figures and truth, then 'ready PID'."""

    def __init__(self, exe, env=None):
        self.figures, self.program, self.sample = {}, {}, None
        super().__init__([exe, "--hold"], env, self.take)

    def take(self, line):
        words = line.split()
        if words[:1] == ["jemalloc"]:
            self.figures = {k: int(v) for k, v in zip(words[1::2], words[2::2])}
        elif words[:1] == ["program"]:
            self.program = {k: int(v) for k, v in zip(words[1::2], words[2::2])}
        elif words[:1] == ["sample"]:
            self.sample = int(words[1], 16)
        else:
            return False
        return True


def check_heap(where, report, held, backend):
    """heap's report of the held program: jemalloc's four figures exactly,
    the blocks in use, cached and jemalloc's internal ones adding up to
    stats.allocated."""
    if report is None:
        return
    check(report["backend"] == backend, "%s: backend %r, not %r" % (where, report["backend"], backend))
    detail = {(d["group"], d["name"]): d["value"] for d in report["allocator_detail"]}
    for name in FIGURES:
        check(detail.get(("totals", name)) == held.figures[name],
              "%s: %s %r, jemalloc says %d" % (where, name, detail.get(("totals", name)),
                                               held.figures[name]))
    check(report["system_bytes"] == held.figures["mapped"],
          "%s: system_bytes %r, jemalloc's stats.mapped %d"
          % (where, report["system_bytes"], held.figures["mapped"]))
    totals = report["totals"]
    in_use, cached = totals["in_use"], totals["tcache"]
    internal = detail.get(("totals", "internal_bytes"), 0)
    check(in_use["bytes"] + cached["bytes"] + internal == held.figures["allocated"],
          "%s: in use %d + cached %d + internal %d bytes != stats.allocated %d"
          % (where, in_use["bytes"], cached["bytes"], internal, held.figures["allocated"]))
    check(detail.get(("totals", "tcache_cached_bytes")) == cached["bytes"] and cached["chunks"] > 0,
          "%s: cached %r, detail %r" % (where, cached, detail.get(("totals", "tcache_cached_bytes"))))
    # The program's blocks are in use; libc's few own blocks come on top.
    check(in_use["chunks"] >= held.program["live_blocks"]
          and in_use["bytes"] >= held.program["live_bytes"]
          and in_use["chunks"] - held.program["live_blocks"] <= 16,
          "%s: in use %d blocks %d bytes, the program holds %d blocks %d bytes"
          % (where, in_use["chunks"], in_use["bytes"], held.program["live_blocks"],
             held.program["live_bytes"]))
    # Per arena the allocated bytes add up to the total.
    arenas = sum(v for (g, n), v in detail.items() if g.startswith("arena ") and n == "allocated")
    check(arenas == held.figures["allocated"],
          "%s: arenas' allocated add to %d, not %d" % (where, arenas, held.figures["allocated"]))
    check(any(g.startswith("bin ") for g, _ in detail), "%s: no bin detail" % where)
    check(not report["partial"] and not report["problems"],
          "%s: partial %r problems %r" % (where, report["partial"], report["problems"][:3]))


def check_leaks(where, core, exe, held, env=None):
    """leaks on the core: the truth's lost blocks and bytes; per kind the
    block counts valgrind gives for the same program run to the same point
    (--abort) with its malloc in jemalloc's place (--soname-synonyms)."""
    code, out, err = memprof("leaks", "--core", core, "--format", "json")
    if not check(code in (0, 3), "%s: leaks exited %d: %s" % (where, code, err[-500:])):
        return
    summary = json.loads(out)["summary"]
    lost = (summary["definitely_lost"]["blocks"] + summary["indirectly_lost"]["blocks"],
            summary["definitely_lost"]["bytes"] + summary["indirectly_lost"]["bytes"])
    truth = (held.program["lost_blocks"], held.program["lost_bytes"])
    check(lost == truth, "%s: lost %r, the program says %r" % (where, lost, truth))
    if not shutil.which("valgrind"):
        print("valgrind not installed: leak kinds not compared")
        return
    want = valgrind_summary([exe, "--abort"], "--soname-synonyms=somalloc=*jemalloc*", env=env)
    for key, _ in LEAK_KINDS:
        check(summary[key]["blocks"] == want[key][0],
              "%s: %s %d blocks, valgrind %d" % (where, key, summary[key]["blocks"], want[key][0]))
        # valgrind counts requested bytes, memprof usable ones
        check(summary[key]["bytes"] >= want[key][1],
              "%s: %s %d bytes, below valgrind's %d" % (where, key, summary[key]["bytes"],
                                                         want[key][1]))
