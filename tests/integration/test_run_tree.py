"""`memprof run --follow-forks`: every process of a tree leak-checked at
its exit.

- tree_leaker (fork, fork+exec, vfork+exec, vfork without exec,
  posix_spawn, a child killed by a signal): per-process definitely lost
  block counts equal valgrind --trace-children=yes --leak-check=full's,
  process by process;
- a shell-script tree and a `make check` recipe;
- exit statuses (3 on --fail-on, else the root's), JUnit XML validity,
  suppressions (used and unused counts, --fail-on with suppressions,
  errors naming file and line, --gen-suppressions round trip);
- `meson test --wrapper 'memprof run --'` on a tiny meson project.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from mptest import MEMPROF, check, finish, helper, memprof

TREE = helper("tree_leaker")
tmp = tempfile.mkdtemp(prefix="memprof-run-tree-")


def section(name):
    print("-- " + name, flush=True)


def run_json(*args):
    status, out, err = memprof("run", "--format", "json", *args, timeout=300)
    try:
        return status, json.loads(out), err
    except ValueError:
        check(False, "run %s: not JSON (status %d): %s %s" % (args, status, out[-500:], err[-500:]))
        return status, {"processes": []}, err


def lost(p):
    return p["summary"]["definitely_lost"]["blocks"] if p.get("checked") else None


# ---------------------------------------------------------------- the tree
section("tree_leaker")
status, doc, err = run_json("--follow-forks", "--fail-on", "none", "--", TREE)
procs = doc["processes"]
check(status == 0, "tree: the root's status 0 with --fail-on none, got %d: %s" % (status, err))
check(len(procs) == 7, "tree: 7 processes, got %d: %s" % (len(procs), [p["argv"] for p in procs]))
root = procs[0] if procs else {}
check(root.get("ppid") == os.getpid() or root.get("ppid", 0) > 0, "tree: the root has a ppid")
by_args = {}
for p in procs:
    by_args.setdefault(" ".join(p["argv"][1:]), []).append(p)
    if p is not root:
        check(p["ppid"] == root.get("pid"), "tree: %s's parent is the root: %s" % (p["argv"], p["ppid"]))
leaves = {k: v[0] for k, v in by_args.items() if k.startswith("leaf")}
check(sorted(leaves) == ["leaf 1 0", "leaf 4 5", "leaf 7 0"], "tree: the three leaves: %s" % sorted(by_args))
expected = {"leaf 7 0": (7, 0, 1), "leaf 4 5": (4, 5, 1), "leaf 1 0": (1, 0, 1)}
for args, (blocks, code, execs) in expected.items():
    p = leaves.get(args)
    if p:
        check(lost(p) == blocks, "%s: %d blocks definitely lost, got %s" % (args, blocks, lost(p)))
        check(p["exit_status"] == code, "%s: exit status %d, got %s" % (args, code, p["exit_status"]))
        check(p["execs"] == execs, "%s: %d exec, got %s" % (args, execs, p["execs"]))
plain = by_args.get("", [])
check(len(plain) == 4, "tree: root, two forks and the vfork child run the root's image: %d" % len(plain))
vfork_children = [p for p in plain if not p["checked"]]
check(len(vfork_children) == 1 and "parent's memory" in vfork_children[0].get("error", ""),
      "tree: the vfork child that exits without exec is not checked (shares the parent's memory): %s"
      % vfork_children)
killed = [p for p in plain if p.get("signal") == 15]
check(len(killed) == 1 and lost(killed[0]) == 9, "tree: the child killed by SIGTERM: 3 + 6 lost: %s"
      % [(p.get("signal"), lost(p)) for p in plain])
check(lost(root) == 3 and root.get("exit_status") == 0 and root.get("children") == 6,
      "tree: the root: 3 lost, status 0, 6 children: %s" % {k: root.get(k) for k in ("exit_status", "children")})
memprof_counts = sorted(lost(p) for p in procs if p["checked"])
check(memprof_counts == [1, 3, 4, 7, 8, 9], "tree: lost blocks per process %s" % memprof_counts)

# valgrind, per pid: its LEAK SUMMARY lines
if shutil.which("valgrind"):
    section("valgrind --trace-children=yes")
    proc = subprocess.run(["valgrind", "--trace-children=yes", "--leak-check=full",
                           "--run-libc-freeres=no", TREE], capture_output=True, text=True, timeout=600)
    per_pid = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"==(\d+)==\s+definitely lost: ([\d,]+) bytes in ([\d,]+) blocks", line)
        if m:
            per_pid[int(m.group(1))] = int(m.group(3).replace(",", ""))
    vg_counts = sorted(per_pid.values())
    # valgrind runs the vfork child as a fork: it has its own copy of the
    # root's heap (3 blocks); memprof leaves it to the parent.
    if 3 in vg_counts:
        vg_counts.remove(3)
    check(vg_counts == memprof_counts, "tree: per-process definitely lost, memprof %s, valgrind %s (%s)"
          % (memprof_counts, vg_counts, per_pid))
    print("valgrind per pid: %s; memprof %s" % (per_pid, memprof_counts))

# exit statuses: 3 on a failing check, the root's otherwise
status, _, err = memprof("run", "--follow-forks", "--", TREE, timeout=300)
check(status == 3 and "6 processes" in err, "tree: --fail-on default fails in 6 processes: %d %s" % (status, err))
leaf_only = [TREE, "leaf", "0", "4"]
status, _, _ = memprof("run", "--follow-forks", "--", *leaf_only)
check(status == 4, "leaf 0 4: the program's own status 4, got %d" % status)

# text: one section per process that leaked, then the total
status, out, _ = memprof("run", "--follow-forks", "--fail-on", "none", "--", TREE, timeout=300)
sections = re.findall(r"^== pid \d+ \(parent \d+\) (.*): (.*) ==$", out, re.M)
check(len(sections) == 6, "text: 6 sections (vfork child left out): %s" % sections)
check(re.search(r"^memprof run: 7 processes, 6 checked, 6 with leaks, 0 failing --fail-on; in all: "
                r"definitely lost \d+ bytes in 32 blocks", out, re.M),
      "text: the total line: %s" % out[-400:])

# without --follow-forks: the root only, as before
status, doc1, err = run_json("--fail-on", "none", "--", TREE)
check(len(doc1["processes"]) == 1 and doc1["processes"][0]["forks_not_followed"] == 6
      and "--follow-forks" in err, "no --follow-forks: one process, 6 forks not followed: %s %s"
      % (doc1["processes"][:1], err))

# ------------------------------------------------------------ shell script
section("shell script tree")
script = os.path.join(tmp, "tree.sh")
with open(script, "w") as f:
    f.write("#!/bin/sh\n%s leaf 2 0\n( %s leaf 3 0 )\n%s leaf 1 0 &\nwait\n"
            "sh -c '%s leaf 5 0; true'\nexit 0\n" % (TREE, TREE, TREE, TREE))
os.chmod(script, 0o755)
status, doc, err = run_json("--follow-forks", "--", script)
leafs = sorted(lost(p) for p in doc["processes"] if p["argv"][1:2] == ["leaf"])
check(leafs == [1, 2, 3, 5], "sh: leaves lost 1, 2, 3, 5: %s" % leafs)
check(status == 3, "sh: leaks fail the check: %d" % status)
shells = [p for p in doc["processes"] if p["argv"][1:2] != ["leaf"]]
check(shells and all(p["checked"] and lost(p) == 0 for p in shells),
      "sh: the shells are checked and clean: %s" % [(p["argv"], p.get("error"), lost(p)) for p in shells])

# ---------------------------------------------------------------- JUnit
section("junit")
junit = os.path.join(tmp, "run.xml")
status, _, err = memprof("run", "--follow-forks", "--junit", junit, "--", TREE, timeout=300)
try:
    tree = ET.parse(junit)
    suite = tree.getroot().find("testsuite")
    cases = suite.findall("testcase")
    check(len(cases) == 7 and all(c.get("classname") == "memprof.run" for c in cases),
          "junit: 7 test cases of classname memprof.run")
    failures = [c for c in cases if c.find("failure") is not None]
    check(len(failures) == 6 and suite.get("failures") == "6", "junit: 6 failures: %s" % len(failures))
    check(any(c.get("name") == "%s leaf 7 0" % TREE for c in cases), "junit: named by command line")
    msgs = [c.find("failure").get("message") for c in failures]
    check(all("definitely lost" in m for m in msgs), "junit: summary in the message: %s" % msgs[:2])
    check(sum(c.find("skipped") is not None for c in cases) == 1, "junit: the vfork child skipped")
except (ET.ParseError, OSError, AttributeError) as e:
    check(False, "junit: not valid XML: %s" % e)

# --------------------------------------------------------- suppressions
section("suppressions")
supp = os.path.join(tmp, "tree.supp")
with open(supp, "w") as f:
    f.write("# the root's strings (48 bytes asked, 56 usable)\n"
            "name: root-strings\ntype: char\\[\\] (string)\nsize: 50-60\nprogram: tree_leaker\n\n"
            "name: fork-24\nsize: 24\npreview: LLLL*\n\n"
            "# matches nothing\nname: never-used\ntype: struct nothing\n")
status, doc, err = run_json("--follow-forks", "--suppressions", supp, "--", TREE)
used = {u["name"]: u["blocks"] for u in doc.get("suppressions", {}).get("used", [])}
unused = [u["name"] for u in doc.get("suppressions", {}).get("unused", [])]
check(used == {"root-strings": 9, "fork-24": 11}, "suppressions: used counts: %s" % used)
check(unused == ["never-used"], "suppressions: unused: %s" % unused)
check(status == 3, "suppressions: the leaves still fail: %d" % status)
for p in doc["processes"]:
    if p["argv"][1:2] == [] and p["checked"]:
        check(lost(p) == 0 and p["suppressed"]["blocks"] in (3, 8, 9),
              "suppressions: %d fully suppressed: %s" % (p["pid"], p["suppressed"]))
with open(supp, "a") as f:
    f.write("\nname: leaves\nkind: definite\nsize: 40\nprogram: */tree_lea?er\n")
status, out, err = memprof("run", "--follow-forks", "--suppressions", supp, "--", TREE, timeout=300)
check(status == 0, "suppressions: all suppressed, the root's status 0: %d %s" % (status, err[-300:]))
check("unused suppression: never-used" in out and re.search(r"used suppression: 12 blocks.*leaves", out),
      "suppressions: text lists used and unused: %s" % out[-500:])
bad = os.path.join(tmp, "bad.supp")
with open(bad, "w") as f:
    f.write("name: ok\nsize: 8\n\nname: broken\nsizes: 3\n")
status, _, err = memprof("run", "--suppressions", bad, "--", TREE, "leaf", "0", "0")
check(status == 2 and "%s:5:" % bad in err, "suppressions: an error names file and line: %d %s" % (status, err))
with open(bad, "w") as f:
    f.write("name: everything\n")
status, _, err = memprof("run", "--suppressions", bad, "--", TREE, "leaf", "0", "0")
check(status == 2 and "%s:1:" % bad in err, "suppressions: an entry matching all is refused: %s" % err)
# --gen-suppressions: what it prints suppresses what it found
status, out, _ = memprof("run", "--follow-forks", "--gen-suppressions", "--fail-on", "none", "--", TREE,
                         timeout=300)
gen = out[out.find("# suppressions for what memprof run found"):]
generated = os.path.join(tmp, "gen.supp")
with open(generated, "w") as f:
    f.write(gen)
check(gen.count("\nname: ") >= 6, "gen-suppressions: entries: %s" % gen[:300])
status, doc, err = run_json("--follow-forks", "--suppressions", generated, "--", TREE)
check(status == 0 and all(lost(p) in (0, None) for p in doc["processes"]),
      "gen-suppressions: its entries suppress every leak: %d %s" % (status, err[-300:]))
# root (a global holding the block) and owner (the lost block holding it)
ro = os.path.join(tmp, "ro.supp")
with open(ro, "w") as f:
    f.write("name: kept-by-global\nroot: kept*\n\nname: cycle-rest\nowner: struct node\nkind: indirect\n")
status, doc, err = run_json("--fail-on", "reachable", "--suppressions", ro, "--", TREE, "leaf", "1", "0")
used = {u["name"]: u["blocks"] for u in doc.get("suppressions", {}).get("used", [])}
check(status == 0 and used.get("kept-by-global") == 2,
      "suppressions: root: the 2 blocks a global holds: %d %s %s" % (status, used, err[-300:]))
cycle = os.path.join(os.environ.get("EXAMPLES_DIR", ""), "leak_cycle")
if os.path.exists(cycle):
    status, doc, err = run_json("--fail-on", "indirect", "--suppressions", ro, "--", cycle)
    used = {u["name"]: u["blocks"] for u in doc.get("suppressions", {}).get("used", [])}
    check(status == 0 and used.get("cycle-rest") == 2,
          "suppressions: owner: the cycle's 2 indirect nodes: %d %s" % (status, used))

# ------------------------------------------ memprof killed or interrupted
# The tree runs on untraced and finishes by itself: no PTRACE_O_EXITKILL,
# the kernel detaches every tracee when memprof dies.
section("killed or interrupted")
import signal
import time
for sig in (signal.SIGKILL, signal.SIGINT, signal.SIGTERM):
    done = os.path.join(tmp, "done-%d" % sig)
    slow = os.path.join(tmp, "slow-%d.sh" % sig)
    with open(slow, "w") as f:
        f.write("#!/bin/sh\nfor i in 1 2 3 4 5 6; do %s leaf 1 0; sleep 0.1; done\n"
                "( sleep 0.2; %s leaf 1 0 ) &\nwait\necho ok > %s\n" % (TREE, TREE, done))
    os.chmod(slow, 0o755)
    proc = subprocess.Popen([MEMPROF, "run", "--follow-forks", "--", slow],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.35)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while not os.path.exists(done) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(os.path.exists(done), "%s: the tree finished after memprof died" % sig.name)
    # Our orphans (the script, reparented to no subreaper here, is init's;
    # whatever is ours is reaped here).
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass

# --xml-file: valgrind's XML, protocol 4, the structure valgrind writes
section("valgrind xml")


def paths(element, prefix=""):
    """Element paths under element, e.g. {"error/xwhat/leakedblocks"}."""
    out = set()
    for child in element:
        path = prefix + child.tag
        out.add(path)
        out |= paths(child, path + "/")
    return out


def definite_blocks(root):
    return sum(int(e.findtext("xwhat/leakedblocks")) for e in root.findall("error")
               if e.findtext("kind") == "Leak_DefinitelyLost")


pattern = os.path.join(tmp, "mp-%p.xml")
status, doc, err = run_json("--follow-forks", "--fail-on", "none", "--xml-file", pattern, "--", TREE)
files = sorted(f for f in os.listdir(tmp) if f.startswith("mp-") and f.endswith(".xml"))
check(len(files) == 6, "xml: one file per process checked: %s" % files)
mp_docs = {}
for name in files:
    try:
        mp_docs[int(name[3:-4])] = ET.parse(os.path.join(tmp, name)).getroot()
    except ET.ParseError as e:
        check(False, "xml: %s is not XML: %s" % (name, e))
for p in doc["processes"]:
    r = mp_docs.get(p["pid"])
    if p["checked"] and r is not None:
        check(r.tag == "valgrindoutput" and r.findtext("protocolversion") == "4"
              and r.findtext("protocoltool") == "memcheck" and definite_blocks(r) == lost(p),
              "xml: pid %d: protocol 4 and %s definite blocks: %s" % (p["pid"], lost(p), definite_blocks(r)))
if shutil.which("valgrind"):
    vg_xml = os.path.join(tmp, "vg.xml")
    subprocess.run(["valgrind", "--xml=yes", "--xml-file=" + vg_xml, "--leak-check=full",
                    "--run-libc-freeres=no", TREE, "leaf", "3", "0"], capture_output=True, timeout=300)
    status, _, _ = memprof("run", "--fail-on", "none", "--xml-file", os.path.join(tmp, "one.xml"), "--",
                           TREE, "leaf", "3", "0")
    try:
        theirs = ET.parse(vg_xml).getroot()
        ours = ET.parse(os.path.join(tmp, "one.xml")).getroot()
        # Every element memprof writes is one valgrind writes, at the same
        # place (memprof leaves out frames' obj/dir/file/line: no stacks).
        extra = paths(ours) - paths(theirs)
        check(not extra, "xml: elements valgrind does not write: %s" % sorted(extra))
        missing = {x for x in paths(theirs) - paths(ours)
                   if not x.startswith("error/stack/frame/") and not x.startswith("errorcounts/")
                   and not x.startswith("suppcounts/") and not x.startswith("args/vargv/")}
        check(not missing, "xml: valgrind's elements memprof leaves out: %s" % sorted(missing))
        check(definite_blocks(ours) == definite_blocks(theirs) == 3,
              "xml: definite blocks, memprof %d, valgrind %d" % (definite_blocks(ours), definite_blocks(theirs)))
    except (ET.ParseError, OSError) as e:
        check(False, "xml: %s" % e)

# --orphan-timeout: a process the root leaves running is given up on
section("orphan timeout")
orphan = os.path.join(tmp, "orphan.sh")
with open(orphan, "w") as f:
    # sleep off our pipes: the test would wait for them to close
    # (120 s: far longer than any slow machine needs for the rest, so
    # finishing well before it shows memprof gave up instead of waiting)
    f.write("#!/bin/sh\nsleep 120 >/dev/null 2>&1 &\n%s leaf 1 0\nexit 0\n" % TREE)
os.chmod(orphan, 0o755)
t0 = time.monotonic()
status, doc, err = run_json("--follow-forks", "--orphan-timeout", "0.3", "--", orphan)
elapsed = time.monotonic() - t0
left = [p for p in doc["processes"] if p["exit_status"] is None]
check(elapsed < 100 and status == 3 and len(left) == 1 and left[0]["argv"][0].endswith("sleep"),
      "orphan timeout: sleep given up on, not waited for (%.1f s, status %d): %s"
      % (elapsed, status, [(p["argv"], p["exit_status"]) for p in doc["processes"]]))
for p in left:
    try:
        os.kill(p["pid"], signal.SIGKILL)
    except OSError:
        pass
status, _, err = memprof("run", "--orphan-timeout", "soon", "--", TREE, "leaf", "0", "0")
check(status == 2, "orphan timeout: a bad value is a usage error: %d" % status)

# ------------------------------------------------------- make check recipe
if shutil.which("make"):
    section("make check")
    mk = os.path.join(tmp, "mk")
    os.mkdir(mk)
    with open(os.path.join(mk, "Makefile"), "w") as f:
        f.write("check:\n\t$(TREE) leaf 0 0\n\t$(TREE) leaf 2 0 && true\n")
    junit = os.path.join(mk, "memprof.xml")
    status, out, err = memprof("run", "--follow-forks", "--junit", junit, "--", "make", "-s", "-C", mk,
                               "check", "TREE=" + TREE, timeout=300)
    check(status == 3 and re.search(r"^memprof run: \d+ processes, \d+ checked, 1 with leaks", out, re.M),
          "make check: the leaking recipe fails the run: %d %s %s" % (status, out[-400:], err[-300:]))
    try:
        cases = ET.parse(junit).getroot().find("testsuite").findall("testcase")
        check(any(c.get("name").startswith("make") for c in cases)
              and sum(c.find("failure") is not None for c in cases) == 1,
              "make check: junit has make and one failure: %s" % [c.get("name") for c in cases])
    except (ET.ParseError, OSError, AttributeError) as e:
        check(False, "make check: junit: %s" % e)

# ------------------------------------------- meson test --wrapper memprof
meson = shutil.which("meson")
cc = shutil.which("cc") or shutil.which("gcc")
if meson and cc:
    section("meson test --wrapper")
    proj = os.path.join(tmp, "proj")
    os.mkdir(proj)
    with open(os.path.join(proj, "meson.build"), "w") as f:
        f.write("project('tiny', 'c')\n"
                "test('tidy', executable('tidy', 'tidy.c'))\n"
                "test('leaky', executable('leaky', 'leaky.c'))\n")
    with open(os.path.join(proj, "tidy.c"), "w") as f:
        f.write("#include <stdlib.h>\nint main(void) { free(malloc(10)); return 0; }\n")
    with open(os.path.join(proj, "leaky.c"), "w") as f:
        f.write("#include <stdlib.h>\n#include <string.h>\nvoid *volatile sink;\n"
                "__attribute__((noipa)) static void lose(void)\n"
                "{ sink = malloc(100); memset(sink, 1, 100); sink = 0; }\n"
                "int main(void) { lose(); lose(); return 0; }\n")
    env = dict(os.environ)
    for key in ("MESON_BUILD_ROOT", "MESON_SOURCE_ROOT", "MESONINTROSPECT", "MESON_TESTTHREADS"):
        env.pop(key, None)
    build = os.path.join(proj, "b")
    setup = subprocess.run([meson, "setup", build, proj], capture_output=True, text=True, env=env,
                           timeout=300)
    check(setup.returncode == 0, "meson setup: %s" % setup.stdout[-500:])
    if setup.returncode == 0:
        wrapped = subprocess.run([meson, "test", "-C", build, "--wrapper", MEMPROF + " run --"],
                                 capture_output=True, text=True, env=env, timeout=300)
        out = wrapped.stdout
        check(wrapped.returncode != 0 and re.search(r"leaky\s+FAIL.*exit status 3", out)
              and re.search(r"tidy\s+OK", out),
              "meson test --wrapper: leaky fails with status 3, tidy passes: %s" % out[-800:])

finish()
