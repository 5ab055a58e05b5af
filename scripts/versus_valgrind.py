#!/usr/bin/env python3
"""Leak kinds of one program run under `memprof run` and under valgrind.

    scripts/versus_valgrind.py [--memprof PATH] [--drive CMD] [--port N]
                               [--label TEXT] -- PROG [ARGS...]

Runs PROG twice, once under each tool, and prints one Markdown table row
per tool: blocks and bytes definitely, indirectly and possibly lost and
still reachable, and the wall time.  For a server, --port N waits until
it listens on 127.0.0.1:N and --drive CMD (a shell command) then talks to
it and stops it (e.g. `redis-cli -p N shutdown nosave`).

valgrind runs with --leak-check=full --show-leak-kinds=all
--run-libc-freeres=no (memprof does not run glibc's freeres either, and
with it valgrind would see memory glibc frees only for its own sake).
The rows feed the table in docs/leaks.md; this is a measuring script, not
a test.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

KINDS = ("definitely", "indirectly", "possibly", "reachable")


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def run(argv, drive, port):
    """Runs argv to its end (driving it if asked); (seconds, stdout, stderr)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    if port and not wait_port(port):
        proc.kill()
        raise SystemExit("%s never listened on port %d" % (argv[0], port))
    if drive:
        subprocess.run(drive, shell=True, check=False, stdout=subprocess.DEVNULL)
    out, err = proc.communicate(timeout=1800)
    return time.monotonic() - start, out, err


def valgrind_kinds(err):
    kinds = {}
    patterns = {"definitely": r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks",
                "indirectly": r"indirectly lost: ([\d,]+) bytes in ([\d,]+) blocks",
                "possibly": r"possibly lost: ([\d,]+) bytes in ([\d,]+) blocks",
                "reachable": r"still reachable: ([\d,]+) bytes in ([\d,]+) blocks"}
    for kind, pattern in patterns.items():
        m = re.search(pattern, err)
        kinds[kind] = ((int(m.group(2).replace(",", "")), int(m.group(1).replace(",", "")))
                       if m else (0, 0))
    return kinds


def memprof_kinds(out):
    report = json.loads(out)
    if "processes" in report:
        report = report["processes"][0]
    summary = report["summary"]
    names = {"definitely": "definitely_lost", "indirectly": "indirectly_lost",
             "possibly": "possibly_lost", "reachable": "still_reachable"}
    return {kind: (summary[name]["blocks"], summary[name]["bytes"]) for kind, name in names.items()}


def row(label, tool, seconds, kinds):
    cells = ["%s blocks, %s B" % (format(kinds[k][0], ","), format(kinds[k][1], ",")) for k in KINDS]
    return "| %s | %s | %s | %.2f s |" % (label, tool, " | ".join(cells), seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memprof", default=os.environ.get("MEMPROF", "build/cli/memprof"))
    parser.add_argument("--drive")
    parser.add_argument("--port", type=int)
    parser.add_argument("--label")
    parser.add_argument("program", nargs="+")
    args = parser.parse_args()
    label = args.label or " ".join(args.program)

    # The report goes to a file: the program shares memprof's stdout.
    with tempfile.NamedTemporaryFile("r", suffix=".json") as report:
        seconds, _, err = run([args.memprof, "run", "--fail-on", "none", "--format", "json",
                               "--output", report.name, "--", *args.program],
                              args.drive, args.port)
        out = report.read()
    try:
        ours = memprof_kinds(out)
    except (ValueError, KeyError, IndexError):
        raise SystemExit("memprof gave no report:\n%s" % err[-3000:])
    print(row(label, "memprof", seconds, ours))

    seconds, out, err = run(["valgrind", "--leak-check=full", "--show-leak-kinds=all",
                             "--run-libc-freeres=no", *args.program], args.drive, args.port)
    print(row(label, "valgrind", seconds, valgrind_kinds(err)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
