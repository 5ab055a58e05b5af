"""memprof reads mimalloc's heap: examples/mimalloc_heap.c, linked against
Debian's libmimalloc 2.0.9, prints its own truth (live blocks and the sum
of their malloc_usable_size, the lost ones) and holds or aborts.

- From the live process (--pid) and from a gcore core of it: `heap`'s
  blocks in use and bytes equal the program's truth exactly, the detail's
  "allocated" too, with no problem; the heaps of the three workers and
  main are named by thread.
- `leaks` on the core: per kind the block counts valgrind gives for the
  same program run to the same point (--abort) with its malloc in
  mimalloc's place (--soname-synonyms); lost bytes equal the truth's.
- A copy of the core with one word of a page's metadata (its free list
  head) overwritten: the problem is named, the heap partial, no crash.
- The program run with a copy of the library whose mi_version() says 299:
  every heap verb refuses "mimalloc 2.9.9" as a version whose layout is
  unknown, exit 1.
- With MEMPROF_MIMALLOC_LIBDIRS naming builds of other versions (upstream's
  tags v2.1.0 to v2.1.9, docs/allocators.md): the example against each,
  live and from a core, equal to its truth.

Skips (77) where libmimalloc-dev is not installed (the example is then not
built)."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

from mptest import Held, check, finish, gcore, memprof, valgrind_summary, LEAK_KINDS, heap_json, core_offset

EXE = os.path.join(os.environ.get("EXAMPLES_DIR", ""), "mimalloc_heap")
LIB = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"

if not os.path.exists(EXE) or not os.path.exists(LIB):
    print("SKIP: mimalloc_heap not built (libmimalloc-dev missing)")
    sys.exit(77)


class HeldTruth(Held):
    """The example with --hold: its truth lines, then 'ready PID'."""

    def __init__(self, env=None):
        self.truth = {}
        super().__init__([EXE, "--hold"], env, self.take)

    def take(self, line):
        m = re.match(r"truth (\S+) (\S+)(?: bytes (\d+))?", line)
        if m:
            self.truth[m.group(1)] = (m.group(2), int(m.group(3) or 0))
        return bool(m)

    def blocks(self, what):
        count, nbytes = self.truth[what]
        return int(count), nbytes


def check_heap(where, report, truth, version="2.0.9"):
    if report is None:
        return
    blocks, nbytes = truth.blocks("blocks")
    in_use = report["totals"]["in_use"]
    check(report["backend"] == "mimalloc " + version, "%s: backend %r" % (where, report["backend"]))
    check(in_use["chunks"] == blocks and in_use["bytes"] == nbytes,
          "%s: in use %d blocks %d bytes, the program says %d blocks %d bytes"
          % (where, in_use["chunks"], in_use["bytes"], blocks, nbytes))
    detail = {(d["group"], d["name"]): d["value"] for d in report["allocator_detail"]}
    # Segments are whole: their bytes hold every block and page.
    held = sum(report["totals"][k]["bytes"] for k in ("in_use", "free", "tcache"))
    check(report["system_bytes"] >= held and report["system_bytes"] % 65536 == 0,
          "%s: system_bytes %r, blocks %d bytes" % (where, report["system_bytes"], held))
    check(detail.get(("totals", "allocated")) == nbytes,
          "%s: detail allocated %r, the program says %d" % (where, detail.get(("totals", "allocated")), nbytes))
    check(not report["partial"] and not report["problems"],
          "%s: partial %r problems %r" % (where, report["partial"], report["problems"][:3]))
    heaps = {g for g, _ in detail if g.startswith("heap ")}
    check(len(heaps) == 4 and all(" thread " in g for g in heaps),
          "%s: four heaps named by thread, got %r" % (where, sorted(heaps)))
    # Per heap the used bytes add up to the total.
    used = sum(v for (g, n), v in detail.items() if n == "used_bytes")
    check(used == nbytes, "%s: heaps' used bytes add to %d, not %d" % (where, used, nbytes))


# mimalloc 2.0.9's page of a small block: the segment is the block's address
# rounded down to 32 MiB, the page descriptor (80 bytes) of its 64 KiB slice
# follows the segment header's 264 bytes, and the free list head is at +16
# (pahole of the -g build, core/heap/mimalloc.c).
SEGMENT, SLICE, SLICES_AT, PAGE_SIZE, PAGE_FREE = 32 << 20, 64 << 10, 264, 80, 16


def corrupted_core(core, sample, path):
    segment = sample & ~(SEGMENT - 1)
    page = segment + SLICES_AT + PAGE_SIZE * ((sample - segment) // SLICE)
    offset = core_offset(core, page + PAGE_FREE)
    if not check(offset is not None, "page %#x not in the core" % page):
        return None
    shutil.copyfile(core, path)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack("<Q", segment + 8))   # inside the segment header
    return path


def patched_library(tmp):
    """A copy of libmimalloc.so.2 whose mi_version() returns 299 (2.9.9)."""
    out = subprocess.run(["nm", "-D", LIB], capture_output=True, text=True).stdout
    m = re.search(r"^([0-9a-f]+) T mi_version$", out, re.M)
    data = bytearray(open(LIB, "rb").read())
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    vaddr = int(m.group(1), 16)
    offset = None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_vaddr <= vaddr < p_vaddr + p_filesz:
            offset = p_offset + vaddr - p_vaddr
    at = offset + (4 if data[offset:offset + 4] == b"\xf3\x0f\x1e\xfa" else 0)
    if data[at] != 0xb8 or struct.unpack_from("<I", data, at + 1)[0] != 209:
        return None
    struct.pack_into("<I", data, at + 1, 299)
    path = os.path.join(tmp, "libmimalloc.so.2")
    with open(path, "wb") as f:
        f.write(data)
    return tmp


def other_versions(tmp):
    """Libraries of other mimalloc versions named by MEMPROF_MIMALLOC_LIBDIRS
    (directories, colon-separated, each with a libmimalloc.so.2, e.g. builds
    of upstream's tags: docs/allocators.md): the example run against each,
    read live and from a core, equal to its truth."""
    for libdir in filter(None, os.environ.get("MEMPROF_MIMALLOC_LIBDIRS", "").split(":")):
        held = HeldTruth(dict(os.environ, LD_LIBRARY_PATH=libdir))
        try:
            code = int(held.truth["version"][0])
            version = "%d.%d.%d" % (code // 100, code // 10 % 10, code % 10)
            where = "mimalloc %s (%s)" % (version, libdir)
            print("reading %s" % where)
            check_heap(where + " live", heap_json("--pid", str(held.pid)), held, version)
            core = gcore(held.pid, os.path.join(tmp, "other.core"))
            held.release()
        finally:
            held.kill()
        check_heap(where + " core", heap_json("--core", core), held, version)
        code, out, err = memprof("leaks", "--core", core, "--format", "json")
        if check(code == 0, "%s: leaks exited %d: %s" % (where, code, err[-500:])):
            summary = json.loads(out)["summary"]
            lost = (summary["definitely_lost"]["blocks"] + summary["indirectly_lost"]["blocks"],
                    summary["definitely_lost"]["bytes"] + summary["indirectly_lost"]["bytes"])
            check(lost == held.blocks("lost-blocks"), "%s: lost %r, the program says %r"
                  % (where, lost, held.blocks("lost-blocks")))
        os.remove(core)


tmp = tempfile.mkdtemp(prefix="memprof-mimalloc-")
try:
    other_versions(tmp)
    held = HeldTruth()
    try:
        check(held.truth.get("version", ("",))[0] == "209",
              "the example's mi_version() is %r, the test knows 209" % (held.truth.get("version"),))
        check_heap("live", heap_json("--pid", str(held.pid)), held)
        core = gcore(held.pid, os.path.join(tmp, "mimalloc.core"))
        check(held.release() == 0, "mimalloc_heap did not exit 0")
    finally:
        held.kill()
    check_heap("core", heap_json("--core", core), held)

    # Leaks: the truth's lost blocks, and valgrind's kinds.
    code, out, err = memprof("leaks", "--core", core, "--format", "json")
    if check(code == 0, "leaks exited %d: %s" % (code, err[-500:])):
        summary = json.loads(out)["summary"]
        lost_blocks, lost_bytes = held.blocks("lost-blocks")
        lost = (summary["definitely_lost"]["blocks"] + summary["indirectly_lost"]["blocks"],
                summary["definitely_lost"]["bytes"] + summary["indirectly_lost"]["bytes"])
        check(lost == (lost_blocks, lost_bytes), "lost %r, the program says %r"
              % (lost, (lost_blocks, lost_bytes)))
        want = valgrind_summary([EXE, "--abort"], "--soname-synonyms=somalloc=*mimalloc*")
        for key, _ in LEAK_KINDS:
            check(summary[key]["blocks"] == want[key][0],
                  "%s: %d blocks, valgrind %d" % (key, summary[key]["blocks"], want[key][0]))
            # valgrind counts requested bytes, memprof usable ones
            check(summary[key]["bytes"] >= want[key][1],
                  "%s: %d bytes, below valgrind's %d" % (key, summary[key]["bytes"], want[key][1]))

    # Corrupt metadata: named, partial, no crash.
    sample = int(held.truth["sample"][0], 16)
    bad = corrupted_core(core, sample, os.path.join(tmp, "corrupt.core"))
    if bad:
        code, out, err = memprof("heap", "--core", bad, "--format", "json")
        check(code == 0, "heap on the corrupt core exited %d: %s" % (code, err[-500:]))
        if code == 0:
            report = json.loads(out)
            check(report["partial"] and any("free list" in p["message"] for p in report["problems"]),
                  "corrupt core: partial %r, problems %r" % (report["partial"], report["problems"][:3]))
        code, out, err = memprof("leaks", "--core", bad)
        check(code in (0, 3) and "partial" in out + err,
              "leaks on the corrupt core exited %d: %s" % (code, err[-300:]))
    os.remove(core)

    # An unknown version is refused, by name.
    libdir = patched_library(tmp)
    if check(libdir is not None, "mi_version() of %s is not `mov $209, %%eax`" % LIB):
        env = dict(os.environ, LD_LIBRARY_PATH=libdir)
        fake = HeldTruth(env)
        try:
            check(fake.truth["version"][0] == "299", "the patched library says %r" % (fake.truth["version"],))
            for verb in (["heap"], ["leaks"]):
                code, out, err = memprof(*verb, "--pid", str(fake.pid))
                check(code == 1 and "mimalloc 2.9.9 detected" in err and "layout is unknown" in err
                      and not out.strip(),
                      "%s on mimalloc 2.9.9: exit %d, stderr %r" % (verb[0], code, err[-300:]))
            fake.release()
        finally:
            fake.kill()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
