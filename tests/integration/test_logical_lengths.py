"""Length inference of `memprof logical` on the C registry idiom
(tests/helpers/registry.c): `T *items; size_t len, cap;` beside a list
head, a string and an array with its own `nweights`; the capacity first
with count/capacity; two arrays and one generic `n` that only one block
holds; two blocks that both hold `len`.  The program writes its own truth
(bytes per field path); memprof must give it from a live process and from
a core, report in JSON which rule sized each pointer (`length_from`) and
say the same in `--format text --explain`."""
import json
import os
import shutil
import tempfile

from mptest import Held, check, finish, gcore, helper, memprof


def truth(path):
    want = {}
    with open(path) as f:
        for line in f:
            name, logical, allocated, blocks = line.split()
            want[name] = (int(logical), int(allocated), int(blocks))
    return want


def by_path(report):
    """{folded path: node} of a JSON report."""
    nodes = {n["id"]: n for n in report["nodes"]}
    paths = {}
    for n in report["nodes"]:
        parts, c = [], n
        while c is not None:
            parts.append(c["name"])
            c = nodes.get(c["parent"]) if c["parent"] is not None else None
        paths[";".join(reversed(parts))] = n
    return paths


# The rule each pointer member's frame must report.
RULES = {
    "registry;items": "generic len (the only pointer whose block fits, bounded by cap)",
    "registry;head": "single element: its block cannot hold cap elements",
    "registry;title": "string (strlen + 1)",
    "registry;weights": "sibling nweights",
    "reg_cap;entries": "generic count (the only pointer whose block fits, bounded by capacity)",
    "reg_cap;list": "single element: its block cannot hold capacity elements",
    "reg_cap;label": "string (strlen + 1)",
    "reg_two;big": "generic n (the only pointer whose block fits)",
    "reg_two;small": "block size",
    "reg_both;a": "single element: more than one pointer's block fits generic len",
    "reg_both;b": "single element: more than one pointer's block fits generic len",
}


def compare(label, target, want):
    roots = sorted({p.split(";")[0] for p in want})
    for root in roots:
        code, out, err = memprof("logical", *target, root, "--format", "json")
        if not check(code == 0, "%s %s: status %d: %s" % (label, root, code, err[-500:])):
            continue
        report = json.loads(out)
        check(report["partial"] is False, "%s %s: partial: %s" % (label, root, report["warnings"]))
        paths = by_path(report)
        for path, numbers in want.items():
            if path.split(";")[0] != root:
                continue
            node = paths.get(path)
            got = (node["logical"], node["allocated"], node["count"]) if node else None
            check(got == numbers, "%s %s: memprof %s, the program says %s (logical, allocated, blocks)"
                  % (label, path, got, numbers))
        for path, rule in RULES.items():
            if path.split(";")[0] != root:
                continue
            node = paths.get(path)
            check(node is not None and node.get("length_from") == rule,
                  "%s %s: length_from %r, want %r" % (label, path, node and node.get("length_from"), rule))
        code, out, err = memprof("logical", *target, root, "--format", "text", "--explain")
        check(code == 0 and "lengths (--explain)" in out, "%s %s --explain: %s" % (label, root, err[-300:]))
        for path, rule in RULES.items():
            if path.split(";")[0] == root:
                check("  %s: %s\n" % (path, rule) in out,
                      "%s %s --explain does not say '%s: %s':\n%s" % (label, root, path, rule, out))


tmp = tempfile.mkdtemp(prefix="memprof-lengths-")
try:
    expected = os.path.join(tmp, "registry.expected")
    held = Held([helper("registry")], env=dict(os.environ, MEMPROF_EXPECTED=expected))
    try:
        want = truth(expected)
        check(want.get("registry;items", (0,))[0] > 100 * 24, "registry: the truth has 100 items")
        compare("live", ["--pid", str(held.pid)], want)
        core = gcore(held.pid, os.path.join(tmp, "registry.core"))
        compare("core", ["--core", core, "--exe", helper("registry")], want)
        # Folded output stays clean; --explain goes to stderr there.
        code, out, err = memprof("logical", "--core", core, "--exe", helper("registry"),
                                 "registry", "--explain")
        check(code == 0 and "lengths (--explain)" not in out and "registry;items: generic len" in err,
              "folded --explain: explanation belongs on stderr:\n%s\n%s" % (out[-300:], err[-300:]))
    finally:
        check(held.release() == 0, "registry did not exit 0")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
