"""Debug info as distributions and build systems lay it out gives the same
answers as plain -g.

Each case compiles an example twice, plain `-g` and in the format under
test, and compares `memprof type --list`, the layout of one struct, the
logical walk of a core and the leak check of that core.  Each case also
checks with readelf that the format is really there, so it cannot pass on
a plain build:
- dwz: two examples processed with `dwz -m` share a supplementary file
  (.gnu_debugaltlink, DW_FORM_GNU_ref_alt / GNU_strp_alt); it is found by
  the stored path and, moved away, under --debug-dir's .dwz/; missing, the
  error names it;
- DWARF 4 type units (.debug_types) and DWARF 5 type units in .debug_info
  (-fdebug-types-section);
- a function-local static (`static struct cache cache;` in lookup) is a
  ROOT as lookup::cache, with the logical size the source defines;
- a zstd-compressed .debug_info (no Debian 12 tool makes one: this test
  compresses the section with the zstd CLI and rewrites the ELF) is refused
  with an error that says zstd and names the section;
- split DWARF (-gsplit-dwarf, DWARF 5 skeleton units and GCC's DWARF 4
  extension): the .dwo files the skeletons name, a .dwp package (dwp for
  DWARF 4, llvm-dwp for DWARF 5; gdb's gcore crashes on the latter, so it
  gets the type answers only) with the .dwo files moved away, and a
  missing .dwo named in the error."""
import os
import shutil
import struct
import subprocess
import tempfile

from mptest import check, finish, held_core, memprof, memprof_json

source_dir = os.environ["MEMPROF_SOURCE_DIR"]
examples = os.path.join(source_dir, "examples")
tmp = tempfile.mkdtemp(prefix="memprof-dbgfmt-")


def build(source, name, *flags):
    exe = os.path.join(tmp, name)
    subprocess.run(["gcc", "-g", "-O0", *flags, "-I", examples, source, "-o", exe],
                   check=True)
    return exe


def readelf(*args):
    return subprocess.run(["readelf", *args], capture_output=True, text=True,
                          check=True).stdout


def answers(exe, struct, root, *extra):
    code, types, err = memprof("type", "--list", "*", "--exe", exe, *extra)
    check(code == 0, "%s: type --list: %s" % (exe, err))
    code, layout, err = memprof("type", struct, "--exe", exe, *extra)
    check(code == 0, "%s: type %s: %s" % (exe, struct, err))
    with held_core([exe]) as core:
        logical = memprof_json("logical", root, "--core", core, "--exe", exe, *extra)
        leaks = memprof_json("leaks", "--core", core, "--exe", exe, *extra)
    return {"types": types, "layout": layout,
            "logical": (logical["total"], len(logical["nodes"])),
            "leaks": leaks["summary"]}


def zstd_debug_info(exe, out):
    """A copy of exe whose .debug_info is SHF_COMPRESSED with zstd
    (ELFCOMPRESS_ZSTD = 2), appended at the end of the file."""
    data = bytearray(open(exe, "rb").read())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    layout = "<IIQQQQIIQQ"
    headers = [list(struct.unpack_from(layout, data, shoff + i * shentsize)) for i in range(shnum)]
    names = headers[shstrndx]
    for i, h in enumerate(headers):
        name_at = names[4] + h[0]
        if data[name_at:data.index(b"\0", name_at)] != b".debug_info":
            continue
        plain = bytes(data[h[4]:h[4] + h[5]])
        packed = subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True,
                                check=True).stdout
        blob = struct.pack("<IIQQ", 2, 0, len(plain), 1) + packed
        h[2] |= 0x800  # SHF_COMPRESSED
        h[4], h[5], h[8] = len(data), len(blob), 8
        data += blob
        struct.pack_into(layout, data, shoff + i * shentsize, *h)
    open(out, "wb").write(data)


def same(label, got, want):
    for key in want:
        check(got[key] == want[key], "%s: %s differs from plain -g:\n%r\n%r" %
              (label, key, got[key], want[key]))


try:
    instance_c = os.path.join(examples, "instance.c")
    cache_c = os.path.join(examples, "leak_cache.c")
    plain = build(instance_c, "instance")
    want = answers(plain, "struct instance", "instance")
    check(want["logical"][0]["logical"] > 0, "plain build: logical total %r" % (want["logical"],))
    plain_cache = build(cache_c, "leak_cache")
    want_cache = answers(plain_cache, "struct cache", "cache")

    # dwz -m: DIEs both programs share move to one supplementary file.
    dwz_instance = os.path.join(tmp, "instance-dwz")
    dwz_cache = os.path.join(tmp, "leak_cache-dwz")
    shutil.copy(plain, dwz_instance)
    shutil.copy(plain_cache, dwz_cache)
    common = os.path.join(tmp, "common.debug")
    subprocess.run(["dwz", "-m", common, "-M", common, dwz_instance, dwz_cache], check=True)
    check(".gnu_debugaltlink" in readelf("-SW", dwz_instance), "dwz wrote no .gnu_debugaltlink")
    check("<alt 0x" in readelf("--debug-dump=info", dwz_instance),
          "dwz left no reference into the supplementary file")
    same("dwz instance", answers(dwz_instance, "struct instance", "instance"), want)
    same("dwz leak_cache", answers(dwz_cache, "struct cache", "cache"), want_cache)

    # Moved where Debian puts it: DIR/.dwz/NAME, found through --debug-dir.
    debug_root = os.path.join(tmp, "debug")
    os.makedirs(os.path.join(debug_root, ".dwz"))
    moved = os.path.join(debug_root, ".dwz", "common.debug")
    os.rename(common, moved)
    code, _, err = memprof("type", "struct instance", "--exe", dwz_instance)
    check(code != 0 and common in err and "supplementary" in err,
          "a missing supplementary file is named: %d %s" % (code, err))
    same("dwz under --debug-dir/.dwz",
         answers(dwz_instance, "struct instance", "instance", "--debug-dir", debug_root), want)

    # Type units.
    tu4 = build(instance_c, "instance-tu4", "-gdwarf-4", "-fdebug-types-section")
    check(".debug_types" in readelf("-SW", tu4), "-gdwarf-4 -fdebug-types-section made .debug_types")
    same("DWARF 4 type units", answers(tu4, "struct instance", "instance"), want)
    tu5 = build(instance_c, "instance-tu5", "-gdwarf-5", "-fdebug-types-section")
    check("DW_UT_type" in readelf("--debug-dump=info", tu5), "DWARF 5 type units in .debug_info")
    same("DWARF 5 type units", answers(tu5, "struct instance", "instance"), want)

    zstd = os.path.join(tmp, "instance-zstd")
    zstd_debug_info(plain, zstd)
    check("COMPRESSED" in readelf("-t", zstd), "the rewritten .debug_info is SHF_COMPRESSED")
    code, _, err = memprof("type", "struct instance", "--exe", zstd)
    check(code == 1 and "zstd" in err and ".debug_info" in err,
          "a zstd section is refused, saying so: %d %s" % (code, err))

    for version, skeleton in (("5", "DW_TAG_skeleton_unit"), ("4", "DW_AT_GNU_dwo_name")):
        split = build(instance_c, "instance-split" + version, "-gdwarf-" + version,
                      "-gsplit-dwarf")
        split_cache = build(cache_c, "leak_cache-split" + version, "-gdwarf-" + version,
                            "-gsplit-dwarf")
        dwo = split + "-instance.dwo"
        dwo_cache = split_cache + "-leak_cache.dwo"
        info = readelf("--debug-dump=info", split)
        check(skeleton in info and "DW_TAG_structure_type" not in info.split(".dwo section")[0],
              "DWARF %s: the executable holds only a skeleton unit" % version)
        check(os.path.exists(dwo) and os.path.exists(dwo_cache), "gcc wrote the .dwo files")
        same("DWARF %s .dwo instance" % version,
             answers(split, "struct instance", "instance"), want)
        same("DWARF %s .dwo leak_cache" % version,
             answers(split_cache, "struct cache", "cache"), want_cache)
        # binutils' dwp packs DWARF 4 only (it crashes on DWARF 5 here).
        packer = "dwp" if version == "4" else "llvm-dwp"
        subprocess.run([packer, "-e", split, "-o", split + ".dwp"], check=True)
        subprocess.run([packer, "-e", split_cache, "-o", split_cache + ".dwp"], check=True)
        os.rename(dwo, dwo + ".away")
        os.rename(dwo_cache, dwo_cache + ".away")
        if version == "4":
            same("DWARF 4 .dwp instance", answers(split, "struct instance", "instance"), want)
            same("DWARF 4 .dwp leak_cache", answers(split_cache, "struct cache", "cache"),
                 want_cache)
        else:
            # gcore's gdb (13.1) crashes loading llvm-dwp's DWARF 5 package,
            # so no core: the type answers only.
            for exe, name, plain_answers in ((split, "struct instance", want),
                                             (split_cache, "struct cache", want_cache)):
                code, types, err = memprof("type", "--list", "*", "--exe", exe)
                check(code == 0 and types == plain_answers["types"],
                      "DWARF 5 .dwp %s: type --list differs from plain -g: %s" % (exe, err))
                code, layout, err = memprof("type", name, "--exe", exe)
                check(code == 0 and layout == plain_answers["layout"],
                      "DWARF 5 .dwp %s: %s differs from plain -g: %s" % (exe, name, err))
        os.remove(split + ".dwp")
        code, _, err = memprof("type", "struct instance", "--exe", split)
        check(code == 1 and dwo in err and ".dwo" in err,
              "DWARF %s: a missing .dwo is named: %d %s" % (version, code, err))

    # A function-local static as ROOT: struct cache (16 bytes) holding 10
    # entries of 16 bytes, each with a 2-byte key ("a", "b", ...).
    statics = build(os.path.join(source_dir, "tests", "helpers", "local_static.c"),
                    "local_static")
    with held_core([statics]) as core:
        logical = memprof_json("logical", "lookup::cache", "--core", core, "--exe", statics)
        leaks = memprof_json("leaks", "--core", core, "--exe", statics)
    check(logical["total"]["logical"] == 16 + 10 * (16 + 2),
          "lookup::cache: logical total %r" % (logical["total"],))
    check(leaks["summary"]["definitely_lost"]["blocks"] == 0 and
          leaks["summary"]["indirectly_lost"]["blocks"] == 0 and
          leaks["summary"]["still_reachable"]["blocks"] >= 20,
          "the static's list is a root of the leak check: %r" % (leaks["summary"],))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
