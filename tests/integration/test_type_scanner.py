"""The type index's raw DWARF scanner (core/dwarf/die_scanner.c) against
libdwarf's walk of the same files, and against nm.

memprof walks .debug_info for its index with its own scanner, and with
libdwarf for what the scanner refuses; MEMPROF_DWARF_WALK=libdwarf forces
libdwarf's walk, MEMPROF_DWARF_WALK=raw makes a refusal an error (so a case
cannot pass on libdwarf's walk alone).  Checked:
- every type program of tests/types (C DWARF 5 and 4, C++, Rust, a shared
  library) and a small C program built by gcc and clang in DWARF 4 and 5,
  -O0 and -O2 (clang's DWARF 5 names by DW_FORM_strx and locates globals by
  DW_OP_addrx): `type --list`, layouts and variables are the same from
  both walks, the raw one really ran, and each variable's address is the
  one nm gives;
- a function nesting 70 lexical blocks (rustc nests one per `let`): the
  index no longer fails as nested too deep; the static at the top of the
  function is found, in both walks;
- type units (-fdebug-types-section) are refused by the scanner, named in
  the error, and read by libdwarf in the default mode;
- a unit cut short (its DIEs overwritten with unterminated LEB128 bytes)
  is an error naming .debug_info and the offset of the first bad DIE,
  never a crash or a hang."""
import os
import re
import shutil
import subprocess
import tempfile

from mptest import MEMPROF, check, finish

TYPES = os.environ.get("TYPES_DIR", "")
tmp = tempfile.mkdtemp(prefix="memprof-scanner-")


def run(mode, *args):
    env = dict(os.environ)
    env["MEMPROF_DWARF_WALK"] = mode
    proc = subprocess.run([MEMPROF, "type", *args], capture_output=True, text=True,
                          errors="replace", timeout=120, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def same_both_ways(label, *args):
    raw = run("raw", *args)
    lib = run("libdwarf", *args)
    check(raw == lib, "%s: type %s differs between the raw scanner and libdwarf:\n"
          "raw (%d): %s%s\nlibdwarf (%d): %s%s" % (label, " ".join(args), raw[0], raw[1][-1500:],
                                                   raw[2][-800:], lib[0], lib[1][-1500:],
                                                   lib[2][-800:]))
    return raw


def compare_program(exe):
    code, out, err = same_both_ways(exe, "--list", "*", "--exe", exe)
    check(code == 0 and out.strip(), "%s: type --list: %d %s" % (exe, code, err))
    names = [line.split(None, 1)[1] for line in out.splitlines() if len(line.split(None, 1)) == 2]
    # a spread of the layouts (all of them would take minutes)
    for name in names[:: max(1, len(names) // 12)]:
        same_both_ways(exe, name, "--exe", exe, "--format", "json")


for name in ("layouts", "layouts_dwarf4", "classes", "layouts_rs", "libopaque.so", "uses_lib"):
    exe = os.path.join(TYPES, name)
    if os.path.exists(exe):
        compare_program(exe)
    else:
        print("%s not built: skipped" % name)

# --------------------------------------------- variables, against nm
source = os.path.join(tmp, "globals.c")
with open(source, "w") as f:
    f.write("""
#include <stdio.h>
struct node { int v; struct node *next; unsigned long long big; char name[12]; };
static struct node table[4];
struct node *head = &table[1];
int counter = 7;
const char *label = "x";
int main(void)
{
	static struct node cache;
	cache.v = counter;
	printf("%d %p %s\\n", table[0].v + cache.v, (void *)head, label);
	return 0;
}
""")
compilers = [c for c in ("gcc", "clang") if shutil.which(c)]
for cc in compilers:
    for flags in (["-gdwarf-5"], ["-gdwarf-4"], ["-gdwarf-5", "-O2"]):
        exe = os.path.join(tmp, "globals-%s%s" % (cc, "".join(flags)))
        subprocess.run([cc, "-g", *flags, source, "-o", exe], check=True)
        compare_program(exe)
        symbols = {}
        for line in subprocess.run(["nm", exe], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                symbols[parts[2]] = int(parts[0], 16)
        for var, symbol in (("counter", "counter"), ("head", "head"), ("table", "table"),
                            ("label", "label"), ("main::cache", "cache")):
            code, out, err = same_both_ways(exe, "--variable", var, "--exe", exe)
            m = re.search(r" at 0x([0-9a-f]+)", out)
            # nm names a function's static cache.N (gcc) or main.cache (clang)
            want = [a for s, a in symbols.items()
                    if s == symbol or s.startswith(symbol + ".") or s.endswith("." + symbol)]
            if var == "main::cache" and "-O2" in flags:
                continue   # -O2 may keep cache in registers: no DIE location
            check(code == 0 and m and int(m.group(1), 16) in want,
                  "%s: --variable %s: %s%s (nm: %s)" % (exe, var, out, err, want))

# ------------------------------------------- nesting deeper than 64
deep = os.path.join(tmp, "deep.c")
with open(deep, "w") as f:
    f.write("int sink;\nint main(void)\n{\n\tstatic int top_static = 3;\n\tsink = top_static;\n")
    for i in range(70):
        f.write("\t" * (i + 1) + "{ volatile int v%d = sink + %d; sink += v%d;\n" % (i, i, i))
    for i in reversed(range(70)):
        f.write("\t" * (i + 1) + "}\n")
    f.write("\treturn sink;\n}\n")
deep_exe = os.path.join(tmp, "deep")
subprocess.run(["gcc", "-g", "-O0", deep, "-o", deep_exe], check=True)
for mode in ("raw", "libdwarf"):
    code, out, err = run(mode, "--variable", "main::top_static", "--exe", deep_exe)
    check(code == 0 and "main::top_static: int at 0x" in out,
          "%s walk: 70 nested blocks: %d %s%s" % (mode, code, out, err))

# ------------------------------------------------------- type units
tu = os.path.join(TYPES, "classes_tu")
if os.path.exists(tu):
    # (--list passes over a module it cannot index: a lookup says why)
    code, out, err = run("raw", "geo::Base", "--exe", tu)
    check(code == 1 and "raw DWARF scanner does not read" in err and "type units" in err,
          "classes_tu: the scanner refuses type units by name: %d %s" % (code, err))
    env = dict(os.environ)
    env.pop("MEMPROF_DWARF_WALK", None)
    proc = subprocess.run([MEMPROF, "type", "geo::Base", "--exe", tu], capture_output=True,
                          text=True, env=env, timeout=120)
    check(proc.returncode == 0 and "geo::Base" in proc.stdout,
          "classes_tu: libdwarf reads it by default: %s" % proc.stderr)

# ------------------------------------------------- a unit cut short
layouts = os.path.join(TYPES, "layouts")
if os.path.exists(layouts):
    sections = subprocess.run(["readelf", "-SW", layouts], capture_output=True, text=True).stdout
    m = re.search(r"\.debug_info\s+PROGBITS\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", sections)
    start, size = int(m.group(1), 16), int(m.group(2), 16)
    dump = subprocess.run(["readelf", "--debug-dump=info", layouts], capture_output=True,
                          text=True).stdout
    first = int(re.search(r"^ <1><([0-9a-f]+)>", dump, re.M).group(1), 16)
    units = [int(u, 16) for u in re.findall(r"Compilation Unit @ offset (?:0x)?([0-9a-f]+):", dump)]
    end = min([u for u in units if u > first] + [size])
    data = bytearray(open(layouts, "rb").read())
    data[start + first:start + end] = b"\x80" * (end - first)
    cut = os.path.join(tmp, "cut")
    with open(cut, "wb") as f:
        f.write(data)
    for args in (["struct nested"], ["struct nested", "--format", "json"],
                 ["--variable", "instance"]):
        code, out, err = run("raw", *args, "--exe", cut)
        check(code == 1 and "corrupt DWARF at .debug_info offset 0x%x" % first in err,
              "cut unit, type %s: an error naming .debug_info offset 0x%x: %d %s"
              % (" ".join(args), first, code, err))

shutil.rmtree(tmp, ignore_errors=True)
finish()
