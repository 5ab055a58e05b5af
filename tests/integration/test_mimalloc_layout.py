"""The offsets core/heap/mimalloc.c reads, checked against the DWARF of
the same mimalloc built with -g.

Debian's source package of the installed libmimalloc (mimalloc 2.0.9+ds-2)
is fetched with scripts/allocator_source.sh (a private apt configuration,
never the machine's) and built as debian/rules builds it
(RelWithDebInfo, -g), out of tree in a scratch directory; `memprof type
--exe` then reads each struct's layout from its DWARF, and every offset of
the version's table in core/heap/mimalloc.c (".seg_used = 208", ...) must
equal the member's offset there.  With MEMPROF_MIMALLOC_DEBUG_LIB set to a
library built with -g already, that one is used and nothing is fetched.

Skips (77) when the source cannot be fetched (no network) or cmake is
missing; nothing fetched or built is kept."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

from mptest import check, finish, memprof

SOURCE_DIR = os.environ["MEMPROF_SOURCE_DIR"]
TABLE = os.path.join(SOURCE_DIR, "core", "heap", "mimalloc.c")
VERSION = "2.0.9"

# table field prefix -> (struct, member, or "@size" for the struct's size)
FIELDS = {
    "seg_used": ("struct mi_segment_s", "used"),
    "seg_abandoned": ("struct mi_segment_s", "abandoned"),
    "seg_cookie": ("struct mi_segment_s", "cookie"),
    "seg_segment_slices": ("struct mi_segment_s", "segment_slices"),
    "seg_info_slices": ("struct mi_segment_s", "segment_info_slices"),
    "seg_kind": ("struct mi_segment_s", "kind"),
    "seg_slice_entries": ("struct mi_segment_s", "slice_entries"),
    "seg_thread_id": ("struct mi_segment_s", "thread_id"),
    "seg_slices": ("struct mi_segment_s", "slices"),
    "seg_header_size": ("struct mi_segment_s", "@size"),
    "page_size": ("struct mi_page_s", "@size"),
    "pg_slice_count": ("struct mi_page_s", "slice_count"),
    "pg_slice_offset": ("struct mi_page_s", "slice_offset"),
    "pg_capacity": ("struct mi_page_s", "capacity"),
    "pg_reserved": ("struct mi_page_s", "reserved"),
    "pg_flags": ("struct mi_page_s", "flags"),
    "pg_free": ("struct mi_page_s", "free"),
    "pg_used": ("struct mi_page_s", "used"),
    "pg_block_size": ("struct mi_page_s", "xblock_size|block_size"),
    "pg_page_start": ("struct mi_page_s", "page_start"),
    "pg_local_free": ("struct mi_page_s", "local_free"),
    "pg_xthread_free": ("struct mi_page_s", "xthread_free"),
    "pg_xheap": ("struct mi_page_s", "xheap"),
    "heap_size": ("struct mi_heap_s", "@size"),
    "hp_thread_delayed_free": ("struct mi_heap_s", "thread_delayed_free"),
    "hp_thread_id": ("struct mi_heap_s", "thread_id"),
    "hp_cookie": ("struct mi_heap_s", "cookie"),
    "hp_page_count": ("struct mi_heap_s", "page_count"),
}


def table_offsets(version):
    """The row of core/heap/mimalloc.c's table whose versions list version."""
    text = open(TABLE).read()
    m = re.search(r'\.versions = \{[^}]*"%s"' % re.escape(version), text)
    if not m:
        return None
    entry = text[m.start():text.index("\n\t},", m.start())]
    return {name: int(value) for name, value in re.findall(r"\.(\w+) = (\d+)\b", entry)}


def library_version(path):
    """mi_version()'s immediate (`mov $imm32, %eax`) as "2.1.7"."""
    out = subprocess.run(["nm", "-D", path], capture_output=True, text=True).stdout
    m = re.search(r"^([0-9a-f]+) T mi_version$", out, re.M)
    data = open(path, "rb").read()
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    vaddr = int(m.group(1), 16)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_vaddr <= vaddr < p_vaddr + p_filesz:
            at = p_offset + vaddr - p_vaddr
            at += 4 if data[at:at + 4] == b"\xf3\x0f\x1e\xfa" else 0
            if data[at] == 0xb8:
                code, = struct.unpack_from("<I", data, at + 1)
                return "%d.%d.%d" % (code // 100, code // 10 % 10, code % 10)
    return None


def build_debug_library(tmp):
    if not shutil.which("cmake"):
        print("SKIP: cmake not installed")
        sys.exit(77)
    script = os.path.join(SOURCE_DIR, "scripts", "allocator_source.sh")
    proc = subprocess.run(["sh", script, "mimalloc=2.0.9+ds-2", "bookworm", tmp],
                          capture_output=True, text=True, timeout=300)
    source = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not os.path.isdir(source):
        print("SKIP: mimalloc's source could not be fetched: %s" % proc.stderr[-500:])
        sys.exit(77)
    build = os.path.join(tmp, "build")
    os.makedirs(build)
    for argv in (["cmake", source, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DMI_BUILD_STATIC=OFF",
                  "-DMI_BUILD_OBJECT=OFF", "-DMI_BUILD_TESTS=OFF", "-DMI_INSTALL_TOPLEVEL=ON"],
                 ["make", "-j2", "mimalloc"]):
        proc = subprocess.run(argv, cwd=build, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit("%s failed: %s" % (argv[0], proc.stderr[-1000:]))
    return os.path.join(build, "libmimalloc.so.2.0")


def check_library(library, version):
    ours = table_offsets(version)
    if not check(ours is not None, "core/heap/mimalloc.c has no row for %s" % version):
        return
    layouts = {}
    for struct_name in sorted({s for s, _ in FIELDS.values()}):
        code, out, err = memprof("type", "--exe", library, struct_name, "--format", "json")
        if check(code == 0, "memprof type %s: %s" % (struct_name, err[-300:])):
            layout = json.loads(out)
            members = {m["name"]: m["offset"] for m in layout["members"]}
            members["@size"] = layout["size"]
            layouts[struct_name] = members
    for field, (struct_name, member) in FIELDS.items():
        found = [layouts.get(struct_name, {}).get(name) for name in member.split("|")]
        want = next((f for f in found if f is not None), None)
        if want is None and field not in ours:
            continue                  # a member this version does not have
        check(ours.get(field) == want, "%s %s: core/heap/mimalloc.c says %r, the DWARF of %s says %s.%s at %r"
              % (version, field, ours.get(field), library, struct_name, member, want))
    print("mimalloc %s: %d offsets checked against %s" % (version, len(FIELDS), library))


tmp = tempfile.mkdtemp(prefix="memprof-mimalloc-layout-")
try:
    library = os.environ.get("MEMPROF_MIMALLOC_DEBUG_LIB") or build_debug_library(tmp)
    check_library(library, VERSION)
    # Builds of other versions with -g (docs/allocators.md), when given.
    for libdir in filter(None, os.environ.get("MEMPROF_MIMALLOC_LIBDIRS", "").split(":")):
        path = os.path.realpath(os.path.join(libdir, "libmimalloc.so.2"))
        version = library_version(path)
        if check(version is not None, "%s: no mi_version()" % path):
            check_library(path, version)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
