"""Hints (docs/logical.md, "Hints") on examples/hints.c: a tagged union, a
void * payload, an intrusive list_head list, a borrowed back pointer, an
unsigned char * string and a pointer whose count no rule pairs.  The
program writes the bytes `memprof logical registry` must give with its
hints file; memprof must give exactly those from a core and live, with the
file found beside the executable, named by --hints, found in
$XDG_CONFIG_HOME/memprof/hints, and given line by line to GDB (`memprof
hint`, memprof.hint()) and LLDB (`memprof hint`).  Without hints the
numbers differ the documented way.  The shipped hints/glibc-stdio.hints
counts a FILE's buffer as bytes (the program's `logger`).  Leak typing names a lost block only a
hinted void * leads to.  Bad hint files fail with FILE:LINE and never
crash."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mptest import Held, check, example, finish, gcore, helper, memprof, seeded_random

DEBUGGERS = "--debuggers" in sys.argv[1:]
EXE = example("hints_c")
HINTS = EXE + ".memprof-hints"
STDIO = os.path.join(os.environ["MEMPROF_SOURCE_DIR"], "hints", "glibc-stdio.hints")


def truth(path):
    want = {}
    with open(path) as f:
        for line in f:
            name, logical, allocated, blocks = line.split()
            want[name] = (int(logical), int(allocated), int(blocks))
    return want


def by_path(report):
    nodes = {n["id"]: n for n in report["nodes"]}
    paths = {}
    for n in report["nodes"]:
        parts, c = [], n
        while c is not None:
            parts.append(c["name"])
            c = nodes.get(c["parent"]) if c["parent"] is not None else None
        paths[";".join(reversed(parts))] = n
    return paths


def numbers(report):
    return {p: (n["logical"], n["allocated"], n["count"]) for p, n in by_path(report).items()}


def compare(label, report, want):
    got = numbers(report)
    check(report["partial"] is False and not report["warnings"],
          "%s: partial or warnings: %s" % (label, report["warnings"]))
    for path, value in want.items():
        if path.split(";")[0] != report["root"]:
            continue
        check(got.get(path) == value, "%s %s: memprof %s, the program says %s"
              % (label, path, got.get(path), value))


def logical(label, *args, env=None, root="registry"):
    proc = subprocess.run([os.environ["MEMPROF"], "logical", *args, root, "--format", "json"],
                          capture_output=True, text=True, env=env, timeout=300)
    if not check(proc.returncode == 0, "%s: status %d: %s" % (label, proc.returncode, proc.stderr[-500:])):
        return None
    return json.loads(proc.stdout)


def unhinted(label, report, want):
    """Without hints: the documented differences."""
    got = numbers(report)
    check(got.get("registry;tasks") == (16, 16, 0),
          "%s: without hints the list head counts only itself, got %s" % (label, got.get("registry;tasks")))
    check(got.get("registry;samples", (0,))[0] == 8 + 16,
          "%s: without hints samples is one element, got %s" % (label, got.get("registry;samples")))
    check(got.get("registry") != want["registry"], "%s: without hints the total differs" % label)
    check(report["hints_files"] == [], "%s: no hint files: %s" % (label, report["hints_files"]))


def one_line_hints(path):
    """The file's hints as one-line `[TYPE] MEMBER HINT...` commands."""
    lines, current = [], None
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if line.startswith("["):
                current = line
            elif line:
                lines.append("%s %s" % (current, line))
    return lines


tmp = tempfile.mkdtemp(prefix="memprof-hints-")
try:
    expected = os.path.join(tmp, "hints.expected")
    held = Held([EXE, "--hold"], env=dict(os.environ, MEMPROF_EXPECTED=expected))
    try:
        want = truth(expected)
        check(want["registry;tasks"][2] > 100, "the truth counts the tasks' blocks: %s" % want)
        core = gcore(held.pid, os.path.join(tmp, "hints.core"))
        targets = [("live", ["--pid", str(held.pid)]), ("core", ["--core", core, "--exe", EXE])]
        for label, target in targets:
            # Found beside the executable.
            report = logical(label, *target)
            if report:
                compare(label + " (EXE.memprof-hints)", report, want)
                check(report["hints_files"] == [HINTS], "%s: hints_files %s" % (label, report["hints_files"]))
            report = logical(label, *target, "--no-auto-hints")
            if report:
                unhinted(label + " --no-auto-hints", report, want)
            # Named on the command line.
            copy = os.path.join(tmp, "mine.hints")
            shutil.copy(HINTS, copy)
            report = logical(label, *target, "--no-auto-hints", "--hints", copy)
            if report:
                compare(label + " --hints", report, want)
                check(report["hints_files"] == [copy], "%s --hints: %s" % (label, report["hints_files"]))

        # glibc's FILE: the buffer is bytes under _IO_buf_base with the
        # shipped hints; without them a position pointer reaches it first
        # and counts it as a string.
        for label, target in targets:
            report = logical(label + " stdio", *target, "--hints", STDIO, root="logger")
            if report:
                compare(label + " glibc-stdio.hints", report, want)
                paths = numbers(report)
                check(any(p.endswith(";_IO_buf_base;void") for p in paths),
                      "%s: the buffer under _IO_buf_base: %s" % (label, sorted(paths)))
            report = logical(label + " stdio", *target, root="logger")
            if report:
                check(numbers(report).get("logger") != want["logger"],
                      "%s: without glibc-stdio.hints logger differs" % label)

        # $XDG_CONFIG_HOME/memprof/hints/*.hints, with an executable that
        # has no file beside it.
        bare = os.path.join(tmp, "bare")
        os.makedirs(bare)
        bare_exe = os.path.join(bare, "hints_c")
        shutil.copy(EXE, bare_exe)
        config = os.path.join(tmp, "config")
        os.makedirs(os.path.join(config, "memprof", "hints"))
        xdg_file = os.path.join(config, "memprof", "hints", "example.hints")
        shutil.copy(HINTS, xdg_file)
        report = logical("xdg", "--core", core, "--exe", bare_exe,
                         env=dict(os.environ, XDG_CONFIG_HOME=config))
        if report:
            compare("xdg", report, want)
            check(report["hints_files"] == [xdg_file], "xdg: hints_files %s" % report["hints_files"])

        # --explain names the files and the hint behind each length.
        code, out, err = memprof("logical", "--core", core, "--exe", EXE, "registry",
                                 "--format", "text", "--explain")
        check(code == 0 and HINTS in out and
              "registry;samples: hint length nr (%s:7)" % HINTS in out and
              "registry;tasks;task;cache: borrowed: counted by its owner, not here (hint %s:14)"
              % HINTS in out, "--explain with hints:\n%s%s" % (out[-1500:], err[-300:]))

        # Leak typing: the lost payload is a struct payload only through
        # the envelope's hinted void *.
        for label, extra in (("with hints", []), ("without hints", ["--no-auto-hints"])):
            code, out, err = memprof("leaks", "--core", core, "--exe", EXE, "--format", "json", *extra)
            if not check(code == 0, "leaks %s: %d %s" % (label, code, err[-300:])):
                continue
            groups = json.loads(out)["groups"]
            indirect = [g for g in groups if g["kind"] == "indirectly_lost"]
            lost_env = [g for g in groups if g["kind"] == "definitely_lost"]
            check([g["type"] for g in lost_env] == ["struct envelope"],
                  "leaks %s: the lost envelope %s" % (label, lost_env))
            types = [g["type"] for g in indirect]
            check(types == (["struct payload"] if not extra else [None]),
                  "leaks %s: the payload only the envelope held is typed %s" % (label, types))

        # memprof run loads the hints beside the program it runs.
        for label, extra in (("with hints", []), ("without hints", ["--no-auto-hints"])):
            code, out, err = memprof("run", *extra, "--format", "json", "--fail-on", "none", "--", EXE)
            if not check(code == 0, "run %s: %d %s" % (label, code, err[-300:])):
                continue
            groups = json.loads(out)["processes"][0]["groups"]
            types = [g["type"] for g in groups if g["kind"] == "indirectly_lost"]
            check(types == (["struct payload"] if not extra else [None]),
                  "run %s: the payload only the envelope held is typed %s" % (label, types))

        # patterns: a length hint pairs an array no rule pairs, and the
        # overcapacity finding is the program's own usable-minus-used.
        proc = subprocess.Popen([helper("hinted_capacity")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        m = re.match(r"ready (\d+) wasted=(\d+)", line or "")
        try:
            table_core = gcore(int(m.group(1)), os.path.join(tmp, "hinted_capacity.core")) if m else None
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
        if check(table_core, "hinted_capacity started and was dumped: %r" % line):
            table_hints = os.path.join(tmp, "table.hints")
            with open(table_hints, "w") as f:
                f.write("[struct table]\nrows length filled\n")
            for label, extra in (("with hints", ["--hints", table_hints]), ("without hints", [])):
                code, out, err = memprof("patterns", "--core", table_core, *extra, "--format", "json")
                if not check(code == 0, "patterns %s: %d %s" % (label, code, err[-300:])):
                    continue
                found = [f for f in json.loads(out)["findings"]
                         if f["kind"] == "overcapacity" and f["subject"] == "struct table.rows"]
                if extra:
                    check(len(found) == 1 and found[0]["estimated_savings_bytes"] == int(m.group(2)),
                          "patterns with a length hint: rows waste %s bytes: %s" % (m.group(2), found))
                else:
                    check(not found, "patterns without hints cannot pair rows: %s" % found)

        # Hint file errors: FILE:LINE and what was expected, status 1.
        bad = os.path.join(tmp, "bad.hints")
        cases = [
            ("[struct registry]\n# fine\nsamples lenght nr\n", "bad.hints:3: unknown hint 'lenght'"),
            ("samples length nr\n", "bad.hints:1: expected a [TYPE] line"),
            ("[struct task]\nv union kind 0\n", "bad.hints:2: expected VALUE=MEMBER"),
            ("[struct task\n", "bad.hints:1: expected ']'"),
            ("[task]\nlink link struct task\n", "bad.hints:2: expected 'link TYPE MEMBER'"),
            ("[task]\n" + "x" * 5000 + "\n", "bad.hints:2: line longer than 4096 bytes"),
        ]
        for text, message in cases:
            with open(bad, "w") as f:
                f.write(text)
            code, out, err = memprof("logical", "--core", core, "--exe", EXE, "registry",
                                     "--no-auto-hints", "--hints", bad)
            check(code == 1 and message in err, "bad hints %r: status %d, %r (want %r)"
                  % (text[:40], code, err[-300:], message))
        code, out, err = memprof("logical", "--core", core, "--exe", EXE, "registry",
                                 "--hints", os.path.join(tmp, "missing.hints"))
        check(code == 1 and "missing.hints" in err, "missing hints file: %d %r" % (code, err))
        # A hint that names no member or type: a warning naming its line.
        with open(bad, "w") as f:
            f.write("[struct registry]\nnothing string\nsamples points-to struct nosuch\n")
        code, out, err = memprof("logical", "--core", core, "--exe", EXE, "registry",
                                 "--no-auto-hints", "--hints", bad)
        check(code == 0 and "bad.hints:2: struct registry has no member 'nothing'" in err and
              "bad.hints:3:" in err, "unknown member/type in hints: %d %r" % (code, err[-500:]))
        # Random bytes and mutated lines never crash the parser.
        rng = seeded_random("test_hints")
        source = open(HINTS, "rb").read()
        for i in range(40):
            data = bytearray(source)
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if i % 4 == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
            with open(bad, "wb") as f:
                f.write(bytes(data))
            code, out, err = memprof("logical", "--core", core, "--exe", EXE, "registry",
                                     "--no-auto-hints", "--hints", bad, "--format", "json")
            check(code in (0, 1), "fuzzed hints file %d: status %d: %s" % (i, code, err[-300:]))

        if DEBUGGERS:
            lines = one_line_hints(HINTS)
            # GDB: `memprof hint` lines and memprof.hint(), on the core and live.
            gdb_cmds = []
            for line in lines[:-2]:
                gdb_cmds += ["-ex", "memprof hint " + line]
            rest = "\\n".join(lines[-2:])
            gdb_cmds += ["-ex", "python import memprof; memprof.hint('%s')" % rest,
                         "-ex", "python import json, memprof; print('JSON' + json.dumps("
                         "memprof.logical('registry', '--no-auto-hints')))"]
            for label, target in (("core", [EXE, core]), ("live", ["-p", str(held.pid)])):
                proc = subprocess.run(["gdb", "-batch", "-nx", "-x", os.environ["GDB_SCRIPT"],
                                       *target, *gdb_cmds], capture_output=True, text=True,
                                      timeout=300, stdin=subprocess.DEVNULL)
                m = re.search(r"^JSON(.*)$", proc.stdout, re.M)
                if check(m is not None, "gdb %s: no report: %s %s" % (label, proc.stdout[-500:],
                                                                      proc.stderr[-800:])):
                    report = json.loads(m.group(1))
                    compare("gdb " + label, report, want)
                    check(report["hints_files"] == ["gdb", "python"],
                          "gdb %s: hints_files %s" % (label, report["hints_files"]))
            proc = subprocess.run(["gdb", "-batch", "-nx", "-x", os.environ["GDB_SCRIPT"], EXE, core,
                                   "-ex", "memprof hint [struct task] v union kind 0"],
                                  capture_output=True, text=True, timeout=120,
                                  stdin=subprocess.DEVNULL)
            check("gdb:1: expected VALUE=MEMBER" in proc.stderr,
                  "gdb: a bad hint names its line: %s" % proc.stderr[-500:])
            # LLDB: `memprof hint` lines, on the core and live.
            plugin = os.environ.get("LLDB_PLUGIN")
            for label, target in (("core", [EXE, "--core", core]), ("live", ["-p", str(held.pid)])):
                if not plugin:
                    break
                argv = ["lldb", "-b", "-o", "plugin load " + plugin, *target]
                for line in lines:
                    argv += ["-o", "memprof hint " + line]
                argv += ["-o", "memprof logical registry --no-auto-hints --format json"]
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                                      stdin=subprocess.DEVNULL)
                m = re.search(r"^\{\n.*?^\}$", proc.stdout, re.S | re.M)
                if check(m is not None, "lldb %s: no report: %s %s" % (label, proc.stdout[-800:],
                                                                     proc.stderr[-500:])):
                    report = json.loads(m.group(0))
                    compare("lldb " + label, report, want)
                    check(report["hints_files"] == ["lldb"], "lldb %s: hints_files %s"
                          % (label, report["hints_files"]))
            if plugin:
                proc = subprocess.run(["lldb", "-b", "-o", "plugin load " + plugin, EXE, "--core",
                                       core, "-o", "memprof hint [task] v union kind 0"],
                                      capture_output=True, text=True, timeout=120,
                                      stdin=subprocess.DEVNULL)
                check("lldb:1: expected VALUE=MEMBER" in proc.stdout + proc.stderr,
                      "lldb: a bad hint names its line: %s" % (proc.stdout + proc.stderr)[-500:])
    finally:
        check(held.release() == 0, "hints_c did not exit 0")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
