"""Rust layouts: the program prints its true layout (std::mem::size_of and
offset_of!) and memprof type must agree field by field, with members
sorted by offset and no false holes (pahole 1.24 reports 64 KiB holes on
rustc's reordered fields and ignores DW_TAG_variant_part).  Enum variant
parts: variant names, niche discriminants, the dataful default."""
import json
import os
import subprocess

from mptest import check, finish, memprof

TYPES = os.environ.get("TYPES_DIR", "")
exe = os.path.join(TYPES, "layouts_rs")
if not os.path.exists(exe):
    print("SKIP: the Rust layouts program was not built (rustc >= 1.77 needed)")
    raise SystemExit(77)


def layout(name):
    code, out, err = memprof("type", name, "--exe", exe, "--format", "json")
    if not check(code == 0, "memprof type %s: %s" % (name, err.strip())):
        return None
    return json.loads(out)


truth = [json.loads(line) for line in
         subprocess.run([exe], capture_output=True, text=True, check=True).stdout.splitlines()]
check(len(truth) >= 7, "the program printed its layouts: %r" % truth)
for t in truth:
    mine = layout(t["name"])
    if not mine:
        continue
    check(mine["size"] == t["size"], "%s: size %d, size_of says %d" % (t["name"], mine["size"], t["size"]))
    offsets = {m["name"]: m["offset"] for m in mine["members"]}
    for field, offset in t["fields"].items():
        check(offsets.get(field) == offset,
              "%s.%s at %s, offset_of says %d" % (t["name"], field, offsets.get(field), offset))
    listed = [m["offset"] for m in mine["members"]]
    check(listed == sorted(listed), "%s: members sorted by offset: %s" % (t["name"], listed))
    if t["fields"]:
        # no overlap, so holes + members + padding add up to the size
        used = sum(m["size"] for m in mine["members"])
        check(used + mine["sum_holes"] + mine["padding"] == mine["size"],
              "%s: %d member bytes + %d hole bytes + %d padding != %d" %
              (t["name"], used, mine["sum_holes"], mine["padding"], mine["size"]))

mixed = layout("layouts::Mixed")
if mixed:
    check(mixed["holes"] == [] and mixed["padding"] == 0, "Mixed is dense: %s" % mixed["holes"])

# enums
option = layout("core::option::Option<alloc::boxed::Box<u32, alloc::alloc::Global>>")
if option:
    variants = {v["name"]: v for v in option.get("variants", [])}
    check(set(variants) == {"None", "Some"}, "Option variants: %s" % list(variants))
    check(option.get("discriminant") == {"offset": 0, "size": 8}, "Option niche discriminant: %s" % option.get("discriminant"))
    check(variants.get("None", {}).get("discr_value") == 0, "None is the null niche")
    check(variants.get("Some", {}).get("discr_value", 1) is None, "Some is the dataful default")
shape = layout("layouts::Shape")
if shape:
    names = sorted(v["name"] for v in shape.get("variants", []))
    check(names == ["Circle", "Empty", "Label", "Rect"], "Shape variants: %s" % names)
    check(shape["padding"] == 0 and shape["holes"] == [], "an enum has no holes of its own")
tiny = layout("layouts::Tiny")
if tiny:
    values = sorted(v["discr_value"] for v in tiny.get("variants", []))
    check(values == [0, 1], "Tiny discriminants: %s" % values)

# the Rust path of a static, relocated: the exe target reads its initial data
code, out, err = memprof("type", "--variable", "layouts::INSTANCE", "--exe", exe, "--format", "json")
if check(code == 0, "variable layouts::INSTANCE: %s" % err.strip()):
    v = json.loads(out)
    check(v["size"] == 56 and v["name"] == "layouts::INSTANCE", "INSTANCE: %s" % v)

finish()
