"""`meson install` gives a usable memprof: everything lands where a Linux
debugging tool's files go, and works from there, not from the build tree.

The build is installed into a staging root (meson install --destdir).
From it: the CLI runs; a program using the public API builds with
`pkg-config --cflags --libs memprof` and opens a core; `man` renders
memprof(1) with every verb and every option of every verb's help; the
bash completion completes verbs and a verb's options; GDB loads the
installed front end with the one documented line and LLDB the installed
plugin, and both answer `memprof info` on a core."""
import os
import re
import shutil
import subprocess
import tempfile

from mptest import check, example, finish, held_core

build = os.environ["MEMPROF_BUILD_DIR"]
root = tempfile.mkdtemp(prefix="memprof-install-")


def run(argv, env=None, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, **kwargs)


def installed(pattern):
    """Paths under the staging root whose tail matches pattern."""
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if re.search(pattern, path[len(root):]):
                found.append(path)
    return found


try:
    proc = run(["meson", "install", "-C", build, "--destdir", root, "--no-rebuild", "--quiet"])
    check(proc.returncode == 0, "meson install: %s%s" % (proc.stdout[-2000:], proc.stderr[-2000:]))

    # ------------------------------------------------------------ files
    wanted = {
        "the CLI": r"/bin/memprof$",
        "the library": r"/lib/.*libmemprof\.so$",
        "the public header": r"/include/memprof/memprof\.h$",
        "the in-process test API header": r"/include/memprof/check\.h$",
        "memprof.pc": r"/pkgconfig/memprof\.pc$",
        "the man page": r"/share/man/man1/memprof\.1$",
        "the bash completion": r"/share/bash-completion/completions/memprof\.bash$",
        "the GDB script": r"/share/memprof/gdb/memprof\.py$",
        "the GDB package": r"/share/memprof/gdb/memprof/_engine\.py$",
        "glibc's stdio hints": r"/share/memprof/hints/glibc-stdio\.hints$",
    }
    paths = {}
    for what, pattern in wanted.items():
        found = installed(pattern)
        if check(len(found) == 1, "%s installed once: %s" % (what, found)):
            paths[what] = found[0]
    cli = paths["the CLI"]
    library = paths["the library"]
    libdir = os.path.dirname(library)
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)

    proc = run([cli, "--version"], env)
    check(proc.returncode == 0 and proc.stdout.startswith("memprof "), "installed CLI runs: %s" % proc.stderr)
    overview = run([cli, "--help"], env).stdout
    verbs = re.findall(r"^  (\w+)\s", overview.split("verbs:", 1)[1].split("\n\n", 1)[0], re.M)
    check(len(verbs) >= 10, "verbs listed by --help: %s" % verbs)

    with held_core([example("instance_c")]) as core:
        # ---------------------------------------------------- pkg-config
        program = os.path.join(root, "use_api.c")
        with open(program, "w") as f:
            f.write("""
#include <stdio.h>
#include <memprof/memprof.h>
int main(int argc, char **argv)
{
    mp_target *t = NULL;
    mp_error *e = mp_target_open_core(argv[1], NULL, &t);
    if (e) {
        fprintf(stderr, "%s\\n", mp_error_message(e));
        return 1;
    }
    printf("%zu mappings\\n", mp_target_mapping_count(t));
    mp_target_release(t);
    return argc == 2 ? 0 : 1;
}
""")
        pc_env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(paths["memprof.pc"]),
                      PKG_CONFIG_SYSROOT_DIR=root)
        flags = run(["pkg-config", "--cflags", "--libs", "memprof"], pc_env)
        check(flags.returncode == 0 and "-lmemprof" in flags.stdout,
              "pkg-config --cflags --libs memprof: %s %s" % (flags.stdout, flags.stderr))
        binary = os.path.join(root, "use_api")
        proc = run(["cc", program, "-o", binary, *flags.stdout.split()])
        check(proc.returncode == 0, "a program builds with pkg-config's flags: %s" % proc.stderr)
        proc = run([binary, core], env)
        check(proc.returncode == 0 and re.match(r"^\d+ mappings$", proc.stdout.strip()),
              "the program opens a core through the installed library: %s %s" % (proc.stdout, proc.stderr))

        # The in-process test API's example (docs/check.md), built the way
        # that page says, checks itself through the installed library.
        example_source = os.path.join(os.environ["MEMPROF_SOURCE_DIR"], "examples",
                                      "check_example.c")
        cmocka_flags = run(["pkg-config", "--cflags", "--libs", "cmocka"])
        check(cmocka_flags.returncode == 0, "pkg-config cmocka: %s" % cmocka_flags.stderr)
        binary = os.path.join(root, "check_example")
        proc = run(["cc", "-g", example_source, "-o", binary, *flags.stdout.split(),
                    *cmocka_flags.stdout.split()])
        check(proc.returncode == 0, "check_example.c builds with pkg-config's flags: %s" % proc.stderr)
        proc = run([binary], env)
        check(proc.returncode == 0 and "PASSED  ] 2 test(s)" in proc.stdout + proc.stderr,
              "check_example passes through the installed library: %s %s" % (proc.stdout, proc.stderr))

        # ----------------------------------------------------- man page
        page = run(["man", "-l", paths["the man page"]], dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING=""))
        text = page.stdout
        check(page.returncode == 0 and "memprof" in text, "man -l renders memprof.1: %s" % page.stderr)
        for verb in verbs:
            check(re.search(r"^\s+%s\b" % verb, text, re.M) and ("MEMPROF " + verb.upper()) in text,
                  "man page lists and describes verb %s" % verb)
            own = run([cli, "help", verb], env).stdout.split("target (the CLI", 1)[0]
            for option in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", own))):
                check(option in text, "man page has %s of %s" % (option, verb))

        # ------------------------------------------------ bash completion
        def complete(*words):
            script = ("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _memprof; printf '%%s\\n' \"${COMPREPLY[@]}\""
                      % (paths["the bash completion"], " ".join("'%s'" % w for w in words), len(words) - 1))
            return run(["bash", "-c", script]).stdout.split()

        check(sorted(complete("memprof", "")) == sorted(verbs + ["help", "--help", "--version"]),
              "completes verbs: %s" % complete("memprof", ""))
        check(complete("memprof", "le") == ["leaks"], "completes a verb's prefix: %s" % complete("memprof", "le"))
        leaks_options = complete("memprof", "leaks", "--")
        for option in ("--fail-on", "--core", "--pid", "--format", "--blocks"):
            check(option in leaks_options, "completes leaks %s: %s" % (option, leaks_options))
        check(complete("memprof", "leaks", "--format", "js") == ["json"], "completes --format values")

        # ------------------------------------------------------- GDB
        # No MEMPROF_LIBRARY: the installed package finds the installed
        # library beside it, wherever the tree was put.
        gdb_env = {k: v for k, v in os.environ.items() if k != "MEMPROF_LIBRARY"}
        proc = run(["gdb", "-batch", "-nx", "-ex", "source " + paths["the GDB script"],
                    "-ex", "memprof info --format json", example("instance_c"), core], gdb_env)
        check(proc.returncode == 0 and '"mappings"' in proc.stdout,
              "GDB with the installed front end answers memprof info: %s" % proc.stderr[-1500:])

        # ------------------------------------------------------ LLDB
        plugins = installed(r"/memprof/libmemprof-lldb\.so$")
        if shutil.which("lldb") and plugins:
            proc = run(["lldb", "--batch", "--no-lldbinit", "-o", "plugin load " + plugins[0],
                        "-o", "memprof info --format json", "--core", core, example("instance_c")])
            check(proc.returncode == 0 and '"mappings"' in proc.stdout,
                  "LLDB with the installed plugin answers memprof info: %s %s" % (proc.stdout[-800:], proc.stderr[-800:]))
        elif os.environ.get("LLDB_PLUGIN"):
            check(False, "the LLDB plugin was built but not installed: %s" % plugins)
finally:
    shutil.rmtree(root, ignore_errors=True)

finish()
