"""Allocators other than glibc's malloc: detected, named, read or refused.

A leaking program (tests/helpers/alloc_leak.c: 8 blocks of 100 bytes held
by a global, 5 of 200 bytes lost) is linked against Debian's jemalloc,
tcmalloc (full and minimal), mimalloc, a static libjemalloc.a, an allocator
memprof does not know (tests/helpers/bump_malloc.c), and run with jemalloc
LD_PRELOAD'ed.  Where memprof reads the allocator (each has its own exact
test: test_heap_jemalloc.py and the others), on a gcore core, on the live
process (--pid) and through `memprof run --fail-on definite`, heap and leaks
name the allocator as the backend and find the 5 lost blocks, and run fails
the job on them.  Where it cannot (the unknown allocator), every heap verb
must exit 1 with one line naming the allocator and module, and print no
answer; `info` names the allocator and exits 0.  The same program on glibc
(dynamic and static) still reports glibc and finds its leaks.  In GDB and
LLDB the refusal line is printed and the debugger goes on; a jemalloc core
gives the CLI's leak summary.

The allocators come from Debian packages that bootstrap.sh installs: when
one is missing the test fails and says which, it never skips."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mptest import Held, check, finish, gcore, memprof

LIBDIR = "/usr/lib/x86_64-linux-gnu"
HELPER_SOURCES = os.path.join(os.environ["MEMPROF_SOURCE_DIR"], "tests", "helpers")
CFLAGS = ["-g", "-O1", "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror", "-pthread"]
DEBUGGERS = "--no-debuggers" not in sys.argv[1:]
REFUSAL = "memprof reads glibc, jemalloc, tcmalloc and mimalloc heaps; no heap answers given"

# A file the test links against, and the Debian package that installs it.
NEEDED = {
    "libjemalloc.so": "libjemalloc-dev",
    "libjemalloc.a": "libjemalloc-dev",
    "libtcmalloc.so": "libgoogle-perftools-dev",
    "libtcmalloc_minimal.so": "libgoogle-perftools-dev",
    "libmimalloc.so": "libmimalloc-dev",
}
missing = sorted({pkg for name, pkg in NEEDED.items()
                  if not os.path.exists(os.path.join(LIBDIR, name))})
if missing:
    print("FAIL: packages missing: %s (./bootstrap.sh installs them: apt-get install %s)"
          % (", ".join(missing), " ".join(missing)), file=sys.stderr)
    sys.exit(1)


def upstream_version(path):
    """The upstream version of the Debian package that owns path:
    "5.3.0" of libjemalloc2 5.3.0-1, "2.0.9" of libmimalloc2.0 2.0.9+ds-2."""
    owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True).stdout
    package = owner.split(":")[0] if owner else ""
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True).stdout
    m = re.match(r"(?:\d+:)?(\d+(?:\.\d+)+)", version)
    return m.group(1) if m else None


tmp = tempfile.mkdtemp(prefix="memprof-allocators-")


def build(output, *args, source="alloc_leak.c"):
    path = os.path.join(tmp, output)
    proc = subprocess.run(["gcc", *CFLAGS, os.path.join(HELPER_SOURCES, source), "-o", path,
                           *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("building %s failed: %s" % (output, proc.stderr[-2000:]))
    return path


def strip(path):
    subprocess.run(["strip", path], check=True)
    return path


def lib(name):
    return os.path.join(LIBDIR, name)


jemalloc_so = os.path.realpath(lib("libjemalloc.so"))
tcmalloc_so = os.path.realpath(lib("libtcmalloc.so"))
tcmalloc_minimal_so = os.path.realpath(lib("libtcmalloc_minimal.so"))
mimalloc_so = os.path.realpath(lib("libmimalloc.so"))
glibc_version = upstream_version("/lib/x86_64-linux-gnu/libc.so.6")

# --no-as-needed: each program's malloc must come from the library named.
build("libmpbump.so", "-shared", "-fPIC", source="bump_malloc.c")
glibc_exe = build("leak_glibc")
cases = [
    # name, argv, environment, allocator, version, module file name
    ("jemalloc", [build("leak_jemalloc", "-Wl,--no-as-needed", "-ljemalloc")], None,
     "jemalloc", upstream_version(jemalloc_so), os.path.basename(jemalloc_so)),
    ("tcmalloc", [build("leak_tcmalloc", "-Wl,--no-as-needed", "-ltcmalloc")], None,
     "tcmalloc", upstream_version(tcmalloc_so), "libtcmalloc.so.4"),
    ("tcmalloc_minimal", [build("leak_tcmalloc_minimal", "-Wl,--no-as-needed",
                                "-ltcmalloc_minimal")], None,
     "tcmalloc", upstream_version(tcmalloc_minimal_so), "libtcmalloc_minimal.so.4"),
    ("mimalloc", [build("leak_mimalloc", "-Wl,--no-as-needed", "-lmimalloc")], None,
     "mimalloc", upstream_version(mimalloc_so), "libmimalloc.so.2"),
    # jemalloc linked into the executable: the executable's malloc is
    # looked up first.
    ("static jemalloc", [build("leak_jemalloc_static", lib("libjemalloc.a"), "-lm", "-ldl")],
     None, "jemalloc", upstream_version(jemalloc_so), "leak_jemalloc_static"),
    # The same, stripped: no entry point names it, its strings do.
    ("stripped static jemalloc", [strip(build("leak_jemalloc_stripped", lib("libjemalloc.a"),
                                              "-lm", "-ldl"))],
     None, "jemalloc", upstream_version(jemalloc_so), "leak_jemalloc_stripped"),
    # LD_PRELOAD: the preloaded library comes right after the executable.
    ("preloaded jemalloc", [glibc_exe], {"LD_PRELOAD": jemalloc_so},
     "jemalloc", upstream_version(jemalloc_so), os.path.basename(jemalloc_so)),
    ("unknown", [build("leak_unknown", "-L" + tmp, "-Wl,--no-as-needed", "-lmpbump",
                       "-Wl,-rpath," + tmp)], None, "unknown", "", "libmpbump.so"),
]


def refusal_line(allocator, version, module):
    if allocator == "unknown":
        return "memprof: malloc served by %s (unknown allocator): %s" % (module, REFUSAL)
    return "memprof: %s %s detected (%s): %s" % (allocator, version, module, REFUSAL)


def error_lines(err):
    """What memprof said went wrong: its lines but warnings and notes."""
    return [l for l in err.splitlines() if l.startswith("memprof:") and
            not l.startswith("memprof: warning:") and "called exec" not in l]


def check_refused(label, want, args):
    status, out, err = memprof(*args)
    check(status == 1, "%s: memprof %s exits 1, not %d" % (label, " ".join(args), status))
    check(out == "", "%s: memprof %s gives no answer: %r" % (label, " ".join(args), out[:200]))
    lines = error_lines(err)
    check(lines == [want], "%s: memprof %s says one line %r: %r" % (label, " ".join(args), want, lines))


def check_named(label, info, allocator, version, module, readable):
    a = info.get("allocator")
    if not check(isinstance(a, dict), "%s: info has an allocator object: %s" % (label, a)):
        return
    check(a["name"] == allocator and a["version"] == version and
          os.path.basename(a["module"]) == module and a["readable"] == readable,
          "%s: allocator %s %s of %s (readable %s): %s" % (label, allocator, version, module,
                                                            readable, a))


# Blocks an allocator loses itself: gperftools' MallocExtension singleton
# (8 bytes, lost in valgrind's run of the same program too).
OWN_LOSSES = {"tcmalloc": (1, 8)}


def check_lost(label, allocator, report):
    """The program's 5 lost blocks of 200 bytes, and nothing else lost."""
    summary = report.get("summary", {})
    lost = summary.get("definitely_lost", {})
    own_blocks, own_bytes = OWN_LOSSES.get(allocator, (0, 0))
    check(lost.get("blocks") == 5 + own_blocks and
          5 * 200 <= lost.get("bytes", 0) - own_bytes <= 5 * 256,
          "%s: the 5 lost blocks of 200 bytes: %s" % (label, summary))


def check_read(name, argv, env, allocator, version, module):
    """A readable allocator: heap and leaks answer, live and from a core."""
    run_env = dict(os.environ, **env) if env else None
    held = Held([*argv, "--hold"], env=run_env)
    core = os.path.join(tmp, name.replace(" ", "_") + ".core")
    try:
        gcore(held.pid, core)
        status, out, err = memprof("leaks", "--pid", str(held.pid), "--format", "json")
        if check(status == 0, "%s live: leaks exits 0: %s" % (name, err[-300:])):
            report = json.loads(out)
            check_named(name + " live leaks", report, allocator, version, module, True)
            check_lost(name + " live", allocator, report)
    finally:
        status = held.release()
        check(status == 0, "%s: the held program exited %r" % (name, status))
    status, out, err = memprof("heap", "--core", core, "--format", "json")
    if check(status == 0, "%s core: heap exits 0: %s" % (name, err[-300:])):
        report = json.loads(out)
        check_named(name + " core heap", report, allocator, version, module, True)
        check(report["backend"].startswith(allocator + " "), "%s: backend %s" % (name, report["backend"]))
        check(report["totals"]["in_use"]["chunks"] >= 13,
              "%s: the 13 blocks in use: %s" % (name, report["totals"]["in_use"]))
    status, out, err = memprof("leaks", "--core", core, "--format", "json")
    if check(status == 0, "%s core: leaks exits 0: %s" % (name, err[-300:])):
        check_lost(name + " core", allocator, json.loads(out))
    status, out, _ = memprof("info", "--core", core)
    check(re.search(r"^allocator %s" % re.escape(allocator), out, re.M) and
          "not readable" not in out, "%s core: info names the allocator, readable" % name)
    # The CI case: the program leaks, exits 0, and the job must fail.
    run_argv = ["env", "LD_PRELOAD=" + env["LD_PRELOAD"], *argv] if env else argv
    status, out, err = memprof("run", "--fail-on", "definite", "--", *run_argv)
    check(status == 3, "%s: memprof run --fail-on definite finds the leaks, exits 3, not %d: %s"
          % (name, status, err[-300:]))
    return core


def check_unreadable(name, argv, env, allocator, version, module):
    want = refusal_line(allocator, version, module)
    run_env = dict(os.environ, **env) if env else None
    held = Held([*argv, "--hold"], env=run_env)
    core = os.path.join(tmp, name.replace(" ", "_") + ".core")
    try:
        gcore(held.pid, core)
        pid = str(held.pid)
        for verb in ("heap", "leaks"):
            check_refused(name + " live", want, (verb, "--pid", pid))
        status, out, _ = memprof("info", "--pid", pid, "--format", "json")
        if check(status == 0, "%s live: info exits 0" % name):
            check_named(name + " live", json.loads(out), allocator, version, module, False)
    finally:
        status = held.release()
        check(status == 0, "%s: the held program exited %r" % (name, status))
    for verb in ("heap", "leaks"):
        for fmt in ("text", "json"):
            check_refused(name + " core", want, (verb, "--core", core, "--format", fmt))
    status, out, _ = memprof("info", "--core", core, "--format", "json")
    if check(status == 0, "%s core: info exits 0" % name):
        check_named(name + " core", json.loads(out), allocator, version, module, False)
    status, out, _ = memprof("info", "--core", core)
    check(re.search(r"^allocator %s.*: not readable by memprof$" % re.escape(allocator), out, re.M),
          "%s core: info text names the allocator" % name)

    # The CI case: the program leaks, exits 0, and the job must fail.
    run_argv = ["env", "LD_PRELOAD=" + env["LD_PRELOAD"], *argv] if env else argv
    status, out, err = memprof("run", "--fail-on", "definite", "--", *run_argv)
    check(status == 1, "%s: memprof run --fail-on definite exits 1, not %d" % (name, status))
    lines = error_lines(err)
    check(lines == ["memprof: no leak check: " + want[len("memprof: "):]],
          "%s: memprof run says one line naming the allocator: %r" % (name, lines))
    status, out, err = memprof("run", "--format", "json", "--", *run_argv)
    if check(status == 1 and out.strip(), "%s: memprof run --format json exits 1: %s" % (name, err)):
        process = json.loads(out)["processes"][0]
        check(not process["checked"] and process["error"] == want[len("memprof: "):],
              "%s: run JSON says why nothing was checked: %s" % (name, process.get("error")))
    # Every verb that reads the heap refuses, not only heap and leaks.
    snapshot = os.path.join(tmp, "unknown.snapshot")
    for args in (("refs", "0x1000"), ("logical", "held", "--metric", "allocated"),
                 ("logical", "held"), ("patterns",), ("recommend",),
                 ("snapshot", "save", snapshot)):
        check_refused(name + " core", want, (*args, "--core", core))
    check(not os.path.exists(snapshot), "no snapshot written of an unknown allocator's heap")
    return core


try:
    for name, argv, env, allocator, version, module in cases:
        check(allocator == "unknown" or version, "%s: the package's version is known" % name)
        if allocator == "unknown":
            unknown_core = check_unreadable(name, argv, env, allocator, version, module)
            unknown_exe = argv[0]
        else:
            core = check_read(name, argv, env, allocator, version, module)
            if name == "jemalloc":
                jemalloc_core, jemalloc_exe = core, argv[0]
            else:
                os.unlink(core)

    # glibc, dynamic and static: still read, still named.
    glibc_static = build("leak_glibc_static", "-static")
    for name, exe, version, module in (
            ("glibc", glibc_exe, glibc_version, "libc.so.6"),
            # A static glibc carries no version banner.
            ("static glibc", glibc_static, "", "leak_glibc_static")):
        held = Held([exe, "--hold"])
        core = os.path.join(tmp, "glibc.core")
        try:
            gcore(held.pid, core)
            status, out, err = memprof("leaks", "--pid", str(held.pid), "--format", "json")
            if check(status == 0, "%s live: leaks exits 0: %s" % (name, err[-300:])):
                check_named(name + " live leaks", json.loads(out), "glibc", version, module, True)
        finally:
            check(held.release() == 0, "%s: the held program exited 0" % name)
        for verb in ("heap", "leaks", "info"):
            status, out, err = memprof(verb, "--core", core, "--format", "json")
            if check(status == 0, "%s core: %s exits 0: %s" % (name, verb, err[-300:])):
                report = json.loads(out)
                check_named("%s core %s" % (name, verb), report, "glibc", version, module, True)
                if verb == "heap":
                    check(report["backend"].startswith("glibc 2."), "%s: backend %s" % (name, report["backend"]))
                    check(report["totals"]["in_use"]["chunks"] >= 13,
                          "%s: the 13 blocks in use: %s" % (name, report["totals"]["in_use"]))
        status, out, _ = memprof("heap", "--core", core)
        check(re.search(r"^allocator glibc.*\(malloc of .*%s\)$" % re.escape(module), out, re.M),
              "%s core: heap text names the allocator: %s" % (name, out[:300]))
        os.unlink(core)
        status, out, err = memprof("run", "--fail-on", "definite", "--", exe)
        check(status == 3, "%s: memprof run finds the leaks and exits 3, not %d: %s" % (name, status, err[-300:]))
        check(re.search(r"^allocator glibc", out, re.M), "%s: run text names the allocator" % name)

    if DEBUGGERS:
        unknown = cases[-1]
        want = refusal_line(unknown[3], unknown[4], unknown[5])
        _, cli_out, _ = memprof("leaks", "--core", jemalloc_core)
        cli_lost = re.search(r"^.*definitely lost.*$", cli_out, re.M)
        # GDB: the engine's line on stderr, and the session goes on; a
        # jemalloc core gives the CLI's summary.
        gdb = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                              "-iex", "set pagination off", "-x", os.environ["GDB_SCRIPT"],
                              unknown_exe, unknown_core, "-ex", "memprof leaks",
                              "-ex", "echo @@alive@@\\n", "-ex", "memprof info --format json"],
                             capture_output=True, text=True, errors="replace", timeout=300,
                             stdin=subprocess.DEVNULL)
        check("Traceback" not in gdb.stderr, "gdb: no Python traceback: %s" % gdb.stderr[-500:])
        check(error_lines(gdb.stderr) == [want], "gdb: memprof leaks prints %r: %r"
              % (want, error_lines(gdb.stderr)))
        after = gdb.stdout.split("@@alive@@\n", 1)
        if check(len(after) == 2, "gdb is alive after the refusal: %s" % gdb.stdout[-300:]):
            try:
                check_named("gdb info", json.loads(after[1]), unknown[3], unknown[4],
                            unknown[5], False)
            except ValueError:
                check(False, "gdb: memprof info --format json after the refusal: %r" % after[1][:300])
        gdb = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                              "-iex", "set pagination off", "-x", os.environ["GDB_SCRIPT"],
                              jemalloc_exe, jemalloc_core, "-ex", "memprof leaks"],
                             capture_output=True, text=True, errors="replace", timeout=300,
                             stdin=subprocess.DEVNULL)
        check(cli_lost and cli_lost.group(0) in gdb.stdout,
              "gdb on the jemalloc core: the CLI's %r: %s" % (cli_lost and cli_lost.group(0),
                                                              gdb.stdout[-500:] + gdb.stderr[-300:]))

        # LLDB stops a batch at a failing command unless told otherwise:
        # `command source -e false` runs the rest, showing it is alive.
        plugin = os.environ.get("LLDB_PLUGIN")
        if plugin:
            commands = os.path.join(tmp, "lldb-commands")
            with open(commands, "w") as f:
                f.write("memprof leaks\nmemprof info\n")
            lldb = subprocess.run(["lldb", "-b", "-o", "plugin load " + plugin, unknown_exe,
                                   "--core", unknown_core, "-o",
                                   "command source -e false " + commands],
                                  capture_output=True, text=True, errors="replace",
                                  timeout=300, stdin=subprocess.DEVNULL)
            both = lldb.stdout + lldb.stderr
            errors = [l for l in both.splitlines() if l.startswith("error:")]
            check(errors == ["error: " + want], "lldb: memprof leaks prints %r: %r" % (want, errors))
            check(re.search(r"^allocator unknown .*: not readable by memprof$", both, re.M),
                  "lldb is alive after the refusal and memprof info names the allocator: %s" % both[-500:])
            lldb = subprocess.run(["lldb", "-b", "-o", "plugin load " + plugin, jemalloc_exe,
                                   "--core", jemalloc_core, "-o", "memprof leaks"],
                                  capture_output=True, text=True, errors="replace",
                                  timeout=300, stdin=subprocess.DEVNULL)
            check(cli_lost and cli_lost.group(0) in lldb.stdout,
                  "lldb on the jemalloc core: the CLI's %r: %s" % (cli_lost and cli_lost.group(0),
                                                                   lldb.stdout[-500:]))
        else:
            print("no LLDB plug-in in this build (liblldb-dev missing): LLDB part not run")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
