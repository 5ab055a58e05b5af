"""examples/tcmalloc_heap's truth and the checks made against it, shared by
test_heap_tcmalloc.py (Debian bookworm's gperftools 2.10) and
test_allocator_binaries.py (bullseye's 2.8.1).

The program prints tcmalloc's own figures (MallocExtension_GetNumericProperty)
and its truth (every live block, seen by tcmalloc's malloc hooks, with
tc_malloc_size, written to the file TCMALLOC_HEAP_TRUTH names) and holds
or aborts."""
import ctypes
import json
import os
import shutil

from mptest import Held, check, memprof, valgrind_summary, LEAK_KINDS

PROPERTIES = ["current_allocated_bytes", "heap_size", "pageheap_free_bytes",
              "pageheap_unmapped_bytes", "central_cache_free_bytes",
              "transfer_cache_free_bytes", "thread_cache_free_bytes"]

# The full libtcmalloc sets GLIBCPP_FORCE_NEW and GLIBCXX_FORCE_NEW at
# start (MallocExtension::Initialize, from the heap checker's constructor)
# unless they are set, and glibc's setenv allocates for them; under
# valgrind it does not get there.  Set beforehand, both runs have the same
# blocks.
ENV = dict(os.environ, GLIBCPP_FORCE_NEW="1", GLIBCXX_FORCE_NEW="1")


class HeldTruth(Held):
    """The example with --hold: its figures and truth, then 'ready PID'."""

    def __init__(self, exe, truth_file, env=None):
        self.truth_file = truth_file
        self.figures = {}
        super().__init__([exe, "--hold"], dict(env or ENV, TCMALLOC_HEAP_TRUTH=truth_file),
                         self.take)

    def take(self, line):
        words = line.split()
        if line.startswith("truth blocks"):
            self.blocks, self.bytes = int(words[2]), int(words[4])
        elif line.startswith("truth before-hooks"):
            self.before_hooks = int(words[2])
        elif line.startswith("truth version"):
            self.version = words[2]
        elif line.startswith("tcmalloc "):
            self.figures[words[1].split(".", 1)[1]] = int(words[2])
        else:
            return False
        return True

    def table(self):
        """{address: usable} of every block the hooks saw live."""
        out = {}
        with open(self.truth_file) as f:
            for line in f:
                address, usable = line.split()
                out[int(address, 16)] = int(usable)
        return out


def check_heap(where, report, held, backend):
    """heap's report of the held program: tcmalloc's properties exactly,
    its thread caches by thread."""
    if report is None:
        return
    f = held.figures
    totals = report["totals"]
    check(report["backend"] == backend, "%s: backend %r, not %r" % (where, report["backend"], backend))
    check(totals["in_use"]["bytes"] == f["current_allocated_bytes"],
          "%s: in use %d bytes, tcmalloc says %d" % (where, totals["in_use"]["bytes"],
                                                     f["current_allocated_bytes"]))
    check(report["system_bytes"] == f["heap_size"],
          "%s: system_bytes %r, tcmalloc's generic.heap_size %d"
          % (where, report["system_bytes"], f["heap_size"]))
    free = (f["pageheap_free_bytes"] + f["pageheap_unmapped_bytes"] +
            f["central_cache_free_bytes"] + f["transfer_cache_free_bytes"])
    check(totals["free"]["bytes"] == free,
          "%s: free %d bytes, tcmalloc's page heap, central and transfer caches %d"
          % (where, totals["free"]["bytes"], free))
    check(totals["tcache"]["bytes"] == f["thread_cache_free_bytes"],
          "%s: cached %d bytes, tcmalloc's thread caches %d"
          % (where, totals["tcache"]["bytes"], f["thread_cache_free_bytes"]))
    # Every block the program knows is in use; the rest are older.
    check(totals["in_use"]["chunks"] > held.blocks and
          totals["in_use"]["bytes"] == held.bytes + held.before_hooks,
          "%s: in use %d blocks %d bytes; the program's %d blocks %d bytes and %d bytes before"
          % (where, totals["in_use"]["chunks"], totals["in_use"]["bytes"], held.blocks,
             held.bytes, held.before_hooks))
    detail = {(d["group"], d["name"]): d["value"] for d in report["allocator_detail"]}
    for name in PROPERTIES:
        check(detail.get(("totals", name)) == f[name],
              "%s: detail %s %r, tcmalloc says %d" % (where, name, detail.get(("totals", name)),
                                                      f[name]))
    check(detail.get(("thread caches", "bytes")) == f["thread_cache_free_bytes"] and
          detail.get(("thread caches", "count"), 0) >= 4,
          "%s: thread caches %r" % (where, {k: v for k, v in detail.items()
                                           if k[0] == "thread caches"}))
    # One group per cache, named by its thread: the four threads have one.
    caches = {g for g, _ in detail if g.startswith("thread cache 0x")}
    threads = {detail[(g, "thread")] for g in caches} - {0}
    check(len(threads) == 4 and
          sum(detail[(g, "bytes")] for g in caches) == f["thread_cache_free_bytes"],
          "%s: thread caches of threads %r hold %d bytes" % (where, sorted(threads), sum(
              detail[(g, "bytes")] for g in caches)))
    in_use = sum(v * detail[(g, "object_size")] for (g, n), v in detail.items()
                 if g.startswith("size class ") and n == "in_use")
    large = report["totals"]["in_use"]["bytes"] - in_use
    check(0 < large and detail.get(("blocks", "large")) >= 3,
          "%s: size classes hold %d bytes in use, large blocks the other %d" % (where, in_use, large))
    check(not report["partial"] and not report["problems"],
          "%s: partial %r problems %r" % (where, report["partial"], report["problems"][:3]))


class Chunk(ctypes.Structure):
    _fields_ = [("address", ctypes.c_uint64), ("size", ctypes.c_uint64),
                ("state", ctypes.c_int), ("user_address", ctypes.c_uint64),
                ("usable_size", ctypes.c_uint64)]


def blocks_in_use(core):
    """{address: usable} of the heap's blocks in use, through libmemprof;
    None where it cannot be loaded (a sanitized build)."""
    path = os.environ.get("LIBMEMPROF", "")
    if not os.path.exists(path) or b"__asan_init" in open(path, "rb").read():
        return None
    lib = ctypes.CDLL(path)
    lib.mp_target_open_core.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_void_p)]
    lib.mp_heap_open.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.mp_heap_chunk_count.argtypes = [ctypes.c_void_p]
    lib.mp_heap_chunk_count.restype = ctypes.c_size_t
    lib.mp_heap_chunk.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.mp_heap_chunk.restype = Chunk
    lib.mp_heap_free.argtypes = [ctypes.c_void_p]
    lib.mp_target_release.argtypes = [ctypes.c_void_p]
    target, heap = ctypes.c_void_p(), ctypes.c_void_p()
    if lib.mp_target_open_core(core.encode(), None, ctypes.byref(target)):
        return None
    out = {}
    if not lib.mp_heap_open(target, None, ctypes.byref(heap)):
        for i in range(lib.mp_heap_chunk_count(heap)):
            c = lib.mp_heap_chunk(heap, i)
            if c.state == 0:    # MP_CHUNK_IN_USE
                out[c.user_address] = c.usable_size
        lib.mp_heap_free(heap)
    lib.mp_target_release(target)
    return out


def check_blocks(where, core, held):
    blocks = blocks_in_use(core)
    if blocks is None:
        print("%s: block-by-block check skipped (libmemprof not loadable here)" % where)
        return
    table = held.table()
    check(len(table) == held.blocks, "%s: the truth file lists %d blocks, the program said %d"
          % (where, len(table), held.blocks))
    wrong = [(hex(a), u, blocks.get(a)) for a, u in table.items() if blocks.get(a) != u]
    check(not wrong, "%s: %d of the program's blocks not in use at their usable size: %s"
          % (where, len(wrong), wrong[:5]))
    older = sum(u for a, u in blocks.items() if a not in table)
    check(older == held.before_hooks, "%s: the blocks the hooks did not see hold %d bytes, "
          "tcmalloc had allocated %d before them" % (where, older, held.before_hooks))


def check_leaks(where, core, exe, env=None, native_only=(), valgrind_only=()):
    """leaks on the core: per kind the block counts of valgrind on the same
    program run to the same point (--abort) with its malloc in tcmalloc's
    place (--soname-synonyms).  Where the library itself behaves otherwise
    under valgrind (RunningOnValgrind()), native_only lists the (kind,
    size, type) of blocks it makes only natively, which memprof must list,
    and valgrind_only the kinds of blocks it keeps only under valgrind."""
    code, out, err = memprof("leaks", "--core", core, "--show-reachable", "--blocks",
                             "--format", "json")
    if not check(code == 0, "%s: leaks exited %d: %s" % (where, code, err[-500:])):
        return
    report = json.loads(out)
    summary = report["summary"]
    for kind, size, type_name in native_only:
        check(any(b["kind"] == kind and b["size"] == size and b["type"] == type_name
                  for b in report["blocks"]),
              "%s: no %s block of %d bytes typed %s" % (where, kind, size, type_name))
    if not shutil.which("valgrind"):
        print("valgrind not installed: leak kinds not compared")
        return
    want = valgrind_summary([exe, "--abort"], "--soname-synonyms=somalloc=*tcmalloc*",
                            env=env or ENV)
    for key, _ in LEAK_KINDS:
        expected = (want[key][0] + sum(1 for b in native_only if b[0] == key)
                    - sum(1 for kind in valgrind_only if kind == key))
        check(summary[key]["blocks"] == expected,
              "%s: %s %d blocks, valgrind %d, %d expected" % (where, key, summary[key]["blocks"],
                                                              want[key][0], expected))
    # The program's own lost blocks: two nodes and a cycle of three of
    # 48 bytes (tcmalloc's class for 48), and the block known by its middle.
    check(summary["indirectly_lost"]["bytes"] == 3 * 48,
          "%s: indirectly lost %d bytes" % (where, summary["indirectly_lost"]["bytes"]))
