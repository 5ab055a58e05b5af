"""The offsets core/heap/jemalloc.c reads, checked against the DWARF of the
same jemalloc built with -g, and that build read through its symbols.

Debian's source package of the installed libjemalloc2 (jemalloc 5.3.0-1)
is fetched with scripts/allocator_source.sh (a private apt configuration,
never the machine's) and configured as debian/rules configures it for
amd64 (--with-lg-page=12 --with-lg-hugepage=21 --enable-prof) plus
--with-lg-vaddr=48 (Debian's build machine's virtual address width, which
configure would otherwise take from this machine), built with -g out of
tree in a scratch directory.  `memprof type --exe` reads each struct's
layout from its DWARF; every offset of the 5.3.0 table in
core/heap/jemalloc.c (".ar_emap = 78912", ...) must equal the sum of the
member offsets along its path (arena_s.pa_shard + pa_shard_s.emap).

Then examples/jemalloc_heap runs against that library (LD_LIBRARY_PATH):
memprof finds je_arenas by its symbol and `heap` gives jemalloc's own four
figures, on the live process; and against a stripped copy of it, found by
structural search, with the same figures.

With MEMPROF_JEMALLOC_DEBUG_LIB set to a libjemalloc.so.2 built so
already, that one is used and nothing is fetched.  MEMPROF_JEMALLOC_DEBUG_LIBS
(colon-separated) names more -g builds of other versions the table has,
checked the same way: jemalloc 5.2.1 built from upstream's tag as Debian 11
configures it (docs/allocators.md says how).  Skips (77) when the
source cannot be fetched (no network) or autoconf's output is missing;
nothing fetched or built is kept."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mptest import check, finish, memprof

SOURCE_DIR = os.environ["MEMPROF_SOURCE_DIR"]
TABLE = os.path.join(SOURCE_DIR, "core", "heap", "jemalloc.c")
EXE = os.path.join(os.environ.get("EXAMPLES_DIR", ""), "jemalloc_heap")
VERSION = "5.3.0"

# table field -> path of (struct, member) whose offsets add up to it;
# "@size" is the struct's size, "#N" its Nth member (anonymous unions).
FIELDS = {
    "rtree_base": [("struct rtree_s", "base")],
    "rtree_root": [("struct rtree_s", "root")],
    "edata_size": [("struct edata_s", "@size")],
    "ed_bits": [("struct edata_s", "e_bits")],
    "ed_addr": [("struct edata_s", "e_addr")],
    "ed_size_esn": [("struct edata_s", "#2")],
    "ed_bitmap": [("struct edata_s", "#6"), ("struct slab_data_s", "bitmap")],
    "ar_tcache_ql": [("struct arena_s", "tcache_ql")],
    "ar_pac_mapped": [("struct arena_s", "stats"), ("struct arena_stats_s", "pa_shard_stats"),
                      ("struct pa_shard_stats_s", "pac_stats"), ("struct pac_stats_s", "pac_mapped")],
    "ar_nactive": [("struct arena_s", "pa_shard"), ("struct pa_shard_s", "nactive")],
    "ar_emap": [("struct arena_s", "pa_shard"), ("struct pa_shard_s", "emap")],
    "ar_pa_base": [("struct arena_s", "pa_shard"), ("struct pa_shard_s", "base")],
    "ar_ind": [("struct arena_s", "ind")],
    "ar_base": [("struct arena_s", "base")],
    "ar_size": [("struct arena_s", "@size")],
    "base_allocated": [("struct base_s", "allocated")],
    "base_resident": [("struct base_s", "resident")],
    "base_mapped": [("struct base_s", "mapped")],
    "base_blocks": [("struct base_s", "blocks")],
    "block_size": [("struct base_block_s", "size")],
    "block_next": [("struct base_block_s", "next")],
    "ts_next": [("struct tcache_slow_s", "link")],
    "ts_bins": [("struct tcache_slow_s", "cache_bin_array_descriptor"),
                ("struct cache_bin_array_descriptor_s", "bins")],
    "ts_arena": [("struct tcache_slow_s", "arena")],
    "ts_dyn_alloc": [("struct tcache_slow_s", "dyn_alloc")],
    "ts_tcache": [("struct tcache_slow_s", "tcache")],
    "cache_bin_size": [("struct cache_bin_s", "@size")],
    "cb_stack_head": [("struct cache_bin_s", "stack_head")],
    "cb_low_bits_empty": [("struct cache_bin_s", "low_bits_empty")],
}

# tsd_s names its members so in 5.2.1 (the O() macro in tsd.h).
TSD = "cant_access_tsd_items_directly_use_a_getter_or_setter_"

# jemalloc 5.2.1: extent_t in place of edata_t, the extent map a global
# rtree_t without a base, the arena index in base_t, bins inside tcache_t.
FIELDS_5_2 = {
    "rtree_root": [("struct rtree_s", "root")],
    "edata_size": [("struct extent_s", "@size")],
    "ed_bits": [("struct extent_s", "e_bits")],
    "ed_addr": [("struct extent_s", "e_addr")],
    "ed_size_esn": [("struct extent_s", "#2")],
    "ed_bitmap": [("struct extent_s", "#5"), ("struct arena_slab_data_s", "bitmap")],
    "ar_tcache_ql": [("struct arena_s", "tcache_ql")],
    "ar_stats_mapped": [("struct arena_s", "stats"), ("struct arena_stats_s", "mapped")],
    "ar_nactive": [("struct arena_s", "nactive")],
    "ar_base": [("struct arena_s", "base")],
    "ar_size": [("struct arena_s", "@size")],
    "base_ind": [("struct base_s", "ind")],
    "base_allocated": [("struct base_s", "allocated")],
    "base_resident": [("struct base_s", "resident")],
    "base_mapped": [("struct base_s", "mapped")],
    "base_blocks": [("struct base_s", "blocks")],
    "block_size": [("struct base_block_s", "size")],
    "block_next": [("struct base_block_s", "next")],
    "ts_next": [("struct tcache_s", "link")],
    "tc_bins_small": [("struct tcache_s", "bins_small")],
    "tc_bins_large": [("struct tcache_s", "bins_large")],
    "cache_bin_size": [("struct cache_bin_s", "@size")],
    "cb_ncached": [("struct cache_bin_s", "ncached")],
    "cb_avail": [("struct cache_bin_s", "avail")],
    # distances back from tsd_s.tcache: "-member" subtracts
    "tsd_arena_before": [("struct tsd_s", TSD + "tcache"), ("struct tsd_s", "-" + TSD + "arena")],
    "tsd_arenas_tdata_before": [("struct tsd_s", TSD + "tcache"),
                                ("struct tsd_s", "-" + TSD + "arenas_tdata")],
}


def library_version(path):
    """JEMALLOC_VERSION's "5.3.0" in the library's bytes."""
    m = re.search(rb"\x00(\d+\.\d+\.\d+)-\d+-g[0-9a-f]{7,}\x00", open(path, "rb").read())
    return m.group(1).decode() if m else None


def table_values(version):
    """The layout in core/heap/jemalloc.c whose .version is version."""
    text = open(TABLE).read()
    m = re.search(r'\.version = "%s"' % re.escape(version), text)
    if not m:
        return None
    entry = text[m.start():text.index("\n};", m.start())]
    values = {}
    for name, expr in re.findall(r"\.(\w+) = ([^,\n]+)", entry):
        if re.fullmatch(r"[\d ()<>*+-]+", expr):
            values[name] = eval(expr, {"__builtins__": {}})   # "(1 << 13) - 1"
    return values


def build_debug_library(tmp):
    script = os.path.join(SOURCE_DIR, "scripts", "allocator_source.sh")
    proc = subprocess.run(["sh", script, "jemalloc=5.3.0-1", "bookworm", tmp],
                          capture_output=True, text=True, timeout=300)
    source = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not os.path.isfile(os.path.join(source, "configure")):
        print("SKIP: jemalloc's source could not be fetched: %s" % proc.stderr[-500:])
        sys.exit(77)
    version = open(os.path.join(source, "VERSION")).read().strip()
    build = os.path.join(tmp, "build")
    os.makedirs(build)
    for argv in ([os.path.join(source, "configure"), "--with-version=" + version,
                  "--with-lg-page=12", "--with-lg-hugepage=21", "--with-lg-vaddr=48",
                  "--enable-prof", "--disable-doc", "CFLAGS=-g -O2"],
                 ["make", "-j2", "lib/libjemalloc.so.2"]):
        proc = subprocess.run(argv, cwd=build, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise SystemExit("%s failed: %s" % (argv[0], (proc.stdout + proc.stderr)[-1000:]))
    return os.path.join(build, "lib", "libjemalloc.so.2")


def struct_layouts(library, names):
    layouts = {}
    for name in sorted(names):
        code, out, err = memprof("type", "--exe", library, name, "--format", "json")
        if check(code == 0, "memprof type %s: %s" % (name, err[-300:])):
            layout = json.loads(out)
            members = {m["name"]: m["offset"] for m in layout["members"] if m["name"]}
            for i, m in enumerate(layout["members"]):
                members["#%d" % i] = m["offset"]
            members["@size"] = layout["size"]
            layouts[name] = members
    return layouts


def check_library(library, version):
    ours = table_values(version)
    if not check(ours is not None, "core/heap/jemalloc.c has no layout for %s" % version):
        return
    fields = FIELDS if version.startswith("5.3.") else FIELDS_5_2
    layouts = struct_layouts(library, {s for path in fields.values() for s, _ in path}
                             | {"struct tcache_s", "struct cache_bin_s", "struct rtree_s"})
    for field, path in fields.items():
        parts = [layouts.get(s, {}).get(m.lstrip("-")) for s, m in path]
        parts = [-p if m.startswith("-") and p is not None else p for p, (_, m) in zip(parts, path)]
        want = sum(parts) if None not in parts else None
        check(ours.get(field) == want, "%s: core/heap/jemalloc.c says %r, the DWARF of %s says %r (%s)"
              % (field, ours.get(field), library, want, " + ".join("%s.%s" % p for p in path)))
    # Sizes of arrays: the rtree root's entries, the tcache's bins.
    rtree, tcache = layouts.get("struct rtree_s", {}), layouts.get("struct tcache_s", {})
    if rtree and tcache:
        root_entries = (rtree["@size"] - rtree["root"]) // 8
        check(root_entries == 1 << ours.get("root_bits", 0),
              "rtree root: %d entries, the table says 2^%r" % (root_entries, ours.get("root_bits")))
        bin_size = layouts["struct cache_bin_s"]["@size"]
        if "bins" in tcache:
            bins = (tcache["@size"] - tcache["bins"]) // bin_size
            check(bins == ours.get("tcache_nbins_max"),
                  "tcache_t: %d bins, the table says %r" % (bins, ours.get("tcache_nbins_max")))
        else:
            large = (tcache["@size"] - tcache["bins_large"]) // bin_size
            check(large == ours.get("tc_nbins_large"),
                  "tcache_t: %d large bins, the table says %r" % (large, ours.get("tc_nbins_large")))
    print("jemalloc %s: %d offsets checked against %s" % (version, len(fields) + 2, library))


def check_read(library, version, stripped):
    """The example on the -g library (je_arenas by symbol) or a stripped
    copy (structural search): jemalloc's figures exact."""
    if not os.path.exists(EXE):
        print("jemalloc_heap not built: the -g library is not read")
        return
    label = "%s %s" % (version, "stripped" if stripped else "-g")
    libdir = tempfile.mkdtemp(prefix="memprof-jemalloc-g-")
    try:
        copy = os.path.join(libdir, "libjemalloc.so.2")
        if stripped:
            subprocess.run(["strip", "-o", copy, library], check=True)
        else:
            shutil.copy(library, copy)
        proc = subprocess.Popen([EXE, "--hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ, LD_LIBRARY_PATH=libdir))
        try:
            figures, pid = {}, None
            for line in proc.stdout:
                words = line.split()
                if words[:1] == ["jemalloc"]:
                    figures = {k: int(v) for k, v in zip(words[1::2], words[2::2])}
                elif words[:1] == ["ready"]:
                    pid = words[1]
                    break
            if not check(pid is not None, "%s: jemalloc_heap did not get ready" % label):
                return
            code, out, err = memprof("heap", "--pid", pid, "--format", "json")
            if check(code == 0, "%s: heap exited %d: %s" % (label, code, err[-500:])):
                report = json.loads(out)
                detail = {(d["group"], d["name"]): d["value"] for d in report["allocator_detail"]}
                check(report["backend"] == "jemalloc " + version, "%s: backend %r" % (label, report["backend"]))
                want = "structural search" if stripped else "jemalloc symbols"
                check(want in (report["located_by"] or ""),
                      "%s: located by %r" % (label, report["located_by"]))
                for name in ("allocated", "active", "resident", "mapped"):
                    check(detail.get(("totals", name)) == figures.get(name),
                          "%s: %s %r, jemalloc says %r" % (label, name, detail.get(("totals", name)),
                                                           figures.get(name)))
                check(not report["partial"], "%s: partial, %r" % (label, report["problems"][:3]))
                print("%s: read, figures equal jemalloc's" % label)
            proc.stdin.close()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(libdir, ignore_errors=True)


tmp = tempfile.mkdtemp(prefix="memprof-jemalloc-layout-")
try:
    library = os.environ.get("MEMPROF_JEMALLOC_DEBUG_LIB") or build_debug_library(tmp)
    libraries = [library] + list(filter(None, os.environ.get("MEMPROF_JEMALLOC_DEBUG_LIBS", "").split(":")))
    for path in libraries:
        version = library_version(path)
        if check(version is not None, "%s: no jemalloc version string" % path):
            check_library(path, version)
            check_read(path, version, stripped=False)
            check_read(path, version, stripped=True)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
