"""Compressed debug sections give the same answers as plain -g.

The instance example is compiled three ways: plain DWARF, SHF_COMPRESSED
sections (gcc -gz=zlib, what current toolchains make) and the older GNU
.zdebug_* sections (-gz=zlib-gnu).  For each build the type model, the
logical walk of a core and the leak check of that core must equal the
plain build's, and the program's data must really be compressed (checked
with readelf, so the test cannot pass on an uncompressed build)."""
import os
import shutil
import subprocess
import tempfile

from mptest import check, finish, held_core, memprof, memprof_json

source_dir = os.environ["MEMPROF_SOURCE_DIR"]
source = os.path.join(source_dir, "examples", "instance.c")
tmp = tempfile.mkdtemp(prefix="memprof-gz-")


def build(mode):
    exe = os.path.join(tmp, "instance-" + mode)
    subprocess.run(["gcc", "-g", "-O0", "-gz=" + mode, "-I", os.path.join(source_dir, "examples"),
                    source, "-o", exe], check=True)
    return exe


def section_flags(exe):
    out = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True,
                         check=True).stdout
    return out


def answers(exe):
    code, types, err = memprof("type", "--list", "*", "--exe", exe)
    check(code == 0, "%s: type --list: %s" % (exe, err))
    code, layout, err = memprof("type", "struct instance", "--exe", exe)
    check(code == 0, "%s: type struct instance: %s" % (exe, err))
    with held_core([exe]) as core:
        logical = memprof_json("logical", "instance", "--core", core, "--exe", exe)
        leaks = memprof_json("leaks", "--core", core, "--exe", exe)
    return {"types": types, "layout": layout,
            "logical": (logical["total"], len(logical["nodes"])),
            "leaks": leaks["summary"]}


try:
    plain = build("none")
    zlib = build("zlib")
    gnu = build("zlib-gnu")
    check(".zdebug_info" not in section_flags(plain), "the plain build is not compressed")
    compressed = [line for line in section_flags(zlib).splitlines() if ".debug_info" in line]
    check(compressed and " C " in compressed[0] + " ",
          "-gz=zlib made SHF_COMPRESSED sections: %s" % compressed)
    check(".zdebug_info" in section_flags(gnu), "-gz=zlib-gnu made .zdebug sections")

    want = answers(plain)
    check(want["logical"][0]["logical"] > 0, "plain build: logical total %r" % (want["logical"],))
    for mode, exe in (("zlib", zlib), ("zlib-gnu", gnu)):
        got = answers(exe)
        for key in want:
            check(got[key] == want[key], "-gz=%s: %s differs from plain -g:\n%r\n%r" %
                  (mode, key, got[key], want[key]))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
