"""Leak kinds against valgrind on the heap shapes real programs make and
memprof once got wrong (issue 19), from `memprof run`, gcore cores and
live processes (--pid):

- interior_tail: blocks held only through a pointer into their last usable
  word, which lies in the next chunk's prev_size field (Lua 5.5 keeps a
  table's array part as block+32 of a 40-byte block);
- tls_merge: a __thread pointer in a static TLS area the kernel merged
  with an mmapped chunk's mapping (the test checks /proc/PID/maps that the
  merge happened, so the check cannot pass for want of the shape);
- mmap_merge: mmapped chunks in the middle of a merged anonymous mapping,
  one memalign'd; `heap` must count what the program's own mallinfo2()
  counts;
- exit_registers: threads holding a block only in a register when main
  calls exit() (`memprof run` read only the exiting thread's registers and
  called those blocks definitely lost).

The block count of every kind must equal valgrind's (`--leak-check=full
--run-libc-freeres=no`), and none of these programs loses a block."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from mptest import Held, check, finish, gcore, helper, memprof

KINDS = [("definitely_lost", "definitely lost"), ("indirectly_lost", "indirectly lost"),
         ("possibly_lost", "possibly lost"), ("still_reachable", "still reachable")]


def valgrind_blocks(argv):
    """{kind: blocks} from valgrind memcheck's leak summary."""
    proc = subprocess.run(["valgrind", "--leak-check=full", "--run-libc-freeres=no",
                           "--show-leak-kinds=all", *argv], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    check("LEAK SUMMARY" in proc.stderr or "All heap blocks were freed" in proc.stderr,
          "valgrind ran %s: %s" % (argv[0], proc.stderr[-500:]))
    out = {}
    for key, words in KINDS:
        m = re.search(words + r": [\d,]+ bytes in ([\d,]+) blocks", proc.stderr)
        out[key] = int(m.group(1).replace(",", "")) if m else 0
    return out


def blocks_of(summary):
    return {key: summary[key]["blocks"] for key, _ in KINDS}


def start(name):
    """Runs a helper with --hold; returns (Held, the fields of its line)."""
    proc = subprocess.Popen([helper(name), "--hold"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    held = Held.__new__(Held)
    held.proc = proc
    m = re.match(r"ready (\d+)", line or "")
    if not m:
        proc.kill()
        raise SystemExit("%s did not print 'ready PID': %r" % (name, line))
    held.pid = int(m.group(1))
    return held, dict(re.findall(r"(\w+)=(\S+)", line))


def maps(pid):
    rows = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            rows.append((low, high, fields[1], fields[5] if len(fields) > 5 else ""))
    return rows


def mapping_of(rows, address):
    return next((r for r in rows if r[0] <= address < r[1]), None)


def leaks_json(*target):
    code, out, err = memprof("leaks", *target, "--format", "json", "--show-reachable")
    if not check(code == 0, "leaks %s: status %d: %s" % (" ".join(target), code, err[-400:])):
        return None
    return json.loads(out)


def compare(label, summary, want):
    got = blocks_of(summary)
    check(got == want, "%s: blocks per kind %s, valgrind %s" % (label, got, want))
    check(got["definitely_lost"] == 0 and got["indirectly_lost"] == 0,
          "%s: a program valgrind calls leak-free loses nothing: %s" % (label, got))


def run_and_compare(name, want):
    code, out, err = memprof("run", "--format", "json", "--fail-on", "none", "--", helper(name))
    if check(code == 0 and out.strip(), "%s: memprof run status %d: %s" % (name, code, err[-400:])):
        process = json.loads(out)["processes"][0]
        check(process["checked"], "%s: checked at exit" % name)
        compare("%s run" % name, process["summary"], want)
    # The default --fail-on (definite, indirect) passes: nothing is lost.
    code, _, err = memprof("run", "--", helper(name))
    check(code == 0, "%s: memprof run with the default --fail-on exits 0: %d %s" % (name, code, err[-300:]))


def held_reports(name, tmp, check_target=None):
    """leaks from --pid and from a gcore core of the held helper; returns
    [(label, report)] and the helper's fields."""
    held, fields = start(name)
    reports = []
    try:
        if check_target:
            check_target(held.pid, fields)
        reports.append(("%s --pid" % name, leaks_json("--pid", str(held.pid))))
        core = gcore(held.pid, os.path.join(tmp, name + ".core"))
    finally:
        check(held.release() == 0, "%s exits normally after memprof" % name)
    reports.append(("%s core" % name, leaks_json("--core", core)))
    return [(label, r) for label, r in reports if r], fields, core


tmp = tempfile.mkdtemp(prefix="memprof-shapes-")
try:
    # ---------------------------------------------------- interior_tail
    want = valgrind_blocks([helper("interior_tail")])
    check(want == {"definitely_lost": 0, "indirectly_lost": 0, "possibly_lost": 3,
                   "still_reachable": 4},
          "interior_tail: valgrind's answer is the documented one: %s" % want)
    run_and_compare("interior_tail", want)
    reports, _, core = held_reports("interior_tail", tmp)
    for label, report in reports:
        compare(label, report["summary"], want)
        possible = sorted(g["size"] for g in report["groups"] if g["kind"] == "possibly_lost")
        check(possible == [24, 40, 104], "%s: the three tail-held blocks: %s" % (label, possible))
    if reports:
        groups = reports[-1][1]["groups"]
        array = [g for g in groups if g["kind"] == "possibly_lost" and g["size"] == 40]
        if check(len(array) == 1, "the 40-byte array part"):
            block = int(array[0]["example"], 16)
            # Its last word, inside the next chunk's header, names it.
            code, out, err = memprof("refs", "--core", core, hex(block + 32), "--format", "json")
            refs = json.loads(out) if code == 0 else None
            if check(refs, "refs on block+32: %s" % err[-300:]):
                check(int(refs["block"]["address"], 16) == block and refs["block"]["size"] == 40,
                      "refs block+32 is the 40-byte block: %s" % refs["block"])
                check(any(int(r["value"], 16) == block + 32 and r["kind"] == "block"
                          for r in refs["references"]),
                      "the table's pointer to block+32 is listed: %s" % refs["references"])
                steps = refs["path"]["steps"] if refs["path"] else []
                check(steps and steps[-1]["offset"] == 32 and steps[-1]["interior"] and
                      all(not s["interior"] for s in steps[:-1]),
                      "the path's last step is an interior pointer +32: %s" % refs["path"])
            code, out, _ = memprof("refs", "--core", core, hex(block))
            check(code == 0 and re.search(r"-> 0x%x\+32 \(40 bytes, interior pointer\)" % block, out)
                  and "it is leaked" not in out,
                  "refs text marks the interior step +32: %s" % out[-400:])

    # --------------------------------------------------------- tls_merge
    def tls_merged(pid, fields):
        rows = maps(pid)
        tls = mapping_of(rows, int(fields["tls"], 16))
        chunk = mapping_of(rows, int(fields["chunk"], 16))
        check(tls is not None and tls == chunk and tls[3] == "",
              "the main thread's TLS and the mmapped chunk share one anonymous mapping: %s %s"
              % (tls, chunk))

    want = valgrind_blocks([helper("tls_merge")])
    check(want["still_reachable"] >= 3 and want["definitely_lost"] == 0,
          "tls_merge: valgrind holds both TLS blocks and the mmapped one: %s" % want)
    run_and_compare("tls_merge", want)
    reports, fields, core = held_reports("tls_merge", tmp, tls_merged)
    for label, report in reports:
        compare(label, report["summary"], want)
        sizes = [g["size"] for g in report["groups"] if g["kind"] == "still_reachable"]
        check(40 in sizes and 72 in sizes, "%s: both __thread blocks reachable: %s" % (label, sizes))
    if reports:
        held40 = [g for g in reports[-1][1]["groups"] if g["kind"] == "still_reachable" and g["size"] == 40]
        if check(len(held40) == 1, "the main thread's __thread block"):
            code, out, err = memprof("refs", "--core", core, held40[0]["example"], "--format", "json")
            refs = json.loads(out) if code == 0 else None
            check(refs and refs["path"] and refs["path"]["root"]["kind"] == "tls",
                  "its path starts in static TLS: %s" % (refs["path"] if refs else err[-300:]))

    # -------------------------------------------------------- mmap_merge
    def chunks_mid_mapping(pid, fields):
        rows = maps(pid)
        own = int(fields["own"], 16)
        blocks = [int(x, 16) for x in fields["chunks"].split(",")]
        home = mapping_of(rows, own)
        check(home is not None and all(mapping_of(rows, b) == home for b in blocks) and
              home[0] == own and min(blocks) > own,
              "the chunks sit after the program's own mmap in one mapping: %s" % (home,))

    want = valgrind_blocks([helper("mmap_merge")])
    check(want["still_reachable"] == 5 and sum(want.values()) == 5,
          "mmap_merge: valgrind calls its 5 blocks reachable: %s" % want)
    run_and_compare("mmap_merge", want)
    held, fields = start("mmap_merge")
    heap_reports = []
    try:
        chunks_mid_mapping(held.pid, fields)
        for flags in ([], ["--no-libc-debug"]):
            heap_reports.append(("--pid %s" % flags, memprof("heap", "--pid", str(held.pid),
                                                             "--format", "json", *flags)))
        live = leaks_json("--pid", str(held.pid))
        core = gcore(held.pid, os.path.join(tmp, "mmap_merge.core"))
    finally:
        check(held.release() == 0, "mmap_merge exits normally after memprof")
    for flags in ([], ["--no-libc-debug"]):
        heap_reports.append(("core %s" % flags, memprof("heap", "--core", core, "--format", "json", *flags)))
    hblks, hblkhd = int(fields["hblks"]), int(fields["hblkhd"])
    check(hblks == 5, "mmap_merge: mallinfo2 counts its 5 mmapped chunks: %d" % hblks)
    for label, (code, out, err) in heap_reports:
        if not check(code == 0, "heap %s: %s" % (label, err[-300:])):
            continue
        report = json.loads(out)
        mi = report["mallinfo"]
        check((mi["hblks"], mi["hblkhd"]) == (hblks, hblkhd),
              "heap %s: hblks %d hblkhd %d, mallinfo2 %d %d" % (label, mi["hblks"], mi["hblkhd"], hblks, hblkhd))
        check(report["problems"] == [] and not report["partial"],
              "heap %s: no problems: %s" % (label, report["problems"][:3]))
        check(report["totals"]["in_use_mmapped"]["chunks"] == hblks,
              "heap %s: %d in-use mmapped chunks" % (label, report["totals"]["in_use_mmapped"]["chunks"]))
    for label, report in (("mmap_merge --pid", live), ("mmap_merge core", leaks_json("--core", core))):
        if report:
            compare(label, report["summary"], want)
            addresses = {int(g["example"], 16) for g in report["groups"] if g["size"] > 100000}
            blocks = {int(x, 16) for x in fields["chunks"].split(",")}
            check(len(report["groups"]) and all(g["kind"] == "still_reachable" for g in report["groups"]),
                  "%s: every block reachable: %s" % (label, [(g["kind"], g["size"]) for g in report["groups"]]))
            check(addresses <= blocks, "%s: blocks at the program's own addresses: %s vs %s"
                  % (label, sorted(map(hex, addresses)), sorted(map(hex, blocks))))

    # ---------------------------------------------------- exit_registers
    want = valgrind_blocks([helper("exit_registers")])
    check(want["still_reachable"] >= 4 and want["definitely_lost"] == 0,
          "exit_registers: valgrind holds the four register-held blocks: %s" % want)
    run_and_compare("exit_registers", want)
    code, out, err = memprof("run", "--format", "json", "--fail-on", "none", "--show-reachable",
                             "--", helper("exit_registers"))
    if check(code == 0 and out.strip(), "exit_registers: memprof run: %s" % err[-300:]):
        process = json.loads(out)["processes"][0]
        held = sorted(g["size"] for g in process["groups"]
                      if g["kind"] == "still_reachable" and 1000 < g["size"] < 1100)
        check(held == [1016, 1032, 1048, 1064], "the four blocks are reachable: %s" % held)
        check(not [w for w in process.get("warnings", []) if "no registers" in w],
              "every thread's registers are read at the exit: %s" % process.get("warnings"))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
