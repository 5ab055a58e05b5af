"""memprof patterns and recommend against truths the programs compute
themselves: examples/waste measures each kind of waste it holds with
malloc_usable_size; each finding's savings must be within 10% of its truth,
in every format (JSON, CSV with a header row, Prometheus text that a real
parser accepts, text).  A program without such waste (leak_cycle) gives no
finding above the noise floor but its leak; --limit and --fail-on-pressure
give the pressure level and exit status 3."""
import csv
import io
import json
import os
import platform
import shutil
import subprocess

from mptest import Held, check, example, finish, held_core, helper, memprof, memprof_json


def findings_of(core):
    status, out, err = memprof("patterns", "--core", core, "--format", "json")
    check(status == 0, "patterns exits 0: %s" % err[-300:])
    return json.loads(out)


def truth_line(truth):
    """A held helper's before_ready: its "truth {...}" line into truth."""
    def take(line):
        if line.startswith("truth "):
            truth.update(json.loads(line[len("truth "):]))
            return True
        return False
    return take


def truth_of():
    """The waste example's own measurements: its one JSON line on stderr,
    which held_core does not keep, so the example is run again to print
    them (the sizes do not depend on addresses)."""
    proc = subprocess.run([example("waste")], capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, "waste runs to completion")
    return json.loads(proc.stderr.splitlines()[0])


with held_core([example("waste")], "waste.core") as core:
    truth = truth_of()
    report = findings_of(core)
    by_kind = {}
    for f in report["findings"]:
        by_kind.setdefault(f["kind"], []).append(f)
    expected_subjects = {
        "overcapacity": "struct registry.items",
        "duplicate-content": "char[] (string)",
        "small-allocations": "struct point",
        "struct-padding": "struct padded",
        "leak": "struct record",
    }
    for kind, subject in expected_subjects.items():
        found = [f for f in by_kind.get(kind, []) if f["subject"] == subject]
        if not check(len(found) == 1, "%s finding for %s: %s" % (kind, subject, by_kind.get(kind))):
            continue
        savings = found[0]["estimated_savings_bytes"]
        check(abs(savings - truth[kind]) <= truth[kind] * 0.10,
              "%s savings %d within 10%% of the truth %d" % (kind, savings, truth[kind]))
        for key in ("blocks", "bytes", "impact", "evidence", "examples"):
            check(key in found[0], "finding has %s" % key)
    # The heap's per-category totals add up to the blocks in use.
    check(sum(c["blocks"] for c in report["categories"]) == report["totals"]["in_use"]["blocks"],
          "categories cover every block in use")
    check(sum(c["bytes"] for c in report["size_classes"]) == report["totals"]["in_use"]["bytes"],
          "size classes cover every byte in use")
    points = [c for c in report["categories"] if c["name"] == "struct point"]
    check(points and points[0]["blocks"] == 100000, "100000 struct point blocks typed: %s" % points)

    # recommend: the same findings as recommendations, ranked.
    status, out, err = memprof("recommend", "--core", core, "--format", "json")
    rec = json.loads(out)
    kinds = {r["kind"] for r in rec["recommendations"]}
    check(set(expected_subjects) <= kinds, "every kind recommended: %s" % kinds)
    ranks = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    order = [(ranks[r["priority"]], -r["estimated_savings_bytes"]) for r in rec["recommendations"]]
    check(order == sorted(order), "recommendations sorted by priority, then savings")
    for r in rec["recommendations"]:
        check(set(r) >= {"kind", "description", "evidence", "estimated_savings_bytes",
                         "difficulty", "priority"}, "recommendation keys: %s" % sorted(r))
        check(r["difficulty"] in ("easy", "medium", "hard"), "difficulty %s" % r["difficulty"])

    # CSV: a header row, then one row per recommendation.
    status, out, err = memprof("recommend", "--core", core, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    check(status == 0 and len(rows) == len(rec["recommendations"]),
          "csv has one row per recommendation: %d vs %d" % (len(rows), len(rec["recommendations"])))
    check(rows and set(rows[0]) >= {"priority", "savings_bytes", "kind", "description"},
          "csv header: %s" % (rows[0].keys() if rows else None))

    # Prometheus text exposition, parsed by the Prometheus project's parser.
    footprint = rec["totals"]["heap_bytes"]
    for verb in ("patterns", "recommend"):
        status, out, err = memprof(verb, "--core", core, "--format", "prometheus",
                                   *(["--limit", str(footprint * 2)] if verb == "recommend" else []))
        check(status == 0, "%s --format prometheus exits 0" % verb)
        parser = subprocess.run(
            ["/usr/bin/python3", "-c",
             "import json, sys\nfrom prometheus_client.parser import text_string_to_metric_families\n"
             "samples = [s for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n"
             "print(json.dumps([len(samples), {s.name: s.value for s in samples if not s.labels}]))"],
            input=out, capture_output=True, text=True, timeout=60)
        count, lone = json.loads(parser.stdout) if parser.returncode == 0 else (0, {})
        check(parser.returncode == 0 and count > 0,
              "prometheus_client parses %s's output: %s" % (verb, parser.stderr[-500:]))
        check(lone.get("memprof_heap_system_bytes") == footprint and
              lone.get("memprof_heap_in_use_bytes") == rec["totals"]["in_use"]["bytes"],
              "%s: the heap's gauges are the JSON's totals: %r" % (verb, lone))
        if verb == "recommend":
            check(lone.get("memprof_estimated_savings_bytes") == rec["estimated_savings_bytes"] and
                  lone.get("memprof_memory_limit_bytes") == footprint * 2 and
                  lone.get("memprof_memory_pressure_level") == 0,
                  "recommend: total savings, limit and pressure gauges: %r" % lone)

    # heap and leaks in the same formats.
    for verb in ("heap", "leaks"):
        status, out, err = memprof(verb, "--core", core, "--format", "prometheus")
        parser = subprocess.run(
            ["/usr/bin/python3", "-c",
             "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n"
             "print(sum(len(f.samples) for f in text_string_to_metric_families(sys.stdin.read())))"],
            input=out, capture_output=True, text=True, timeout=60)
        check(status == 0 and parser.returncode == 0 and int(parser.stdout or 0) > 0,
              "prometheus_client parses %s's output: %s" % (verb, parser.stderr[-500:]))
    status, out, err = memprof("leaks", "--core", core, "--format", "csv")
    groups = list(csv.DictReader(io.StringIO(out)))
    check(status == 0 and any(g["type"] == "struct record" for g in groups),
          "leaks csv lists the groups: %s" % groups[:3])

    # Pressure against a limit.
    status, out, err = memprof("recommend", "--core", core, "--format", "json",
                               "--limit", str(footprint * 2), "--fail-on-pressure", "high")
    check(status == 0 and json.loads(out)["pressure"] == "normal", "half the limit: normal, exit 0")
    status, out, err = memprof("recommend", "--core", core, "--limit", str(footprint),
                               "--fail-on-pressure", "high")
    check(status == 3 and "critical" in out and "pressure" in err,
          "at the limit: critical, exit 3 (%d, %s)" % (status, err.strip()))
    status, out, err = memprof("recommend", "--core", core, "--limit", "lots")
    check(status == 2 and "--limit" in err, "a bad --limit is a usage error")
    status, out, err = memprof("recommend", "--core", core, "--fail-on-pressure", "high")
    check(status == 2, "--fail-on-pressure without --limit is a usage error")
    status, out, err = memprof("recommend", "--core", core)
    check(status == 0 and "savings_bytes" in out and "struct point" in out, "text is a ranked table")
    # The heap line names the allocator, as patterns' does: the C library
    # this machine runs the example with.
    libc = "(glibc %s)" % platform.libc_ver()[1]
    lines = out.splitlines()
    check(len(lines) > 1 and lines[1].startswith("heap ") and lines[1].endswith(libc),
          "recommend's heap line ends with %s: %r" % (libc, lines[1:2]))
    check(rec["estimated_savings_bytes"] <= footprint,
          "the savings %d are within the heap's %d bytes" % (rec["estimated_savings_bytes"], footprint))

# A live process: the same findings, read while it is held (the truths
# do not depend on addresses: they are those measured above).
held = Held([example("waste"), "--hold"])
try:
    status, out, err = memprof("patterns", "--pid", str(held.pid), "--format", "json")
    if check(status == 0, "patterns --pid: %s" % err[-300:]):
        live = {(f["kind"], f["subject"]): f["estimated_savings_bytes"]
                for f in json.loads(out)["findings"]}
        for kind, subject in expected_subjects.items():
            savings = live.get((kind, subject))
            check(savings is not None and abs(savings - truth[kind]) <= truth[kind] * 0.10,
                  "live: %s %s savings %s against the truth %d" % (kind, subject, savings, truth[kind]))
finally:
    check(held.release() == 0, "waste exits normally after the live read")

# A core is read on two threads (the content passes beside the
# categories, issue 12): the same bytes out as on one, in every format.
# --threads 2 forces the second thread on a one-CPU machine.
with held_core([example("waste")], "waste.core") as core:
    for verb in ("patterns", "recommend"):
        for fmt in ("json", "csv", "text"):
            runs = [memprof(verb, "--core", core, "--format", fmt, *extra)
                    for extra in ((), ("--threads", "1"), ("--threads", "2"))]
            check(all(r[0] == 0 for r in runs), "%s --format %s exits 0 with any --threads: %s"
                  % (verb, fmt, [r[2][-200:] for r in runs]))
            check(runs[0][1] == runs[1][1] == runs[2][1],
                  "%s --format %s: byte-identical on one thread and two" % (verb, fmt))
    for bad in ("0", "65", "two"):
        status, out, err = memprof("recommend", "--core", core, "--threads", bad)
        check(status == 2 and "--threads takes a number from 1 to 64" in err,
              "--threads %s is a usage error: %d %s" % (bad, status, err))

# Saved snapshots: `snapshot save` keeps what patterns need beside the
# heap, and patterns/recommend on the file answer as on the core.
with held_core([example("waste")], "waste.core") as core:
    import struct
    import tempfile
    import zlib
    tmp = tempfile.mkdtemp(prefix="memprof-snap-")
    snap = os.path.join(tmp, "waste.snap")
    heap_only = os.path.join(tmp, "heap-only.snap")
    status, out, err = memprof("snapshot", "save", snap, "--core", core)
    check(status == 0 and "with what patterns need" in out, "snapshot save: %s %s" % (out, err))
    for verb in ("patterns", "recommend"):
        _, from_core, _ = memprof(verb, "--core", core, "--format", "json")
        status, from_file, err = memprof(verb, "--snapshot", snap, "--format", "json")
        a, b = json.loads(from_core), json.loads(from_file)
        check(status == 0 and a == b, "%s --snapshot equals %s --core: %s" % (verb, verb, err[-300:]))
    check(os.path.getsize(snap) < 32 * report["totals"]["in_use"]["blocks"] + (1 << 20),
          "the snapshot stays small: %d bytes" % os.path.getsize(snap))
    status, out, err = memprof("snapshot", "save", heap_only, "--core", core, "--heap-only")
    check(status == 0, "snapshot save --heap-only")
    status, out, err = memprof("patterns", "--snapshot", heap_only)
    check(status == 1 and "heap only" in err and len(err.strip().splitlines()) == 1,
          "a heap-only snapshot: one error line, status 1: %d %s" % (status, err))
    status, out, err = memprof("patterns", "--snapshot", snap, "--core", core)
    check(status == 2 and "--snapshot" in err, "--snapshot with --core is a usage error")
    # A version 1 file (no sections) still reads; a newer version is refused
    # by name.  Both made from the heap-only file, checksum recomputed.
    data = open(heap_only, "rb").read()[:-4]
    # A heap-only file's sections are snapshot.c's own: the allocator
    # ("ALOC"), the layout ("LAYT") and the allocator's detail ("DETL").
    table = data.rfind(b"COLA") - 4
    check(struct.unpack_from("<I", data, table)[0] == 3 and b"TYAL" in data[table:]
          and b"LTED" in data[table:], "heap-only: the allocator, layout and detail sections")
    # Version 1 stored each chunk's size | state (glibc sizes are multiples
    # of 16), version 3 size << 4 | state: the table is the last thing
    # before the sections, n_chunks (at offset 24) entries of 16 bytes.
    n_chunks = struct.unpack_from("<Q", data, 24)[0]
    v1 = bytearray(data[:table])   # without the section table
    struct.pack_into("<I", v1, 8, 1)
    for k in range(n_chunks):
        at = table - 16 * (n_chunks - k) + 8
        word = struct.unpack_from("<Q", v1, at)[0]
        struct.pack_into("<Q", v1, at, (word >> 4) | (word & 15))
    old = os.path.join(tmp, "v1.snap")
    open(old, "wb").write(bytes(v1) + struct.pack("<I", zlib.crc32(bytes(v1))))
    status, out, err = memprof("snapshot", "show", old)
    check(status == 0 and "chunks" in out, "a version 1 snapshot still reads: %s" % err)
    # Without the allocator section it is glibc's: its arenas, peaks and
    # mallinfo are described from the file's own fields as the version 3
    # file's are.
    then = memprof_json("snapshot", "show", old)
    now = memprof_json("snapshot", "show", heap_only)
    for key in ("arenas", "peak", "mallinfo", "allocator_detail"):
        check(then[key] == now[key], "version 1 and 3 files give the same %s: %s and %s"
              % (key, then[key], now[key]))
    check(len(now["arenas"]) >= 1 and now["mallinfo"] is not None,
          "a glibc snapshot shows its arenas and mallinfo: %s" % now["arenas"])
    v9 = bytearray(data)
    struct.pack_into("<I", v9, 8, 9)
    future = os.path.join(tmp, "v9.snap")
    open(future, "wb").write(bytes(v9) + struct.pack("<I", zlib.crc32(bytes(v9))))
    status, out, err = memprof("patterns", "--snapshot", future)
    check(status == 1 and "version 9" in err, "a newer version is refused by name: %s" % err)
    shutil.rmtree(tmp, ignore_errors=True)

# Containers by the registry's layouts: std::vector and std::string
# (libstdc++), Vec and String (Rust), in a global and in heap structs; each
# member's overcapacity within 10% of what the program measured itself.
for name in ("waste_cpp", "waste_rs"):
    if not os.path.exists(os.path.join(os.environ.get("EXAMPLES_DIR", ""), name)):
        print("%s not built: skipped" % name)
        continue
    proc = subprocess.run([example(name)], capture_output=True, text=True, timeout=120)
    truth = json.loads(proc.stderr.splitlines()[0])
    with held_core([example(name)], name + ".core") as core:
        report = findings_of(core)
        one = memprof("recommend", "--core", core, "--format", "json", "--threads", "1")
        two = memprof("recommend", "--core", core, "--format", "json", "--threads", "2")
        check(one[0] == 0 and one == two, "%s: recommend byte-identical on one thread and two" % name)
        # Buffers reserved alike and filled alike are identical whole, but
        # their spare capacity is overcapacity's: not saved twice.
        rec = json.loads(one[1]) if one[0] == 0 else {"estimated_savings_bytes": 0,
                                                      "totals": {"heap_bytes": 0}}
        check(rec["estimated_savings_bytes"] <= rec["totals"]["heap_bytes"],
              "%s: the savings %d are within the heap's %d bytes"
              % (name, rec["estimated_savings_bytes"], rec["totals"]["heap_bytes"]))
        over = [f for f in report["findings"] if f["kind"] == "overcapacity"]
        for member, bytes_ in truth.items():
            found = [f for f in over if f["subject"].split(" (")[0].endswith(member)]
            if check(len(found) == 1, "%s: one overcapacity finding for %s: %s"
                     % (name, member, [f["subject"] for f in over])):
                savings = found[0]["estimated_savings_bytes"]
                check(abs(savings - bytes_) <= bytes_ * 0.10,
                      "%s: %s savings %d within 10%% of the truth %d" % (name, member, savings, bytes_))

# Polymorphic objects held through a base pointer (Shape *) or none
# (void *, lost): the class their vtable names gives their size and
# layout, so they get the findings a typed pointer gives; each within 10%
# of the poly_waste helper's own truth.
if os.path.exists(helper("poly_waste")):
    poly_truth = {}
    with held_core([helper("poly_waste")], "poly_waste.core", truth_line(poly_truth)) as core:
        report = findings_of(core)
        status, out, err = memprof("recommend", "--core", core, "--format", "json")
        check(status == 0, "recommend on poly_waste: %s" % err[-300:])
        recommended = {(r["kind"], r["subject"]): r["estimated_savings_bytes"]
                       for r in json.loads(out)["recommendations"]} if status == 0 else {}
        found = {(f["kind"], f["subject"]): f["estimated_savings_bytes"] for f in report["findings"]}
        for kind, classes in poly_truth.items():
            for subject, truth_bytes in classes.items():
                savings = found.get((kind, subject))
                if check(savings is not None, "poly_waste: a %s finding for %s: %s"
                         % (kind, subject, sorted(found))):
                    check(abs(savings - truth_bytes) <= truth_bytes * 0.10,
                          "poly_waste: %s %s savings %d within 10%% of the truth %d"
                          % (kind, subject, savings, truth_bytes))
                    check(recommended.get((kind, subject)) == savings,
                          "poly_waste: recommend has the %s %s finding" % (kind, subject))
        check(len(poly_truth) == 3, "poly_waste printed its truth: %s" % poly_truth)
else:
    print("poly_waste not built: skipped")

# A program whose only waste is its leak: no other finding above the floor.
with held_core([example("leak_cycle")], "cycle.core") as core:
    report = findings_of(core)
    kinds = [(f["kind"], f["subject"]) for f in report["findings"]]
    check(kinds == [("leak", "struct node")], "leak_cycle: only its leak: %s" % kinds)

# small-allocations counts the blocks holding exactly one struct: the
# small_mix helper's singles, not its arrays of the same struct (an array
# is one allocation for many); a leak is at least medium whatever its size
# (docs/patterns.md); within 10% of the helper's own truth.
mix_truth = {}
with held_core([helper("small_mix")], "small_mix.core", truth_line(mix_truth)) as core:
    report = findings_of(core)
    small = [f for f in report["findings"]
             if f["kind"] == "small-allocations" and f["subject"] == "struct pt"]
    if check(len(small) == 1 and "small-allocations" in mix_truth,
             "small_mix: one small-allocations finding for struct pt: %s %s" % (small, mix_truth)):
        truth_bytes = mix_truth["small-allocations"]
        check(abs(small[0]["estimated_savings_bytes"] - truth_bytes) <= truth_bytes * 0.10,
              "small_mix: small-allocations %d within 10%% of the truth %d (singles only)"
              % (small[0]["estimated_savings_bytes"], truth_bytes))
        check(small[0]["blocks"] == 5000, "small_mix: the 5000 singles: %d" % small[0]["blocks"])
    leaks = [f for f in report["findings"] if f["kind"] == "leak"]
    check(sum(f["estimated_savings_bytes"] for f in leaks) == mix_truth.get("leak"),
          "small_mix: leak savings are the lost chunks %s: %s" % (mix_truth.get("leak"), leaks))
    check(leaks and all(f["impact"] == "medium" for f in leaks),
          "small_mix: a %s-byte leak is medium: %s" % (mix_truth.get("leak"), leaks))
    check(report["warnings"] == [], "small_mix with -g: no warning: %s" % report["warnings"])

# Without the main program's DWARF (built without -g, or stripped) blocks
# are untyped: patterns says which module and which findings it could not
# make, in JSON and text, and the result is still whole (not partial: all
# memory was read).
for name in ("small_mix_nodebug", "small_mix_stripped"):
    with held_core([helper(name)], name + ".core", lambda line: line.startswith("truth ")) as core:
        report = findings_of(core)
        warned = [w for w in report["warnings"] if "no DWARF" in w]
        check(len(warned) == 1 and helper(name) in warned[0] and "small-allocations" in warned[0],
              "%s: a warning naming the module: %s" % (name, report["warnings"]))
        check(report["partial"] is False, "%s: not partial" % name)
        for verb in ("patterns", "recommend"):
            status, out, err = memprof(verb, "--core", core, "--exe", helper(name))
            check(status == 0 and "no DWARF type information" in out,
                  "%s %s text warns: %s" % (name, verb, out[-400:]))

# Without DWARF, a block is a string when its bytes are text and a NUL:
# short_text's 2000 strdup("ab") are duplicates (within 10% of its
# truth), but neither structs whose first word points into a mapping and
# reads "ab" and a NUL, nor structs whose first int reads "@\t" and a NUL,
# count as copies of them or of each other.
text_truth = {}
with held_core([helper("short_text")], "short_text.core", truth_line(text_truth)) as core:
    report = findings_of(core)
    dups = [f for f in report["findings"] if f["kind"] == "duplicate-content"]
    truth_bytes = text_truth.get("duplicate-content", 0)
    if check(len(dups) == 1 and dups[0]["subject"] == "char[] (string)",
             "short_text: one duplicate-content finding, the strings: %s" % dups):
        check(abs(dups[0]["estimated_savings_bytes"] - truth_bytes) <= truth_bytes * 0.10,
              "short_text: duplicate strings %d within 10%% of the truth %d"
              % (dups[0]["estimated_savings_bytes"], truth_bytes))
        check(dups[0]["blocks"] == 2000, "short_text: the 2000 copies: %d" % dups[0]["blocks"])

# fragmentation and arena-bloat read glibc's arenas: on jemalloc the
# report says they were not checked.
if os.path.exists(os.path.join(os.environ.get("EXAMPLES_DIR", ""), "jemalloc_heap")):
    with held_core([example("jemalloc_heap")], "je.core", lambda line: True) as core:
        report = findings_of(core)
        check(not [f for f in report["findings"] if f["kind"] in ("fragmentation", "arena-bloat")]
              and any("not checked for jemalloc" in w for w in report["warnings"]),
              "jemalloc_heap: fragmentation not checked, and said: %s" % report["warnings"])
        status, out, err = memprof("patterns", "--core", core)
        check("not checked for jemalloc" in out, "jemalloc_heap: text says it: %s" % out[-400:])
else:
    print("jemalloc_heap not built: skipped")

finish()
