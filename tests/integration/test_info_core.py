"""`memprof info` on gcore cores of the examples, checked against gdb on the
same core and against readelf on the same files."""
import os

from mptest import (check, example, finish, gdb_file_mappings, gdb_registers,
                    gdb_shared_libraries, held_core, memprof_json,
                    readelf_build_id, text_address)

# Registers gdb and memprof both name; gdb has no orig_rax in `info registers`.
COMPARED = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9",
            "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags", "cs",
            "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"]


def check_core(name, exe, core):
    info = memprof_json("info", "--core", core)
    tag = "%s: " % name

    # Threads and every general register, as gdb reads them.
    gdb_threads = gdb_registers(exe, core)
    ours = {t["tid"]: t["registers"] for t in info["threads"]}
    check(set(ours) == set(gdb_threads), tag + "threads %s, gdb %s" % (sorted(ours), sorted(gdb_threads)))
    for tid, regs in gdb_threads.items():
        for reg in COMPARED:
            if reg in regs and tid in ours:
                check(int(ours[tid][reg], 16) == regs[reg],
                      tag + "thread %d %s=%s, gdb %#x" % (tid, reg, ours[tid][reg], regs[reg]))
    check(info["process"]["pid"] in ours, tag + "process pid is one of the threads")

    # Every file mapping gdb lists (NT_FILE) with the same range, offset, path.
    maps = {(int(m["start"], 16), int(m["end"], 16)): m for m in info["mappings"]}
    gdb_maps = gdb_file_mappings(exe, core)
    check(len(gdb_maps) > 3, tag + "gdb lists file mappings")
    for start, end, offset, path in gdb_maps:
        m = maps.get((start, end))
        if check(m is not None, tag + "mapping %#x-%#x %s missing" % (start, end, path)):
            check(m["path"] == path and int(m["offset"], 16) == offset,
                  tag + "mapping %#x: %s@%s, gdb %s@%#x" % (start, m["path"], m["offset"], path, offset))
    starts = [int(m["start"], 16) for m in info["mappings"]]
    check(starts == sorted(starts), tag + "mappings sorted by address")

    # Modules: the same shared libraries as gdb, each placed where gdb puts
    # its .text (load bias + link-time .text address).
    modules = {m["path"]: m for m in info["modules"]}
    gdb_libs = gdb_shared_libraries(exe, core)
    check(len(gdb_libs) >= 2, tag + "gdb finds shared libraries")
    for path, text_start in gdb_libs.items():
        m = modules.get(path)
        if not check(m is not None, tag + "module %s missing (have %s)" % (path, sorted(modules))):
            continue
        link_text = text_address(m["file"] or path)
        check(link_text is not None and int(m["load_bias"], 16) + link_text == text_start,
              tag + "%s: bias %s + .text %s != gdb %#x" % (path, m["load_bias"], link_text, text_start))

    main = [m for m in info["modules"] if m["main"]]
    if check(len(main) == 1, tag + "one main module"):
        main = main[0]
        check(os.path.realpath(main["path"]) == os.path.realpath(exe), tag + "main module is %s" % main["path"])
        check(main["debug_source"] == "self" and main["debug_file"] == main["file"],
              tag + "examples carry their own DWARF: %s" % main["debug_source"])
        auxv = {a["name"]: int(a["value"], 16) for a in info["auxv"]}
        entry = int(open(exe, "rb").read()[24:32][::-1].hex(), 16)
        check(int(main["load_bias"], 16) + entry == auxv.get("AT_ENTRY"),
              tag + "main bias + e_entry == AT_ENTRY")
    check(any(m["path"] == "[vdso]" for m in info["modules"]), tag + "vdso module")

    # Build ids: lowercase hex, equal to readelf -n on the file.
    for m in info["modules"]:
        if m["file"]:
            want = readelf_build_id(m["file"])
            check(m["build_id"] == want, tag + "%s build id %s, readelf %s" % (m["path"], m["build_id"], want))
        check(m["build_id"] == m["build_id"].lower(), tag + "lowercase build id")

    # libc's DWARF comes from libc6-dbg by build id.
    libc = [m for m in info["modules"] if "libc.so" in m["path"]]
    if check(len(libc) == 1, tag + "libc module"):
        bid = libc[0]["build_id"]
        want = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
        check(libc[0]["debug_file"] == want and libc[0]["debug_source"] == "build-id",
              tag + "libc debug file %s (%s), want %s" % (libc[0]["debug_file"], libc[0]["debug_source"], want))
    check(info["partial"] is False and info["warnings"] == [], tag + "no warnings: %s" % info["warnings"])

    # The same with --exe named explicitly.
    again = memprof_json("info", "--core", core, "--exe", exe)
    check([m["load_bias"] for m in again["modules"]] == [m["load_bias"] for m in info["modules"]],
          tag + "--exe gives the same modules")


cases = [("instance_c", [example("instance_c")]),
         ("leak_tls", [example("leak_tls")])]
for optional in ("instance_cpp", "zoo_rs"):
    try:
        cases.append((optional, [example(optional)]))
    except SystemExit:
        print("skipping %s: not built" % optional)

for name, argv in cases:
    with held_core(argv, name + ".core") as core:
        check_core(name, argv[0], core)
finish()
