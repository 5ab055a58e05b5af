"""`memprof leaks` and `memprof run` against valgrind memcheck.

Through `memprof run`, the block counts of each leak kind must equal
`valgrind --leak-check=full --run-libc-freeres=no` on the same program
(memprof stops the program at exit, before glibc's freeres would run, so
valgrind is told not to run it either); bytes agree up to malloc rounding
(memprof reports usable sizes).  Cores of held programs give the programs'
known answers, `--roots strict` drops the mapping roots, clean programs
report nothing lost, and `refs` names where a pointer lives."""
import json
import os
import re
import shutil
import tempfile

from mptest import check, example, finish, held_core, helper, memprof, valgrind_summary, LEAK_KINDS



def memprof_run(argv, *options):
    code, out, err = memprof("run", "--format", "json", *options, "--", *argv)
    return code, json.loads(out) if out.strip() else None, err


def compare_with_valgrind(name, argv):
    code, report, err = memprof_run(argv, "--fail-on", "none")
    if not check(code == 0 and report, "%s: memprof run status %d: %s" % (name, code, err[-400:])):
        return
    process = report["processes"][0]
    check(process["checked"] and process["exit_status"] == 0, "%s: checked at exit" % name)
    want = valgrind_summary(argv)
    for key, _ in LEAK_KINDS:
        ours = process["summary"][key]
        blocks, nbytes = want[key]
        check(ours["blocks"] == blocks,
              "%s: %s blocks %d, valgrind %d" % (name, key, ours["blocks"], blocks))
        # malloc rounds small blocks up to 16 bytes plus 8, mmapped ones to pages
        slack = 24 * blocks + (4096 * blocks if nbytes >= 128 * 1024 else 0)
        check(nbytes <= ours["bytes"] <= nbytes + slack,
              "%s: %s bytes %d, valgrind %d (usable sizes may add rounding)" % (name, key, ours["bytes"], nbytes))
    return process


tmp = tempfile.mkdtemp(prefix="memprof-leaks-")
try:
    shapes = compare_with_valgrind("leakshapes", [helper("leakshapes")])
    if shapes:
        s = shapes["summary"]
        check((s["definitely_lost"]["blocks"], s["indirectly_lost"]["blocks"],
               s["possibly_lost"]["blocks"], s["still_reachable"]["blocks"]) == (2, 11, 2, 5),
              "leakshapes: the known answer 2/11/2/5: %s" % s)
        lost = [u for u in shapes["unreferenced"] if u["kind"] in ("definitely_lost", "indirectly_lost")]
        check(len(lost) == 1 and lost[0]["kind"] == "definitely_lost",
              "only the lost list's head is unreferenced (the cycle points to its leader): %s" % lost)
    for name in ("leak_cycle", "leak_cache", "leak_handlers", "leak_buffer", "leak_tls"):
        compare_with_valgrind(name, [example(name)])

    # Types from DWARF: the handlers the global emitter holds are typed
    # through its pointer members.
    code, report, _ = memprof_run([example("leak_handlers")], "--fail-on", "none", "--show-reachable")
    if check(code == 0 and report, "leak_handlers with --show-reachable"):
        typed = [g for g in report["processes"][0]["groups"] if g["evidence"] == "dwarf"]
        check(any(g["type"] == "struct listener" for g in typed),
              "blocks typed struct listener from DWARF: %s" % [(g["type"], g["count"]) for g in typed])

    # Container bodies: libstdc++ links nodes through base classes, yet
    # each node block is named after its real node type, and buffers of
    # numbers as arrays.  The counts are the ones zoo.cpp documents.
    with held_core([example("zoo_cpp")], "zoo.core") as core:
        code, out, err = memprof("leaks", "--core", core, "--show-reachable", "--format", "json")
        if check(code == 0, "leaks on the zoo core: %s" % err[-300:]):
            named = {}
            for g in json.loads(out)["groups"]:
                named[g["type"]] = named.get(g["type"], 0) + g["count"]
            def count(prefix):
                return sum(n for t, n in named.items() if t and t.startswith(prefix))
            check(count("std::_Rb_tree_node<std::pair<int const, std::__cxx11::basic_string") == 100,
                  "zoo_map: 100 nodes of its node type: %s" % named)
            check(count("std::__detail::_Hash_node<std::pair<const std::__cxx11::basic_string") == 200,
                  "zoo_unordered_map: 200 nodes of its node type: %s" % named)
            check(count("std::_List_node<int>") == 300, "zoo_list: 300 nodes: %s" % named)
            check(not any(t and t.endswith("_node_base") for t in named),
                  "no block left named after a node base class: %s" % named)
            # vector<int>'s buffer (1000 ints) and deque<int>'s eight
            # 512-byte buffers.
            check(count("int[]") == 9, "int buffers: 1 vector + 8 deque: %s" % named)

    # Rust: the global is an Option (the active variant is followed), Vec
    # and VecDeque buffers are named after their element type although
    # RawVec keeps a pointer to u8, Rc/Arc/Box after their contents.
    with held_core([example("zoo_rs")], "zoo_rs.core") as core:
        code, out, err = memprof("leaks", "--core", core, "--show-reachable", "--format", "json")
        if check(code == 0, "leaks on the zoo_rs core: %s" % err[-300:]):
            named = {}
            for g in json.loads(out)["groups"]:
                named[g["type"]] = named.get(g["type"], 0) + g["count"]
            expected = {"u32[]": 1,                      # vec_u32
                        "alloc::string::String": 1,      # vec_string's buffer
                        "zoo::Point3": 2,                # boxed, vec_deque's buffer
                        "zoo::Shape": 1,                 # shapes' buffer
                        "zoo::Message": 2,               # messages' buffer, Nested's box
                        "(i32, i32)": 2,                 # the two Polygon shapes' points
                        "u64[]": 3,                      # the values of rc, arc, some_box
                        "alloc::rc::RcInner<zoo::Node>": 1,
                        "alloc::sync::ArcInner<zoo::Node>": 1,
                        "zoo::Node": 1}                  # some_box
            for name, n in expected.items():
                check(named.get(name) == n, "zoo_rs: %d block(s) named %s: %s" % (n, name, named))
            # btree_map's 100 entries: a node holds at most 11, so at least
            # 10 nodes, and more than one level: internal nodes too.
            leaves = named.get("alloc::collections::btree::node::LeafNode<u32, alloc::string::String>", 0)
            internal = named.get("alloc::collections::btree::node::InternalNode<u32, alloc::string::String>", 0)
            check(internal >= 1 and leaves + internal >= 10,
                  "B-tree nodes named leaf (%d) and internal (%d)" % (leaves, internal))

    # C++ objects named by their vtable: lost ones, and one the DWARF walk
    # reaches as a Shape * but which is a Circle.
    if os.path.exists(helper("polymorph")):
        with held_core([helper("polymorph")], "polymorph.core") as core:
            code, out, err = memprof("leaks", "--core", core, "--show-reachable", "--format", "json")
            if check(code == 0, "leaks on the polymorph core: %s" % err[-300:]):
                seen = sorted((g["kind"], g["type"], g["evidence"], g["count"])
                              for g in json.loads(out)["groups"] if g["type"])
                check(("definitely_lost", "Square", "vtable", 3) in seen and
                      ("definitely_lost", "Circle", "vtable", 2) in seen,
                      "lost Squares and Circles named by their vtables: %s" % seen)
                check(("still_reachable", "Circle", "vtable", 1) in seen and
                      not any(t == "Shape" for _, t, _, _ in seen),
                      "the Circle held as a Shape * is named Circle: %s" % seen)

    # A lost block whose shape (or size, when the shape says nothing) fits
    # only one struct of the program's DWARF is named by it.
    code, report, _ = memprof_run([example("leak_cache")], "--fail-on", "none")
    if check(code == 0 and report, "leak_cache run"):
        lost = [g for g in report["processes"][0]["groups"] if g["kind"] == "definitely_lost"]
        check(any(g["type"] == "struct cache_entry" and g["evidence"] in ("shape", "size-match")
                  for g in lost),
              "lost cache entries named struct cache_entry by shape or size: %s" % [(g["type"], g["evidence"]) for g in lost])

    # Exit status: the program's own, or 3 when --fail-on finds blocks.
    code, _, err = memprof("run", "--", example("leak_cycle"))
    check(code == 3 and "leak check failed" in err, "default --fail-on definite,indirect fails: %d" % code)
    # A plain list replaces the default kinds (docs/leaks.md): leak_cycle's
    # definitely lost blocks pass --fail-on possible; +possible adds to
    # definite,indirect, so they fail it.
    code, report, _ = memprof_run([example("leak_cycle")], "--fail-on", "none")
    summary = report["processes"][0]["summary"] if report else {}
    check(summary.get("definitely_lost", {}).get("blocks", 0) > 0 and
          summary.get("possibly_lost", {}).get("blocks", 1) == 0,
          "leak_cycle has definitely lost blocks and no possibly lost ones: %s" % summary)
    code, _, _ = memprof("run", "--fail-on", "possible", "--", example("leak_cycle"))
    check(code == 0, "--fail-on possible (a list replaces the default) passes: %d" % code)
    code, _, err = memprof("run", "--fail-on", "+possible", "--", example("leak_cycle"))
    check(code == 3 and "leak check failed" in err, "--fail-on +possible keeps definite: %d" % code)
    code, _, err = memprof("run", "--fail-on", "+possible,+reachable", "--", example("leak_cycle"))
    check(code == 3, "--fail-on +possible,+reachable: %d %s" % (code, err[-200:]))
    for mixed in ("+possible,reachable", "possible,+reachable", "+", "definite,", "+none"):
        code, _, err = memprof("run", "--fail-on", mixed, "--", example("leak_cycle"))
        check(code == 2 and "+KIND" in err, "--fail-on %s is a usage error: %d %s" % (mixed, code, err))
    code, _, err = memprof("run", "--fail-on", "sometimes", "--", example("leak_cycle"))
    check(code == 2 and "--fail-on" in err, "bad --fail-on is a usage error")
    code, _, err = memprof("run", "--", os.path.join(tmp, "no-such-program"))
    check(code == 1 and "cannot run" in err and err.count("\n") == 1, "missing program: %s" % err)

    # Clean programs: nothing lost.
    for name in ("instance_c", "instance_cpp", "zoo_cpp", "instance_rs", "zoo_rs"):
        try:
            path = example(name)
        except SystemExit:
            continue
        code, report, err = memprof_run([path])
        if check(code == 0 and report, "%s: clean run exits 0 (%d): %s" % (name, code, err[-300:])):
            s = report["processes"][0]["summary"]
            check(s["definitely_lost"]["blocks"] == 0 and s["indirectly_lost"]["blocks"] == 0,
                  "%s: nothing lost: %s" % (name, s))

    # The program's fate: killed by a signal, forks not followed.
    code, report, err = memprof_run(["sh", "-c", "kill -SEGV $$"], "--fail-on", "none")
    check(code == 139 and report and "killed by signal 11" in report["processes"][0]["fate"]
          and report["processes"][0]["checked"], "killed by SIGSEGV: %d %s" % (code, err))
    code, report, err = memprof_run(["sh", "-c", "/bin/true & wait"], "--fail-on", "none")
    check(code == 0 and "only the first process" in err, "forks are said: %s" % err)

    code, report, err = memprof_run(["sh", "-c", "exec " + example("leak_cycle")], "--fail-on", "none")
    if check(code == 0 and report and "called exec 1 time" in err, "exec is followed and said: %s" % err):
        s = report["processes"][0]["summary"]
        check(s["definitely_lost"]["blocks"] == 1 and s["indirectly_lost"]["blocks"] == 2,
              "the exec'd image is the one checked: %s" % s)

    # Corrupt chunks: the heap problem is reported, the check goes on, and
    # the result is marked partial.
    with held_core([helper("heapshape"), "corrupt-size"], "corrupt.core") as core:
        code, out, err = memprof("leaks", "--core", core, "--format", "json")
        if check(code == 0, "leaks on a corrupt heap still answers: %s" % err[-300:]):
            report = json.loads(out)
            check(report["partial"] and any("impossible size" in w for w in report["warnings"]),
                  "corrupt chunk reported, result partial: %s" % report["warnings"][:3])

    # Cores of a held program: the known answer; strict roots.
    with held_core([helper("leakshapes")], "shapes.core") as core:
        code, out, err = memprof("leaks", "--core", core, "--format", "json")
        report = json.loads(out) if code == 0 else None
        if check(report, "leaks --core: %d %s" % (code, err)):
            s = report["summary"]
            check((s["definitely_lost"]["blocks"], s["indirectly_lost"]["blocks"],
                   s["possibly_lost"]["blocks"], s["still_reachable"]["blocks"]) == (2, 11, 2, 5),
                  "held core: 2/11/2/5: %s" % s)
        code, out, _ = memprof("leaks", "--core", core, "--format", "json", "--roots", "strict")
        if check(code == 0, "strict roots"):
            s = json.loads(out)["summary"]
            check(s["definitely_lost"]["blocks"] == 3 and s["still_reachable"]["blocks"] == 4,
                  "--roots strict: the block held only by an anonymous mapping is lost: %s" % s)
        # The scan splits across threads; the answer must not change.
        one = memprof("leaks", "--core", core, "--format", "json", "--show-reachable", "--threads", "1")
        two = memprof("leaks", "--core", core, "--format", "json", "--show-reachable", "--threads", "2")
        check(one[0] == 0 and one[1] == two[1], "leaks with 1 and 2 threads give the same report")
        code, _, err = memprof("leaks", "--core", core, "--stats", "--threads", "2")
        check(code == 0 and re.search(r"stats: block scan of [\d.]+ GB in [\d.]+ s on \d threads?: [\d.]+ GB/s", err),
              "--stats reports the scan rate: %s" % err)
        code, out, _ = memprof("leaks", "--core", core, "--fail-on", "definite")
        check(code == 3 and "LEAK SUMMARY:" in out and "definitely lost: " in out, "text report, exit 3")
        # leaks checks nothing unless asked (the core has blocks of every
        # kind, 2/11/2/5 above); +KIND adds to definite,indirect.
        statuses = [memprof("leaks", "--core", core, *fail)[0]
                    for fail in ([], ["--fail-on", "+possible"], ["--fail-on", "+reachable"],
                                 ["--fail-on", "reachable"], ["--fail-on", "none"])]
        check(statuses == [0, 3, 3, 3, 0],
              "leaks exit statuses without --fail-on, +possible, possible, none: %s" % statuses)

        # refs: the block held by a global is named by the global's symbol.
        code, out, _ = memprof("leaks", "--core", core, "--format", "json", "--show-reachable")
        groups = json.loads(out)["groups"]
        global_block = [g for g in groups if g["kind"] == "still_reachable" and g["size"] == 24]
        if check(len(global_block) == 1, "the 24-byte block held by held_by_global"):
            code, out, err = memprof("refs", "--core", core, global_block[0]["example"], "--format", "json")
            refs = json.loads(out) if code == 0 else None
            if check(refs, "refs: %s" % err):
                check(any(r["where"] == "held_by_global+0" for r in refs["references"]),
                      "refs names held_by_global: %s" % refs["references"])
                check(refs["path"] and refs["path"]["root"]["where"] == "held_by_global+0",
                      "path starts at the global: %s" % refs["path"])
        lost = [g for g in groups if g["kind"] == "indirectly_lost"]
        if lost:
            code, out, _ = memprof("refs", "--core", core, lost[0]["example"])
            check(code == 0 and "no root reaches this block" in out, "a lost block has no path")
        code, out, err = memprof("refs", "--core", core, "0x10")
        check(code == 1 and "not inside any heap chunk" in err, "refs outside the heap: %s" % err)

    # refs on freed chunks: free (cached in the tcache, a fastbin, or in
    # the bins), not leaked; a held block still gets its path.
    places_path = os.path.join(tmp, "freed.txt")
    with held_core([helper("freed_blocks"), places_path], "freed.core") as core:
        places = dict(kv.split("=") for kv in open(places_path).read().split())
        for place, words in (("tcache", "cached in a tcache bin"), ("fastbin", "cached in a fastbin"),
                             ("unsorted", "in malloc's bins")):
            code, out, err = memprof("refs", "--core", core, places[place])
            check(code == 0 and "free (%s): not a leak" % words in out and "leaked" not in out,
                  "refs on a %s chunk says it is free: %d %s %s" % (place, code, out, err))
            code, out, _ = memprof("refs", "--core", core, places[place], "--format", "json")
            refs = json.loads(out) if code == 0 else {}
            check(refs and refs["block"]["state"] == ("free" if place == "unsorted" else place)
                  and refs["block"]["in_use"] is False and refs["path"] is None,
                  "refs --format json on a %s chunk: %s" % (place, refs.get("block")))
        code, out, _ = memprof("refs", "--core", core, places["held"])
        check(code == 0 and "shortest path from a root:\n  held+0 -> " + places["held"] in out,
              "refs on a held block gives its path: %s" % out)

        # A core whose stacks were not saved: said, and the result partial.
        import struct
        info = json.loads(memprof("info", "--core", core, "--format", "json")[1])
        stack_pointers = [int(t["registers"]["rsp"], 16) for t in info["threads"]]
        data = bytearray(open(core, "rb").read())
        phoff, = struct.unpack_from("<Q", data, 32)
        phnum, = struct.unpack_from("<H", data, 56)
        for i in range(phnum):
            at = phoff + 56 * i
            p_type, _, _, vaddr, _, filesz, memsz = struct.unpack_from("<IIQQQQQ", data, at)
            if p_type == 1 and any(vaddr <= sp < vaddr + memsz for sp in stack_pointers):
                struct.pack_into("<Q", data, at + 32, 0)   # p_filesz = 0
        nostack = os.path.join(tmp, "nostack.core")
        open(nostack, "wb").write(bytes(data))
        code, out, err = memprof("leaks", "--core", nostack, "--format", "json")
        if check(code == 0, "leaks without stacks still answers: %s" % err[-300:]):
            report = json.loads(out)
            check(report["partial"] and any("stack of thread" in w for w in report["warnings"]),
                  "missing stacks said, result partial: %s" % report["warnings"][:3])
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
