"""Frame variables as typed roots for `memprof leaks`.  The frame_roots
helper's heap is reachable only from locals and arguments, so only a
debugger can name it: GDB and LLDB (stopped live at stop_here, and on a
core written there) must group the reachable blocks as struct job and
struct job_step from DWARF and the lost ones as struct job by size, and so
must the CLI on the same core, which unwinds the threads and reads their
frames' locals itself; the block counts are the same everywhere.  Then the library directly (ctypes): the debugger spellings of
a pointer type that must resolve, and those that must be ignored without
an error."""
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mptest import check, finish, helper, memprof

GDB_SCRIPT = os.environ["GDB_SCRIPT"]
PLUGIN = os.environ.get("LLDB_PLUGIN")
BEGIN, END = "@@memprof-begin@@", "@@memprof-end@@"
EXE = helper("frame_roots")


def gdb(*args):
    argv = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
            "-iex", "set pagination off", "-x", GDB_SCRIPT, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=180)
    return proc.stdout, proc.stderr


def lldb(*commands):
    argv = ["lldb", "-b", "-o", "plugin load " + PLUGIN]
    for c in commands:
        argv += ["-o", c]
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=180)
    return proc.stdout, proc.stderr


def json_between_markers(out):
    m = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), out, re.S)
    return json.loads(m.group(1)) if m else None


def json_in_lldb_output(out):
    """The JSON document memprof printed in lldb's transcript."""
    start = out.find('{\n  "target"')
    if start < 0:
        start = out.find('{"target"')
    if start < 0:
        return None
    return json.JSONDecoder().raw_decode(out[start:])[0]


def groups(report):
    """{(kind, size): (type, evidence, count)}"""
    return {(g["kind"], g["size"]): (g["type"], g["evidence"], g["count"])
            for g in report["groups"]}


def check_named(report, where):
    if not check(report is not None, "%s printed a leak report" % where):
        return
    g = groups(report)
    job = [k for k, v in g.items() if k[0] == "still_reachable" and v[0] == "struct job"]
    check(job and g[job[0]][1:] == ("dwarf", 1),
          "%s: the reachable job is one struct job from DWARF: %s" % (where, g))
    steps = [v for k, v in g.items() if k[0] == "still_reachable" and v[0] == "struct job_step"]
    check(steps and steps[0][1:] == ("dwarf", 3),
          "%s: the three steps are struct job_step from DWARF: %s" % (where, g))
    lost = [v for k, v in g.items() if k[0] == "definitely_lost"]
    check(lost == [("struct job", "size-match", 4)],
          "%s: the four lost blocks are named struct job by size: %s" % (where, lost))


REPORT = "memprof leaks --show-reachable --format json"

tmp = tempfile.mkdtemp(prefix="memprof-frame-roots-")
try:
    core = os.path.join(tmp, "frame_roots.core")
    out, err = gdb("-ex", "break stop_here", "-ex", "run", "-ex", "echo %s\\n" % BEGIN,
                   "-ex", REPORT, "-ex", "echo %s\\n" % END, "-ex", "gcore " + core, EXE)
    live_gdb = json_between_markers(out)
    check_named(live_gdb, "gdb, live at stop_here")
    check("Traceback" not in err, "gdb: no Python traceback: %s" % err[-500:])

    if check(os.path.exists(core), "gdb wrote the core at stop_here: %s" % err[-500:]):
        status, cli_out, cli_err = memprof("leaks", "--show-reachable", "--core", core,
                                           "--format", "json")
        cli = json.loads(cli_out) if status == 0 else None
        if check(cli is not None, "CLI leaks on the core: %s" % cli_err):
            # Without a debugger memprof unwinds the core's threads and
            # reads the frames' locals itself: the same names.
            check_named(cli, "the CLI on the core")
            check(cli["summary"]["still_reachable"]["blocks"] == 4 and
                  cli["summary"]["definitely_lost"]["blocks"] == 4,
                  "4 reachable, 4 lost: %s" % cli["summary"])

        out, err = gdb("-ex", "echo %s\\n" % BEGIN, "-ex", REPORT, "-ex", "echo %s\\n" % END,
                       EXE, core)
        core_gdb = json_between_markers(out)
        check_named(core_gdb, "gdb on the core")
        if cli and core_gdb:
            check(core_gdb["summary"] == cli["summary"],
                  "gdb and the CLI count the same blocks on the core")

        if PLUGIN:
            out, err = lldb("target create %s --core %s" % (EXE, core), REPORT)
            check_named(json_in_lldb_output(out), "lldb on the core")
    if PLUGIN:
        out, err = lldb("file " + EXE, "breakpoint set -n stop_here", "run", REPORT, "kill")
        check_named(json_in_lldb_output(out), "lldb, live at stop_here")

    # ------------------------------------------------- spellings, via the C API
    sys.path.insert(0, os.path.dirname(GDB_SCRIPT))
    from memprof import _engine as E  # noqa: E402  (ctypes only: no gdb needed)

    lib = E.lib()
    # The frame variables alone: memprof's own reading of the frames'
    # locals would name the job whatever the spellings do.
    os.environ["MEMPROF_STACK_LOCALS"] = "off"
    job = [g for g in (live_gdb or {}).get("groups", []) if g["type"] == "struct job"
           and g["kind"] == "still_reachable"]
    if os.path.exists(core) and job:
        # The core was written at the same stop: the job's address holds.
        address = int(job[0]["example"], 16)

        def typed_with(*variables):
            """The leak report's groups with these frame variables added."""
            target = ctypes.c_void_p()
            E.check(lib.mp_target_open_core(core.encode(), None, ctypes.byref(target)))
            for name, spelling, value, where in variables:
                E.check(lib.mp_target_add_frame_variable(target, ctypes.byref(E.FrameVariable(
                    name=name.encode(), type=spelling.encode(), address=where, value=value,
                    tid=0, frame=0))))
            host = E.Host(name=b"test", target=target.value)
            status, text, messages = E.run(["leaks", "--show-reachable", "--format", "json"], host)
            lib.mp_target_release(target)
            check(status == 0, "leaks with frame variables %s: %s" % (variables, messages))
            return groups(json.loads(text)) if status == 0 else {}

        for spelling in ("struct job *", "job *", "const struct job *const", "struct job &",
                         "volatile job * volatile", "  struct job*", "const job &&"):
            g = typed_with(("current", spelling, address, 0))
            check(("still_reachable", 88) in g and g[("still_reachable", 88)][0] == "struct job",
                  "%r names the job: %s" % (spelling, g))
        # A pointer to numbers types its block as an array of them; one to
        # bytes leaves the block to the string test.
        g = typed_with(("weights", "long *", address, 0))
        check(g.get(("still_reachable", 88), (None,))[0] == "long int[]",
              "'long *' names the block long int[] (DWARF's name): %s" % g)
        for spelling in ("struct job **", "struct no_such_type *", "char *", "", "*", "&&",
                         "const", "struct job * *", "x" * 600 + " *"):
            g = typed_with(("current", spelling, address, 0))
            check(all(v[0] is None for v in g.values()),
                  "%r names nothing: %s" % (spelling, g))
        # A record in memory: a struct job variable whose bytes are the job's.
        g = typed_with(("copy", "struct job", 0, address))
        check(g.get(("still_reachable", 56), (None,))[0] == "struct job_step",
              "a struct job in memory leads to its steps: %s" % g)
        # A pointer that does not hold a block's start names nothing.
        g = typed_with(("current", "struct job *", address + 8, 0))
        check(all(v[0] is None for v in g.values()), "an interior value names nothing: %s" % g)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
