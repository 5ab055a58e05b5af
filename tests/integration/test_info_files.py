"""Where module files and debug files come from: --sysroot, --debug-dir,
.gnu_debuglink next to a stripped program, a static program without
r_debug, and a core whose files are missing (modules kept, warnings said)."""
import os
import shutil
import subprocess
import tempfile

from mptest import (check, example, finish, held_core, helper, memprof,
                    memprof_json, readelf_build_id)

tmp = tempfile.mkdtemp(prefix="memprof-files-")
try:
    # A stripped program whose DWARF sits next to it, named by .gnu_debuglink.
    stripped = os.path.join(tmp, "pattern")
    debug = os.path.join(tmp, "pattern.debug")
    subprocess.run(["objcopy", "--only-keep-debug", helper("pattern"), debug], check=True)
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=" + debug,
                    helper("pattern"), stripped], check=True)
    with held_core([stripped], "stripped.core") as core:
        info = memprof_json("info", "--core", core)
        main = [m for m in info["modules"] if m["main"]][0]
        check(main["debug_source"] == "debuglink" and main["debug_file"] == debug,
              "stripped program: debug file %s (%s)" % (main["debug_file"], main["debug_source"]))

        # A stale debug file (CRC differs) is refused.
        with open(debug, "ab") as f:
            f.write(b"\0")
        info = memprof_json("info", "--core", core)
        main = [m for m in info["modules"] if m["main"]][0]
        check(main["debug_file"] is None and main["debug_source"] == "none",
              "stale debuglink target refused: %s" % main["debug_file"])

        # --debug-dir is searched by build id before the system directory.
        libc = [m for m in info["modules"] if "libc.so" in m["path"]][0]
        bid = libc["build_id"]
        own = os.path.join(tmp, "debug", ".build-id", bid[:2], bid[2:] + ".debug")
        os.makedirs(os.path.dirname(own))
        shutil.copy(libc["debug_file"], own)
        info = memprof_json("info", "--core", core, "--debug-dir", os.path.join(tmp, "debug"))
        libc = [m for m in info["modules"] if "libc.so" in m["path"]][0]
        check(libc["debug_file"] == own, "--debug-dir wins: %s" % libc["debug_file"])

        # --sysroot: files are looked up under it.  Copy the libraries there.
        sysroot = os.path.join(tmp, "sysroot")
        for m in info["modules"]:
            if m["file"] and not m["main"]:
                dest = sysroot + m["path"]
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copy(m["file"], dest)
        info = memprof_json("info", "--core", core, "--sysroot", sysroot)
        for m in info["modules"]:
            if m["path"].startswith("/") and not m["main"]:
                check(m["file"] == sysroot + m["path"], "sysroot file for %s: %s" % (m["path"], m["file"]))
                check(m["build_id"] == readelf_build_id(m["file"]), "sysroot build id of %s" % m["path"])

        # An empty sysroot: files are missing, modules and build ids remain.
        empty = os.path.join(tmp, "empty")
        os.makedirs(empty)
        code, out, err = memprof("info", "--core", core, "--sysroot", empty, "--format", "json")
        check(code == 0, "missing files are no error (status %d)" % code)
        import json
        info = json.loads(out)
        libc = [m for m in info["modules"] if "libc.so" in m["path"]]
        check(len(libc) == 1 and libc[0]["file"] is None and len(libc[0]["build_id"]) == 40,
              "libc kept with its in-memory build id: %s" % libc)
        check("not found" in err and "--sysroot" not in err.split("not found")[0][-5:],
              "missing files named on stderr: %s" % err[:300])

    # A static program: no r_debug, modules come from the mappings.
    with held_core([helper("pattern_static")], "static.core") as core:
        info = memprof_json("info", "--core", core)
        paths = [m["path"] for m in info["modules"]]
        check(len([m for m in info["modules"] if m["main"]]) == 1, "static: main module found")
        check(not any("libc.so" in p for p in paths), "static: no shared libraries: %s" % paths)
        main = [m for m in info["modules"] if m["main"]][0]
        check(main["build_id"] == readelf_build_id(helper("pattern_static")), "static: build id")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
