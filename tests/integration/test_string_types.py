"""Strings on the heap, against tests/helpers/string_keys' own truth, built
by g++ and by clang++ -O0 (which leaves std::string a declaration only):
the long keys of an unordered_map and an unordered_set are typed as
strings, never as the std::__detail::_Hash_node_base their nodes link
through, and the nodes as their full _Hash_node type; the slack of strings
reserved far past their length (a struct's member, a vector's elements)
is found as overcapacity, measured by the program with
malloc_usable_size."""
import json
import os

from mptest import check, finish, held_core, helper, memprof

STRING = "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >"

for build in ("string_keys_gcc", "string_keys_clang"):
    program = helper(build)
    if not os.path.exists(program):
        print("%s not built: skipped" % build)
        continue
    truth, keys = {}, set()

    def before_ready(line):
        word, value = line.split()
        if word == "key":
            keys.add(int(value, 16))
        else:
            truth[word] = int(value)
        return True

    with held_core([program], build + ".core", before_ready) as core:
        status, out, err = memprof("leaks", "--core", core, "--exe", program, "--blocks",
                                   "--format", "json")
        if check(status == 0, "%s: leaks --blocks exits 0: %s" % (build, err[-300:])):
            blocks = json.loads(out)["blocks"]
            types = {int(b["address"], 16): b["type"] or "" for b in blocks}
            bases = [a for a, t in types.items() if t == "std::__detail::_Hash_node_base"]
            check(not bases, "%s: no block typed _Hash_node_base: %d" % (build, len(bases)))
            as_string = [a for a in keys if types.get(a) == "char[] (string)"]
            check(len(keys) == truth["key_buffers"] and len(as_string) == len(keys),
                  "%s: %d key buffers typed char[] (string) of %d (%d printed)"
                  % (build, len(as_string), truth["key_buffers"], len(keys)))
            nodes = sum(1 for t in types.values()
                        if t.startswith("std::__detail::_Hash_node<") and t.endswith(", true>"))
            check(nodes == truth["key_buffers"], "%s: %d nodes of the full node type, %d keys"
                  % (build, nodes, truth["key_buffers"]))
        status, out, err = memprof("patterns", "--core", core, "--exe", program,
                                   "--format", "json")
        if check(status == 0, "%s: patterns exits 0: %s" % (build, err[-300:])):
            report = json.loads(out)
            over = {f["subject"]: f["estimated_savings_bytes"] for f in report["findings"]
                    if f["kind"] == "overcapacity"}
            for subject, key in (("Holder.name (%s)" % STRING, "name_slack"),
                                 (STRING, "string_slack")):
                check(over.get(subject) == truth[key], "%s: overcapacity %s: %r, truth %d"
                      % (build, subject, over.get(subject), truth[key]))

# A string type only declared and not readable without its definition
# (clang++, old ABI): patterns says so, in the text report's warnings and,
# for JSON, on stderr, since that analysis is what meets the type.
program = helper("string_oldabi_clang")
if os.path.exists(program):
    with held_core([program], "oldabi.core", lambda line: True) as core:
        said = "is only declared in the debug info"
        status, out, err = memprof("patterns", "--core", core, "--exe", program, "--format", "json")
        check(status == 0 and said in err and json.loads(out)["findings"] is not None,
              "old ABI, JSON: the declared-only warning on stderr: %r" % err[-400:])
        status, out, err = memprof("patterns", "--core", core, "--exe", program)
        check(status == 0 and said in out.split("warnings (")[-1],
              "old ABI, text: the declared-only warning ends the report: %r" % out[-400:])
else:
    print("string_oldabi_clang not built: skipped")

finish()
