"""Debug info from a real debuginfod server gives the same answers as -g.

The leak_cache example is built with -g, then split the way distributions
ship it: `objcopy --only-keep-debug` makes the debug file, `strip
--strip-debug` the program (no .gnu_debuglink, so nothing local leads to
the debug file).  A `debuginfod -F` server started here on a free port
serves the directory holding the debug file only; the test waits on its
/metrics until it has indexed it.  With DEBUGINFOD_URLS pointing at it and a
private DEBUGINFOD_CACHE_PATH, `memprof type`, `logical` and `leaks` on a
core of the stripped program answer what they answer with the unstripped
program, the debug file lands in that cache, and a download is said once on
stderr.  With --no-debuginfod (CLI, and GDB with --debuggers) they give the
"no debug info" answer.  A server that refuses connections, and one that
accepts and never answers, give one warning and a prompt answer, never a
hang.  Every server is killed at the end, whatever happens."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from mptest import MEMPROF, check, finish, held_core, readelf_build_id

source_dir = os.environ["MEMPROF_SOURCE_DIR"]
debuggers = "--debuggers" in sys.argv[1:]
tmp = tempfile.mkdtemp(prefix="memprof-debuginfod-")
servers = []


def memprof_env(*args, urls="", cache=None, timeout=None):
    """Runs memprof with DEBUGINFOD_URLS (and the cache) set for it alone:
    gdb's gcore must not go to a server."""
    env = dict(os.environ, DEBUGINFOD_URLS=urls)
    env.pop("DEBUGINFOD_TIMEOUT", None)
    if cache:
        env["DEBUGINFOD_CACHE_PATH"] = cache
    if timeout is not None:
        env["DEBUGINFOD_TIMEOUT"] = str(timeout)
    proc = subprocess.run([MEMPROF, *args], capture_output=True, text=True, env=env,
                          errors="replace", timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        values = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values


def start_debuginfod(serve_dir, n_files):
    """debuginfod -F on a free port, once it has indexed n_files debug files."""
    for attempt in range(5):
        port = free_port()
        log = open(os.path.join(tmp, "debuginfod-%d.log" % attempt), "w")
        proc = subprocess.Popen(["debuginfod", "-F", "-p", str(port), "-c", "1",
                                 "-t", "0", "-g", "0",
                                 "-d", os.path.join(tmp, "index-%d.sqlite" % attempt), serve_dir],
                                stdout=log, stderr=subprocess.STDOUT)
        servers.append(proc)
        # Polled, not timed: a slow machine only waits longer.  A server
        # that exits (the port was taken meanwhile) is tried on another.
        while proc.poll() is None:
            try:
                m = metrics(port)
                if m.get('found_debuginfo_total{source="files"}', 0) >= n_files:
                    return proc, port
            except OSError:
                pass
            time.sleep(0.2)
    raise SystemExit("debuginfod did not start: see %s" % tmp)


def answers(core, exe, **env):
    """type, logical and leaks of the core, as JSON, and the stderr of each."""
    out, err = {}, {}
    for key, args in (("type", ["type", "struct cache_entry", "--exe", exe]),
                      ("logical", ["logical", "query_cache", "--core", core, "--exe", exe]),
                      ("leaks", ["leaks", "--core", core, "--exe", exe])):
        code, text, err[key] = memprof_env(*args, "--format", "json", **env)
        out[key] = json.loads(text) if code == 0 else ("exit %d" % code)
    return out, err


def same(value):
    """value without what names the program's file (stripped or not) or
    measures memprof itself (stats)."""
    if isinstance(value, dict):
        return {k: same(v) for k, v in value.items() if k not in ("module", "stats")}
    if isinstance(value, list):
        return [same(v) for v in value]
    return value


def leak_view(report):
    return (report["summary"], report["groups"]) if isinstance(report, dict) else report


def typed_groups(report):
    """Leak groups given a struct type from DWARF (by a typed pointer or
    by shape)."""
    return [g for g in leak_view(report)[1] if g["evidence"] in ("dwarf", "shape")]


def silent_server():
    """Accepts connections and never answers: a server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    return listener, held


try:
    full = os.path.join(tmp, "leak_cache")
    stripped = os.path.join(tmp, "leak_cache.stripped")
    serve_dir = os.path.join(tmp, "serve")
    os.mkdir(serve_dir)
    subprocess.run(["gcc", "-g", "-O1", "-fno-omit-frame-pointer", "-pthread",
                    "-I", os.path.join(source_dir, "examples"),
                    os.path.join(source_dir, "examples", "leak_cache.c"), "-o", full], check=True)
    debug_file = os.path.join(serve_dir, "leak_cache.debug")
    subprocess.run(["objcopy", "--only-keep-debug", full, debug_file], check=True)
    shutil.copy(full, stripped)
    subprocess.run(["strip", "--strip-debug", stripped], check=True)
    build_id = readelf_build_id(stripped)
    check(build_id and build_id == readelf_build_id(debug_file),
          "the stripped program and its debug file share a build id: %s" % build_id)
    sections = subprocess.run(["readelf", "-SW", stripped], capture_output=True, text=True).stdout
    check(".debug_info" not in sections and ".gnu_debuglink" not in sections,
          "the stripped program has no DWARF and no debuglink")

    with held_core([stripped]) as core:
        want, want_err = answers(core, full)
        if not all(isinstance(answer, dict) for answer in want.values()):
            raise SystemExit("memprof failed with -g: %r %r" % (want, want_err))
        check(want["logical"]["total"]["logical"] > 0, "the logical walk with -g counts bytes")
        check(leak_view(want["leaks"])[0]["definitely_lost"]["blocks"] > 0,
              "leak_cache leaks with -g")
        check(typed_groups(want["leaks"]), "with -g some leak groups are typed from DWARF")

        # ------------------------------------------------ not found locally
        alone, alone_err = answers(core, stripped)
        check(alone["type"] != want["type"] and alone["logical"] != want["logical"],
              "the stripped program alone has no types: %r" % (alone,))
        check("has no debug info" in alone_err["type"], "type says there is no debug info: %s"
              % alone_err["type"][-300:])

        # ------------------------------------------------ from the server
        server, port = start_debuginfod(serve_dir, 1)
        urls = "http://127.0.0.1:%d" % port
        cache = os.path.join(tmp, "cache")
        got, got_err = answers(core, stripped, urls=urls, cache=cache)
        for key in ("type", "logical"):
            check(same(got[key]) == same(want[key]), "%s through debuginfod equals -g:\n%r\n%r"
                  % (key, got[key], want[key]))
        check(leak_view(got["leaks"]) == leak_view(want["leaks"]),
              "leaks through debuginfod equal -g:\n%r\n%r" % (leak_view(got["leaks"]), leak_view(want["leaks"])))
        check(os.path.isfile(os.path.join(cache, build_id, "debuginfo")),
              "the debug file is in DEBUGINFOD_CACHE_PATH: %s" % os.listdir(cache) if os.path.isdir(cache) else "no cache")
        said = [line for line in got_err["type"].splitlines() if "downloaded" in line]
        check(len(said) == 1 and "leak_cache.stripped" in said[0] and urls in said[0],
              "the first command says its download once: %s" % got_err["type"][-600:])
        check(all("downloaded" not in got_err[key] for key in ("logical", "leaks")),
              "later commands use the cache: %s" % got_err)
        code, out, err = memprof_env("info", "--core", core, "--exe", stripped, "--format", "json",
                                     urls=urls, cache=cache)
        main = [m for m in json.loads(out)["modules"] if m["build_id"] == build_id] if code == 0 else []
        check(len(main) == 1 and main[0]["debug_source"] == "debuginfod"
              and main[0]["debug_file"].startswith(cache),
              "info names the debug file from debuginfod: %s %s" % (main, err[-300:]))

        # ------------------------------------------------ --no-debuginfod
        for key, args in (("type", ["type", "struct cache_entry", "--exe", stripped]),
                          ("logical", ["logical", "query_cache", "--core", core, "--exe", stripped])):
            code, out, err = memprof_env(*args, "--no-debuginfod", urls=urls, cache=cache)
            check(code == 1 and "has no debug info" in err,
                  "--no-debuginfod: %s gives the no-debug-info answer (even with a full cache): %d %s"
                  % (key, code, err[-300:]))
            check("downloaded" not in err, "--no-debuginfod downloads nothing")
        code, out, err = memprof_env("leaks", "--core", core, "--exe", stripped, "--no-debuginfod",
                                     "--format", "json", urls=urls, cache=cache)
        if check(code == 0, "--no-debuginfod: leaks still runs: %s" % err[-300:]):
            summary, _ = leak_view(json.loads(out))
            check(summary == leak_view(want["leaks"])[0], "the same leak summary without types")
            check(not typed_groups(json.loads(out)), "--no-debuginfod: no leak group typed from DWARF")

        if debuggers:
            gdb_script = os.environ["GDB_SCRIPT"]
            env = dict(os.environ, DEBUGINFOD_URLS=urls,
                       DEBUGINFOD_CACHE_PATH=os.path.join(tmp, "cache-gdb"))
            for flag, wanted in (([], True), (["--no-debuginfod"], False)):
                # GDB's own debuginfod client is off: what it finds must
                # come from memprof's.
                proc = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                                       "-ex", "source " + gdb_script,
                                       "-ex", "memprof logical query_cache --format json " + " ".join(flag),
                                       stripped, core], capture_output=True, text=True, env=env,
                                      timeout=600)
                start = proc.stdout.find("\n{")
                answer = json.loads(proc.stdout[start:]) if wanted and start >= 0 else None
                if wanted:
                    check(same(answer) == same(want["logical"]),
                          "GDB: logical through debuginfod equals -g: %s" % (proc.stderr[-600:]))
                else:
                    check("has no debug info" in proc.stderr and start < 0,
                          "GDB --no-debuginfod: no debug info: %s %s" % (proc.stdout[-300:], proc.stderr[-300:]))
            plugin = os.environ.get("LLDB_PLUGIN")
            env["DEBUGINFOD_CACHE_PATH"] = os.path.join(tmp, "cache-lldb")
            for flag, wanted in (([], True), (["--no-debuginfod"], False)) if plugin else ():
                proc = subprocess.run(["lldb", "--batch", "--no-lldbinit", "-o", "plugin load " + plugin,
                                       "-o", "memprof logical query_cache --format json " + " ".join(flag),
                                       "--core", core, stripped], capture_output=True, text=True,
                                      env=env, timeout=600)
                start = proc.stdout.find("\n{")
                if wanted:
                    answer = json.loads(proc.stdout[start:proc.stdout.rfind("}") + 1]) if start >= 0 else None
                    check(same(answer) == same(want["logical"]),
                          "LLDB: logical through debuginfod equals -g: %s %s"
                          % (proc.stdout[-300:], proc.stderr[-600:]))
                else:
                    check("has no debug info" in proc.stdout + proc.stderr and start < 0,
                          "LLDB --no-debuginfod: no debug info: %s %s" % (proc.stdout[-300:], proc.stderr[-300:]))

        # ------------------------------------------------ a dwz file from the server
        # Two programs through dwz -m share a supplementary file; only the
        # server has it.  Its build id finds it there as any debug file's.
        dwz_dir = os.path.join(tmp, "dwz")
        os.mkdir(dwz_dir)
        dwz_cache = os.path.join(dwz_dir, "leak_cache")
        dwz_other = os.path.join(dwz_dir, "instance")
        shutil.copy(full, dwz_cache)
        subprocess.run(["gcc", "-g", "-O1", "-I", os.path.join(source_dir, "examples"),
                        os.path.join(source_dir, "examples", "instance.c"), "-o", dwz_other], check=True)
        common = os.path.join(dwz_dir, "common.debug")
        subprocess.run(["dwz", "-m", common, "-M", common, dwz_cache, dwz_other], check=True)
        alt_dir = os.path.join(tmp, "serve-dwz")
        os.mkdir(alt_dir)
        os.rename(common, os.path.join(alt_dir, "common.debug"))
        code, _, err = memprof_env("type", "struct cache_entry", "--exe", dwz_cache, "--format", "json")
        check(code != 0 and "supplementary" in err and "debuginfod" in err,
              "without a server the dwz file is missing, said so: %d %s" % (code, err[-300:]))
        alt_server, alt_port = start_debuginfod(alt_dir, 1)
        code, out, err = memprof_env("type", "struct cache_entry", "--exe", dwz_cache, "--format", "json",
                                     urls="http://127.0.0.1:%d" % alt_port,
                                     cache=os.path.join(tmp, "cache-dwz"))
        check(code == 0 and same(json.loads(out)) == same(want["type"]),
              "the dwz supplementary file through debuginfod gives -g's type: %d %s" % (code, err[-400:]))
        alt_server.kill()
        alt_server.wait()

        # ------------------------------------------------ servers that fail
        server.kill()
        server.wait()
        code, out, err = memprof_env("type", "struct cache_entry", "--exe", stripped,
                                     urls=urls, cache=os.path.join(tmp, "cache-down"))
        warnings = [line for line in err.splitlines() if "debuginfod" in line and "warning" in line]
        check(code == 1 and len(warnings) == 1 and "not asking again" in warnings[0]
              and "has no debug info" in err,
              "a server that is down: one warning, then no debug info: %s" % err[-600:])

        listener, held = silent_server()
        try:
            silent = "http://127.0.0.1:%d" % listener.getsockname()[1]
            code, out, err = memprof_env("logical", "query_cache", "--core", core, "--exe", stripped,
                                         urls=silent, cache=os.path.join(tmp, "cache-silent"), timeout=2)
            warnings = [line for line in err.splitlines() if "debuginfod" in line and "warning" in line]
            check(code == 1 and len(warnings) == 1 and "DEBUGINFOD_TIMEOUT" in warnings[0],
                  "a server that never answers: one warning naming the timeout: %s" % err[-600:])
            check(held, "the silent server was asked")
        finally:
            listener.close()
            for conn in held:
                conn.close()
finally:
    for proc in servers:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)

finish()
