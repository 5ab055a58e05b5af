"""libc++ containers (clang++ -stdlib=libc++): `memprof logical` of every
lx_* global of examples/zoo_libcxx.cpp against the logical bytes,
allocated bytes and block counts the program computes about itself, from a
gcore core and live, in the CLI, GDB and LLDB; `memprof leaks` names the
node and buffer blocks after their libc++ types, reachable ones and those
of a lost object (examples/leak_libcxx.cpp, kinds as valgrind gives them);
`memprof patterns` finds
the overcapacity of waste.cpp built with libc++ as the program measures it.

Skipped when the libc++ examples were not built (no clang++ with libc++).
Run with --debuggers where libmemprof is unsanitized (GDB and LLDB load it)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import shutil

from mptest import Held, check, example, finish, gcore, held_core, memprof

DEBUGGERS = "--debuggers" in sys.argv[1:]
EXAMPLES = os.environ.get("EXAMPLES_DIR", "")

if not os.path.exists(os.path.join(EXAMPLES, "zoo_libcxx")):
    print("zoo_libcxx not built (no clang++ with libc++): skipped")
    finish()

EXE = example("zoo_libcxx")
BEGIN, END = "@@memprof-begin@@", "@@memprof-end@@"

# clang's default DWARF 5 locates globals with DW_OP_addrx (an index into
# .debug_addr): the globals below are found through it.
info = subprocess.run(["readelf", "--debug-dump=info", EXE], capture_output=True, text=True).stdout
check(re.search(r"Version:\s+5\b", info) and "DW_OP_addrx" in info,
      "zoo_libcxx has DWARF 5 with DW_OP_addrx locations (clang's default)")


def expectations(path):
    want = {}
    with open(path) as f:
        for line in f:
            name, logical, allocated, blocks = line.split()
            want[name] = (int(logical), int(allocated), int(blocks))
    return want


def totals(label, report):
    """(logical, allocated, count) of a JSON report, after checking it is
    complete and its leaves add up."""
    check(report["partial"] is False, "%s: partial: %s" % (label, report["warnings"]))
    nodes = report["nodes"]
    parents = {n["parent"] for n in nodes}
    for key in ("logical", "allocated", "count"):
        leaves = sum(n[key] for n in nodes if n["id"] not in parents)
        check(leaves == report["total"][key],
              "%s: leaves' %s add up to %d, total %d" % (label, key, leaves, report["total"][key]))
    t = report["total"]
    return (t["logical"], t["allocated"], t["count"])


def compare(label, reports, want):
    """reports: {global: JSON report or None}."""
    for name, numbers in sorted(want.items()):
        report = reports.get(name)
        if not check(report is not None, "%s %s: no report" % (label, name)):
            continue
        got = totals("%s %s" % (label, name), report)
        check(got == numbers, "%s %s: (logical, allocated, blocks) %s, the program says %s"
              % (label, name, got, numbers))


def cli_reports(target, names):
    reports = {}
    for name in names:
        code, out, err = memprof("logical", *target, name, "--format", "json")
        if check(code == 0, "logical %s %s: status %d: %s" % (" ".join(target), name, code, err[-500:])):
            reports[name] = json.loads(out)
    return reports


def gdb_reports(core, names):
    argv = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", "-iex", "set pagination off",
            "-x", os.environ["GDB_SCRIPT"], EXE, core]
    for name in names:
        argv += ["-ex", "echo %s\\n" % BEGIN, "-ex", "memprof logical %s --format json" % name,
                 "-ex", "echo %s\\n" % END]
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=600)
    check("Traceback" not in proc.stderr, "gdb: no Python traceback: %s" % proc.stderr[-500:])
    parts = re.findall(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), proc.stdout, re.S)
    check(len(parts) == len(names), "gdb ran every command: %s" % proc.stderr[-500:])
    return {name: json.loads(text) for name, text in zip(names, parts) if text.strip()}


def lldb_reports(core, names):
    argv = ["lldb", "-b", "-o", "plugin load " + os.environ["LLDB_PLUGIN"], EXE, "--core", core]
    for name in names:
        argv += ["-o", "memprof logical %s --format json" % name]
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=600)
    reports = {}
    for name in names:
        command = "memprof logical %s --format json" % name
        m = re.search(r"^\(lldb\) " + re.escape(command) + r"\n(.*?)(?=^\(lldb\) |\Z)",
                      proc.stdout, re.S | re.M)
        if check(m is not None, "lldb ran %s: %s" % (command, proc.stderr[-300:])):
            reports[name] = json.loads(m.group(1))
    return reports


tmp = tempfile.mkdtemp(prefix="memprof-libcxx-")
try:
    path = os.path.join(tmp, "zoo_libcxx.expected")
    held = Held([EXE, "--hold"], env=dict(os.environ, MEMPROF_EXPECTED=path))
    core = os.path.join(tmp, "zoo_libcxx.core")
    try:
        want = expectations(path)
        check(len(want) == 18, "the program wrote its 18 globals: %s" % sorted(want))
        compare("live", cli_reports(["--pid", str(held.pid)], sorted(want)), want)
        gcore(held.pid, core)
    finally:
        check(held.release() == 0, "zoo_libcxx --hold did not exit 0")
    names = sorted(want)
    compare("core", cli_reports(["--core", core], names), want)

    # The shape of the walk, beyond its totals: the make_shared block once
    # (three pointers reach it), each string's characters in a char frame,
    # the variant's active alternative in a frame of its type.
    code, out, _ = memprof("logical", "--core", core, "lx_shared", "--metric", "count")
    check(code == 0 and sorted(out.split()[1::2]) == ["1", "1", "1"] and
          "lx_shared;first;[control] 1" in out and "lx_shared;owned;[control] 1" in out,
          "lx_shared: one control block per object, found by the first pointer: %r" % out)
    code, out, _ = memprof("logical", "--core", core, "lx_variant_string")
    check(code == 0 and "lx_variant_string;std::string;char 51" in out.splitlines(),
          "lx_variant_string: the active std::string alternative, 50 chars and a NUL: %r" % out)
    code, out, _ = memprof("logical", "--core", core, "lx_deque", "--metric", "allocated")
    check(code == 0 and any(l.startswith("lx_deque;int ") and int(l.split()[1]) == 3100 * 4
                            for l in out.splitlines()),
          "lx_deque: 3100 ints in its blocks: %r" % out)

    if DEBUGGERS and os.environ.get("GDB_SCRIPT") and shutil.which("gdb"):
        compare("gdb", gdb_reports(core, names), want)
    else:
        print("gdb part skipped (sanitized build or no gdb)")
    if DEBUGGERS and os.environ.get("LLDB_PLUGIN") and shutil.which("lldb"):
        compare("lldb", lldb_reports(core, names), want)
    else:
        print("lldb part skipped (sanitized build, no plug-in or no lldb)")

    # Leak typing: the node blocks are named after their libc++ node type
    # although the links point to node base classes, buffers of numbers as
    # arrays.  The counts are the ones zoo_libcxx.cpp documents.
    code, out, err = memprof("leaks", "--core", core, "--show-reachable", "--format", "json")
    if check(code == 0, "leaks on the zoo_libcxx core: %s" % err[-300:]):
        named = {}
        for g in json.loads(out)["groups"]:
            named[g["type"]] = named.get(g["type"], 0) + g["count"]

        def count(prefix):
            return sum(n for t, n in named.items() if t and t.startswith(prefix))
        string = "std::__1::basic_string<char, std::__1::char_traits<char>, std::__1::allocator<char> >"
        check(count("std::__1::__tree_node<std::__1::__value_type<int, %s >, void *>" % string) == 100,
              "lx_map: 100 nodes of its node type: %s" % named)
        check(count("std::__1::__tree_node<long, void *>") == 50, "lx_set: 50 nodes: %s" % named)
        check(count("std::__1::__hash_node<std::__1::__hash_value_type<%s, int>, void *>" % string) == 200,
              "lx_unordered_map: 200 nodes: %s" % named)
        check(count("std::__1::__hash_node<int, void *>") == 100, "lx_unordered_set: 100 nodes: %s" % named)
        check(count("std::__1::__list_node<int, void *>") == 300, "lx_list: 300 nodes: %s" % named)
        check(not any(t and ("_node_base<" in t or "__tree_end_node<" in t) and not t.endswith("[]")
                      for t in named),
              "no block left named after a node base class: %s" % named)
        # vector<int>'s buffer and the deque's four blocks.
        check(count("int[]") == 5, "int buffers: 1 vector + 4 deque blocks: %s" % named)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# A lost object holding libc++ containers: the kinds valgrind gives, the
# holder typed by its shape, its list nodes and vector buffer through it.
if os.path.exists(os.path.join(EXAMPLES, "leak_libcxx")):
    proc = subprocess.run(["valgrind", "--leak-check=full", example("leak_libcxx")],
                          capture_output=True, text=True, timeout=300)
    theirs = {}
    for kind in ("definitely", "indirectly", "possibly"):
        m = re.search(kind + r" lost: ([\d,]+) bytes in ([\d,]+) blocks", proc.stderr)
        theirs[kind + "_lost"] = int(m.group(2).replace(",", "")) if m else 0
    with held_core([example("leak_libcxx")], "leak_libcxx.core") as core:
        code, out, err = memprof("leaks", "--core", core, "--format", "json")
        if check(code == 0, "leaks on leak_libcxx: %s" % err[-300:]):
            report = json.loads(out)
            ours = {k: report["summary"][k]["blocks"] for k in theirs}
            check(ours == theirs == {"definitely_lost": 1, "indirectly_lost": 41, "possibly_lost": 0},
                  "leak_libcxx: lost blocks %s, valgrind %s" % (ours, theirs))
            types = {(g["kind"], g["type"]): g["count"] for g in report["groups"]}
            check(types.get(("definitely_lost", "Inventory")) == 1 and
                  types.get(("indirectly_lost", "std::__1::__list_node<int, void *>")) == 40 and
                  types.get(("indirectly_lost", "long[]")) == 1,
                  "leak_libcxx: the Inventory, its 40 list nodes and its long buffer named: %s" % types)

# Overcapacity in libc++'s vector, string and unordered_map bucket array:
# waste.cpp built with libc++ measures it with malloc_usable_size.
if os.path.exists(os.path.join(EXAMPLES, "waste_libcxx")):
    proc = subprocess.run([example("waste_libcxx")], capture_output=True, text=True, timeout=120)
    truth = json.loads(proc.stderr.splitlines()[0])
    with held_core([example("waste_libcxx")], "waste_libcxx.core") as core:
        code, out, err = memprof("patterns", "--core", core, "--format", "json")
        if check(code == 0, "patterns on waste_libcxx: %s" % err[-300:]):
            over = [f for f in json.loads(out)["findings"] if f["kind"] == "overcapacity"]
            for member, bytes_ in truth.items():
                found = [f for f in over if f["subject"].split(" (")[0].endswith(member)]
                if check(len(found) == 1, "waste_libcxx: one overcapacity finding for %s: %s"
                         % (member, [f["subject"] for f in over])):
                    savings = found[0]["estimated_savings_bytes"]
                    check(abs(savings - bytes_) <= bytes_ * 0.10,
                          "waste_libcxx: %s savings %d within 10%% of the truth %d" % (member, savings, bytes_))

finish()
