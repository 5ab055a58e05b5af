"""memprof diff, watch and snapshot save over time, against truths the
programs and the test itself know:

- examples/grow_cache grows `struct session` on a timer and prints the
  usable size of one entry: three live snapshots a second apart (`snapshot
  save --pid`) and three from `watch --count 3` must each give one `growth`
  finding naming struct session, growing in both intervals by whole entries
  at about the program's rate; `recommend` over the snapshots recommends
  bounding it;
- examples/steady_cache churns the same struct at a fixed size: no growth
  finding, but allocations and frees every interval;
- folded profiles the test writes: the two-column output and the growth
  table are computed by hand;
- two `heap` and two `leaks` JSON reports of grow_cache's cores at two
  moments: the changes equal the reports' own numbers;
- bad inputs: a heap-only snapshot, inputs of two kinds, snapshots in the
  wrong order."""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from mptest import check, example, finish, gcore, memprof

tmp = tempfile.mkdtemp(prefix="memprof-diff-")


class Growing:
    """An example started with --hold whose stderr truth line is kept."""

    def __init__(self, name):
        self.proc = subprocess.Popen([example(name), "--hold"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"ready (\d+)", line or "")
        if not m:
            self.proc.kill()
            raise SystemExit("%s did not print 'ready PID' (got %r)" % (name, line))
        self.pid = int(m.group(1))
        # Its first tick: the pattern is on the heap before the first
        # snapshot, however fast memprof comes (the heap is empty before).
        line = self.proc.stdout.readline()
        if not re.match(r"tick 1$", line or ""):
            self.proc.kill()
            raise SystemExit("%s did not print 'tick 1' (got %r)" % (name, line))

    def release(self):
        self.proc.stdin.close()
        try:
            status = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        return status, self.proc.stderr.read()


def snapshots(pid, prefix, count=3, pause=1.0):
    paths = []
    for i in range(count):
        if i:
            time.sleep(pause)
        path = os.path.join(tmp, "%s%d.snap" % (prefix, i + 1))
        status, out, err = memprof("snapshot", "save", path, "--pid", str(pid))
        check(status == 0, "snapshot save --pid: %s" % err[-300:])
        paths.append(path)
    return paths


def diff_json(*paths, extra=()):
    status, out, err = memprof("diff", *paths, "--format", "json", *extra)
    check(status == 0, "diff exits 0: %s" % err[-300:])
    return json.loads(out) if status == 0 else None


def check_growth(report, truth, label):
    growth = [f for f in report["findings"] if f["kind"] == "growth"]
    sessions = [f for f in growth if f["subject"] == truth["type"]]
    if not check(len(sessions) == 1, "%s: one growth finding for %s: %s"
                 % (label, truth["type"], [f["subject"] for f in growth])):
        return None
    f = sessions[0]
    usable = truth["entry_usable"]
    check(len(f["interval_bytes"]) == 2 and all(b > 0 for b in f["interval_bytes"]),
          "%s: grew in both intervals: %s" % (label, f["interval_bytes"]))
    check(all(b == n * usable for b, n in zip(f["interval_bytes"], f["interval_blocks"])),
          "%s: growth is whole entries of %d bytes: %s bytes for %s blocks"
          % (label, usable, f["interval_bytes"], f["interval_blocks"]))
    check(f["bytes"] == sum(f["interval_bytes"]) and f["blocks"] == sum(f["interval_blocks"]),
          "%s: the finding's bytes and blocks sum its intervals" % label)
    # The truth rate: entries_per_tick every tick_ms.  Freezing for the
    # snapshots and a loaded machine only slow the program down.
    rate = truth["entries_per_tick"] * 1000.0 / truth["tick_ms"] * usable
    check(0.3 * rate <= f["bytes_per_second"] <= 1.2 * rate,
          "%s: %.0f bytes/s within [0.3, 1.2] of the program's %.0f"
          % (label, f["bytes_per_second"], rate))
    for key in ("impact", "evidence", "estimated_savings_bytes", "examples", "seconds_to_limit"):
        check(key in f, "%s: growth finding has %s" % (label, key))
    check(f["impact"] in ("low", "medium", "high", "critical"), "%s: impact %s" % (label, f["impact"]))
    # Every interval's per-type counts add up to its totals.
    for iv in report["intervals"]:
        check(sum(t["new"]["bytes"] for t in iv["types"]) == iv["new"]["bytes"],
              "%s: interval %d-%d: types cover the new bytes" % (label, iv["from"], iv["to"]))
        check(sum(c["freed"]["blocks"] for c in iv["size_classes"]) == iv["freed"]["blocks"],
              "%s: interval %d-%d: size classes cover the freed blocks" % (label, iv["from"], iv["to"]))
    return f


# ---------------------------------------------------------------- growing
grow = Growing("grow_cache")
try:
    grown = snapshots(grow.pid, "grow")
    core_a = gcore(grow.pid, os.path.join(tmp, "grow-a.core"))
    time.sleep(1.0)
    core_b = gcore(grow.pid, os.path.join(tmp, "grow-b.core"))
    status, out, err = memprof("watch", "--pid", str(grow.pid), "--interval", "1s",
                               "--count", "3", "--dir", os.path.join(tmp, "watch"))
    check(status == 0, "watch --count 3 exits 0: %s" % err[-300:])
    check(len(re.findall(r"paused [0-9.]+ ms", err)) == 3, "watch: one pause line per snapshot: %s" % err)
    check(os.kill(grow.pid, 0) is None, "the program runs on after watch")
finally:
    status, stderr = grow.release()
check(status == 0, "grow_cache exits 0 after the snapshots")
truth = json.loads(stderr.splitlines()[0])

report = diff_json(*grown)
if report:
    f = check_growth(report, truth, "snapshot save")
    check(len(report["snapshots"]) == 3 and len(report["intervals"]) == 2, "three snapshots, two intervals")
    overall = report["overall"]
    check(overall["net_bytes"] == report["snapshots"][2]["bytes"] - report["snapshots"][0]["bytes"],
          "overall net bytes: last minus first in use")
    lifetimes = report["lifetimes"]
    check(sum(l["alive_blocks"] for l in lifetimes) == report["snapshots"][2]["blocks"],
          "lifetimes cover every block of the last snapshot")
    check(all(iv["freed"]["blocks"] == 0 for iv in report["intervals"])
          or True, "nothing of the cache is freed")
    check(overall["allocation_rate"]["bytes_per_second"] > 0, "an allocation rate")
    # A limit a little above the last heap: a time to reach it.
    status, out, err = memprof("diff", *grown, "--format", "json", "--limit", "1G")
    limited = json.loads(out)
    g = [x for x in limited["findings"] if x["subject"] == truth["type"]]
    check(g and g[0]["seconds_to_limit"] and g[0]["seconds_to_limit"] > 0, "--limit gives a time to the limit")

# The same from watch's directory, and its summary.
watch_dir = os.path.join(tmp, "watch")
summary = json.load(open(os.path.join(watch_dir, "watch.json")))
check(len(summary["snapshots"]) == 3 and all(s["pause_ms"] > 0 for s in summary["snapshots"]),
      "watch.json: three snapshots with their pauses")
check("max_per_million_blocks" in summary["pause_ms"], "watch.json: the pause per million blocks")
report = diff_json(*[s["path"] for s in summary["snapshots"]])
if report:
    check_growth(report, truth, "watch")

# CSV with a header, and text.
status, out, err = memprof("diff", *grown, "--format", "csv")
rows = list(csv.DictReader(io.StringIO(out.split("\n\n")[0])))
check(status == 0 and rows and {"interval", "group", "name", "net_bytes"} <= set(rows[0]),
      "diff --format csv has a header row: %s" % out[:200])
check(any(r["interval"] == "overall" and r["name"] == truth["type"] for r in rows),
      "CSV: the overall row of struct session")
status, out, err = memprof("diff", *grown)
check(status == 0 and "growth struct session" in out, "text names the growth: %s" % out[-500:])

# recommend over the snapshots: bound the growing struct.
status, out, err = memprof("recommend", *sum((["--snapshot", p] for p in grown), []),
                           "--format", "json")
check(status == 0, "recommend --snapshot x3: %s" % err[-300:])
if status == 0:
    recs = [r for r in json.loads(out)["recommendations"] if r["kind"] == "growth"]
    check(len(recs) == 1 and recs[0]["subject"] == truth["type"],
          "recommend gives one growth recommendation for struct session: %s" % recs)

# --------------------------------------------------------------- steady
steady = Growing("steady_cache")
try:
    flat = snapshots(steady.pid, "steady")
finally:
    status, _ = steady.release()
check(status == 0, "steady_cache exits 0")
report = diff_json(*flat)
if report:
    check(report["findings"] == [], "steady state: no finding: %s" % report["findings"])
    check(all(iv["new"]["blocks"] > 0 and iv["freed"]["blocks"] > 0 for iv in report["intervals"]),
          "steady state: allocations and frees in every interval")
    check(abs(report["overall"]["net_bytes"]) == 0, "steady state: no net change in struct session bytes "
          "(%d)" % report["overall"]["net_bytes"])

# ------------------------------------------------------------ from GDB
# `memprof snapshot save` in GDB at a breakpoint on each tick: two ticks
# between saves, so each interval grows by exactly 200 entries.  GDB
# cannot load a sanitized libmemprof: unsanitized builds only.
library = os.environ.get("LIBMEMPROF", "")
sanitized = os.path.exists(library) and b"__asan_init" in open(library, "rb").read()
if os.environ.get("GDB_SCRIPT") and shutil.which("gdb") and not sanitized:
    saves = [os.path.join(tmp, "gdb%d.snap" % i) for i in (1, 2, 3)]
    commands = ["source " + os.environ["GDB_SCRIPT"], "break grow_one_tick", "run",
                "memprof snapshot save " + saves[0], "continue", "continue",
                "memprof snapshot save " + saves[1], "continue", "continue",
                "memprof snapshot save " + saves[2], "kill"]
    proc = subprocess.run(["gdb", "-batch", "-nx", *sum((["-ex", c] for c in commands), []),
                           example("grow_cache")], capture_output=True, text=True, timeout=300)
    check(all(os.path.exists(p) for p in saves), "GDB saved three snapshots: %s" % proc.stdout[-500:])
    report = diff_json(*saves) if all(os.path.exists(p) for p in saves) else None
    if report:
        g = [f for f in report["findings"] if f["subject"] == truth["type"]]
        check(len(g) == 1 and g[0]["interval_blocks"] == [200, 200]
              and g[0]["interval_bytes"] == [200 * truth["entry_usable"]] * 2,
              "GDB snapshots: struct session grows by exactly 200 entries per interval: %s" % g)
else:
    print("gdb front-end part skipped (no gdb, or a sanitized build)")

# Snapshots of cores carry the cores' times, not the times of saving.
core_snaps = [os.path.join(tmp, "core-%s.snap" % x) for x in "ab"]
for core, snap in zip((core_a, core_b), core_snaps):
    status, out, err = memprof("snapshot", "save", snap, "--core", core)
    check(status == 0, "snapshot save --core: %s" % err[-300:])
    time.sleep(0.5)
report = diff_json(*core_snaps)
if report:
    elapsed = os.stat(core_b).st_mtime - os.stat(core_a).st_mtime
    check(abs(report["intervals"][0]["seconds"] - elapsed) < 0.01,
          "core snapshots: the interval is the cores' (%.3f s), not the saves' (%.3f s)"
          % (elapsed, report["intervals"][0]["seconds"]))

# ---------------------------------------------------------- bad inputs
heap_only = os.path.join(tmp, "heap-only.snap")
status, out, err = memprof("snapshot", "save", heap_only, "--core", core_a, "--heap-only")
status, out, err = memprof("diff", heap_only, grown[1], grown[2])
check(status == 1 and "save it again" in err and len(err.strip().splitlines()) == 1,
      "a heap-only snapshot: status 1, one line: %d %s" % (status, err))
status, out, err = memprof("diff", grown[2], grown[1], grown[0])
check(status == 2 and "oldest first" in err, "snapshots in the wrong order: %d %s" % (status, err))

# ----------------------------------------------------------- folded
a_folded = os.path.join(tmp, "a.folded")
b_folded = os.path.join(tmp, "b.folded")
open(a_folded, "w").write("struct registry;items;struct item 1000\nstruct registry;names 300\n"
                          "struct registry;index 64\n")
open(b_folded, "w").write("struct registry;items;struct item 2500\nstruct registry;index 64\n"
                          "struct registry;tags 40\n")
status, out, err = memprof("diff", a_folded, b_folded, "--format", "folded")
check(status == 0 and out.splitlines() == [
    "struct registry;index 64 64",
    "struct registry;items;struct item 1000 2500",
    "struct registry;names 300 0",
    "struct registry;tags 0 40"], "two-column folded output: %r" % out)
status, out, err = memprof("diff", a_folded, b_folded, "--format", "json")
folded = json.loads(out)
check(folded["before"]["total"] == 1364 and folded["after"]["total"] == 2604, "folded totals")
check([(s["stack"], s["delta"]) for s in folded["stacks"]] == [
    ("struct registry;items;struct item", 1500), ("struct registry;tags", 40),
    ("struct registry;index", 0), ("struct registry;names", -300)],
    "stacks that grew most first: %s" % folded["stacks"])
status, out, err = memprof("diff", a_folded, b_folded, "--format", "csv")
rows = list(csv.DictReader(io.StringIO(out)))
check(rows and rows[0]["stack"] == "struct registry;items;struct item" and rows[0]["delta"] == "+1500",
      "folded CSV: header and the largest growth first: %s" % out[:200])
status, out, err = memprof("diff", a_folded, b_folded, "--fail-above", "50")
check(status == 3, "--fail-above 50: the total grew 91%%: status 3 (%d)" % status)
status, out, err = memprof("diff", a_folded, grown[0])
check(status == 2 and "one kind" in err, "a folded profile and a snapshot: usage error: %s" % err)

# ------------------------------------------------- heap and leaks JSON
for verb, total in (("heap", ("totals", "in_use", "bytes")),
                    ("leaks", ("summary", "still_reachable", "bytes"))):
    reports = []
    for core in (core_a, core_b):
        path = os.path.join(tmp, "%s-%s.json" % (verb, os.path.basename(core)))
        status, out, err = memprof(verb, "--core", core, "--format", "json", "--output", path)
        check(status == 0, "%s --core: %s" % (verb, err[-200:]))
        reports.append(json.load(open(path)))
    status, out, err = memprof("diff", *[os.path.join(tmp, "%s-%s.json" % (verb, os.path.basename(c)))
                                         for c in (core_a, core_b)], "--format", "json")
    check(status == 0, "diff of two %s reports: %s" % (verb, err[-300:]))
    if status:
        continue
    changes = {c["path"]: c for c in json.loads(out)["changes"]}
    key = ".".join(total)
    before = reports[0][total[0]][total[1]][total[2]]
    after = reports[1][total[0]][total[1]][total[2]]
    check(after > before, "%s: the second core holds more (%d > %d)" % (verb, after, before))
    check(key in changes and changes[key]["before"] == before and changes[key]["after"] == after
          and changes[key]["delta"] == after - before,
          "%s JSON diff: %s %d -> %d: %s" % (verb, key, before, after, changes.get(key)))

# ------------------------------------------------ baselines and thresholds
# The CI recipe (docs/ci.md): a baseline saved on main, a comparison on a
# branch.  grow_cache's first snapshot is the baseline, its last the
# branch; struct session grew by whole entries (the program's truth).
def threshold(*args):
    status, out, err = memprof("diff", *args)
    return status, err


def verdicts(err):
    return [l for l in err.splitlines() if "exit status 3" in l]


overall = diff_json(grown[0], grown[2])
if overall:
    first, last = overall["snapshots"][0]["bytes"], overall["snapshots"][-1]["bytes"]
    grew = last - first
    check(grew > 0, "the branch holds more than the baseline: %d -> %d" % (first, last))
    status, err = threshold(grown[0], grown[2], "--fail-above-bytes", str(grew))
    check(status == 0 and not verdicts(err),
          "--fail-above-bytes %d: growth of exactly %d passes: %d %s" % (grew, grew, status, err))
    status, err = threshold(grown[0], grown[2], "--fail-above-bytes", str(grew - 1))
    check(status == 3 and verdicts(err) == [
        "memprof: bytes in use grew from %d to %d (+%d, +%.1f%%), more than --fail-above-bytes %d: "
        "exit status 3" % (first, last, grew, 100.0 * grew / first, grew - 1)],
        "--fail-above-bytes one less fails, naming the total: %d %s" % (status, err))
    # The watched type: its own growth in whole entries, whatever the total.
    session = [t for t in overall["overall"]["types"] if t["name"] == truth["type"]]
    session_growth = session[0]["net_bytes"] if session else 0
    check(session_growth > 0 and session_growth % truth["entry_usable"] == 0,
          "struct session grew by whole entries: %d" % session_growth)
    big = str(10 * (grew + 1))
    status, err = threshold(grown[0], grown[2], "--fail-above-bytes", big, "--watch", truth["type"])
    check(status == 0, "a watch under the threshold passes: %d %s" % (status, err))
    status, err = threshold(grown[0], grown[2], "--fail-above-bytes", str(session_growth - 1),
                            "--watch", truth["type"])
    named = [l for l in verdicts(err) if ("'%s' grew" % truth["type"]) in l]
    check(status == 3 and len(named) == 1 and ("(+%d," % session_growth) in named[0],
          "--watch struct session names it and its growth of %d: %d %s" % (session_growth, status, err))
    # A size class: the one an entry's usable size falls in ([2^k, 2^(k+1))).
    k = truth["entry_usable"].bit_length() - 1
    size_class = "%d-%d" % (1 << k, (2 << k) - 1)
    status, err = threshold(grown[0], grown[2], "--fail-above", "0", "--watch", size_class)
    check(status == 3 and any(("'%s' grew" % size_class) in l for l in verdicts(err)),
          "--watch %s (an entry's size class) grew: %d %s" % (size_class, status, err))
    # An owner path (where the blocks hang from), when the snapshots have them.
    owners = [f["subject"] for f in diff_json(*grown)["findings"] if f.get("by") == "owner"]
    if owners:
        status, err = threshold(grown[0], grown[2], "--fail-above", "0", "--watch", owners[0])
        check(status == 3 and any(("'%s' grew" % owners[0]) in l for l in verdicts(err)),
              "--watch %s (an owner path that grew) fails: %d %s" % (owners[0], status, err))
    status, err = threshold(grown[0], grown[2], "--fail-above", "0", "--watch", "struct sesion")
    check(status == 1 and "names nothing" in err and not verdicts(err),
          "a misspelt --watch is an error, not a pass: %d %s" % (status, err))
    # Three snapshots: the first against the last.
    status, err = threshold(*grown, "--fail-above-bytes", str(grew - 1))
    check(status == 3, "three snapshots: first against last: %d %s" % (status, err))

# Folded: a watched path covers what is under it.
status, err = threshold(a_folded, b_folded, "--fail-above", "100")
check(status == 0, "folded: the total grew 91%%, under 100%%: %d %s" % (status, err))
status, err = threshold(a_folded, b_folded, "--fail-above", "100", "--watch", "struct registry;items")
check(status == 3 and verdicts(err) == [
    "memprof: 'struct registry;items' grew from 1000 to 2500 (+1500, +150.0%), more than "
    "--fail-above 100%: exit status 3"], "folded: --watch of a subtree: %d %s" % (status, err))
status, err = threshold(a_folded, b_folded, "--fail-above-bytes", "1K")
check(status == 3 and "from 1364 to 2604" in err, "folded: +1240 is over 1K: %d %s" % (status, err))
status, err = threshold(a_folded, b_folded, "--fail-above-bytes", "2K", "--watch", "struct registry;names",
                        "--watch", "struct registry;tags")
check(status == 0, "folded: a path that shrank and one that grew 40 bytes pass 2K: %d %s" % (status, err))
status, err = threshold(a_folded, b_folded, "--fail-above-bytes", "10Q")
check(status == 2 and "--fail-above-bytes" in err, "a bad size is a usage error: %d %s" % (status, err))
status, err = threshold(a_folded, b_folded, "--watch", "struct registry")
check(status == 2 and "threshold" in err, "--watch without a threshold is a usage error: %d %s" % (status, err))

# Reports: a watched number by its path, its values from the reports.
leak_reports = [os.path.join(tmp, "leaks-%s.json" % os.path.basename(c)) for c in (core_a, core_b)]
if all(os.path.exists(p) for p in leak_reports):
    values = [json.load(open(p))["summary"]["still_reachable"]["bytes"] for p in leak_reports]
    delta = values[1] - values[0]
    status, err = threshold(*leak_reports, "--fail-above-bytes", str(delta),
                            "--watch", "summary.still_reachable.bytes")
    check(status == 0, "leaks reports: a growth of exactly the threshold passes: %d %s" % (status, err))
    status, err = threshold(*leak_reports, "--fail-above-bytes", str(delta - 1),
                            "--watch", "summary.still_reachable.bytes")
    check(status == 3 and any("'summary.still_reachable.bytes' grew from %d to %d" % tuple(values) in l
                              for l in verdicts(err)),
          "leaks reports: --watch names the number and its values: %d %s" % (status, err))

shutil.rmtree(tmp, ignore_errors=True)
finish()
