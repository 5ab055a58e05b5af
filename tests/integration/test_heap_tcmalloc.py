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
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

from mptest import check, finish, gcore, memprof, heap_json, core_offset
from tcmalloc_truth import ENV, HeldTruth, check_heap, check_blocks, check_leaks

EXAMPLES = os.environ.get("EXAMPLES_DIR", "")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
VARIANTS = [("tcmalloc_heap", "libtcmalloc_minimal.so.4"),
            ("tcmalloc_full_heap", "libtcmalloc.so.4")]
BACKEND = "tcmalloc 2.10"

if not all(os.path.exists(os.path.join(EXAMPLES, exe)) and
           os.path.exists(os.path.join(LIBDIR, lib)) for exe, lib in VARIANTS):
    print("SKIP: tcmalloc examples not built (libgoogle-perftools-dev missing)")
    sys.exit(77)


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
            check_heap(name + " live", heap_json("--pid", str(held.pid)), held, BACKEND)
            core = gcore(held.pid, os.path.join(tmp, name + ".core"))
            check(held.release() == 0, "%s did not exit 0" % name)
        finally:
            held.kill()
        check_heap(name + " core", heap_json("--core", core), held, BACKEND)
        check_blocks(name + " core", core, held)
        check_leaks(name + " core", core, exe)
        if library == "libtcmalloc_minimal.so.4":
            check_corruption(core, library, tmp)
            check_version_refused(exe, library, tmp)
        os.remove(core)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
