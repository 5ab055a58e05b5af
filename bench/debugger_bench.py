#!/usr/bin/env python3
"""The same verb on the same core from the CLI, from GDB and from LLDB;
writes a markdown section for docs/benchmarks.md on stdout.

    debugger_bench.py --memprof CLI --gdb-script BUILD/gdb/memprof.py
        [--lldb-plugin BUILD/lldb/libmemprof-lldb.so --lldb-bench BUILD/lldb/lldb-bench]
        --exe EXE --core CORE
        --verb info [--runs N] [--quick]

What is timed is the command, not debugger start-up:
- CLI: hyperfine runs of `memprof VERB --core CORE --format json` (a whole
  process each: exec, dynamic loading, the command);
- engine in-process: the same command line through libmemprof's
  mp_command_run from plain Python (ctypes, the GDB package outside GDB):
  the command without a process start, for reference;
- GDB: N runs of `memprof VERB --format json` in one GDB session that has
  the core loaded, timed with time.perf_counter around
  gdb.execute(..., to_string=True);
- LLDB: N runs of the same command through SBCommandInterpreter::HandleCommand
  in one debugger with the plug-in and the core loaded (lldb/lldb_bench.cpp),
  timed around each call.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def hyperfine(commands, runs, warmup, tmp):
    out = os.path.join(tmp, "hf.json")
    argv = ["hyperfine", "-N", "--style", "none", "--runs", str(runs), "--warmup", str(warmup),
            "--export-json", out]
    for c in commands:
        argv.append(" ".join(shlex.quote(a) for a in c))
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return [(r["mean"], r["stddev"] or 0.0) for r in json.load(f)["results"]]


def engine_in_process(gdb_script, verb, core, n):
    code = (
        "import sys, time, statistics\n"
        "sys.path.insert(0, %r)\n"
        "import memprof\n"
        "argv = [%r, '--core', %r, '--format', 'json']\n"
        "memprof.run(*argv)\n"
        "times = []\n"
        "for _ in range(%d):\n"
        "    t = time.perf_counter(); memprof.run(*argv); times.append(time.perf_counter() - t)\n"
        "print(statistics.mean(times), statistics.stdev(times))\n"
        % (os.path.dirname(gdb_script), verb, core, n))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), float(out[1])


def gdb_session(gdb_script, verb, exe, core, n, tmp):
    result = os.path.join(tmp, "gdb.json")
    code = (
        "import gdb, json, time, statistics\n"
        "command = 'memprof %s --format json'\n"
        "gdb.execute(command, to_string=True)\n"
        "times = []\n"
        "for _ in range(%d):\n"
        "    t = time.perf_counter(); gdb.execute(command, to_string=True)\n"
        "    times.append(time.perf_counter() - t)\n"
        "json.dump([statistics.mean(times), statistics.stdev(times)], open(%r, 'w'))\n"
        % (verb, n, result))
    script = os.path.join(tmp, "time_gdb.py")
    with open(script, "w") as f:
        f.write(code)
    subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                    "-x", gdb_script, "-x", script, exe, core],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    with open(result) as f:
        return tuple(json.load(f))


def lldb_session(bench, plugin, verb, exe, core, n):
    out = subprocess.run([bench, plugin, exe, core, str(n), "memprof %s --format json" % verb],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def ms(seconds):
    return "%.3f ms" % (seconds * 1e3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--memprof", required=True)
    p.add_argument("--gdb-script", required=True)
    p.add_argument("--lldb-plugin")
    p.add_argument("--lldb-bench")
    p.add_argument("--exe", required=True)
    p.add_argument("--core", required=True)
    p.add_argument("--verb", default="info")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    runs = a.runs
    n_inside = 20 * runs
    with tempfile.TemporaryDirectory(prefix="memprof-dbg-bench-") as tmp:
        (cli, cli_sd), = hyperfine([[a.memprof, a.verb, "--core", a.core, "--format", "json"]],
                                   n_inside, 5, tmp)
        engine, engine_sd = engine_in_process(a.gdb_script, a.verb, a.core, n_inside)
        gdb_mean, gdb_sd = gdb_session(a.gdb_script, a.verb, a.exe, a.core, n_inside, tmp)
        lldb = None
        if a.lldb_plugin and a.lldb_bench and os.path.exists(a.lldb_bench):
            lldb = lldb_session(a.lldb_bench, a.lldb_plugin, a.verb, a.exe, a.core, n_inside)

    size = os.path.getsize(a.core)
    judge = (lambda ok: "not judged on a quick run") if a.quick else \
        (lambda ok: "**PASS**" if ok else "**FAIL**")
    lines = [
        "### debugger-%s: `memprof %s` from GDB and LLDB against the CLI" % (a.verb, a.verb),
        "",
        "- Date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "- Core: %.1f MiB (`%s`), executable `%s`" % (size / 2 ** 20, os.path.basename(a.core),
                                                   os.path.basename(a.exe)),
        "- Method: the command alone, debugger start-up excluded. CLI: hyperfine, %d runs of "
        "a whole process. Engine in-process: the same command line through mp_command_run "
        "from plain Python (ctypes), %d runs. GDB: %d runs of `memprof %s --format json` in "
        "one session with the core loaded, timed around `gdb.execute(..., to_string=True)`. "
        "LLDB: %d runs through `SBCommandInterpreter::HandleCommand` in one debugger with the "
        "plug-in and the core loaded (`lldb/lldb_bench.cpp`)."
        % (n_inside, n_inside, n_inside, a.verb, n_inside),
        "",
        "| path | per command (mean ± σ) | vs CLI |",
        "|---|---|---|",
        "| CLI: `memprof %s --core CORE --format json` (whole process) | %s ± %s | 1.00 |"
        % (a.verb, ms(cli), ms(cli_sd)),
        "| engine in-process (ctypes, no process start) | %s ± %s | %.2f |"
        % (ms(engine), ms(engine_sd), engine / cli),
        "| GDB: `memprof %s --format json` | %s ± %s | %.2f |"
        % (a.verb, ms(gdb_mean), ms(gdb_sd), gdb_mean / cli),
    ]
    if lldb:
        lines.append("| LLDB: `memprof %s --format json` | %s ± %s | %.2f |"
                     % (a.verb, ms(lldb[0]), ms(lldb[1]), lldb[0] / cli))
    lines += [
        "",
        "GDB's own layer (argument split, target lookup, ctypes, output through gdb.write) "
        "costs %s per command over the engine in-process (%.2f×)."
        % (ms(gdb_mean - engine), gdb_mean / engine),
        "",
        "Target: the debugger path costs at most 10%% more than the CLI: GDB %s (%.2f×)%s."
        % (judge(gdb_mean <= 1.10 * cli), gdb_mean / cli,
           "; LLDB %s (%.2f×)" % (judge(lldb[0] <= 1.10 * cli), lldb[0] / cli) if lldb else ""),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
