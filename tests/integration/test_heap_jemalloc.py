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
import sys
import tempfile

from mptest import check, finish, gcore, memprof, heap_json
from jemalloc_truth import HeldTruth, check_heap, check_leaks

EXE = os.path.join(os.environ.get("EXAMPLES_DIR", ""), "jemalloc_heap")
LIB = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
BACKEND = "jemalloc 5.3.0"

if not os.path.exists(EXE) or not os.path.exists(LIB):
    print("SKIP: jemalloc_heap not built (libjemalloc-dev missing)")
    sys.exit(77)


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
    held = HeldTruth(EXE)
    try:
        check_heap("live", heap_json("--pid", str(held.pid)), held, BACKEND)
        core = gcore(held.pid, os.path.join(tmp, "jemalloc.core"))
        check(held.release() == 0, "jemalloc_heap did not exit 0")
    finally:
        held.kill()
    check_heap("core", heap_json("--core", core), held, BACKEND)

    # Leaks: the truth's lost blocks, and valgrind's kinds.
    check_leaks("core", core, EXE, held)

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
        fake = HeldTruth(EXE, dict(os.environ, LD_LIBRARY_PATH=libdir))
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
