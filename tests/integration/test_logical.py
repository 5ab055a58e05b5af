"""`memprof logical` against totals the inspected programs compute about
themselves (sizeof, strlen, container lengths, malloc_usable_size, block
counts): the C instance example member by member, from a gcore core and
live; the shapes helper (a 10-million-node list, a cyclic graph, shared blocks,
unions, garbage pointers, every length-sibling spelling, a tree, bitfields,
an inline 2-D array); the four output formats; limits; errors."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

from mptest import Held, check, example, finish, gcore, helper, memprof

LIST_NODES = 10_000_000


def expectations(path):
    want = {}
    with open(path) as f:
        for line in f:
            name, logical, allocated, blocks = line.split()
            want[name] = (int(logical), int(allocated), int(blocks))
    return want


def held_with_expectations(argv, tmp, name):
    path = os.path.join(tmp, name + ".expected")
    env = dict(os.environ, MEMPROF_EXPECTED=path)
    held = Held(argv, env=env)
    return held, expectations(path)


def logical_json(*args):
    code, out, err = memprof("logical", *args, "--format", "json")
    if not check(code == 0, "logical %s: status %d: %s" % (" ".join(args), code, err[-800:])):
        return None
    return json.loads(out)


def top_level(report):
    """{member: (logical, allocated, count)} for the root's children."""
    nodes = report["nodes"]
    return {n["name"]: (n["logical"], n["allocated"], n["count"])
            for n in nodes if n["parent"] == 0}


def check_members(label, report, want):
    if report is None:
        return
    check(report["partial"] is False, "%s: partial: %s" % (label, report["warnings"]))
    got = top_level(report)
    for member, numbers in want.items():
        if member == "total":
            t = report["total"]
            check((t["logical"], t["allocated"], t["count"]) == numbers,
                  "%s: total %s, the program says %s" % (label, (t["logical"], t["allocated"], t["count"]), numbers))
            continue
        check(got.get(member) == numbers,
              "%s: %s = %s, the program says %s" % (label, member, got.get(member), numbers))
    extra = set(got) - set(want)
    check(not extra, "%s: members memprof reports that the program does not: %s" % (label, extra))


def check_leaves_sum(label, report):
    """Only leaves carry bytes, and they add up to the total."""
    if report is None:
        return
    nodes = report["nodes"]
    parents = {n["parent"] for n in nodes}
    leaves = [n for n in nodes if n["id"] not in parents]
    for key in ("logical", "allocated", "count"):
        check(sum(n[key] for n in leaves) == report["total"][key],
              "%s: leaves' %s add up to %d, total %d" % (label, key,
                                                         sum(n[key] for n in leaves), report["total"][key]))
    check(all(n["leaf"] == (n["id"] not in parents) for n in nodes),
          "%s: 'leaf' flags disagree with the tree" % label)


def check_folded(label, text, total):
    lines = text.splitlines()
    stacks = []
    ok = True
    for line in lines:
        m = re.fullmatch(r"(\S+) (\d+)", line)
        if not m or " " in m.group(1) or ";;" in m.group(1):
            ok = False
            break
        stacks.append((m.group(1), int(m.group(2))))
    check(ok, "%s: folded line %r is not 'frame;frame COUNT'" % (label, line if lines else ""))
    check([s for s, _ in stacks] == sorted(s for s, _ in stacks), "%s: folded lines are not sorted" % label)
    check(len({s for s, _ in stacks}) == len(stacks), "%s: repeated folded stacks" % label)
    check(all(v > 0 for _, v in stacks), "%s: zero counts in folded output" % label)
    check(sum(v for _, v in stacks) == total,
          "%s: folded counts add up to %d, want %d" % (label, sum(v for _, v in stacks), total))
    return stacks


tmp = tempfile.mkdtemp(prefix="memprof-logical-")
try:
    # ---------------------------------------------------------------- C instance
    held, want = held_with_expectations([example("instance_c"), "--hold"], tmp, "instance_c")
    core = os.path.join(tmp, "instance_c.core")
    try:
        live = logical_json("--pid", str(held.pid), "instance")
        check_members("instance_c live", live, want)
        gcore(held.pid, core)
    finally:
        check(held.release() == 0, "instance_c --hold did not exit 0")
    report = logical_json("--core", core, "instance")
    check_members("instance_c core", report, want)
    check_leaves_sum("instance_c core", report)
    if report:
        names = {n["name"] for n in report["nodes"]}
        check("[padding]" in names and "[inline]" in names and "char" in names,
              "instance_c: expected [padding], [inline] and char frames, got %s" % sorted(names)[:30])
        # Elements fold into one frame named after their type; chains fold.
        check(any(n["name"] == "decision_variable" for n in report["nodes"]),
              "instance_c: no decision_variable element frame")
        check(len(report["nodes"]) < 400, "instance_c: %d frames, want a few hundred at most" % len(report["nodes"]))

    totals = report["total"] if report else {"logical": 0, "allocated": 0, "count": 0}
    metrics = {"logical": totals["logical"], "allocated": totals["allocated"],
               "slack": totals["allocated"] - totals["logical"], "count": totals["count"]}
    for metric, total in metrics.items():
        code, out, err = memprof("logical", "--core", core, "instance", "--metric", metric)
        check(code == 0, "folded --metric %s: status %d %s" % (metric, code, err))
        stacks = check_folded("instance_c --metric " + metric, out, total)
        check(all(s.startswith("instance;") for s, _ in stacks), "folded: every stack starts at the root")
    # Default format is folded; --format folded says the same.
    _, default_out, _ = memprof("logical", "--core", core, "instance")
    _, folded_out, _ = memprof("logical", "--core", core, "instance", "--format", "folded")
    check(default_out == folded_out and default_out, "default format is not folded")
    check("instance;description;name;char 34\n" in default_out,
          "folded: the description's name string (strlen + 1 = 34) is missing")
    check("instance;decision_variables;decision_variable;[padding] 8000\n" in default_out,
          "folded: the 4-byte hole of 2000 decision variables is missing")

    code, out, err = memprof("logical", "--core", core, "instance", "--format", "text")
    check(code == 0 and "logical %d bytes" % metrics["logical"] in out and "%" in out,
          "text: status %d, no totals line: %s" % (code, out[:300]))

    svg_path = os.path.join(tmp, "instance.svg")
    code, _, err = memprof("logical", "--core", core, "instance", "--format", "svg", "--output", svg_path)
    check(code == 0, "svg: status %d: %s" % (code, err))
    try:
        root = ET.parse(svg_path).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        groups = [g for g in root.iter(ns + "g") if g.get("class") == "f"]
        check(root.tag == ns + "svg" and len(groups) > 20, "svg: %d frame groups" % len(groups))
        check(root.find(ns + "script") is not None, "svg: no script (zoom, search)")
        check(int(root.get("data-total")) == metrics["logical"], "svg: total differs")
        check(all(g.find(ns + "title") is not None for g in groups), "svg: frames without hover titles")
        with open(svg_path) as f:
            text = f.read()
        check("http" not in text.replace("http://www.w3.org/2000/svg", ""),
              "svg: refers to something outside itself")
    except ET.ParseError as e:
        check(False, "svg does not parse: %s" % e)

    # ADDR:TYPE gives the same as the variable.
    if report:
        addr = report["address"]
        again = logical_json("--core", core, "%s:struct instance" % addr)
        if again:
            check(again["total"] == report["total"], "ADDR:TYPE total %s != %s" % (again["total"], report["total"]))
        module = os.path.basename(example("instance_c"))
        again = logical_json("--core", core, "%s:instance" % module)
        if again:
            check(again["total"] == report["total"], "MODULE:VARIABLE total differs")
        # The variable is looked up in the module named, and only there.
        code, _, err = memprof("logical", "libc.so.6:instance", "--core", core)
        check(code == 1 and "has no variable named instance" in err,
              "libc.so.6:instance is searched in libc only: %s" % err)

    # Limits mark the result partial.
    limited = logical_json("--core", core, "instance", "--max-objects", "100")
    if limited:
        check(limited["partial"] is True and limited["total"]["count"] == 100,
              "--max-objects 100: partial %s, %d blocks" % (limited["partial"], limited["total"]["count"]))
    limited = logical_json("--core", core, "instance", "--max-depth", "2")
    if limited:
        check(limited["partial"] is True and 0 < limited["total"]["count"] < metrics["count"],
              "--max-depth 2: partial %s, %d blocks (want fewer: deeper blocks are leaves)"
              % (limited["partial"], limited["total"]["count"]))
        check(max(n["depth"] for n in limited["nodes"]) <= 4, "--max-depth 2: frames too deep")

    # Errors name what is wrong.
    code, _, err = memprof("logical", "--core", core, "no_such_variable")
    check(code == 1 and "no_such_variable" in err, "unknown root: status %d %s" % (code, err))
    code, _, err = memprof("logical", "--core", core, "0x10:struct instance")
    check(code == 1 and "0x10" in err, "unreadable ADDR:TYPE: status %d %s" % (code, err))
    code, _, err = memprof("logical", "--core", core, "0x10:struct no_such_type")
    check(code == 1 and "no_such_type" in err, "unknown type: status %d %s" % (code, err))
    code, _, err = memprof("logical", "--core", core, "instance", "--metric", "bogus")
    check(code == 2, "bad --metric: status %d" % code)
    code, _, err = memprof("logical", "--core", core)
    check(code == 2, "missing ROOT: status %d" % code)
    os.unlink(core)

    # ------------------------------------------------ C++ and Rust instances
    for name, root in (("instance_cpp", "instance"), ("instance_rs", "instance::INSTANCE")):
        if not os.path.exists(os.path.join(os.environ.get("EXAMPLES_DIR", ""), name)):
            print("skipping %s: not built" % name)
            continue
        held, want = held_with_expectations([example(name), "--hold"], tmp, name)
        path = os.path.join(tmp, name + ".core")
        try:
            check_members(name + " live", logical_json("--pid", str(held.pid), root), want)
            gcore(held.pid, path)
        finally:
            check(held.release() == 0, "%s --hold did not exit 0" % name)
        r = logical_json("--core", path, root)
        check_members(name + " core", r, want)
        check_leaves_sum(name + " core", r)
        code, out, _ = memprof("logical", "--core", path, root)
        check_folded(name + " folded", out, r["total"]["logical"] if r else 0)
        os.unlink(path)

    # zoo_cpp: each container against its documented contents (zoo.cpp).
    if os.path.exists(os.path.join(os.environ.get("EXAMPLES_DIR", ""), "zoo_cpp")):
        zoo = {
            # root: (logical, blocks)
            "zoo_vector_int": (24 + 1000 * 4, 1),
            "zoo_vector_string": (24 + 64 * 32 + 32 * 41, 33),
            "zoo_short_string": (32, 0),
            "zoo_long_string": (32 + 101, 1),
            "zoo_map": (48 + 100 * (32 + 40), 100),             # node: links + pair<const int, string>
            "zoo_unordered_map": (56 + 257 * 8 + 200 * 56, 201),  # next, pair (40), cached hash
            "zoo_list": (24 + 300 * 24, 300),                    # _List_node<int>: 16 + 4, padded
            "zoo_shared": (16 + 16 + 64, 1),                     # make_shared: counts + payload
            "zoo_unique": (8 + 64, 1),
        }
        held = Held([example("zoo_cpp"), "--hold"])
        try:
            for root, (logical, blocks) in zoo.items():
                r = logical_json("--pid", str(held.pid), root)
                if r:
                    check((r["total"]["logical"], r["total"]["count"]) == (logical, blocks),
                          "zoo_cpp %s: logical %d in %d blocks, want %d in %d" % (
                              root, r["total"]["logical"], r["total"]["count"], logical, blocks))
            r = logical_json("--pid", str(held.pid), "zoo_deque")
            if r:
                names = {n["name"]: n for n in r["nodes"]}
                check(names.get("int", {}).get("logical") == 4000 and r["total"]["count"] == 9,
                      "zoo_deque: 1000 ints in 8 buffers and a map: %s" % r["nodes"])
        finally:
            check(held.release() == 0, "zoo_cpp --hold did not exit 0")

    # zoo_rs: Rust containers against their documented contents (zoo.rs).
    if os.path.exists(os.path.join(os.environ.get("EXAMPLES_DIR", ""), "zoo_rs")):
        held, shared_want = held_with_expectations([example("zoo_rs"), "--hold"], tmp, "zoo_rs")
        try:
            r = logical_json("--pid", str(held.pid), "zoo::ZOO")
            if r:
                # Rc and Arc with a clone and a Weak each: the shared
                # allocation once, on the first pointer, as the program
                # computed it; the others their own 8 bytes.
                top = top_level(r)
                check(len(shared_want) == 6, "zoo_rs wrote its 6 shared-pointer fields: %s" % shared_want)
                for field, numbers in shared_want.items():
                    check(top.get(field) == numbers,
                          "zoo_rs %s: %s, the program says %s" % (field, top.get(field), numbers))
                # Hash table and B-tree capacity: allocated-only [unused]
                # leaves right under the map (256 buckets for 200 entries:
                # at least 56 empty 32-byte buckets and 256 + 16 control
                # bytes; B-tree nodes of 11 slots hold 100 entries).
                for field, least in (("hash_map", 56 * 32 + 256 + 16), ("btree_map", 1)):
                    unused = [n for n in r["nodes"] if n["name"] == "[unused]" and
                              any(m["id"] == n["parent"] and m["name"] == field and m["parent"] == 0
                                  for m in r["nodes"])]
                    check(len(unused) == 1 and unused[0]["logical"] == 0 and
                          unused[0]["allocated"] >= least,
                          "zoo_rs %s: its capacity as [unused] under allocated: %s" % (field, unused))
                check(r["partial"] is False, "zoo_rs: partial %s" % r["warnings"])
                top = top_level(r)
                want = {
                    "vec_u32": 24 + 1000 * 4,
                    "string": 24 + 100,
                    "vec_deque": 32 + 50 * 24,        # Point3: 3 x f64
                    "boxed": 8 + 24,
                }
                for field, logical in want.items():
                    check(top.get(field, (None,))[0] == logical,
                          "zoo_rs %s: logical %s, want %d" % (field, top.get(field), logical))
                # HashMap<String, u64>: 200 entries of 32 bytes + 200 keys of 7 bytes.
                check(top.get("hash_map", (0,))[0] == 48 + 200 * 32 + 200 * 7,
                      "zoo_rs hash_map: %s" % (top.get("hash_map"),))
                check(top.get("hash_map", (0, 0, 0))[2] == 201, "zoo_rs hash_map: 201 blocks")
                # BTreeMap<u32, String>: 100 entries (4 + 24) plus their strings.
                names = [n for n in r["nodes"] if n["parent"] is not None]
                check(any(n["name"] == "u32" and n["logical"] == 400 for n in names),
                      "zoo_rs btree_map: 100 u32 keys")
                check_leaves_sum("zoo_rs", r)
            zoo_core = gcore(held.pid, os.path.join(tmp, "zoo_rs.core"))
        finally:
            check(held.release() == 0, "zoo_rs --hold did not exit 0")
        # The shared pointers from a core too, in the CLI, GDB and LLDB
        # (the debuggers load libmemprof: unsanitized builds only).
        reports = [("core", logical_json("--core", zoo_core, "zoo::ZOO"))]
        library = os.environ.get("LIBMEMPROF", "")
        sanitized = os.path.exists(library) and b"__asan_init" in open(library, "rb").read()
        if not sanitized and os.environ.get("GDB_SCRIPT") and shutil.which("gdb"):
            proc = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                                   "-x", os.environ["GDB_SCRIPT"],
                                   "-ex", "memprof logical zoo::ZOO --format json",
                                   example("zoo_rs"), zoo_core],
                                  capture_output=True, text=True, errors="replace", timeout=600)
            start = proc.stdout.find("{")
            reports.append(("gdb", json.loads(proc.stdout[start:proc.stdout.rfind("}") + 1])
                            if start >= 0 else None))
        if not sanitized and os.environ.get("LLDB_PLUGIN") and shutil.which("lldb"):
            proc = subprocess.run(["lldb", "-b", "-o", "plugin load " + os.environ["LLDB_PLUGIN"],
                                   "-o", "memprof logical zoo::ZOO --format json",
                                   example("zoo_rs"), "--core", zoo_core],
                                  capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, timeout=600)
            start = proc.stdout.find("\n{")
            reports.append(("lldb", json.loads(proc.stdout[start:proc.stdout.rfind("}") + 1])
                            if start >= 0 else None))
        for label, report in reports:
            if not check(report is not None, "zoo_rs %s: logical ran" % label):
                continue
            top = top_level(report)
            for field, numbers in shared_want.items():
                check(top.get(field) == numbers, "zoo_rs %s %s: %s, the program says %s"
                      % (label, field, top.get(field), numbers))

    # ---------------------------------------------------------------- shapes
    # The 10-million-node list: a few lines, a work list that does not grow,
    # and a walk whose own memory stays far below 16 bytes per block.
    held, want = held_with_expectations([helper("logical_shapes"), str(LIST_NODES)], tmp, "list10m")
    try:
        r = logical_json("--pid", str(held.pid), "list_head")
        if r:
            t = r["total"]
            check((t["logical"], t["allocated"], t["count"]) == want["list_head"],
                  "list of %d: memprof %s, the program says %s" % (LIST_NODES, t, want["list_head"]))
            check(len(r["nodes"]) <= 8, "list of %d: %d frames" % (LIST_NODES, len(r["nodes"])))
            check(r["stats"]["work_peak"] <= 4, "list: work list peaked at %d" % r["stats"]["work_peak"])
            check(r["stats"]["walk_bytes"] <= 16 * LIST_NODES,
                  "list: the walk used %d bytes for %d blocks" % (r["stats"]["walk_bytes"], LIST_NODES))
    finally:
        check(held.release() == 0, "logical_shapes %d did not exit 0" % LIST_NODES)

    held, want = held_with_expectations([helper("logical_shapes")], tmp, "shapes")
    try:
        for root, numbers in want.items():
            r = logical_json("--pid", str(held.pid), root)
            if r is None:
                continue
            t = r["total"]
            check((t["logical"], t["allocated"], t["count"]) == numbers,
                  "shapes %s: memprof %s, the program says %s" % (root, (t["logical"], t["allocated"], t["count"]), numbers))
            check(r["partial"] is False, "shapes %s: partial %s" % (root, r["warnings"]))
            check_leaves_sum("shapes " + root, r)
            if root in ("list_head", "tree_root", "graph_root"):
                check(len(r["nodes"]) <= 12, "shapes %s: %d frames, the chain should fold" % (root, len(r["nodes"])))
        code, out, _ = memprof("logical", "--pid", str(held.pid), "list_head")
        check(len(out.splitlines()) <= 4, "list: %d folded lines" % len(out.splitlines()))
        code, out, _ = memprof("logical", "--pid", str(held.pid), "unions")
        check("unions;plain 12" in out and "unions;items;tagged;u 24" in out,
              "unions: a union is one leaf of its size:\n" + out)
    finally:
        check(held.release() == 0, "logical_shapes did not exit 0")

    # ---------------------------------------------------------------- roots
    # VAR.member, VAR->member, VAR[i] chains and ADDRESS:TYPE on the
    # registry helper: a chain ending in a pointer member walks that member
    # with the length its struct gives it (the same numbers as the member's
    # subtree in the whole walk); any other chain gives what ADDRESS:TYPE
    # of its value gives.
    held = Held([helper("registry")], env=dict(os.environ, MEMPROF_EXPECTED=os.path.join(tmp, "registry.expected")))
    try:
        pid = ["--pid", str(held.pid)]
        whole = logical_json(*pid, "registry")
        members = top_level(whole) if whole else {}
        for member in ("items", "head", "weights", "title"):
            for spelling in ("registry.%s", "registry->%s"):
                root = spelling % member
                r = logical_json(*pid, root)
                if r:
                    t = r["total"]
                    check((t["logical"], t["allocated"], t["count"]) == members.get(member),
                          "root %s: %s, the whole walk's member: %s" % (root, t, members.get(member)))
                    check(r["root"] == root, "root %s is named %r" % (root, r["root"]))
        code, out, _ = memprof("logical", *pid, "instance.constraints")
        check("no variable named 'instance.constraints'" not in out, "chains are parsed")
        for root, type_name in (("registry.items[3]", "struct item"), ("fixed[2]", "struct item"),
                                ("registry.items[3].name", None)):
            r = logical_json(*pid, root)
            if r is None:
                continue
            if type_name:
                by_address = logical_json(*pid, "%s:%s" % (r["address"], type_name))
                if by_address:
                    check(by_address["total"] == r["total"],
                          "root %s %s, %s:%s %s" % (root, r["total"], r["address"], type_name, by_address["total"]))
            check(r["total"]["logical"] > 0, "root %s: nothing walked" % root)
        # head->next: the pointer member and the list after the first node.
        r = logical_json(*pid, "registry.head->next")
        if r and members.get("head"):
            h = members["head"]
            check((r["total"]["logical"], r["total"]["allocated"], r["total"]["count"]) ==
                  (h[0] - 16, h[1] - 24, h[2] - 1), "registry.head->next: %s, head %s" % (r["total"], h))
        r = logical_json(*pid, "registry.items[3]")
        first = logical_json(*pid, "registry.items[0]")
        if r and first:
            check(int(r["address"], 16) - int(first["address"], 16) == 3 * 24,
                  "registry.items[3] is 3 items after items[0]: %s %s" % (r["address"], first["address"]))
        for root, status, message in (
                ("registry.x", 1, "root registry.x: 'registry' (struct registry) has no member 'x' "
                               "(members: items, len, cap, head, title, weights, nweights)"),
                ("fixed[5]", 1, "index 5 past the array of 4 ('fixed')"),
                ("registry.head->next->next->next->next->next->value", 1,
                 "'registry.head->next->next->next->next->next' is NULL"),
                ("registry.len[1]", 1, "'registry.len' is long unsigned int, not an array or pointer"),
                ("registry.len.x", 1, "not a struct: no member 'x'"),
                ("nosuch.x", 1, "root nosuch.x: variable 'nosuch': no variable named 'nosuch'"),
                ("registry..x", 2, "a member name must follow '.' after 'registry'"),
                ("fixed[-1]", 2, "want a non-negative number in [] after 'fixed'")):
            code, out, err = memprof("logical", *pid, root)
            check(code == status and message in err,
                  "root %s: status %d (want %d), want %r in: %s" % (root, code, status, message, err))
    finally:
        check(held.release() == 0, "registry did not exit 0")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
