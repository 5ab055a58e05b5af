"""The LLDB plug-in in batch mode (lldb -b): `memprof` on a core (output
identical to the CLI's), on a live process stopped at a breakpoint (by pid,
and with memory read through LLDB), help and one-line errors."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from mptest import check, example, finish, held_core, helper, memprof

PLUGIN = os.environ["LLDB_PLUGIN"]


def lldb(*args, env=None, timeout=120):
    """lldb -b with the plug-in loaded and each command in -o; returns
    (status, stdout, stderr)."""
    argv = ["lldb", "-b", "-o", "plugin load " + PLUGIN]
    for a in args:
        argv += ["-o", a] if not a.startswith("--") and not a.startswith("/") else [a]
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=timeout,
                          env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout, proc.stderr


def output_of(out, command):
    """What one command printed: from its echoed line to the next prompt."""
    m = re.search(r"^\(lldb\) " + re.escape(command) + r"\n(.*?)(?=^\(lldb\) |\Z)", out, re.S | re.M)
    return m.group(1) if m else None


def errors(out, err):
    return [l for l in (out + err).splitlines() if l.startswith("error:")]


verbs = [l.split()[0] for l in memprof("--help")[1].split("verbs:\n", 1)[1].split("\n\n")[0].splitlines()]

# ------------------------------------------------------------------ a core
exe = example("leak_cycle")
with held_core([exe], "cycle.core") as core:
    core = os.path.abspath(core)
    status, cli_out, _ = memprof("info", "--core", core, "--format", "json")
    cli = json.loads(cli_out)
    status, out, err = lldb(exe, "--core", core, "memprof info --format json", "memprof info")
    text = output_of(out, "memprof info --format json")
    if check(text is not None, "memprof info --format json ran in lldb: %s %s" % (out[-500:], err[-500:])):
        check(json.loads(text) == cli, "lldb's memprof info --format json equals the CLI's")
        check(text == cli_out, "byte for byte too")
    check(output_of(out, "memprof info") == memprof("info", "--core", core)[1],
          "text output equals the CLI's too")
    # Every verb gives the CLI's JSON: heap (but its timestamp), leaks,
    # patterns and recommend.
    for verb in ("heap", "leaks", "patterns", "recommend"):
        cli_verb = json.loads(memprof(verb, "--core", core, "--format", "json")[1])
        status, out, err = lldb(exe, "--core", core, "memprof %s --format json" % verb)
        text = output_of(out, "memprof %s --format json" % verb)
        if check(text is not None, "lldb memprof %s ran: %s" % (verb, err[-300:])):
            ours = json.loads(text)
            ours.pop("timestamp", None)
            cli_verb.pop("timestamp", None)
            check(ours == cli_verb, "lldb's memprof %s --format json equals the CLI's" % verb)
    # --fail-on passes through: +possible keeps the default kinds, so
    # leak_cycle's definite leak fails it; a plain list replaces them.
    # A failed check shows the CLI's verdict line as the error, and lldb -b
    # stops there and exits non-zero (the CI recipe, docs/ci.md).
    for fail_on, failed in (("+possible", True), ("possible", False)):
        command = "memprof leaks --fail-on " + fail_on
        cli_status, _, cli_err = memprof("leaks", "--core", core, "--fail-on", fail_on)
        verdict = cli_err.strip().splitlines()[-1] if cli_err.strip() else None
        status, out, err = lldb(exe, "--core", core, command)
        check(cli_status == (3 if failed else 0), "CLI %s: status %d" % (command, cli_status))
        check((failed and verdict and ("error: " + verdict) in out + err) or
              (not failed and "error: memprof" not in out + err)
              and output_of(out, command) is not None,
              "lldb %s: the CLI's verdict %s: %s" % (command, "said" if failed else "not said",
                                                    (out + err)[-300:]))
        check((status != 0) == failed, "lldb -b %s exits %s: %d" % (command, "non-zero" if failed
                                                                    else "0", status))

# The recipe on a program that leaks nothing: lldb -b exits 0.
clean = example("steady_cache")
with held_core([clean], "clean.core") as core:
    status, out, err = lldb(clean, "--core", os.path.abspath(core), "memprof leaks --fail-on definite")
    check(status == 0 and "error:" not in out + err,
          "lldb -b, clean core, --fail-on definite: exits 0 (%d) %s" % (status, (out + err)[-300:]))

# ---------------------------------------------- DWARF verbs inside LLDB
inst = example("instance_c")
with held_core([inst], "instance.core") as core:
    core = os.path.abspath(core)
    for command, argv in (("memprof logical instance", ["logical", "instance"]),
                          ("memprof logical instance --format json", ["logical", "instance", "--format", "json"])):
        cli_text = memprof(*argv, "--core", core)[1]
        status, out, err = lldb(inst, "--core", core, command)
        text = output_of(out, command)
        if "json" in command and text:
            # The walk's own timing and memory differ between processes.
            ours, theirs = json.loads(text), json.loads(cli_text)
            for doc in (ours, theirs):
                for key in ("microseconds", "rss_anon_bytes"):
                    doc.get("stats", {}).pop(key, None)
            check(ours == theirs, "lldb's %s equals the CLI's" % command)
            continue
        check(text is not None and text == cli_text,
              "lldb's %s equals the CLI's: %s" % (command, (err or "")[-300:]))

# ------------------------------------------------------ help and errors
status, out, err = lldb("help memprof", "help memprof info", "memprof version")
for verb in verbs:
    check(re.search(r"^\s+%s\s+-- " % re.escape(verb), output_of(out, "help memprof") or "", re.M),
          "help memprof lists %s" % verb)
check("formats:" in (output_of(out, "help memprof info") or ""), "help memprof info is the engine's help")
check((output_of(out, "memprof version") or "").startswith("memprof "), "memprof version")

for commands, want in ((["memprof info"], "no process"),
                       ([exe, "memprof info --bogus"], "unknown option '--bogus'"),
                       ([exe, "memprof info --format svg"], "--format svg")):
    status, out, err = lldb(*commands)
    lines = errors(out, err)
    check(len(lines) == 1 and want in lines[0] and "memprof:" in lines[0],
          "%s: one error line with %r: %r" % (commands[-1], want, lines))

# ------------------------------------------------------ a live process
live_exe = example("leak_tls")
for mode, env in (("live", None), ("callback", {"MEMPROF_LLDB_READ_THROUGH_LLDB": "1"})):
    status, out, err = lldb(live_exe, "breakpoint set -n read",
                            "process launch -i /dev/null -- --hold",
                            "memprof info --format json", "thread list",
                            "register read rip", "breakpoint delete -f",
                            "process continue", env=env)
    tag = "lldb %s: " % mode
    text = output_of(out, "memprof info --format json")
    if check(text is not None and text.lstrip().startswith("{"),
             tag + "info ran: %s %s" % (out[-800:], err[-500:])):
        info = json.loads(text)
        check(info["target"]["kind"] == mode, tag + "target kind %s" % info["target"]["kind"])
        tids = sorted(int(t) for t in re.findall(r"tid = (\d+)", output_of(out, "thread list") or ""))
        check(sorted(t["tid"] for t in info["threads"]) == tids and len(tids) == 5,
              tag + "threads are lldb's: %s" % tids)
        m = re.search(r"rip = (0x[0-9a-f]+)", output_of(out, "register read rip") or "")
        main = [t for t in info["threads"] if t["tid"] == min(tids)] if tids else []
        check(m and main and main[0]["registers"] and
              int(main[0]["registers"]["rip"], 16) == int(m.group(1), 16),
              tag + "rip of the stopped thread is lldb's")
        paths = [x["path"] for x in info["modules"]]
        check(any(x["main"] for x in info["modules"]) and any("libc.so" in p for p in paths),
              tag + "modules found: %s" % paths)
        if mode == "live":
            check(info["process"]["pid"] == min(tids), tag + "pid")
    check(re.search(r"exited with status = 0\b", out), tag + "the process continues and exits 0: %r"
          % out[-300:])


# ----------------------------------------------- ROOT expressions in LLDB
# ROOT is any expression LLDB evaluates (its address and type go to the
# engine); global chains go to the engine as typed.  Each must give the
# CLI's walk of the same value on the same core.


def folded_body(text):
    return sorted(line.split(";", 1)[1] for line in (text or "").splitlines() if ";" in line)


reg = helper("registry")
with held_core([reg], "registry.core") as core:
    core = os.path.abspath(core)
    pairs = (("registry.items", "registry.items"), ("registry.items[3]", "registry.items[3]"),
             ("&registry", "registry"), ("registry.head->next", "registry.head->next"),
             ("reg_cap.entries", "reg_cap.entries"))
    status, out, err = lldb(reg, "--core", core, *["memprof logical " + e for e, _ in pairs])
    for expression, cli_root in pairs:
        cli_text = memprof("logical", "--core", core, cli_root)[1]
        text = output_of(out, "memprof logical " + expression)
        check(cli_text and folded_body(text) == folded_body(cli_text),
              "lldb's memprof logical %s walks the CLI's %s: %s" % (expression, cli_root, (text or err)[-300:]))

# A frame local in a stopped program: stop_here's `current`, `*current`, a
# register cast and main's `job` are one struct job: the same walk (GDB's
# test compares it with the CLI on a core written at this stop).
roots = helper("frame_roots")
tmp_maps = tempfile.mkdtemp(prefix="memprof-lldb-maps-")
commands = ("memprof logical current --format json", "memprof logical *current",
            "memprof logical (struct job *)$rdi")
status, out, err = lldb(roots, "breakpoint set -n stop_here", "run",
                        "memprof info --format json --output %s" % os.path.join(tmp_maps, "before.json"),
                        *commands, "frame select 1", "memprof logical job",
                        "memprof info --format json --output %s" % os.path.join(tmp_maps, "after.json"),
                        "kill")
# Evaluating ROOT wrote nothing into the process: LLDB's expression
# evaluator would have mapped a page there for its results.
maps = [json.load(open(os.path.join(tmp_maps, n))).get("mappings") if os.path.exists(os.path.join(tmp_maps, n))
        else None for n in ("before.json", "after.json")]
check(maps[0] is not None and maps[0] == maps[1],
      "the process's mappings are the same before and after the ROOT expressions: %s"
      % [m for m in (maps[1] or []) if m not in (maps[0] or [])])
shutil.rmtree(tmp_maps, ignore_errors=True)
report = output_of(out, commands[0])
report = json.loads(report) if report and report.lstrip().startswith("{") else None
if check(report is not None and report["root"] == "current",
         "lldb walks the frame local current: %s" % (out + err)[-400:]):
    for command in commands[1:] + ("memprof logical job",):
        text = output_of(out, command)
        total = sum(int(l.rsplit(" ", 1)[1]) for l in (text or "").splitlines() if ";" in l)
        check(total == report["total"]["logical"],
              "lldb's %s walks current's %d bytes: %r" % (command, report["total"]["logical"],
                                                          (text or "")[-300:]))

finish()
