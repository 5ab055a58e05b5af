"""memprof type against pahole (dwarves) on the same binaries: for every
struct of the C zoo (DWARF 5 and DWARF 4), glibc's struct malloc_state and
struct _IO_FILE from libc6-dbg, and C++ classes, the size, member count,
holes, sum of holes, bit holes and padding must equal pahole's.  Where
pahole 1.24 is wrong (C++ bases whose tail padding is reused), gdb's own
sizeof and member offsets are the reference."""
import json
import os
import re
import shutil
import subprocess

from mptest import check, finish, memprof

TYPES = os.environ.get("TYPES_DIR", "")

C_TYPES = ["holes", "bits", "bits_hole", "nested", "arrays", "flexible", "packed",
           "aligned64", "with_enum", "callbacks", "anon_t",
           "list_node", "instance_t"]


def pahole(path, name):
    """The footer numbers pahole prints for type name, or None."""
    proc = subprocess.run(["pahole", "-C", name, path], capture_output=True, text=True)
    text = proc.stdout
    if not text.strip():
        return None
    # The outermost footer is the last one.
    lines = text.splitlines()
    footer = {"holes": 0, "sum_holes": 0, "bit_holes": 0, "sum_bit_holes": 0,
              "padding": 0, "bit_padding": 0}
    sizes = [i for i, line in enumerate(lines) if "/* size:" in line]
    if not sizes:
        return None
    start = sizes[-1]
    for line in lines[start:]:
        m = re.search(r"size: (\d+), cachelines: \d+, members: (\d+)", line)
        if m:
            footer["size"], footer["members"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"holes: (\d+), sum holes: (\d+)", line)
        if m and "bit holes" not in line:
            footer["holes"], footer["sum_holes"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"bit holes: (\d+), sum bit holes: (\d+)", line)
        if m:
            footer["bit_holes"], footer["sum_bit_holes"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"/\* padding: (\d+)", line)
        if m:
            footer["padding"] = int(m.group(1))
        m = re.search(r"bit_padding: (\d+)", line)
        if m:
            footer["bit_padding"] = int(m.group(1))
    footer["brain_fart"] = "BRAIN FART" in text
    return footer


def memprof_layout(*args):
    code, out, err = memprof("type", *args, "--format", "json")
    if not check(code == 0, "memprof type %s: status %d: %s" % (" ".join(args), code, err.strip())):
        return None
    return json.loads(out)


def compare(label, mine, theirs, keys=("size", "members", "holes", "sum_holes",
                                       "bit_holes", "sum_bit_holes", "padding",
                                       "bit_padding")):
    if mine is None or theirs is None:
        check(False, "%s: missing output (memprof %s, pahole %s)" % (label, mine is not None,
                                                                     theirs is not None))
        return
    ours = {
        "size": mine["size"],
        "members": len(mine["members"]),
        "holes": len(mine["holes"]),
        "sum_holes": mine["sum_holes"],
        "bit_holes": mine["bit_holes"],
        "sum_bit_holes": mine["sum_bit_holes"],
        "padding": mine["padding"],
        "bit_padding": mine["bit_padding"],
    }
    for k in keys:
        check(ours[k] == theirs[k], "%s: %s is %s, pahole says %s" % (label, k, ours[k], theirs[k]))
    # The holes listed add up, and members + holes + padding fill the size
    # when nothing overlaps.
    check(sum(h["size"] for h in mine["holes"]) == mine["sum_holes"], "%s: holes add up" % label)


if not shutil.which("pahole"):
    print("SKIP: pahole not installed (apt-get install dwarves)")
    raise SystemExit(77)

# ------------------------------------------------------------------ C zoo
for program in ["layouts", "layouts_dwarf4"]:
    exe = os.path.join(TYPES, program)
    for name in C_TYPES:
        mine = memprof_layout(name, "--exe", exe)
        compare("%s %s" % (program, name), mine, pahole(exe, name))

# the JSON contract on one struct, by hand: struct holes
holes = memprof_layout("struct holes", "--exe", os.path.join(TYPES, "layouts"))
if holes:
    check([m["name"] for m in holes["members"]] == ["a", "b", "c", "d", "e"], "holes members")
    check([(m["offset"], m["size"]) for m in holes["members"]] ==
          [(0, 1), (8, 8), (16, 1), (20, 4), (24, 2)], "holes offsets: %s" % holes["members"])
    check(holes["holes"] == [{"offset": 1, "size": 7}, {"offset": 17, "size": 3}],
          "holes list: %s" % holes["holes"])
    check(holes["padding"] == 6 and holes["size"] == 32, "holes padding/size")
bits = memprof_layout("struct bits", "--exe", os.path.join(TYPES, "layouts"))
if bits:
    e = [m for m in bits["members"] if m["name"] == "e"][0]
    check(e["bit_size"] == 40 and e["offset"] == 8 and e["bit_offset"] == 1,
          "bitfield e: %s" % e)

# --------------------------------------------------------- glibc (libc6-dbg)
libc = "/lib/x86_64-linux-gnu/libc.so.6"
bid = subprocess.run(["readelf", "-n", libc], capture_output=True, text=True).stdout
m = re.search(r"Build ID: ([0-9a-f]+)", bid)
debug = m and "/usr/lib/debug/.build-id/%s/%s.debug" % (m.group(1)[:2], m.group(1)[2:])
if debug and os.path.exists(debug):
    for name in ["struct malloc_state", "struct _IO_FILE", "struct malloc_chunk",
                 "struct malloc_par"]:
        mine = memprof_layout(name, "--exe", libc)
        compare("libc " + name, mine, pahole(debug, name.split()[1]))
else:
    print("note: libc6-dbg not installed, glibc layouts not checked")

# -------------------------------------------------------------------- C++
classes = os.path.join(TYPES, "classes")
if os.path.exists(classes):
    for qualified, plain in [("geo::Point", "Point"), ("geo::Base", "Base"),
                             ("geo::Tagged", "Tagged"), ("geo::Holder", "Holder")]:
        theirs = pahole(classes, plain)
        mine = memprof_layout(qualified, "--exe", classes)
        if theirs and theirs["brain_fart"]:
            check(False, "pahole is confused by %s; pick another class" % plain)
        compare("C++ " + qualified, mine, theirs)
    # Tail padding of a non-POD base is reused: pahole 1.24 reports a 65530
    # byte hole here.  gdb knows the truth.
    gdb = subprocess.run(["gdb", "-batch", "-nx", classes,
                          "-ex", "print sizeof(geo::Multi)",
                          "-ex", "print (long)&((geo::Multi*)0)->extra",
                          "-ex", "print (long)&((geo::Multi*)0)->tag",
                          "-ex", "print (long)&((geo::Shape*)0)->kind"],
                         capture_output=True, text=True).stdout
    values = [int(v) for v in re.findall(r"\$\d+ = (\d+)", gdb)]
    multi = memprof_layout("geo::Multi", "--exe", classes)
    shape = memprof_layout("geo::Shape", "--exe", classes)
    if check(len(values) == 4 and multi and shape, "gdb answered: %r" % gdb[-500:]):
        offsets = {m["name"]: m["offset"] for m in multi["members"]}
        check(multi["size"] == values[0], "Multi size %d, gdb %d" % (multi["size"], values[0]))
        check(offsets.get("extra") == values[1], "Multi::extra at %s, gdb %d" % (offsets.get("extra"), values[1]))
        bases = [m for m in multi["members"] if m.get("base_class")]
        check([b["type"] for b in bases] == ["geo::Shape", "geo::Tagged"], "Multi bases: %s" % bases)
        check(bases[1]["offset"] == values[2], "Tagged base at %d, gdb %d" % (bases[1]["offset"], values[2]))
        kind = [m for m in shape["members"] if m["name"] == "kind"][0]
        check(kind["offset"] == values[3], "Shape::kind at %d, gdb %d" % (kind["offset"], values[3]))
        check(multi["holes"] == [] and multi["padding"] == 0, "Multi: no false holes: %s" % multi["holes"])

finish()
