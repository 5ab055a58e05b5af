"""memprof type as a command: pahole-like text, --reorganize, --list, the
--variable lookup relocated by the load bias on live processes and cores,
and bad input: unknown names suggest close ones, modules without debug
info are named with their build id and what to install, corrupt DWARF is
named by module and offset while the other modules keep working."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from mptest import Held, check, finish, held_core, memprof, memprof_json

TYPES = os.environ.get("TYPES_DIR", "")
exe = os.path.join(TYPES, "layouts")

# ------------------------------------------------------------ text output
code, out, err = memprof("type", "struct holes", "--exe", exe)
check(code == 0, "type struct holes: %s" % err)
check("/* XXX 7 bytes hole, try to pack */" in out, "hole marker:\n" + out)
check(re.search(r"/\* size: 32, cachelines: 1, members: 5 \*/", out), "footer size line:\n" + out)
check("sum holes: 10" in out and "/* padding: 6 */" in out, "footer holes and padding:\n" + out)
code, out, err = memprof("type", "bits", "--exe", exe)
check("bits hole" in out and ":40;" in out, "bitfields shown:\n" + out)

# ------------------------------------------------------------ reorganize
code, out, err = memprof("type", "struct holes", "--exe", exe, "--reorganize")
check(code == 0 and "saved: 16 bytes" in out, "reorganize saves 16 bytes:\n" + out + err)
r = memprof_json("type", "struct holes", "--exe", exe, "--reorganize")["reorganized"]
check(r["size"] == 16 and r["saved"] == 16, "reorganized: %s" % r)
check([m["name"] for m in r["members"]][0] == "b", "largest first: %s" % r["members"])
offsets = [m["offset"] for m in r["members"]]
check(offsets == sorted(offsets), "reorganized offsets ascend: %s" % offsets)
r = memprof_json("type", "struct packed", "--exe", exe, "--reorganize")["reorganized"]
check(r["saved"] == 0, "packed: nothing to save: %s" % r)

# ------------------------------------------------------------------ list
code, out, err = memprof("type", "--list", "struct *", "--exe", exe)
check(code == 0 and re.search(r"^\s+32  struct holes$", out, re.M), "--list glob:\n" + out)
listed = memprof_json("type", "--list", "anon", "--exe", exe)["types"]
check({t["name"] for t in listed} >= {"anon_t", "anon_union_t"}, "--list substring: %s" % listed)
check(all("size" in t and "module" in t for t in listed), "list entries have size and module")

# ---------------------------------------------------------------- errors
code, out, err = memprof("type", "struct hoels", "--exe", exe)
check(code == 1 and "did you mean" in err and "struct holes" in err, "suggestion: %s" % err)
code, out, err = memprof("type", "holes")
check(code == 2 and "--exe" in err, "no target is a usage error: %s" % err)
code, out, err = memprof("type", "--exe", exe)
check(code == 2, "no name is a usage error: %s" % err)

tmp = tempfile.mkdtemp(prefix="memprof-type-")
try:
    # a module without debug info: named with its build id and a remedy
    stripped = os.path.join(tmp, "stripped")
    subprocess.run(["strip", "--strip-debug", "-o", stripped, exe], check=True)
    code, out, err = memprof("type", "holes", "--exe", stripped)
    check(code == 1 and stripped in err and "build id" in err and "--debug-dir" in err,
          "no debug info: %s" % err)
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    code, out, err = memprof("type", "struct malloc_state", "--exe", libc, "--sysroot", empty)
    check(code == 1 and "libc6-dbg" in err and "build id" in err, "libc without libc6-dbg: %s" % err)

    # corrupt DWARF in a debug file reached by .gnu_debuglink
    debug = os.path.join(tmp, "layouts.debug")
    subprocess.run(["objcopy", "--only-keep-debug", exe, debug], check=True)
    sections = subprocess.run(["readelf", "-SW", debug], capture_output=True, text=True).stdout
    m = re.search(r"\.debug_info\s+PROGBITS\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
    data = bytearray(open(debug, "rb").read())
    start = int(m.group(1), 16) + 0x40
    data[start:start + 64] = b"\xff" * 64
    open(debug, "wb").write(data)
    broken = os.path.join(tmp, "layouts")
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=" + debug, exe, broken], check=True)
    code, out, err = memprof("type", "holes", "--exe", broken)
    check(code == 1 and broken in err and re.search(r"offset 0x[0-9a-f]+", err),
          "corrupt DWARF named by module and offset: %s" % err)

    held = Held([broken, "--hold"])
    try:
        pid = str(held.pid)
        code, out, err = memprof("type", "struct malloc_state", "--pid", pid, "--format", "json")
        check(code == 0 and json.loads(out)["size"] > 2000,
              "libc types still work next to a corrupt module: %s" % err)
        code, out, err = memprof("type", "holes", "--pid", pid)
        check(code == 1 and "corrupt DWARF" in err and broken in err, "live corrupt module: %s" % err)
    finally:
        held.release()
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# ------------------------------------- variables relocated by the load bias
nm = subprocess.run(["nm", exe], capture_output=True, text=True).stdout
link_address = int(re.search(r"^([0-9a-f]+) [DdBb] instance$", nm, re.M).group(1), 16)
held = Held([exe, "--hold"])
try:
    info = memprof_json("info", "--pid", str(held.pid))
    bias = int([m for m in info["modules"] if m["main"]][0]["load_bias"], 16)
    v = memprof_json("type", "--variable", "instance", "--pid", str(held.pid))
    check(int(v["address"], 16) == link_address + bias,
          "instance at %s, nm + bias = %#x" % (v["address"], link_address + bias))
    check(v["type"] == "struct instance_t", "instance type: %s" % v["type"])
    check(bias != 0, "the test program is position independent (bias %#x)" % bias)
finally:
    held.release()
with held_core([exe]) as core:
    layout = memprof_json("type", "struct holes", "--core", core)
    check(layout["size"] == 32, "type from a core's modules: %s" % layout["size"])
    v = memprof_json("type", "--variable", "instance", "--core", core)
    check(int(v["address"], 16) != link_address, "relocated in the core: %s" % v["address"])

finish()
