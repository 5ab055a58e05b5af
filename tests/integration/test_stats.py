"""`--stats` of `memprof leaks` and `memprof run`: the per-phase breakdown
(attach/stop, modules, heap walk, scan, classification, report) that
docs/benchmarks.md records (issue 18).

- leaks on a core: every phase is there, none negative, the total is
  their sum, the heap walk's chunk count is the one `memprof heap` finds
  on the same core, and the stats change nothing in the report;
- run: one phases line per process, naming the pid the JSON report
  names, with an attach/stop phase, and the same lost counts as without
  --stats.
"""
import json
import re

from mptest import check, example, finish, held_core, memprof

PHASES = re.compile(
    r"memprof: stats: (?:pid (?P<pid>\d+) \(ran (?P<ran>[\d.]+) ms to its exit stop\): )?"
    r"phases: (?:attach/stop (?P<attach>[\d.]+) ms, )?modules (?P<modules>[\d.]+) ms, "
    r"heap walk (?P<walk>[\d.]+) ms \((?P<chunks>\d+) chunks\), scan (?P<scan>[\d.]+) ms, "
    r"classification (?P<classify>-?[\d.]+) ms, report (?P<report>[\d.]+) ms; "
    r"total (?P<total>[\d.]+) ms$")


def phase_lines(err):
    return [m for m in (PHASES.match(line) for line in err.splitlines()) if m]


def check_sums(label, m):
    parts = [float(m.group(k)) for k in ("modules", "walk", "scan", "classify", "report")]
    if m.group("attach") is not None:
        parts.append(float(m.group("attach")))
    check(all(p >= 0 for p in parts), "%s: no phase is negative: %s" % (label, m.group(0)))
    # Each figure is rounded to 0.1 ms on its own.
    check(abs(sum(parts) - float(m.group("total"))) <= 0.05 * (len(parts) + 1),
          "%s: the total is the phases' sum: %s" % (label, m.group(0)))


print("-- leaks --stats on a core", flush=True)
with held_core([example("zoo_cpp")], "zoo.core") as core:
    status, out, err = memprof("leaks", "--core", core, "--format", "json", "--stats")
    check(status == 0, "leaks --stats: status %d: %s" % (status, err[-500:]))
    lines = phase_lines(err)
    if check(len(lines) == 1, "leaks --stats: one phases line: %s" % err[-1000:]):
        m = lines[0]
        check(m.group("pid") is None and m.group("attach") is None,
              "leaks on a core: no pid, nothing attached: %s" % m.group(0))
        check_sums("leaks", m)
        status, heap_out, heap_err = memprof("heap", "--core", core, "--format", "json")
        if check(status == 0, "heap: status %d: %s" % (status, heap_err[-500:])):
            chunks = sum(t["chunks"] for t in json.loads(heap_out)["totals"].values())
            check(int(m.group("chunks")) == chunks,
                  "leaks --stats walks the %d chunks heap finds: %s" % (chunks, m.group(0)))
    check("block scan of" in err, "leaks --stats still gives the block scan rate: %s" % err[-500:])
    status, plain, err = memprof("leaks", "--core", core, "--format", "json")
    check(status == 0 and plain == out, "leaks: --stats leaves the report as it is")

print("-- run --stats", flush=True)
program = example("leak_cycle")
status, out, err = memprof("run", "--fail-on", "none", "--format", "json", "--stats", "--", program,
                           timeout=300)
check(status == 0, "run --stats: status %d: %s" % (status, err[-500:]))
lines = phase_lines(err)
doc = json.loads(out) if status == 0 else {"processes": []}
if check(len(lines) == 1 and len(doc["processes"]) == 1,
         "run --stats: one process, one phases line: %s" % err[-1000:]):
    m = lines[0]
    check(int(m.group("pid")) == doc["processes"][0]["pid"],
          "run --stats names the process's pid: %s" % m.group(0))
    check(m.group("attach") is not None, "run --stats has an attach/stop phase: %s" % m.group(0))
    check(int(m.group("chunks")) > 0, "run --stats walked the heap: %s" % m.group(0))
    check_sums("run", m)
    status, plain, _ = memprof("run", "--fail-on", "none", "--format", "json", "--", program,
                               timeout=300)
    if check(status == 0, "run without --stats: status %d" % status):
        check(json.loads(plain)["processes"][0]["summary"] == doc["processes"][0]["summary"],
              "run: --stats changes no lost count")

finish()
