"""The GDB front-end in batch mode: `memprof` inside gdb on a core (output
identical to the CLI's), on a live process stopped at a breakpoint, through
gdbserver on loopback; help, completion, the Python API, and one-line
errors.  Runs gdb -batch -nx with the build tree's gdb/memprof.py."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from mptest import MEMPROF, check, example, finish, held_core, helper, memprof

SCRIPT = os.environ["GDB_SCRIPT"]
BEGIN, END = "@@memprof-begin@@", "@@memprof-end@@"


def gdb(*args, stdin=subprocess.DEVNULL, timeout=120):
    """Runs gdb -batch -nx with memprof loaded; returns (status, stdout, stderr)."""
    argv = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
            "-iex", "set pagination off", "-x", SCRIPT, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                          stdin=stdin, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def marked(command):
    """-ex arguments that run command between two markers on stdout."""
    return ["-ex", "echo %s\\n" % BEGIN, "-ex", command, "-ex", "echo %s\\n" % END]


def between_markers(out, index=0):
    parts = re.findall(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), out, re.S)
    return parts[index] if len(parts) > index else None


def no_traceback(err, what):
    check("Traceback" not in err and "Python Exception" not in err,
          "%s: no Python traceback in %r" % (what, err[-500:]))


def error_lines(err):
    return [l for l in err.splitlines() if l.startswith("memprof:")]


verbs = [l.split()[0] for l in memprof("--help")[1].split("verbs:\n", 1)[1].split("\n\n")[0].splitlines()]
check("info" in verbs, "the engine lists info among its verbs: %s" % verbs)

# ------------------------------------------------------------------ a core
exe = example("leak_cycle")
with held_core([exe], "cycle.core") as core:
    core = os.path.abspath(core)
    status, cli_out, _ = memprof("info", "--core", core, "--format", "json")
    check(status == 0, "CLI info on the core")
    cli = json.loads(cli_out)

    status, out, err = gdb(exe, core, *marked("memprof info --format json"),
                           *marked("python import memprof, json; "
                                   "print(json.dumps(memprof.info()))"),
                           *marked("memprof info"))
    no_traceback(err, "gdb on a core")
    text = between_markers(out, 0)
    if check(text is not None, "memprof info --format json printed between markers: %s" % err[-500:]):
        check(json.loads(text) == cli, "gdb's memprof info --format json equals the CLI's")
        check(text == cli_out, "byte for byte too")
    # Every verb gives the CLI's JSON: heap (but its timestamp), leaks,
    # patterns and recommend.
    for verb in ("heap", "leaks", "patterns", "recommend"):
        status, cli_verb, _ = memprof(verb, "--core", core, "--format", "json")
        status, out_verb, err_verb = gdb(exe, core, *marked("memprof %s --format json" % verb))
        no_traceback(err_verb, "gdb memprof " + verb)
        text_verb = between_markers(out_verb, 0)
        if check(text_verb is not None, "gdb memprof %s printed: %s" % (verb, err_verb[-300:])):
            ours, theirs = json.loads(text_verb), json.loads(cli_verb)
            ours.pop("timestamp", None)
            theirs.pop("timestamp", None)
            check(ours == theirs, "gdb's memprof %s --format json equals the CLI's" % verb)
    api = between_markers(out, 1)
    if check(api is not None, "memprof.info() ran: %s" % err[-500:]):
        check(json.loads(api) == cli, "memprof.info() returns the CLI's JSON as Python data")
    cli_text = memprof("info", "--core", core)[1]
    check(between_markers(out, 2) == cli_text, "text output equals the CLI's too")

    # --core given explicitly inside gdb is the engine's own business.
    status, out, err = gdb(*marked("memprof info --core %s --format json" % core))
    text = between_markers(out, 0)
    check(text is not None and json.loads(text) == cli,
          "memprof info --core inside gdb without a target: %s" % err[-300:])

    # --fail-on passes through as on the command line: +possible keeps
    # the default kinds (leak_cycle's definite leak fails it), a plain list
    # replaces them.
    status, out, err = gdb(exe, core, *marked("memprof leaks --fail-on +possible"),
                           *marked("memprof leaks --fail-on possible"),
                           "-ex", "python import memprof\ntry:\n  memprof.run('leaks', '--fail-on', "
                           "'+possible')\nexcept memprof.Error as e:\n  print('caught', e.status)")
    no_traceback(err, "gdb --fail-on")
    cli_verdict = memprof("leaks", "--core", core, "--fail-on", "+possible")[2].strip().splitlines()
    check(cli_verdict and cli_verdict[-1].startswith("memprof: leak check failed")
          and error_lines(err) == cli_verdict[-1:],
          "gdb: --fail-on +possible fails with the CLI's verdict %r, possible passes: %r"
          % (cli_verdict[-1:], error_lines(err)))
    check(between_markers(out, 0) is not None and "LEAK SUMMARY" in between_markers(out, 1),
          "gdb: both leak reports printed")
    check(re.search(r"^caught 3$", out, re.M), "memprof.run --fail-on +possible raises status 3")

    # The CI recipe (docs/ci.md): gdb -batch exits non-zero when the check
    # is its last command and fails; `quit $_memprof_status` gives the
    # verb's own status wherever the check is.
    status, out, err = gdb(exe, core, "-ex", "memprof leaks --fail-on definite")
    check(status != 0, "gdb -batch, leaking core, check last: exits non-zero (%d)" % status)
    status, out, err = gdb(exe, core, "-ex", "memprof leaks --fail-on definite",
                           "-ex", "echo more\\n", "-ex", "quit $_memprof_status")
    check(status == 3, "gdb -batch ... quit $_memprof_status: 3 (%d)" % status)

    # Speed, loosely (the benchmark measures it): 20 commands in one gdb
    # session finish; not a timing test.
    status, out, err = gdb(exe, core, "-ex",
                           "python import memprof\nfor i in range(20): memprof.run('info', '--format', 'json')",
                           *marked("echo ok\\n"))
    check(between_markers(out) == "ok\n", "20 commands in one session: %s" % err[-300:])

# The same recipe on a program that leaks nothing: exit status 0.
clean = example("steady_cache")
with held_core([clean], "clean.core") as core:
    status, out, err = gdb(clean, core, "-ex", "memprof leaks --fail-on definite")
    check(status == 0 and "LEAK SUMMARY" in out,
          "gdb -batch, clean core, --fail-on definite: exits 0 (%d) %s" % (status, err[-300:]))
    status, out, err = gdb(clean, core, "-ex", "memprof leaks --fail-on definite",
                           "-ex", "quit $_memprof_status")
    check(status == 0, "quit $_memprof_status after a passed check: 0 (%d)" % status)

# ------------------------------------------- the documents' GDB samples
# Every `(gdb)` line of README.md's and docs/gdb.md's code blocks runs, in
# order, in one fresh GDB per document (loading memprof as the sample
# says), on a core: none may fail or raise.
SOURCE = os.environ.get("MEMPROF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def gdb_samples(path):
    samples, fenced = [], False
    for line in open(path):
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.startswith("(gdb) "):
            command = line[len("(gdb) "):].split("  #")[0].strip()
            # The build tree's script wherever a sample names one.
            command = re.sub(r"source \S*/gdb/memprof\.py$", "source " + SCRIPT, command)
            samples.append(command)
    return samples


with held_core([exe], "samples.core") as core:
    for doc in ("README.md", os.path.join("docs", "gdb.md")):
        samples = gdb_samples(os.path.join(SOURCE, doc))
        check(len(samples) >= 3, "%s has GDB samples: %s" % (doc, samples))
        argv = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off", exe, core]
        for i, command in enumerate(samples):
            argv += ["-ex", command, "-ex", "echo @@sample-%d-done@@\\n" % i]
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=300)
        for i, command in enumerate(samples):
            check("@@sample-%d-done@@" % i in proc.stdout, "%s: sample %r ran" % (doc, command))
        bad = [l for l in proc.stderr.splitlines()
               if re.search(r"Traceback|Error|error|Undefined command|No symbol|memprof: ", l)]
        check(not bad, "%s: the samples run without errors: %s" % (doc, bad[:5]))

# -------------------------------------------------- help, completion, errors
status, out, err = gdb("-ex", "help memprof", *marked("help memprof info"),
                       "-ex", "complete memprof i",
                       "-ex", "complete memprof info --fo",
                       "-ex", "complete memprof info --format j",
                       "-ex", "complete memprof info --no-libc",
                       "-ex", "complete memprof info --core %s" % exe[:-3])
no_traceback(err, "help and completion")
for verb in verbs:
    check(re.search(r"^memprof %s -- " % re.escape(verb), out, re.M),
          "help memprof lists %s" % verb)
verb_help = between_markers(out) or ""
check("formats:" in verb_help and "--output" in verb_help, "help memprof info is the engine's help")
check("memprof info" in out.splitlines(), "completes verbs: memprof i -> memprof info")
check("memprof info --format" in out.splitlines(), "completes options")
check("memprof info --format json" in out.splitlines(), "completes formats")
check("memprof info --no-libc-debug" in out.splitlines(), "completes flag options")
check("memprof info --core %s" % exe in out.splitlines(), "completes file names")

status, out, err = gdb("-ex", "memprof info", "-ex", "memprof info --bogus",
                       "-ex", "memprof frobnicate", "-ex", "memprof info --format svg",
                       *marked("memprof --version"))
no_traceback(err, "errors")
lines = error_lines(err)
check(len(lines) == 4, "four failing commands, four error lines: %r" % lines)
if len(lines) == 4:
    check("no process" in lines[0], "no process: %s" % lines[0])
    check("unknown option '--bogus'" in lines[1], "bad option: %s" % lines[1])
    check("unknown verb 'frobnicate'" in lines[2], "bad verb: %s" % lines[2])
    check("--format svg" in lines[3], "bad format: %s" % lines[3])
check((between_markers(out) or "").startswith("memprof "), "memprof --version in gdb")

status, out, err = gdb("-ex", "python import memprof\ntry:\n  memprof.info()\nexcept memprof.Error as e:\n  print('caught', e.status, e)")
check(re.search(r"^caught 1 memprof: no process", out, re.M), "memprof.Error from the Python API: %r" % out[-300:])

# ------------------------------------------------------ a live process
tmp = tempfile.mkdtemp(prefix="memprof-gdb-")
try:
    live_exe = example("leak_tls")
    out_json = os.path.join(tmp, "live.json")
    status, out, err = gdb(live_exe,
                           "-ex", "break read", "-ex", "run --hold",
                           *marked("memprof info --format json"),
                           "-ex", "python import json; open(%r, 'w').write(json.dumps({"
                           "'pid': gdb.selected_inferior().pid, "
                           "'pc': int(gdb.parse_and_eval('$pc')), "
                           "'sp': int(gdb.parse_and_eval('$sp')), "
                           "'threads': sorted(t.ptid[1] for t in gdb.selected_inferior().threads())}))"
                           % out_json,
                           "-ex", "delete", "-ex", "continue")
    no_traceback(err, "gdb live")
    text = between_markers(out)
    if check(text is not None and os.path.exists(out_json), "live info ran: %s" % err[-800:]):
        info = json.loads(text)
        seen = json.load(open(out_json))
        check(info["target"]["kind"] == "live", "live target, not %s" % info["target"]["kind"])
        check(info["process"]["pid"] == seen["pid"], "pid is gdb's inferior")
        check(sorted(t["tid"] for t in info["threads"]) == seen["threads"],
              "threads are gdb's: %s" % seen["threads"])
        check(len(seen["threads"]) == 5, "leak_tls: main and 4 workers")
        main = [t for t in info["threads"] if t["tid"] == seen["pid"]]
        if check(main and main[0]["registers"], "main thread has registers"):
            check(int(main[0]["registers"]["rip"], 16) == seen["pc"], "rip is gdb's $pc")
            check(int(main[0]["registers"]["rsp"], 16) == seen["sp"], "rsp is gdb's $sp")
        check(all(t["registers"] for t in info["threads"]), "every thread has registers")
        check(any(m["main"] for m in info["modules"]) and
              any("libc.so" in m["path"] for m in info["modules"]), "modules found")
    check("exited normally" in out, "the process continues and exits normally: %r" % out[-300:])

    # ------------------------------------------- gdbserver on loopback
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(["gdbserver", "--once", "127.0.0.1:%d" % port, exe, "--hold"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        status, out, err = gdb(exe, "-ex", "target remote 127.0.0.1:%d" % port,
                               "-ex", "break read", "-ex", "continue",
                               *marked("memprof info --format json"),
                               "-ex", "delete", "-ex", "continue", timeout=120)
        no_traceback(err, "gdbserver")
        text = between_markers(out)
        if check(text is not None, "info through gdbserver ran: %s" % err[-800:]):
            info = json.loads(text)
            check(info["target"]["kind"] == "callback", "memory through gdb (callback target)")
            check(len(info["threads"]) == 1 and info["threads"][0]["registers"],
                  "one thread with registers")
            paths = {m["path"] for m in info["modules"]}
            check(os.path.realpath(exe) in {os.path.realpath(p) for p in paths},
                  "the main program among the modules: %s" % sorted(paths))
            check(any("libc.so" in p for p in paths), "libc among the modules")
            check(any(m["path"] == "[heap]" for m in info["mappings"]),
                  "mappings from info proc mappings")
            check(any(a["name"] == "AT_PHDR" for a in info["auxv"]), "auxv from gdb")
        check("exited normally" in out, "the remote process exits normally: %r" % out[-300:])
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# ------------------------------------------- DWARF verbs inside GDB
# GDB links elfutils' libdw, whose dwarf_* names clash with libdwarf's: the
# DWARF verbs must still give exactly the CLI's output.
inst = example("instance_c")
with held_core([inst], "instance.core") as core:
    core = os.path.abspath(core)
    for command in ("logical instance", "logical instance --format json",
                    "type 'struct instance'"):
        argv = command.replace("'", "").split(" ", 2) if "type" in command else command.split()
        if command.startswith("type"):
            argv = ["type", "struct instance"]
        cli_text = memprof(*argv, "--core", core)[1]
        status, out, err = gdb(inst, core, *marked("memprof " + command))
        no_traceback(err, "gdb memprof " + command)
        text = between_markers(out, 0)
        if "json" in command and text:
            # The walk's own timing and memory differ between processes.
            ours, theirs = json.loads(text), json.loads(cli_text)
            for doc in (ours, theirs):
                for key in ("microseconds", "rss_anon_bytes"):
                    doc.get("stats", {}).pop(key, None)
            check(ours == theirs, "gdb's memprof %s equals the CLI's" % command)
            continue
        check(text is not None and text == cli_text,
              "gdb's memprof %s equals the CLI's: %s" % (command, (err or "")[-300:]))

# ------------------------------------------------------------------ Ctrl-C
# SIGINT while a leak check runs: the engine stops at its next poll, GDB
# prints one line and goes on with the next command.
workload = os.environ.get("WORKLOAD")
if workload and os.path.exists(workload):
    tmp = tempfile.mkdtemp(prefix="memprof-gdb-int-")
    try:
        big = os.path.join(tmp, "big.core")
        subprocess.run(["bash", os.path.join(os.path.dirname(__file__), "..", "..", "bench", "make_core.sh"),
                        big, "--", workload, "--chunks", "3000000", "--shape", "list"],
                       check=True, capture_output=True, timeout=300)
        proc = subprocess.Popen(["gdb", "-batch", "-nx", "-x", os.environ["GDB_SCRIPT"],
                                 "-ex", "echo LOADED\\n",
                                 "-ex", "memprof leaks --core " + big, "-ex", "echo AFTER-INTERRUPT\\n"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Interrupt the leak check, not the loading of the script: wait
        # until GDB has run the command before it.
        loaded = proc.stdout.readline()
        check("LOADED" in loaded, "gdb loaded memprof before the leak check: %r" % loaded)
        time.sleep(0.3)
        # Keep asking until GDB has moved on: the first SIGINT may land
        # before the engine polls.
        out = err = ""
        for _ in range(200):
            if proc.poll() is not None:
                break
            proc.send_signal(2)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
        # A late SIGINT may land on the last command and set the batch exit
        # status; what matters is that GDB lived to run it.
        check(proc.returncode not in (-6, -11) and "AFTER-INTERRUPT" in out,
              "gdb survives Ctrl-C during a leak check and runs the next command: %s %s" % (out[-300:], err[-300:]))
        check("Traceback" not in err, "no Python traceback on Ctrl-C: %s" % err[-1500:])
        print("ctrl-c outcome:", "interrupted" if "interrupted" in out + err
              else "quit" if "Quit" in out + err else "finished first")
        check("interrupted" in out + err or "Quit" in out + err or "LEAK SUMMARY" in out,
              "the check was interrupted (or had already finished): %s" % (out + err)[-300:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------ ROOT expressions in GDB
# ROOT is any expression GDB evaluates (its address and type go to the
# engine); global chains go to the engine as typed.  Each must give the
# CLI's walk of the same value on the same core (the root frame is named
# after the expression, the rest is equal).


def folded_body(text):
    return sorted(line.split(";", 1)[1] for line in (text or "").splitlines() if ";" in line)


reg = helper("registry")
with held_core([reg], "registry.core") as core:
    core = os.path.abspath(core)
    # An inferior with no program beside one with a core: GDB 13 itself
    # dies evaluating a symbol there, so memprof evaluates nothing in it
    # and the engine answers (no process).
    status, out, err = gdb(reg, core, "-ex", "add-inferior", "-ex", "inferior 2",
                           "-ex", "memprof logical registry", "-ex", "memprof logical registry.items",
                           "-ex", "inferior 1", *marked("memprof logical registry --format json"))
    check("Fatal signal" not in err and status == 0 and between_markers(out) and
          err.count("memprof: no process") == 2,
          "gdb survives memprof logical in an inferior with no program: %s" % err[-600:])
    for expression, cli_root in (("registry.items", "registry.items"),
                                 ("registry.items[3]", "registry.items[3]"),
                                 ("&registry", "registry"),
                                 ("registry.items + 3", "registry.items[3]"),
                                 ("(struct registry *) &registry", "registry"),
                                 ("reg_cap.entries", "reg_cap.entries")):
        cli_text = memprof("logical", "--core", core, cli_root)[1]
        status, out, err = gdb(reg, core, *marked("memprof logical " + expression))
        no_traceback(err, "gdb memprof logical " + expression)
        text = between_markers(out, 0)
        check(cli_text and folded_body(text) == folded_body(cli_text),
              "gdb's memprof logical %s walks the CLI's %s: %s" % (expression, cli_root, (err or "")[-300:]))
        check(text and text.startswith(expression.replace(" ", "") + ";"),
              "gdb's memprof logical %s: the root frame is the expression: %r" % (expression, (text or "")[:80]))
    status, out, err = gdb(reg, core, *marked("memprof logical $rdi"))
    check("has no address" in err and "(struct instance *)$rdi" in err,
          "gdb memprof logical $rdi asks for a pointer: %r" % err[-300:])

# A frame local in a stopped program: `current` (stop_here's argument),
# `*current`, main's `job` and a register cast are one struct job; the CLI
# reads it from a core GDB writes at the same stop.
roots = helper("frame_roots")
tmp = tempfile.mkdtemp(prefix="memprof-gdb-roots-")
try:
    core = os.path.join(tmp, "roots.core")
    commands = []
    for command in ("memprof logical current --format json", "memprof logical *current",
                    "memprof logical current->steps"):
        commands += marked(command)
    commands += ["-ex", "up"] + marked("memprof logical job") + ["-ex", "gcore " + core]
    status, out, err = gdb(roots, "-ex", "break stop_here", "-ex", "run", *commands, "-ex", "kill")
    no_traceback(err, "gdb frame roots")
    report = json.loads(between_markers(out, 0) or "null")
    if check(report is not None and os.path.exists(core), "gdb walked current and wrote a core: %s" % err[-300:]):
        where = "%s:struct job" % report["address"]
        cli = memprof("logical", "--core", core, "--exe", roots, where)[1]
        cli_steps = memprof("logical", "--core", core, "--exe", roots, where, "--member", "steps")[1]
        check(report["root"] == "current" and folded_body(cli),
              "gdb names the root after the expression: %r" % report["root"])
        for index, what, want in ((1, "*current", cli), (2, "current->steps", cli_steps),
                                  (3, "job (main's frame)", cli)):
            check(folded_body(between_markers(out, index)) == folded_body(want),
                  "gdb memprof logical %s equals the CLI's %s on the core" % (what, where))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
