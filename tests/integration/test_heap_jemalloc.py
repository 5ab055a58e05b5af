"""memprof reads jemalloc's heap: examples/jemalloc_heap.c, linked against
Debian's libjemalloc2 5.3.0, prints jemalloc's own figures (mallctl
stats.allocated, active, resident, mapped after an "epoch" refresh), its
own truth (the blocks it holds, by malloc_usable_size, and the lost ones)
and a sample block's address, then holds.

- From the live process (--pid) and from a gcore core of it: `heap`'s
  detail totals equal jemalloc's four figures exactly; blocks in use +
  cached in thread caches + the tcaches' own pointer stacks (jemalloc
  counts all three as allocated) add up to stats.allocated; the program's
  own blocks are among the blocks in use; no problem.
- `leaks` on the core: lost blocks and bytes equal the truth's; per kind
  the block counts valgrind gives for the same program run to the same
  point (--abort) with its malloc in jemalloc's place (--soname-synonyms).
- A copy of the core with the free bitmap of the sample's slab (in its
  edata_t) overwritten: the problem is named, the heap partial, no crash.
- The program run with a copy of the library whose version string says
  5.9.0: every heap verb refuses it as a version whose layout is unknown.

Skips (77) where libjemalloc-dev is not installed (the example is then
not built)."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

from mptest import check, finish, gcore, memprof, valgrind_summary, LEAK_KINDS, heap_json

EXE = os.path.join(os.environ.get("EXAMPLES_DIR", ""), "jemalloc_heap")
LIB = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
FIGURES = ("allocated", "active", "resident", "mapped")

if not os.path.exists(EXE) or not os.path.exists(LIB):
    print("SKIP: jemalloc_heap not built (libjemalloc-dev missing)")
    sys.exit(77)


class HeldTruth:
    """The example with --hold: its printed lines up to 'ready PID'."""

    def __init__(self, env=None):
        self.proc = subprocess.Popen([EXE, "--hold"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.figures, self.program, self.sample = {}, {}, None
        for line in self.proc.stdout:
            words = line.split()
            if words[:1] == ["jemalloc"]:
                self.figures = {k: int(v) for k, v in zip(words[1::2], words[2::2])}
            elif words[:1] == ["program"]:
                self.program = {k: int(v) for k, v in zip(words[1::2], words[2::2])}
            elif words[:1] == ["sample"]:
                self.sample = int(words[1], 16)
            elif words[:1] == ["ready"]:
                self.pid = int(words[1])
                return
            else:
                break
        self.proc.kill()
        raise SystemExit("jemalloc_heap --hold did not print 'ready PID'")

    def release(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check_heap(where, report, held):
    if report is None:
        return
    check(report["backend"] == "jemalloc 5.3.0", "%s: backend %r" % (where, report["backend"]))
    detail = {(d["group"], d["name"]): d["value"] for d in report["allocator_detail"]}
    for name in FIGURES:
        check(detail.get(("totals", name)) == held.figures[name],
              "%s: %s %r, jemalloc says %d" % (where, name, detail.get(("totals", name)),
                                               held.figures[name]))
    totals = report["totals"]
    in_use, cached = totals["in_use"], totals["tcache"]
    stacks = detail.get(("totals", "tcache_stack_bytes"), 0)
    check(in_use["bytes"] + cached["bytes"] + stacks == held.figures["allocated"],
          "%s: in use %d + cached %d + tcache stacks %d bytes != stats.allocated %d"
          % (where, in_use["bytes"], cached["bytes"], stacks, held.figures["allocated"]))
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


def core_loads(core):
    """(vaddr, offset, filesz) of each PT_LOAD of an ELF core."""
    with open(core, "rb") as f:
        header = f.read(64)
        phoff, = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    loads = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1 and p_filesz:
            loads.append((p_vaddr, p_offset, p_filesz))
    return loads


# jemalloc 5.3.0's edata_t (pahole of the -g build; core/heap/jemalloc.c):
# e_bits at 0 (slab bit 12, size class index from bit 20, 8 bits), e_addr
# at 8, the slab's free bitmap at 64; edata_t records are 128-byte aligned.
# The 48-byte size class is index 3; its slabs are 3 pages (256 regions).
EDATA_ALIGN, E_ADDR, E_BITMAP, SLAB_BIT, SZIND_SHIFT = 128, 8, 64, 1 << 12, 20
SZIND_48, SLAB_48 = 3, 3 * 4096


def find_slab_edata(core, sample):
    """The core file offset of the edata_t of the slab holding sample:
    a 128-byte aligned record of a slab of class 48 whose e_addr is a page
    at most a slab below sample, sample at a whole region from it."""
    candidates = {sample - (sample % 4096) - k * 4096 for k in range(3)}
    candidates = {p for p in candidates if (sample - p) % 48 == 0 and sample - p < SLAB_48}
    with open(core, "rb") as f:
        for vaddr, offset, size in core_loads(core):
            f.seek(offset)
            data = f.read(size)
            for page in candidates:
                needle = struct.pack("<Q", page)
                at = data.find(needle)
                while at >= 0:
                    start = at - E_ADDR
                    if start >= 0 and (vaddr + start) % EDATA_ALIGN == 0:
                        bits, = struct.unpack_from("<Q", data, start)
                        if bits & SLAB_BIT and (bits >> SZIND_SHIFT) & 0xff == SZIND_48:
                            return offset + start
                    at = data.find(needle, at + 1)
    return None


def corrupted_core(core, sample, path):
    edata = find_slab_edata(core, sample)
    if not check(edata is not None, "no edata_t of the sample's slab %#x in the core" % sample):
        return None
    shutil.copyfile(core, path)
    with open(path, "r+b") as f:
        f.seek(edata + E_BITMAP)
        word, = struct.unpack("<Q", f.read(8))
        f.seek(edata + E_BITMAP)
        f.write(struct.pack("<Q", ~word & (2**64 - 1)))   # free <-> allocated
    return path


def patched_library(tmp):
    """A copy of libjemalloc.so.2 whose version string says 5.9.0."""
    data = bytearray(open(LIB, "rb").read())
    m = re.search(rb"\x005\.3\.0-0-g[0-9a-f]{40}\x00", bytes(data))
    if not m:
        return None
    data[m.start() + 1:m.start() + 6] = b"5.9.0"
    path = os.path.join(tmp, "libjemalloc.so.2")
    with open(path, "wb") as f:
        f.write(data)
    return tmp


tmp = tempfile.mkdtemp(prefix="memprof-jemalloc-")
try:
    held = HeldTruth()
    try:
        check_heap("live", heap_json("--pid", str(held.pid)), held)
        core = gcore(held.pid, os.path.join(tmp, "jemalloc.core"))
        check(held.release() == 0, "jemalloc_heap did not exit 0")
    finally:
        held.kill()
    check_heap("core", heap_json("--core", core), held)

    # Leaks: the truth's lost blocks, and valgrind's kinds.
    code, out, err = memprof("leaks", "--core", core, "--format", "json")
    if check(code in (0, 3), "leaks exited %d: %s" % (code, err[-500:])):
        summary = json.loads(out)["summary"]
        lost = (summary["definitely_lost"]["blocks"] + summary["indirectly_lost"]["blocks"],
                summary["definitely_lost"]["bytes"] + summary["indirectly_lost"]["bytes"])
        truth = (held.program["lost_blocks"], held.program["lost_bytes"])
        check(lost == truth, "lost %r, the program says %r" % (lost, truth))
        if shutil.which("valgrind"):
            want = valgrind_summary([EXE, "--abort"], "--soname-synonyms=somalloc=*jemalloc*")
            for key, _ in LEAK_KINDS:
                check(summary[key]["blocks"] == want[key][0],
                      "%s: %d blocks, valgrind %d" % (key, summary[key]["blocks"], want[key][0]))
                # valgrind counts requested bytes, memprof usable ones
                check(summary[key]["bytes"] >= want[key][1],
                      "%s: %d bytes, below valgrind's %d" % (key, summary[key]["bytes"], want[key][1]))
        else:
            print("valgrind not installed: leak kinds not compared")

    # Corrupt metadata: named, partial, no crash.
    bad = corrupted_core(core, held.sample, os.path.join(tmp, "corrupt.core"))
    if bad:
        code, out, err = memprof("heap", "--core", bad, "--format", "json")
        check(code == 0, "heap on the corrupt core exited %d: %s" % (code, err[-500:]))
        if code == 0:
            report = json.loads(out)
            check(report["partial"] and any("nfree" in p["message"] and "bitmap" in p["message"]
                                             for p in report["problems"]),
                  "corrupt core: partial %r, problems %r" % (report["partial"], report["problems"][:3]))
        code, out, err = memprof("leaks", "--core", bad)
        check(code in (0, 3) and "partial" in out + err,
              "leaks on the corrupt core exited %d: %s" % (code, err[-300:]))
    os.remove(core)

    # An unknown version is refused, by name.
    libdir = patched_library(tmp)
    if check(libdir is not None, "no 5.3.0 version string in %s" % LIB):
        fake = HeldTruth(dict(os.environ, LD_LIBRARY_PATH=libdir))
        try:
            for verb in (["heap"], ["leaks"]):
                code, out, err = memprof(*verb, "--pid", str(fake.pid))
                check(code == 1 and "jemalloc 5.9.0 detected" in err and "layout is unknown" in err
                      and not out.strip(),
                      "%s on jemalloc 5.9.0: exit %d, stderr %r" % (verb[0], code, err[-300:]))
            fake.release()
        finally:
            fake.kill()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
