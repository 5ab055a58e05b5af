"""`memprof report --html FILE`: one self-contained page, checked in a real
browser.

The page's data must be the verbs' own answers (heap, leaks, recommend,
logical for each --root, diff of snapshots), equal to what the CLI prints
for them.  Debian's headless chromium loads each page: it must render with
no script error (the page records any in #errors and marks the body
data-rendered="ok" only without), with its charts and flamegraph present;
a screenshot of each is kept among the test outputs (meson-logs).  Pages
from a core, from a jemalloc program's core (no mallinfo2), from three
snapshots of a program whose cache grows, and from GDB."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from mptest import Held, check, example, finish, held_core, memprof, memprof_json

tmp = tempfile.mkdtemp(prefix="memprof-report-")
logs = os.path.join(os.environ.get("MEMPROF_BUILD_DIR", tmp), "meson-logs")
os.makedirs(logs, exist_ok=True)
browser = shutil.which("chromium") or shutil.which("chromium-browser")
check(browser is not None, "chromium is installed (bootstrap.sh installs Debian's chromium)")


def page_data(path):
    """The JSON the page renders from."""
    text = open(path, encoding="utf-8").read()
    m = re.search(r'<script type="application/json" id="memprof-data">(.*?)</script>', text, re.S)
    check(m is not None, "%s: the data script is there" % path)
    return json.loads(m.group(1)) if m else {}


def self_contained(path):
    text = open(path, encoding="utf-8").read()
    external = re.findall(r'(?:src|href)\s*=\s*"(?!#)[^"]+"|@import|url\((?!#)', text)
    check(not external, "%s: nothing loaded from elsewhere: %s" % (path, external[:5]))


def render(path, name, checks):
    """Loads the page in headless chromium; returns the DOM after scripts."""
    if not browser:
        return ""
    common = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--user-data-dir=" + os.path.join(tmp, "chromium-" + name),
              "--enable-logging=stderr", "--v=0"]
    proc = subprocess.run(common + ["--dump-dom", "file://" + path], capture_output=True,
                          text=True, timeout=180)
    dom = proc.stdout
    check('data-rendered="ok"' in dom, "%s: the page rendered without errors: %s"
          % (name, re.findall(r'<div id="errors"[^>]*>.*?</div>\s*</?\w', dom, re.S)[:1] or proc.stderr[-800:]))
    console = [l for l in proc.stderr.splitlines() if "CONSOLE" in l and ("Uncaught" in l or "Error" in l)]
    check(not console, "%s: no console errors: %s" % (name, console[:3]))
    for what, pattern, least in checks:
        found = len(re.findall(pattern, dom))
        check(found >= least, "%s: %s (%d found)" % (name, what, found))
    shot = os.path.join(logs, "report-%s.png" % name)
    subprocess.run(common + ["--window-size=1400,3000", "--screenshot=" + shot, "file://" + path],
                   capture_output=True, timeout=180)
    check(os.path.getsize(shot) > 10000 if os.path.exists(shot) else False,
          "%s: a screenshot was kept: %s" % (name, shot))
    return dom


def same(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


try:
    # ------------------------------------------------------ from a core
    with held_core([example("waste")], "waste.core") as core:
        page = os.path.join(tmp, "waste.html")
        status, out, err = memprof("report", "--html", page, "--core", core, "--root", "registry",
                                   "--root", "points")
        check(status == 0 and os.path.exists(page), "report from a core: %s" % err)
        self_contained(page)
        data = page_data(page)
        heap = memprof_json("heap", "--core", core)
        check(same(data["heap"]["mallinfo"], heap["mallinfo"]) and
              same(data["heap"]["histogram"], heap["histogram"]), "the page's heap is the CLI's")
        leaks = memprof_json("leaks", "--core", core)
        check(same(data["leaks"]["summary"], leaks["summary"]), "the page's leak summary is the CLI's")
        recommend = memprof_json("recommend", "--core", core)
        check(same(data["recommend"]["recommendations"], recommend["recommendations"]),
              "the page's recommendations are the CLI's")
        logical = memprof_json("logical", "registry", "--core", core)
        check(len(data["logical"]) == 2 and same(data["logical"][0]["nodes"], logical["nodes"]),
              "the page's flamegraph of registry is the CLI's tree")
        render(page, "core", [
            ("summary cards", r'class="card"', 8),
            ("recommendations rows", r'class="pill p-(?:low|medium|high|critical)"', 3),
            ("size histogram bars", r'<rect[^>]*class="bar"', 2),
            ("flamegraph frames", r'class="frame', 10),
            ("two flamegraphs", r'id="flame-\d"', 2)])

        # --with: any verb's JSON in the page, shown by the generic view
        # (no renderer of its own): info's threads as a table, type's
        # members too; a verb that cannot run this way says so in place.
        more = os.path.join(tmp, "more.html")
        status, out, err = memprof("report", "--html", more, "--core", core, "--with", "info",
                                   "--with", "type 'struct point'", "--with", "run")
        check(status == 0, "report --with: %s" % err)
        if status == 0:
            extra = page_data(more).get("more", {})
            info = memprof_json("info", "--core", core)
            check(same(extra.get("info", {}).get("threads"), info["threads"]),
                  "the page's info is the CLI's")
            layout = memprof_json("type", "struct point", "--core", core)
            check(same(extra.get("type 'struct point'"), layout), "the page's type is the CLI's")
            check("error" in extra.get("run", {}), "--with run is refused in place: %s" % extra.get("run"))
            render(more, "with", [
                ("three generic sections", r'<section id="more-\d" class="generic"', 3),
                ("members as lists", r'<dl class="generic"', 3),
                ("arrays of objects as tables", r'<table class="generic"', 2),
                ("the refusal in place", r'class="error">--with', 1)])

        # A root that does not exist: the page says which and why, the rest stands.
        bad = os.path.join(tmp, "bad-root.html")
        status, out, err = memprof("report", "--html", bad, "--core", core, "--root", "nosuch")
        check(status == 0 and "nosuch" in json.dumps(page_data(bad).get("logical")),
              "a failed root is named in the page: %s" % err)

        # From GDB: the same data (the same engine, the debugger's target).
        gdb_page = os.path.join(tmp, "gdb.html")
        proc = subprocess.run(["gdb", "-batch", "-nx", "-x", os.environ["GDB_SCRIPT"],
                               "-ex", "memprof report --html %s --root registry" % gdb_page,
                               example("waste"), core], capture_output=True, text=True, timeout=300)
        check(os.path.exists(gdb_page), "gdb writes the report: %s" % proc.stderr[-800:])
        if os.path.exists(gdb_page):
            g = page_data(gdb_page)
            check(same(g["heap"]["mallinfo"], data["heap"]["mallinfo"]) and
                  same(g["recommend"]["recommendations"], data["recommend"]["recommendations"]),
                  "the page from GDB has the CLI's data")

    # ------------------------------------- another allocator: no mallinfo2
    # Its own figures come before "ready PID".
    with held_core([example("jemalloc_heap")], "jemalloc.core", lambda line: True) as core:
        page = os.path.join(tmp, "jemalloc.html")
        status, out, err = memprof("report", "--html", page, "--core", core)
        check(status == 0 and os.path.exists(page), "report of a jemalloc core: %s" % err)
        if status == 0:
            data = page_data(page)
            check(data["heap"]["mallinfo"] is None and data["heap"]["system_bytes"] > 0,
                  "jemalloc: no mallinfo, system_bytes %r" % data["heap"].get("system_bytes"))
            render(page, "jemalloc", [("the system's bytes", r"from the system", 1)])

    # --------------------------------------------------- usage and errors
    status, out, err = memprof("report", "--core", "/nonexistent.core", "--html", os.path.join(tmp, "x.html"))
    check(status == 1 and len(err.strip().splitlines()) == 1, "a missing core: one line, status 1: %r" % err)
    status, out, err = memprof("report", "--snapshot", "/nonexistent.snap")
    check(status == 2 and "--html" in err, "no --html: a usage error: %r" % err)

    # ------------------------------------------- from snapshots over time
    grow = Held([example("grow_cache"), "--hold"]) if os.path.exists(example("grow_cache")) else None
    check(grow is not None, "grow_cache is built")
    if grow:
        snaps = []
        try:
            for i in range(3):
                path = os.path.join(tmp, "grow-%d.snap" % i)
                status, out, err = memprof("snapshot", "save", path, "--pid", str(grow.pid))
                check(status == 0, "snapshot %d of grow_cache: %s" % (i, err))
                snaps.append(path)
                time.sleep(0.6)
        finally:
            grow.kill()
        page = os.path.join(tmp, "growth.html")
        args = ["report", "--html", page]
        for s in snaps:
            args += ["--snapshot", s]
        status, out, err = memprof(*args)
        check(status == 0, "report from three snapshots: %s" % err)
        if status == 0:
            self_contained(page)
            data = page_data(page)
            diff = memprof_json("diff", *snaps)
            check(same(data["diff"]["intervals"], diff["intervals"]), "the page's growth is memprof diff's")
            check(any(f["kind"] == "growth" and "session" in f["subject"] for f in diff["findings"]),
                  "the growing struct is a growth finding: %s" % [f["subject"] for f in diff["findings"]])
            render(page, "snapshots", [
                ("the growth chart", r'id="growth-chart"', 1),
                ("its lines", r'<polyline', 2),
                ("size histogram bars", r'<rect[^>]*class="bar"', 1)])
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
