"""memprof patterns' overcapacity of vectors kept in the nodes of a
std::map, std::unordered_map and std::list (libstdc++ keeps a node's value
in bytes its type does not describe), against what
tests/helpers/node_capacity measures itself with malloc_usable_size: each
container's finding within 10% of its truth with every buffer measured,
and none of those buffers reported as duplicate content (their n-th
vectors hold the same ints).  With libc++ too where it is built."""
import json
import os
import subprocess

from mptest import check, finish, held_core, helper, memprof

# The node type each finding's subject starts with, per library.
node_types = {
    "node_capacity": {
        "map_int": "std::_Rb_tree_node<std::pair<int const, std::vector<int",
        "map_string": "std::_Rb_tree_node<std::pair<const std::__cxx11::basic_string<",
        "unordered": "std::__detail::_Hash_node<std::pair<int const, std::vector<int",
        "list": "std::_List_node<std::vector<int",
    },
    "node_capacity_libcxx": {
        "map_int": "std::__1::__tree_node<std::__1::__value_type<int, std::__1::vector<int",
        "map_string": "std::__1::__tree_node<std::__1::__value_type<std::__1::basic_string<",
        "unordered": "std::__1::__hash_node<std::__1::__hash_value_type<int, "
                     "std::__1::vector<int",
        "list": "std::__1::__list_node<std::__1::vector<int",
    },
}

ran = 0
for name, prefixes in node_types.items():
    program = helper(name)
    if not os.path.exists(program):
        print("%s not built: skipped" % name)
        continue
    ran += 1
    # The truths do not depend on addresses: a run without --hold prints them.
    proc = subprocess.run([program], capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, "%s runs: %s" % (name, proc.stderr[-300:]))
    truth = json.loads(proc.stderr.splitlines()[0])
    with held_core([program], name + ".core") as core:
        status, out, err = memprof("patterns", "--core", core, "--format", "json")
        check(status == 0, "%s: patterns exits 0: %s" % (name, err[-300:]))
        report = json.loads(out)
    over = [f for f in report["findings"] if f["kind"] == "overcapacity"]
    for key, prefix in prefixes.items():
        # A map's keys may show their own slack, as .first.
        found = [f for f in over if f["subject"].startswith(prefix) and
                 ".first" not in f["subject"]]
        if not check(len(found) == 1, "%s %s: one overcapacity finding of its vectors: %s"
                     % (name, key, [f["subject"] for f in over])):
            continue
        savings = found[0]["estimated_savings_bytes"]
        check(abs(savings - truth[key]) <= truth[key] * 0.10,
              "%s %s: savings %d within 10%% of the truth %d" % (name, key, savings, truth[key]))
        check(found[0]["blocks"] == truth["blocks"], "%s %s: every vector's buffer measured: %d"
              % (name, key, found[0]["blocks"]))
    duplicates = [f for f in report["findings"] if f["kind"] == "duplicate-content"]
    check(not duplicates, "%s: the reserved vectors are no duplicate content: %s"
          % (name, [(f["subject"], f["blocks"]) for f in duplicates]))
check(ran > 0, "node_capacity built")
finish()
