"""scripts/build-deb.sh makes a Debian package that installs a working memprof.

The package is built from the source tree with its debian/ files
(dpkg-buildpackage), then checked as dpkg sees it: name, version (the
project's), architecture, dependencies (every library its ELF files link
comes from a package it depends on, except liblldb, which only lldb loads
the plugin into: lldb is suggested), and contents (exactly what `meson
install` puts in place for this build, under /usr instead of the build's
prefix, plus /usr/share/doc/memprof).  lintian runs when it is installed
and must report no error.

The package is unpacked into a temporary root (dpkg-deb -x: the machine's
dpkg database is left alone), and the CLI, GDB (`source` of the installed
memprof.py) and LLDB (`plugin load` of the installed plugin) run from there
on a core and agree on its leaks.  When the test runs as root on a machine
where memprof is not installed, the package is also installed with dpkg -i,
run from /usr/bin, removed with dpkg -r and purged, and every file it
brought must be gone."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile

from mptest import check, example, finish, held_core

source_dir = os.environ["MEMPROF_SOURCE_DIR"]
build_dir = os.environ["MEMPROF_BUILD_DIR"]
tmp = tempfile.mkdtemp(prefix="memprof-deb-")
installed_by_test = False


def run(argv, timeout=600, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def field(info, name):
    m = re.search(r"^ %s: (.*)$" % name, info, re.M)
    return m.group(1) if m else ""


def package_names(relation):
    """'libc6 (>= 2.34), libdwarf1 | foo' -> {'libc6', 'libdwarf1', 'foo'}"""
    return {re.sub(r"[\s(].*", "", alt.strip()).split(":")[0]
            for part in relation.split(",") for alt in part.split("|") if alt.strip()}


def owner_package(library_path):
    proc = run(["dpkg", "-S", os.path.realpath(library_path)])
    if proc.returncode != 0:
        proc = run(["dpkg", "-S", library_path])
    return proc.stdout.split(":")[0] if proc.returncode == 0 else None


def linked_packages(elf):
    """The packages holding the libraries elf links directly (its NEEDED
    entries, found where ldd finds them), by library name."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", run(["readelf", "-d", elf]).stdout)
    found = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", elf]).stdout, re.M))
    return {name: owner_package(found[name]) if name in found else None
            for name in needed if not name.startswith("ld-linux")}


def is_installed(package):
    status = run(["dpkg-query", "-W", "-f=${Status}", package]).stdout
    return status.endswith(" installed")


def leaks_summary(text):
    start = text.find("\n{") + 1 if not text.startswith("{") else 0
    return json.loads(text[start:])["summary"]


def expected_paths():
    """What meson installs for this build, with its prefix replaced by /usr."""
    options = json.loads(run(["meson", "introspect", build_dir, "--buildoptions"]).stdout)
    prefix = [o["value"] for o in options if o["name"] == "prefix"][0].rstrip("/")
    installed = json.loads(run(["meson", "introspect", build_dir, "--installed"]).stdout)
    return {"/usr" + path[len(prefix):] for path in installed.values() if path.startswith(prefix + "/")}


try:
    proc = run(["bash", os.path.join(source_dir, "scripts", "build-deb.sh"), tmp], timeout=3600)
    if proc.returncode != 0:
        raise SystemExit("build-deb.sh failed:\n%s" % proc.stderr[-4000:])
    deb = proc.stdout.strip().splitlines()[-1]
    check(os.path.isfile(deb) and deb.endswith(".deb"), "build-deb.sh prints the package: %r" % deb)
    check(glob.glob(os.path.join(tmp, "*.deb")) == [deb], "one package made")

    # ------------------------------------------------------------ control
    info = run(["dpkg-deb", "--info", deb]).stdout
    project = json.loads(run(["meson", "introspect", build_dir, "--projectinfo"]).stdout)
    check(field(info, "Package") == "memprof", "package name: %s" % field(info, "Package"))
    check(field(info, "Version") == project["version"],
          "package version %s is the project's %s" % (field(info, "Version"), project["version"]))
    check(field(info, "Architecture") == run(["dpkg", "--print-architecture"]).stdout.strip(),
          "architecture: %s" % field(info, "Architecture"))
    depends = package_names(field(info, "Depends"))
    suggests = package_names(field(info, "Suggests"))
    check(any(p.startswith("gdb") for p in suggests) and any(p.startswith("lldb") for p in suggests),
          "gdb and lldb are suggested: %s" % field(info, "Suggests"))
    check("libdebuginfod1" in package_names(field(info, "Recommends")),
          "libdebuginfod1 (dlopen'ed for debuginfod) is recommended: %s" % field(info, "Recommends"))
    check(not any(p.startswith(("gdb", "lldb", "liblldb")) for p in depends),
          "no debugger is a dependency: %s" % field(info, "Depends"))

    # ------------------------------------------------------------ contents
    listing = run(["dpkg-deb", "--contents", deb]).stdout
    files = set()
    for line in listing.splitlines():
        cols = line.split()
        if cols and cols[0].startswith("-"):
            owner = cols[1]
            check(owner == "root/root", "%s owned by root/root, not %s" % (cols[-1], owner))
            files.add(cols[-1].lstrip("."))
    want = expected_paths()
    check(want and want <= files, "the package holds everything meson installs; missing: %s"
          % sorted(want - files))
    extra = {f for f in files - want if not f.startswith("/usr/share/doc/memprof/")}
    check(not extra, "nothing but meson's files and docs: %s" % sorted(extra))
    check("/usr/share/doc/memprof/copyright" in files, "the copyright file is installed")
    for path, what in (("/usr/bin/memprof", "the CLI"), ("/usr/share/memprof/gdb/memprof.py", "the GDB script"),
                       ("/usr/share/man/man1/memprof.1", "the man page"),
                       ("/usr/include/memprof/memprof.h", "the header")):
        check(path in files, "%s at %s" % (what, path))
    for pattern, what in ((r"^/usr/lib/[^/]+/libmemprof\.so$", "libmemprof"),
                          (r"^/usr/lib/[^/]+/pkgconfig/memprof\.pc$", "memprof.pc"),
                          (r"^/usr/lib/[^/]+/memprof/libmemprof-lldb\.so$", "the LLDB plugin"),
                          (r"^/usr/share/bash-completion/completions/memprof", "the bash completion")):
        check(any(re.match(pattern, f) for f in files), "%s is in the package" % what)

    if shutil.which("lintian"):
        proc = run(["lintian", "--no-tag-display-limit", deb])
        errors = [line for line in proc.stdout.splitlines() if line.startswith("E:")]
        check(not errors, "lintian reports no error:\n%s" % "\n".join(errors))
    else:
        print("lintian is not installed: not run")

    # ------------------------------------------------------------ unpacked
    root = os.path.join(tmp, "root")
    proc = run(["dpkg-deb", "-x", deb, root])
    check(proc.returncode == 0, "dpkg-deb -x: %s" % proc.stderr)
    cli = os.path.join(root, "usr/bin/memprof")
    gdb_script = os.path.join(root, "usr/share/memprof/gdb/memprof.py")
    plugins = glob.glob(os.path.join(root, "usr/lib/*/memprof/libmemprof-lldb.so"))
    elves = [cli] + glob.glob(os.path.join(root, "usr/lib/*/libmemprof.so")) + plugins
    for elf in elves:
        for library, package in linked_packages(elf).items():
            if library.startswith("liblldb"):
                continue
            check(package in depends, "%s links %s from %s, which Depends names: %s"
                  % (os.path.basename(elf), library, package, field(info, "Depends")))

    exe = example("leak_cache")
    with held_core([exe]) as core:
        proc = run([cli, "leaks", "--core", core, "--exe", exe, "--format", "json"])
        check(proc.returncode == 0, "the unpacked CLI runs: %s" % proc.stderr[-500:])
        want_summary = leaks_summary(proc.stdout) if proc.returncode == 0 else None
        check(want_summary and want_summary["definitely_lost"]["blocks"] > 0,
              "the unpacked CLI finds leak_cache's leaks: %s" % want_summary)
        # No MEMPROF_LIBRARY: the installed package finds the library beside it.
        env = {k: v for k, v in os.environ.items() if k != "MEMPROF_LIBRARY"}
        proc = run(["gdb", "-batch", "-nx", "-ex", "source " + gdb_script,
                    "-ex", "memprof leaks --format json", exe, core], env=env)
        check(proc.returncode == 0 and "{" in proc.stdout
              and leaks_summary(proc.stdout) == want_summary,
              "GDB with the unpacked memprof.py gives the CLI's leaks: %s" % proc.stderr[-800:])
        if shutil.which("lldb"):
            proc = run(["lldb", "--batch", "--no-lldbinit", "-o", "plugin load " + plugins[0],
                        "-o", "memprof leaks --format json", "--core", core, exe])
            check(proc.returncode == 0 and "{" in proc.stdout
                  and leaks_summary(proc.stdout) == want_summary,
                  "LLDB with the unpacked plugin gives the CLI's leaks: %s %s"
                  % (proc.stdout[-500:], proc.stderr[-500:]))

        # -------------------------------------------------- dpkg -i, -r
        if os.geteuid() != 0:
            print("not root: dpkg -i / dpkg -r not tried")
        elif is_installed("memprof") or shutil.which("memprof") or os.path.exists("/usr/bin/memprof"):
            print("memprof is installed system-wide already: dpkg -i / dpkg -r not tried")
        else:
            proc = run(["dpkg", "-i", deb])
            installed_by_test = proc.returncode == 0
            if check(installed_by_test, "dpkg -i: %s %s" % (proc.stdout[-800:], proc.stderr[-800:])):
                listed = [p for p in run(["dpkg-query", "-L", "memprof"]).stdout.splitlines()
                          if os.path.isfile(p)]
                proc = run(["/usr/bin/memprof", "leaks", "--core", core, "--exe", exe, "--format", "json"])
                check(proc.returncode == 0 and leaks_summary(proc.stdout) == want_summary,
                      "the installed /usr/bin/memprof answers: %s" % proc.stderr[-500:])
                proc = run(["gdb", "-batch", "-nx", "-ex", "source /usr/share/memprof/gdb/memprof.py",
                            "-ex", "memprof leaks --format json", exe, core], env=env)
                check(proc.returncode == 0 and leaks_summary(proc.stdout) == want_summary,
                      "GDB with the installed memprof.py answers: %s" % proc.stderr[-500:])
                removed = run(["dpkg", "-r", "memprof"])
                purged = run(["dpkg", "-P", "memprof"])
                installed_by_test = removed.returncode != 0 or purged.returncode != 0
                check(not installed_by_test, "dpkg -r, -P: %s %s" % (removed.stderr, purged.stderr))
                left = [p for p in listed if os.path.lexists(p)]
                check(len(listed) > 10 and not left, "dpkg -r removes every file (%d): left %s"
                      % (len(listed), left))
                check(not is_installed("memprof"), "dpkg no longer has memprof installed")
finally:
    if installed_by_test:
        run(["dpkg", "-P", "memprof"])
    shutil.rmtree(tmp, ignore_errors=True)

finish()
