"""memprof reads tcmalloc's heap (gperftools 2.10): examples/tcmalloc_heap.c,
built against Debian's libtcmalloc_minimal.so.4 (tcmalloc_heap) and the full
libtcmalloc.so.4 (tcmalloc_full_heap), prints tcmalloc's own figures
(MallocExtension_GetNumericProperty) and its truth (every live block, seen
by tcmalloc's malloc hooks, with tc_malloc_size) and holds or aborts.

- From the live process (--pid) and from a gcore core of it: `heap`'s
  bytes in use equal generic.current_allocated_bytes exactly, its free
  bytes the page heap's free and unmapped bytes plus the central and
  transfer caches' free bytes, its cached bytes the thread caches'; the
  detail's totals equal each property, its thread caches are named by the
  program's four threads and add up; no problem.
- On the core, through libmemprof: every block of the program's truth is a
  block in use at the same address with the same usable size, and the
  other blocks in use (made before the hooks were installed) add up to
  the bytes the program saw allocated then.
- `leaks` on the core: per kind the block counts of valgrind on the same
  program run to the same point (--abort) with its malloc in tcmalloc's
  place (--soname-synonyms).
- Copies of the core with a word of tcmalloc's metadata overwritten (a
  thread cache's list head; the link in a free object on it): the problem
  is named, the heap partial, `leaks` still answers, no crash.
- The program run on a copy of the library whose version string says
  2.99: every heap verb refuses it as a version whose layout is unknown.

Skips (77) where libgoogle-perftools-dev is not installed (the examples
are then not built)."""
import ctypes
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

from mptest import check, finish, gcore, memprof, valgrind_summary, LEAK_KINDS, heap_json, core_offset

EXAMPLES = os.environ.get("EXAMPLES_DIR", "")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
VARIANTS = [("tcmalloc_heap", "libtcmalloc_minimal.so.4"),
            ("tcmalloc_full_heap", "libtcmalloc.so.4")]
PROPERTIES = ["current_allocated_bytes", "heap_size", "pageheap_free_bytes",
              "pageheap_unmapped_bytes", "central_cache_free_bytes",
              "transfer_cache_free_bytes", "thread_cache_free_bytes"]

# The full libtcmalloc sets GLIBCPP_FORCE_NEW and GLIBCXX_FORCE_NEW at
# start (MallocExtension::Initialize, from the heap checker's constructor)
# unless they are set, and glibc's setenv allocates for them; under
# valgrind it does not get there.  Set beforehand, both runs have the same
# blocks.
ENV = dict(os.environ, GLIBCPP_FORCE_NEW="1", GLIBCXX_FORCE_NEW="1")

if not all(os.path.exists(os.path.join(EXAMPLES, exe)) and
           os.path.exists(os.path.join(LIBDIR, lib)) for exe, lib in VARIANTS):
    print("SKIP: tcmalloc examples not built (libgoogle-perftools-dev missing)")
    sys.exit(77)


class HeldTruth:
    """The example with --hold: its truth lines up to 'ready PID'."""

    def __init__(self, exe, truth_file, env=None):
        self.proc = subprocess.Popen([exe, "--hold"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env=dict(env or ENV, TCMALLOC_HEAP_TRUTH=truth_file))
        self.truth_file = truth_file
        self.figures = {}
        for line in self.proc.stdout:
            words = line.split()
            if line.startswith("truth blocks"):
                self.blocks, self.bytes = int(words[2]), int(words[4])
            elif line.startswith("truth before-hooks"):
                self.before_hooks = int(words[2])
            elif line.startswith("truth version"):
                self.version = words[2]
            elif line.startswith("tcmalloc "):
                self.figures[words[1].split(".", 1)[1]] = int(words[2])
            elif line.startswith("ready "):
                self.pid = int(words[1])
                return
            else:
                break
        self.proc.kill()
        raise SystemExit("%s --hold did not print 'ready PID'" % exe)

    def table(self):
        """{address: usable} of every block the hooks saw live."""
        out = {}
        with open(self.truth_file) as f:
            for line in f:
                address, usable = line.split()
                out[int(address, 16)] = int(usable)
        return out

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
    f = held.figures
    totals = report["totals"]
    check(report["backend"] == "tcmalloc 2.10", "%s: backend %r" % (where, report["backend"]))
    check(totals["in_use"]["bytes"] == f["current_allocated_bytes"],
          "%s: in use %d bytes, tcmalloc says %d" % (where, totals["in_use"]["bytes"],
                                                     f["current_allocated_bytes"]))
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


def check_leaks(where, core, exe):
    code, out, err = memprof("leaks", "--core", core, "--format", "json")
    if not check(code == 0, "%s: leaks exited %d: %s" % (where, code, err[-500:])):
        return
    summary = json.loads(out)["summary"]
    if not shutil.which("valgrind"):
        print("valgrind not installed: leak kinds not compared")
        return
    want = valgrind_summary([exe, "--abort"], "--soname-synonyms=somalloc=*tcmalloc*", env=ENV)
    for key, _ in LEAK_KINDS:
        check(summary[key]["blocks"] == want[key][0],
              "%s: %s %d blocks, valgrind %d" % (where, key, summary[key]["blocks"], want[key][0]))
    # The program's own lost blocks: two nodes and a cycle of three of
    # 48 bytes (tcmalloc's class for 48), and the block known by its middle.
    check(summary["indirectly_lost"]["bytes"] == 3 * 48,
          "%s: indirectly lost %d bytes" % (where, summary["indirectly_lost"]["bytes"]))


def read_core(core, address, length):
    offset = core_offset(core, address)
    if offset is None:
        return None
    with open(core, "rb") as f:
        f.seek(offset)
        return f.read(length)


def load_bias(core, library):
    """The library's load bias in the core, from `memprof info`."""
    code, out, _ = memprof("info", "--core", core, "--format", "json")
    if code != 0:
        return None
    for m in json.loads(out)["modules"]:
        if os.path.basename(m["path"]) == library:
            return int(m["load_bias"], 16) if isinstance(m["load_bias"], str) else m["load_bias"]
    return None


def dynamic_symbol(path, name):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True).stdout
    m = re.search(r"^([0-9a-f]+) \w %s$" % re.escape(name), out, re.M)
    return int(m.group(1), 16) if m else None


def patched_copy(core, path, address, data):
    offset = core_offset(core, address)
    if offset is None:
        return None
    shutil.copyfile(core, path)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)
    return path


def check_corruption(core, library, tmp):
    """Words of tcmalloc's metadata overwritten: a thread cache's list head,
    the link in a free object (to nowhere, and to itself: a cycle), the
    head of the thread cache list."""
    bias = load_bias(core, library)
    symbol = dynamic_symbol(os.path.join(LIBDIR, library), "_ZN8tcmalloc11ThreadCache13thread_heaps_E")
    if not check(bias is not None and symbol is not None, "thread_heaps_ of %s located" % library):
        return
    word = read_core(core, bias + symbol, 8)
    cache = struct.unpack("<Q", word)[0] if word else 0
    # ThreadCache::list_[cl] is 32 bytes: list_ (the head), length_, ...
    lists = read_core(core, cache, 128 * 32) if cache else None
    if not check(lists is not None, "a thread cache at %#x in the core" % cache):
        return
    cl = next((c for c in range(1, 128) if struct.unpack_from("<QI", lists, c * 32)[1] > 1), None)
    if not check(cl is not None, "a thread cache list with objects"):
        return
    head = struct.unpack_from("<Q", lists, cl * 32)[0]
    # A list head in the ThreadCache record, and the link in the first
    # free object on that list (the next object's address).
    cases = [("thread cache list head", cache + cl * 32, struct.pack("<Q", 0x10000001),
              "tcmalloc thread cache"),
             ("free object's link", head, struct.pack("<Q", 0x10000001), "tcmalloc thread cache"),
             ("free object's link to itself", head, struct.pack("<Q", head),
              "tcmalloc thread cache"),
             ("thread_heaps_", bias + symbol, struct.pack("<Q", 0x10000000), "tcmalloc thread cache")]
    for label, address, data, where in cases:
        path = patched_copy(core, os.path.join(tmp, "corrupt.core"), address, data)
        if not check(path is not None, "%s: %#x in the core" % (label, address)):
            continue
        code, out, err = memprof("heap", "--core", path, "--format", "json")
        if not check(code == 0, "%s: heap exited %d: %s" % (label, code, err[-500:])):
            continue
        report = json.loads(out)
        check(report["partial"] and any(p["where"] == where for p in report["problems"]),
              "%s: partial %r, problems %r" % (label, report["partial"], report["problems"][:3]))
        code, out, err = memprof("leaks", "--core", path)
        check(code in (0, 3) and "LEAK SUMMARY" in out, "%s: leaks still answers: %d %s"
              % (label, code, err[-300:]))


def check_version_refused(exe, library, tmp):
    """The library with "gperftools 2.10" made "gperftools 2.99"."""
    data = bytearray(open(os.path.join(LIBDIR, library), "rb").read())
    if not check(data.count(b"gperftools 2.10") >= 1, "%s says gperftools 2.10" % library):
        return
    data = data.replace(b"gperftools 2.10", b"gperftools 2.99")
    libdir = os.path.join(tmp, "lib")
    os.makedirs(libdir, exist_ok=True)
    with open(os.path.join(libdir, library), "wb") as f:
        f.write(data)
    env = dict(ENV, LD_LIBRARY_PATH=libdir)
    held = HeldTruth(exe, os.path.join(tmp, "refused.truth"), env)
    try:
        for verb in ("heap", "leaks"):
            code, out, err = memprof(verb, "--pid", str(held.pid))
            check(code == 1 and out == "" and
                  re.search(r"tcmalloc 2\.99 detected: memprof reads tcmalloc 2\.10[^;]*; "
                            r"this version's layout is unknown", err),
                  "patched version: %s exits 1 naming 2.99: %d %r" % (verb, code, err[-300:]))
        check(held.release() == 0, "the patched program exits 0")
    finally:
        held.kill()


tmp = tempfile.mkdtemp(prefix="memprof-tcmalloc-")
try:
    for name, library in VARIANTS:
        exe = os.path.join(EXAMPLES, name)
        held = HeldTruth(exe, os.path.join(tmp, name + ".truth"))
        try:
            check(held.version.startswith("2.10"), "%s: tc_version() %r, the test knows 2.10"
                  % (name, held.version))
            check_heap(name + " live", heap_json("--pid", str(held.pid)), held)
            core = gcore(held.pid, os.path.join(tmp, name + ".core"))
            check(held.release() == 0, "%s did not exit 0" % name)
        finally:
            held.kill()
        check_heap(name + " core", heap_json("--core", core), held)
        check_blocks(name + " core", core, held)
        check_leaks(name + " core", core, exe)
        if library == "libtcmalloc_minimal.so.4":
            check_corruption(core, library, tmp)
            check_version_refused(exe, library, tmp)
        os.remove(core)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
