"""The offsets core/heap/tcmalloc.c reads, checked against the DWARF of the
same gperftools built with -g, and the reader run on that build.

Debian's source package of the installed tcmalloc (google-perftools 2.10-1)
is fetched and built with scripts/tcmalloc_source.sh (a private apt
configuration, never the machine's; RelWithDebInfo, -g) out of tree in a
scratch directory.  Then:
- `memprof type --exe` reads each struct's layout from its DWARF, and
  every offset of the table in core/heap/tcmalloc.c (".sp_next = 16", ...)
  must equal the members' offsets there;
- examples/tcmalloc_heap run with that library preloaded, as built (its
  .symtab names tcmalloc::Static's hidden members: "allocator symbols")
  and stripped ("structural search"): `heap --pid` totals equal the
  program's MallocExtension figures.
With MEMPROF_TCMALLOC_DEBUG_DIR set to a directory holding such a build
(libtcmalloc_minimal.so), that one is used and nothing is fetched.

Skips (77) when the source cannot be fetched (no network) or cmake is
missing; nothing fetched or built is kept."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mptest import check, finish, memprof

SOURCE_DIR = os.environ["MEMPROF_SOURCE_DIR"]
TABLE = os.path.join(SOURCE_DIR, "core", "heap", "tcmalloc.c")
EXE = os.path.join(os.environ.get("EXAMPLES_DIR", ""), "tcmalloc_heap")

PAGEMAP = "TCMalloc_PageMap2<35>"
# table field -> the members whose offsets add up to it; "@size" is the
# struct's size, "" the anonymous union (Span.objects).
FIELDS = {
    "ph_root": [("tcmalloc::PageHeap", "pagemap_"), (PAGEMAP, "root_")],
    "ph_allocator": [("tcmalloc::PageHeap", "pagemap_"), (PAGEMAP, "allocator_")],
    "ph_free": [("tcmalloc::PageHeap", "free_")],
    "ph_stats": [("tcmalloc::PageHeap", "stats_")],
    "ph_size": [("tcmalloc::PageHeap", "@size")],
    "sp_start": [("tcmalloc::Span", "start")],
    "sp_length": [("tcmalloc::Span", "length")],
    "sp_next": [("tcmalloc::Span", "next")],
    "sp_prev": [("tcmalloc::Span", "prev")],
    "sp_objects": [("tcmalloc::Span", "")],
    "sp_bits": [("tcmalloc::Span", "refcount")],
    "sp_size": [("tcmalloc::Span", "@size")],
    "cf_size_class": [("tcmalloc::CentralFreeList", "size_class_")],
    "cf_empty": [("tcmalloc::CentralFreeList", "empty_")],
    "cf_nonempty": [("tcmalloc::CentralFreeList", "nonempty_")],
    "cf_num_spans": [("tcmalloc::CentralFreeList", "num_spans_")],
    "cf_counter": [("tcmalloc::CentralFreeList", "counter_")],
    "cf_slots": [("tcmalloc::CentralFreeList", "tc_slots_")],
    "cf_used_slots": [("tcmalloc::CentralFreeList", "used_slots_")],
    "cf_stride": [("tcmalloc::CentralFreeListPaddedTo<16>", "@size")],
    "sm_to_move": [("tcmalloc::SizeMap", "num_objects_to_move_")],
    "sm_class_to_size": [("tcmalloc::SizeMap", "class_to_size_")],
    "sm_class_to_pages": [("tcmalloc::SizeMap", "class_to_pages_")],
    "sm_num_classes": [("tcmalloc::SizeMap", "num_size_classes")],
    "sm_size": [("tcmalloc::SizeMap", "@size")],
    "tc_lists": [("tcmalloc::ThreadCache", "list_")],
    "fl_stride": [("tcmalloc::ThreadCache::FreeList", "@size")],
    "fl_length": [("tcmalloc::ThreadCache::FreeList", "length_")],
    "tc_size_field": [("tcmalloc::ThreadCache", "size_")],
    "tc_tid": [("tcmalloc::ThreadCache", "tid_")],
    "tc_next": [("tcmalloc::ThreadCache", "next_")],
    "tc_size": [("tcmalloc::ThreadCache", "@size")],
}


def table_offsets():
    """{field: value} of the 2.10 layout in core/heap/tcmalloc.c."""
    text = open(TABLE).read()
    start = text.index(".version = \"2.10\"")
    body = text[start:text.index("\t},", start)]
    out = {}
    for name, expr in re.findall(r"\.(\w+) = ([0-9][0-9 +*]*)", body):
        out[name] = eval(expr, {"__builtins__": {}})   # digits, + and * only
    return out


def build_library(tmp):
    given = os.environ.get("MEMPROF_TCMALLOC_DEBUG_DIR")
    if given:
        return given
    if not shutil.which("cmake"):
        print("SKIP: cmake not installed")
        sys.exit(77)
    proc = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "tcmalloc_source.sh"),
                           os.path.join(tmp, "src")], capture_output=True, text=True,
                          timeout=1500)
    if proc.returncode != 0:
        print("SKIP: google-perftools' source not fetched or not built: %s" % proc.stderr[-800:])
        sys.exit(77)
    return proc.stdout.strip().splitlines()[-1]


layouts = {}


def member_offset(library, struct, member):
    if struct not in layouts:
        code, out, err = memprof("type", struct, "--exe", library, "--format", "json")
        layouts[struct] = json.loads(out) if code == 0 else None
        check(code == 0, "memprof type %s: %s" % (struct, err[-300:]))
    layout = layouts[struct]
    if layout is None:
        return None
    if member == "@size":
        return layout["size"]
    for m in layout["members"]:
        if m["name"] == member:
            return m["offset"]
    return None


def run_example(library, want_located):
    env = dict(os.environ, LD_PRELOAD=library, GLIBCPP_FORCE_NEW="1", GLIBCXX_FORCE_NEW="1")
    proc = subprocess.Popen([EXE, "--hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    figures, pid = {}, None
    try:
        for line in proc.stdout:
            words = line.split()
            if line.startswith("tcmalloc "):
                figures[words[1].split(".", 1)[1]] = int(words[2])
            elif line.startswith("ready "):
                pid = int(words[1])
                break
        if not check(pid is not None, "%s: the example did not hold" % library):
            return
        code, out, err = memprof("heap", "--pid", str(pid), "--format", "json")
        if not check(code == 0, "%s: heap --pid exited %d: %s" % (library, code, err[-300:])):
            return
        report = json.loads(out)
        check(report["located_by"] == want_located, "%s: found by %r, not %r"
              % (library, report["located_by"], want_located))
        detail = {(d["group"], d["name"]): d["value"] for d in report["allocator_detail"]}
        for name, value in figures.items():
            check(detail.get(("totals", name)) == value, "%s: %s %r, tcmalloc says %d"
                  % (library, name, detail.get(("totals", name)), value))
        check(report["totals"]["in_use"]["bytes"] == figures["current_allocated_bytes"] and
              not report["problems"], "%s: in use %d bytes, tcmalloc %d; problems %r"
              % (library, report["totals"]["in_use"]["bytes"], figures["current_allocated_bytes"],
                 report["problems"][:3]))
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


tmp = tempfile.mkdtemp(prefix="memprof-tcmalloc-layout-")
try:
    directory = build_library(tmp)
    library = os.path.join(directory, "libtcmalloc_minimal.so")
    table = table_offsets()
    check(set(table) >= set(FIELDS), "the table has every field: missing %s"
          % sorted(set(FIELDS) - set(table)))
    for field, path in FIELDS.items():
        offsets = [member_offset(library, s, m) for s, m in path]
        if not check(None not in offsets, "%s: %s not in the DWARF" % (field, path)):
            continue
        check(sum(offsets) == table.get(field), "%s = %r in core/heap/tcmalloc.c, DWARF says %d (%s)"
              % (field, table.get(field), sum(offsets), path))
    if os.path.exists(EXE):
        run_example(library, "allocator symbols")
        stripped = os.path.join(tmp, "libtcmalloc_minimal_stripped.so")
        shutil.copyfile(library, stripped)
        subprocess.run(["strip", "--strip-unneeded", stripped], check=True)
        run_example(stripped, "structural search")
    else:
        print("tcmalloc_heap not built: the example runs skipped")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
