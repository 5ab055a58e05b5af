"""memprof reads Debian bullseye's binary allocator builds, stripped as
Debian ships them: libjemalloc2 5.2.1-3 and gperftools 2.8.1-1 (its
libtcmalloc_minimal.so.4 and full libtcmalloc.so.4).

Each .deb is fetched by scripts/allocator_binary.sh (pinned sha256, cached
under the build directory, unpacked with dpkg-deb -x).  The example
programs of test_heap_jemalloc.py and test_heap_tcmalloc.py are compiled
here against the unpacked library (the headers are the installed -dev
packages': the functions they call are the same in both versions) and run
with LD_LIBRARY_PATH naming it; they print their own truth and hold.

- jemalloc 5.2.1, live (--pid) and from a gcore core: `heap` names the
  version, its detail totals equal jemalloc's own allocated, active,
  resident and mapped; blocks in use + cached + the tcaches' pointer stacks
  equal stats.allocated; `leaks`: lost blocks and bytes equal the
  program's, per kind the block counts valgrind gives for the same program
  with the same library (--soname-synonyms).
- tcmalloc 2.8.1, both libraries, live and from the core: bytes in use
  equal generic.current_allocated_bytes, free and cached bytes tcmalloc's
  properties; on the core every block the program's hooks saw is in use at
  its address and usable size (through libmemprof) and the others add up
  to the bytes allocated before the hooks; `leaks` per kind equals valgrind.

Arguments: the compiler and flags meson builds the examples with.  Skips
(77) offline (nothing can be fetched) or where the -dev headers are
missing."""
import os
import subprocess
import sys
import tempfile
import shutil

from mptest import check, finish, gcore, heap_json
import jemalloc_truth
import tcmalloc_truth

SOURCE = os.environ["MEMPROF_SOURCE_DIR"]
CACHE = os.path.join(os.environ["MEMPROF_BUILD_DIR"], "allocator-binaries")
EXAMPLES_SRC = os.path.join(SOURCE, "examples")
CC = sys.argv[1:]

HEADERS = ["/usr/include/jemalloc/jemalloc.h", "/usr/include/gperftools/malloc_extension_c.h"]
if not CC or not all(os.path.exists(h) for h in HEADERS):
    print("SKIP: no compiler given or headers missing (libjemalloc-dev, libgoogle-perftools-dev)")
    sys.exit(77)


def unpacked(deb):
    """The library directory of a bullseye .deb; skips the test offline."""
    proc = subprocess.run([os.path.join(SOURCE, "scripts", "allocator_binary.sh"), deb, CACHE],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode == 77:
        print("SKIP: %s" % proc.stderr.strip())
        sys.exit(77)
    if proc.returncode != 0:
        raise SystemExit("allocator_binary.sh %s: %s" % (deb, proc.stderr.strip()))
    return proc.stdout.strip()


def built(source, libdir, soname, out):
    """examples/SOURCE compiled and linked against libdir's soname."""
    proc = subprocess.run([*CC, os.path.join(EXAMPLES_SRC, source), "-I", EXAMPLES_SRC,
                           "-o", out, "-L", libdir, "-l:" + soname],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit("cannot build %s against %s/%s: %s" % (source, libdir, soname,
                                                                 proc.stderr[-2000:]))
    return out


def run_jemalloc(tmp):
    libdir = unpacked("libjemalloc2_5.2.1-3_amd64.deb")
    exe = built("jemalloc_heap.c", libdir, "libjemalloc.so.2", os.path.join(tmp, "jemalloc_heap"))
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    backend = "jemalloc 5.2.1"
    held = jemalloc_truth.HeldTruth(exe, env)
    try:
        jemalloc_truth.check_heap("5.2.1 live", heap_json("--pid", str(held.pid)), held, backend)
        core = gcore(held.pid, os.path.join(tmp, "jemalloc.core"))
        check(held.release() == 0, "jemalloc_heap on 5.2.1 did not exit 0")
    finally:
        held.kill()
    jemalloc_truth.check_heap("5.2.1 core", heap_json("--core", core), held, backend)
    jemalloc_truth.check_leaks("5.2.1 core", core, exe, held, env)
    os.remove(core)


# gperftools 2.8.1 at start: a module initializer sets the current
# MallocExtension to a new default one (8 bytes); TCMallocGuard's
# constructor, unless RunningOnValgrind(), registers a new
# TCMallocImplementation (16 bytes) in its place, and the default one is
# lost: a real leak of the library, which 2.10 no longer has in this form.
# Under valgrind the default one stays, reachable, and there is no
# TCMallocImplementation (seen in Debian's binary: TCMallocGuard::TCMallocGuard
# calls RunningOnValgrind before operator new(16)).
NATIVE_ONLY_2_8 = [("definitely_lost", 8, "MallocExtension"),
                   ("still_reachable", 16, "TCMallocImplementation")]
VALGRIND_ONLY_2_8 = ["still_reachable"]


def run_tcmalloc(tmp):
    minimal = unpacked("libtcmalloc-minimal4_2.8.1-1_amd64.deb")
    libdir = unpacked("libgoogle-perftools4_2.8.1-1_amd64.deb")
    backend = "tcmalloc 2.8.1"
    for name, lib_dir, soname in (("tcmalloc_heap", minimal, "libtcmalloc_minimal.so.4"),
                                  ("tcmalloc_full_heap", libdir, "libtcmalloc.so.4")):
        where = "2.8.1 " + name
        # The full library needs libtcmalloc_minimal's package too (its
        # dependency): both directories are on the path.
        path = "%s:%s" % (lib_dir, minimal)
        exe = built("tcmalloc_heap.c", lib_dir, soname, os.path.join(tmp, name))
        env = dict(tcmalloc_truth.ENV, LD_LIBRARY_PATH=path)
        held = tcmalloc_truth.HeldTruth(exe, os.path.join(tmp, name + ".truth"), env)
        try:
            check(held.version.startswith("2.8"), "%s: tc_version() %r" % (where, held.version))
            tcmalloc_truth.check_heap(where + " live", heap_json("--pid", str(held.pid)), held,
                                      backend)
            core = gcore(held.pid, os.path.join(tmp, name + ".core"))
            check(held.release() == 0, "%s did not exit 0" % where)
        finally:
            held.kill()
        tcmalloc_truth.check_heap(where + " core", heap_json("--core", core), held, backend)
        tcmalloc_truth.check_blocks(where + " core", core, held)
        tcmalloc_truth.check_leaks(where + " core", core, exe, env, NATIVE_ONLY_2_8,
                                   VALGRIND_ONLY_2_8)
        os.remove(core)


tmp = tempfile.mkdtemp(prefix="memprof-binaries-")
try:
    run_jemalloc(tmp)
    run_tcmalloc(tmp)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
