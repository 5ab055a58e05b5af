"""Block typing against the truth: the typed_blocks helper records the type
of every block it allocates; `memprof leaks --blocks` must type none of
them wrongly, and type every block whose type its memory can tell (typed
roots, arrays of pointers, lost lists and a lost cycle by their shape,
strings), on a core and on the live process.  The shares typed right,
wrong and untyped are printed (docs/leaks.md records them)."""
import json
import os
import shutil
import tempfile

from mptest import Held, check, finish, gcore, helper, memprof, read_truth, type_tally

tmp = tempfile.mkdtemp(prefix="memprof-types-")
try:
    truth_path = os.path.join(tmp, "truth.txt")
    held = Held([helper("typed_blocks"), truth_path, "--hold"])
    try:
        core = gcore(held.pid, os.path.join(tmp, "typed.core"))
        truth = read_truth(truth_path)
        for where, target in (("core", ["--core", core]), ("live", ["--pid", str(held.pid)])):
            status, out, err = memprof("leaks", *target, "--blocks", "--format", "json")
            if not check(status == 0, "%s: leaks --blocks exits 0: %s" % (where, err[-300:])):
                continue
            blocks = json.loads(out)["blocks"]
            seen = {int(b["address"], 16): b for b in blocks}
            tally = type_tally(truth, blocks)
            for address, kind in tally["missing"]:
                check(False, "%s: block %#x (%s) is in the listing" % (where, address, kind))
            for address, kind, said, evidence in tally["wrong"]:
                check(False, "%s: block %#x is %s, memprof says %s (%s)"
                      % (where, address, kind, said, evidence))
            right, wrong, untyped = (len(tally[k]) for k in ("right", "wrong", "untyped"))
            unknowable = len(tally["unknowable"])
            total = right + wrong + untyped
            print("%s: %d blocks with a knowable type: %d right (%.1f%%), %d wrong, %d untyped; "
                  "%d unknowable" % (where, total, right, 100.0 * right / max(total, 1), wrong,
                                     untyped, unknowable))
            check(untyped == 0, "%s: every knowable type found (%d untyped)" % (where, untyped))
            lost = [b for b in seen.values() if b["kind"] in ("definitely_lost", "indirectly_lost")
                    and b["type"] in ("struct job", "struct ring")]
            check(len(lost) == 306, "%s: 300 jobs and 6 ring nodes lost and typed: %d" % (where, len(lost)))
    finally:
        check(held.release() == 0, "typed_blocks exits normally")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# Text in blocks of a struct's size: neither the shape guess (--blocks) nor
# the size guess (the report's groups) names a string with the struct, and
# the struct's real lost blocks are still named.
tmp = tempfile.mkdtemp(prefix="memprof-text-")
try:
    truth_path = os.path.join(tmp, "truth.txt")
    held = Held([helper("text_blocks"), truth_path, "--hold"])
    try:
        core = gcore(held.pid, os.path.join(tmp, "text.core"))
        truth = read_truth(truth_path)
        texts = {a for a, k in truth.items() if k == "text"}
        check(len(texts) == 90, "90 text blocks recorded: %d" % len(texts))
        status, out, err = memprof("leaks", "--core", core, "--blocks", "--format", "json")
        if check(status == 0, "text: leaks --blocks exits 0: %s" % err[-300:]):
            report = json.loads(out)
            seen = {int(b["address"], 16): b for b in report["blocks"]}
            named = [(hex(a), seen[a]["type"], seen[a]["evidence"]) for a in sorted(texts)
                     if a in seen and seen[a]["type"] and seen[a]["type"].startswith("struct")]
            check(not named, "text blocks named as structs: %d, e.g. %s" % (len(named), named[:3]))
            lost_texts = [a for a in texts if seen.get(a, {}).get("kind") == "definitely_lost"]
            check(len(lost_texts) == 90, "text blocks definitely lost: %d" % len(lost_texts))
            structs = {a: k for a, k in truth.items() if k != "text"}
            right = sum(1 for a, k in structs.items() if seen.get(a, {}).get("type") == k)
            wrong = [(hex(a), k, seen[a]["type"]) for a, k in structs.items()
                     if a in seen and seen[a]["type"] not in (None, k)]
            check(not wrong, "struct blocks named wrongly: %s" % wrong[:3])
            check(right == len(structs), "struct blocks named right: %d of %d" % (right, len(structs)))
            # The report's groups: the size guess names only real structs.
            grouped = {}
            for g in report["groups"]:
                if g["type"] in ("struct tagged", "struct record"):
                    grouped[g["type"]] = grouped.get(g["type"], 0) + g["count"]
                    check(int(g["example"], 16) not in texts,
                          "group %s (%s) has a text block as example" % (g["type"], g["evidence"]))
            lost_structs = {}
            for a, k in structs.items():
                if seen.get(a, {}).get("kind") in ("definitely_lost", "indirectly_lost"):
                    lost_structs[k] = lost_structs.get(k, 0) + 1
            check(grouped == lost_structs == {"struct tagged": 6, "struct record": 8},
                  "lost blocks grouped as structs %s, truly lost structs %s" % (grouped, lost_structs))
            print("text blocks: %d strings, %d named as a struct; %d of %d struct blocks named right"
                  % (len(texts), len(named), right, len(structs)))
    finally:
        check(held.release() == 0, "text_blocks exits normally")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
