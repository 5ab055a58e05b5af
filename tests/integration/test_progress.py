"""Progress lines on long work (docs/progress.md): memprof under a
pseudo-terminal draws one line on stderr, redrawn in place and erased when
done; a pipe gets none unless --progress=always; --progress=never draws
none even on a terminal; the results are the same bytes either way; and
GDB's front end draws the line on GDB's stderr when asked."""
import os
import pty
import re
import select
import subprocess
import sys
import time

from mptest import MEMPROF, check, finish, held_core

WORKLOAD = os.environ.get("WORKLOAD")
SCRIPT = os.environ.get("GDB_SCRIPT")
# Any line the engine draws: "memprof: PHASE  ..." with a rate.
PROGRESS = re.compile(r"memprof: (heap walk|leak scan|leak marking|block typing|"
                      r"DWARF index|patterns|logical walk)  .*/s")


def run_on_pty(argv, stdout_pipe=False):
    """Runs argv with stderr (and stdout, unless stdout_pipe) on a new
    pseudo-terminal; returns (status, terminal bytes, stdout bytes)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE if stdout_pipe else slave,
                            stderr=slave, close_fds=True)
    os.close(slave)
    terminal = b""
    out = b""
    deadline = time.time() + 120
    streams = [master] + ([proc.stdout] if stdout_pipe else [])
    while streams and time.time() < deadline:
        ready, _, _ = select.select(streams, [], [], 1)
        for s in ready:
            try:
                chunk = os.read(s if s == master else s.fileno(), 65536)
            except OSError:   # EIO: the terminal's last writer closed it
                chunk = b""
            if not chunk:
                streams.remove(s)
            elif s == master:
                terminal += chunk
            else:
                out += chunk
    os.close(master)
    status = proc.wait(timeout=60)
    return status, terminal, out


def screen(data):
    """What the terminal shows: each \\r returns to the line's start and
    what follows overwrites it (the pty turns \\n into \\r\\n)."""
    lines = []
    for raw in data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        shown = []
        for part in raw.split("\r"):
            shown[:len(part)] = list(part)
        lines.append("".join(shown).rstrip())
    return "\n".join(lines).rstrip("\n")


if not WORKLOAD or not os.path.exists(WORKLOAD):
    print("no workload program (bench/workload): skipped")
    sys.exit(77)

# 3M list nodes: a leak check of under a second on a fast machine, so the
# line is asked for at once instead of after the first half second.
os.environ["MEMPROF_PROGRESS_AFTER"] = "0"
with held_core([WORKLOAD, "--chunks", "3000000", "--shape", "list"], "big.core") as core:
    # --- a terminal: progress lines, then nothing left of them
    start = time.time()
    status, terminal, _ = run_on_pty([MEMPROF, "leaks", "--core", core])
    took = time.time() - start
    text = terminal.decode("utf-8", "replace")
    phases = set(m.group(1) for m in PROGRESS.finditer(text))
    print("leaks on a terminal: %.1fs, phases %s" % (took, sorted(phases)))
    check(status in (0, 3), "leaks on the terminal: status %r" % status)
    leak_status = status
    check(phases, "progress lines on the terminal: %r" % text[:300])
    check("\r" in text, "the line is redrawn in place with \\r")
    shown = screen(terminal)
    check(not PROGRESS.search(shown) and "/s " not in shown,
          "nothing of the progress line is left on the screen: %r" % shown[:400])
    check("LEAK SUMMARY" in shown or "definitely lost" in shown,
          "the report is on the screen: %r" % shown[:300])

    # --- the same report without progress
    plain = subprocess.run([MEMPROF, "leaks", "--core", core], capture_output=True)
    check(PROGRESS.search(plain.stderr.decode()) is None,
          "stderr a pipe (auto): no progress: %r" % plain.stderr[:300])
    check(screen(terminal).splitlines() == plain.stdout.decode().rstrip("\n").splitlines(),
          "the report on the terminal is the report without progress")

    # --- --progress=never: nothing even on a terminal
    status, terminal, _ = run_on_pty([MEMPROF, "leaks", "--core", core, "--progress=never"])
    check(status == leak_status and not PROGRESS.search(terminal.decode("utf-8", "replace")),
          "--progress=never draws nothing on a terminal: %r" % terminal[:300])

    # --- JSON on stdout: auto draws nothing; always does, same JSON
    status, terminal, json_auto = run_on_pty([MEMPROF, "leaks", "--core", core,
                                              "--format", "json"], stdout_pipe=True)
    check(not PROGRESS.search(terminal.decode("utf-8", "replace")),
          "JSON on stdout with a terminal for stderr (auto): no progress: %r" % terminal[:300])
    always = subprocess.run([MEMPROF, "leaks", "--core", core, "--format", "json",
                             "--progress=always"], capture_output=True)
    err = always.stderr.decode("utf-8", "replace")
    check(PROGRESS.search(err), "--progress=always with stderr a pipe: progress: %r" % err[:300])
    check(err.endswith("\r") or not err.strip(" \r"),
          "the last thing on stderr erases the line: %r" % err[-100:])
    check(always.stdout == json_auto and json_auto.startswith(b"{"),
          "the JSON is byte-identical with and without progress")

    # --- bad values are usage errors
    bad = subprocess.run([MEMPROF, "leaks", "--core", core, "--progress=sometimes"],
                         capture_output=True, text=True)
    check(bad.returncode == 2 and "--progress" in bad.stderr,
          "--progress=sometimes: usage error: %r" % bad.stderr)

    # --- GDB: the line on GDB's stderr when asked, the result unchanged
    if SCRIPT and subprocess.run(["which", "gdb"], capture_output=True).returncode == 0:
        def gdb_leaks(*options):
            proc = subprocess.run(
                ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                 "-iex", "set pagination off", "-x", SCRIPT, WORKLOAD, core,
                 "-ex", "echo @@begin@@\\n",
                 "-ex", "memprof leaks --format json " + " ".join(options),
                 "-ex", "echo @@end@@\\n"],
                capture_output=True, timeout=300)
            out = proc.stdout.decode("utf-8", "replace")
            m = re.search(r"@@begin@@\n(.*)@@end@@", out, re.S)
            return (m.group(1) if m else None), proc.stderr.decode("utf-8", "replace")

        quiet_out, quiet_err = gdb_leaks()
        loud_out, loud_err = gdb_leaks("--progress=always")
        check(quiet_out and quiet_out.lstrip().startswith("{"),
              "gdb: the JSON report: %r" % (quiet_out or "")[:200])
        check(not PROGRESS.search(quiet_err),
              "gdb without a terminal (auto): no progress: %r" % quiet_err[:300])
        check(PROGRESS.search(loud_err),
              "gdb --progress=always: progress on gdb's stderr: %r" % loud_err[:300])
        check("Traceback" not in loud_err and "Python Exception" not in loud_err,
              "gdb: no Python traceback: %r" % loud_err[-300:])
        check(loud_out == quiet_out, "gdb: the result is the same with progress")
    else:
        print("no gdb: the GDB part is skipped")

finish()
