"""memprof patterns' overcapacity where only a stack local, a shared
buffer, a hash table's bucket array or a container's elements show it,
against what tests/helpers/capacity_shapes measures itself with
malloc_usable_size and bucket_count(): each finding's savings within 10% of
its truth, the block two views share counted once, and a full
std::unordered_map (a prime bucket count just above its size) no finding."""
import json
import os
import subprocess

from mptest import check, finish, held_core, helper, memprof

program = helper("capacity_shapes")
if not os.path.exists(program):
    print("capacity_shapes not built (no C++ compiler): skipped")
    raise SystemExit(0)

# The truths do not depend on addresses: a run without --hold prints them.
proc = subprocess.run([program], capture_output=True, text=True, timeout=120)
check(proc.returncode == 0, "capacity_shapes runs: %s" % proc.stderr[-300:])
truth = json.loads(proc.stderr.splitlines()[0])

subjects = {
    "local": "std::vector<short int, std::allocator<short int> >",
    "ivec.items": "ivec.items",
    "view.items": "view.items",
    "inner": "std::vector<int, std::allocator<int> >",
    "strings": "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >",
    "reserved_map": "std::unordered_map<long int, int, std::hash<long int>, "
                    "std::equal_to<long int>, std::allocator<std::pair<long int const, int> > >",
}

with held_core([program], "capacity.core") as core:
    status, out, err = memprof("patterns", "--core", core, "--format", "json")
    check(status == 0, "patterns exits 0: %s" % err[-300:])
    report = json.loads(out)
    over = [f for f in report["findings"] if f["kind"] == "overcapacity"]
    # The full map's own numbers make the case: counted against its size,
    # its buckets would be a finding above the floor.
    check((truth["full_map_buckets"] - truth["full_map_size"]) * 8 > report["noise_floor_bytes"],
          "the full map's buckets past its size exceed the floor: %s" % truth)
    by_subject = {f["subject"].split(" (")[0]: f for f in over}
    for key, subject in subjects.items():
        found = by_subject.get(subject)
        if not check(found is not None, "an overcapacity finding for %s (%s): %s"
                     % (key, subject, sorted(by_subject))):
            continue
        savings = found["estimated_savings_bytes"]
        check(abs(savings - truth[key]) <= truth[key] * 0.10,
              "%s: savings %d within 10%% of the truth %d" % (key, savings, truth[key]))
    view = by_subject.get(subjects["view.items"])
    check(view is not None and view["blocks"] == truth["view.blocks"],
          "the shared block counts once: %s" % view)
    full = [s for s in by_subject if s.startswith("std::unordered_map<int, long int")]
    check(not full, "a full unordered_map is no finding: %s" % full)
    # The 100 inner vectors and the 100 strings, each its own block.
    for key in ("inner", "strings"):
        found = by_subject.get(subjects[key])
        check(found is not None and found["blocks"] == 100,
              "%s: every element's buffer measured: %s" % (key, found and found["blocks"]))
    one = memprof("recommend", "--core", core, "--format", "json", "--threads", "1")
    two = memprof("recommend", "--core", core, "--format", "json", "--threads", "2")
    check(one[0] == 0 and one == two, "recommend byte-identical on one thread and two")
finish()
