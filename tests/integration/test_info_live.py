"""`memprof info --pid` on a live multi-threaded process: the threads and
mappings the kernel reports, modules where gdb puts them, registers equal to
what gdb reads after memprof let go, and the process continues unharmed."""
import json
import os
import re

from mptest import (Held, check, example, finish, gdb_batch,
                    gdb_shared_libraries, memprof, text_address)

held = Held([example("leak_tls"), "--hold"])
try:
    status, out, err = memprof("info", "--pid", str(held.pid), "--format", "json")
    check(status == 0, "memprof info --pid exited %d: %s" % (status, err))
    info = json.loads(out)
    tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % held.pid))
    check(sorted(t["tid"] for t in info["threads"]) == tids,
          "threads %s, /proc %s" % ([t["tid"] for t in info["threads"]], tids))
    check(len(tids) > 1, "leak_tls holds several threads")
    check(all(t["registers"] is not None for t in info["threads"]), "every thread has registers")
    check(info["target"]["kind"] == "live" and info["process"]["pid"] == held.pid, "live target of the pid")

    kernel_maps = []
    with open("/proc/%d/maps" % held.pid) as f:
        for line in f:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            kernel_maps.append((start, end, parts[1], int(parts[2], 16),
                                parts[5].strip() if len(parts) > 5 else ""))
    ours = [(int(m["start"], 16), int(m["end"], 16), m["perms"], int(m["offset"], 16), m["path"])
            for m in info["mappings"]]
    check(ours == kernel_maps, "mappings equal /proc/PID/maps (%d vs %d)" % (len(ours), len(kernel_maps)))

    # After memprof detached, gdb can attach: the process was released.
    gdb_out = gdb_batch("-p", str(held.pid), "-ex", "thread apply all info registers rip rsp fs_base",
                        "-ex", "info sharedlibrary")
    gdb_regs, current = {}, None
    for line in gdb_out.splitlines():
        m = re.match(r"Thread \d+ \(.*?LWP (\d+)\)", line)
        if m:
            current = gdb_regs.setdefault(int(m.group(1)), {})
        m = re.match(r"^(rip|rsp|fs_base)\s+(0x[0-9a-f]+)", line)
        if m and current is not None:
            current[m.group(1)] = int(m.group(2), 16)
    check(sorted(gdb_regs) == tids, "gdb sees the same threads")
    for t in info["threads"]:
        for reg in ("rsp", "fs_base"):
            g = gdb_regs.get(t["tid"], {}).get(reg)
            check(g == int(t["registers"][reg], 16),
                  "thread %d %s %s, gdb %s" % (t["tid"], reg, t["registers"][reg], g))
    libs = {}
    for line in gdb_out.splitlines():
        m = re.match(r"(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+\S+\s+(?:\(\*\)\s+)?(/\S+)", line)
        if m:
            libs[m.group(2)] = int(m.group(1), 16)
    modules = {m["path"]: m for m in info["modules"]}
    check(len(libs) >= 2, "gdb lists shared libraries")
    for path, text_start in libs.items():
        m = modules.get(path)
        if check(m is not None, "module %s missing" % path):
            check(int(m["load_bias"], 16) + text_address(m["file"]) == text_start,
                  "%s placed where gdb puts it" % path)
finally:
    status = held.release()
check(status == 0, "the process exits normally after memprof and gdb (status %r)" % status)
finish()
