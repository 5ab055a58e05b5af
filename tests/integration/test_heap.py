"""`memprof heap` against the process's own mallinfo2(): heaps with tcache,
fastbin, small, large and unsorted chunks, mmapped chunks and three arenas,
before and after malloc_trim, read from gcore cores and live, with libc's
debug symbols and without them (structural search).  All nine mallinfo2
fields must be equal.  Corrupted heaps must be reported, not crash."""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import tempfile

from mptest import Held, check, finish, gcore, helper, memprof

FIELDS = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "uordblks",
          "fordblks", "fsmblks", "keepcost"]


def start(scenario):
    """Runs heapshape; returns (Held, mallinfo dict, victim address)."""
    proc = subprocess.Popen([helper("heapshape"), scenario], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    held = Held.__new__(Held)
    held.proc = proc
    m = re.match(r"ready (\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit("heapshape %s: %r" % (scenario, line))
    held.pid = int(m.group(1))
    numbers = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    victim = re.search(r"victim=(0x[0-9a-f]+)", line)
    return held, numbers, int(victim.group(1), 16) if victim else None


def heap_json(*args):
    code, out, err = memprof("heap", *args, "--format", "json")
    if not check(code == 0, "heap %s: status %d: %s" % (" ".join(args), code, err[-500:])):
        return None
    return json.loads(out)


def check_mallinfo(label, report, want):
    if report is None:
        return
    got = report["mallinfo"]
    for field in FIELDS:
        check(got[field] == want[field],
              "%s: mallinfo %s = %d, the process's mallinfo2 says %d" % (label, field, got[field], want[field]))
    check(report["system_bytes"] == want["arena"] + want["hblkhd"],
          "%s: system_bytes %r, the process's mallinfo2 arena + hblkhd %d"
          % (label, report["system_bytes"], want["arena"] + want["hblkhd"]))
    check(report["partial"] is False and report["problems"] == [],
          "%s: clean heap has no problems: %s" % (label, report["problems"][:3]))


tmp = tempfile.mkdtemp(prefix="memprof-heap-")
try:
    for scenario in ("mixed", "trim"):
        held, want, _ = start(scenario)
        try:
            for flags, how in (([], "libc debug symbols"), (["--no-libc-debug"], "structural search")):
                report = heap_json("--pid", str(held.pid), *flags)
                label = "%s live %s" % (scenario, how)
                if report:
                    check(report["located_by"] == how, "%s: located by %s" % (label, report["located_by"]))
                    check(report["backend"].startswith("glibc 2."), label + ": backend")
                    check(len(report["arenas"]) == 3, "%s: 3 arenas, got %d" % (label, len(report["arenas"])))
                check_mallinfo(label, report, want)
            core = gcore(held.pid, os.path.join(tmp, scenario + ".core"))
        finally:
            check(held.release() == 0, scenario + ": process exits normally after memprof")
        for flags, how in (([], "symbols"), (["--no-libc-debug"], "structural")):
            report = heap_json("--core", core, *flags)
            check_mallinfo("%s core %s" % (scenario, how), report, want)
            if report and scenario == "mixed":
                states = report["totals"]
                check(states["tcache"]["chunks"] > 0 and states["fastbin"]["chunks"] > 0 and
                      states["free"]["chunks"] > 0 and states["in_use_mmapped"]["chunks"] == want["hblks"],
                      "mixed: tcache, fastbin, free and mmapped chunks all seen: %s" % states)
                check(states["metadata"]["chunks"] == 3, "one tcache struct per thread: %s" % states["metadata"])
                check(report["peak"]["max_mmapped_mem"] is not None if how == "symbols" else True,
                      "peak from mp_ with symbols")

        if scenario == "mixed":
            # Snapshot: saved and shown again, the same report.
            snap = os.path.join(tmp, "mixed.snap")
            code, out, err = memprof("snapshot", "save", snap, "--core", core)
            check(code == 0 and os.path.getsize(snap) > 0, "snapshot save: %s" % err)
            code, out, err = memprof("snapshot", "show", snap, "--format", "json")
            fresh = heap_json("--core", core)
            if check(code == 0, "snapshot show: %s" % err) and fresh:
                shown = json.loads(out)
                for key in ("timestamp",):
                    shown.pop(key)
                    fresh.pop(key)
                check(shown == fresh, "snapshot show equals heap on the same core")
            data = open(snap, "rb").read()
            for name, blob in (("flipped", data[:100] + bytes([data[100] ^ 1]) + data[101:]),
                               ("cut", data[: len(data) // 2]),
                               ("foreign", b"not a snapshot at all")):
                path = os.path.join(tmp, name + ".snap")
                open(path, "wb").write(blob)
                code, out, err = memprof("snapshot", "show", path)
                check(code == 1 and err.count("\n") == 1 and ("damaged" in err or "not a memprof snapshot" in err),
                      "snapshot %s: one clear error, status 1: %s" % (name, err))

            # CSV: the histogram, one row per size class.
            code, out, err = memprof("heap", "--core", core, "--format", "csv")
            rows = list(csv.DictReader(io.StringIO(out)))
            check(code == 0 and len(rows) == len(fresh["histogram"]) and
                  sum(int(r["in_use_chunks"]) for r in rows) ==
                  sum(h["in_use"]["chunks"] for h in fresh["histogram"]), "csv histogram")
            code, out, err = memprof("heap", "--core", core)
            check(code == 0 and "mallinfo2" in out and "arena 0x" in out, "text report")

    # Corruption: an overwritten size field is named with the walk that met
    # it; the walk resumes after it and the result is marked partial.
    for scenario, where, words in (("corrupt-size", "main heap walk", "impossible size"),
                                   ("tcache-loop", "tcache bin", "loops"),
                                   ("fastbin-loop", "fastbin", "loops")):
        held, _, victim = start(scenario)
        try:
            core = gcore(held.pid, os.path.join(tmp, scenario + ".core"))
        finally:
            check(held.release() == 0, scenario + ": process exits normally")
        for target in (["--core", core],):
            code, out, err = memprof("heap", *target, "--format", "json")
            if not check(code == 0, "%s: status %d (%s)" % (scenario, code, err[-300:])):
                continue
            report = json.loads(out)
            check(report["partial"] is True and "partial" in err, scenario + ": marked partial")
            hits = [p for p in report["problems"] if where in p["where"] and words in p["message"]]
            check(len(hits) >= 1, "%s: problem in %s saying %s: %s" % (scenario, where, words, report["problems"][:4]))
            if victim and hits:
                check(int(hits[0]["address"], 16) == victim - 16,
                      "%s: names the chunk %#x, said %s" % (scenario, victim - 16, hits[0]["address"]))
            if scenario == "corrupt-size":
                check(report["totals"]["corrupt"]["chunks"] >= 1, "corrupt bytes kept as one entry")
                check(report["totals"]["in_use"]["chunks"] > 200, "the walk resumed after the corruption")

    # A process that never called malloc: its main arena was never set up
    # (no top, bins of zeros).  An empty heap, not a corrupt one.
    held = Held([helper("no_malloc")])
    try:
        live = [memprof(verb, "--pid", str(held.pid), "--format", "json") for verb in ("heap", "leaks")]
        core = gcore(held.pid, os.path.join(tmp, "no_malloc.core"))
    finally:
        check(held.release() == 0, "no_malloc exits normally")
    for label, (code, out, err) in (("heap --pid", live[0]), ("leaks --pid", live[1]),
                                    ("heap core", memprof("heap", "--core", core, "--format", "json"))):
        if not check(code == 0, "no_malloc %s: status %d (%s)" % (label, code, err[-300:])):
            continue
        report = json.loads(out)
        check(report["partial"] is False and "partial" not in err,
              "no_malloc %s: complete, no problem: %s" % (label, report.get("problems", report.get("warnings"))))
        if "totals" in report:
            check(report["totals"]["in_use"]["chunks"] == 0 and report["mallinfo"]["uordblks"] == 0,
                  "no_malloc %s: nothing in use: %s" % (label, report["totals"]["in_use"]))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
