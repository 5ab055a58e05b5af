#!/usr/bin/env python3
"""Makes the seed corpora and reference data of the memprof fuzzers.

    fuzz/make_corpus.py BUILD_DIR

BUILD_DIR is a fuzz build (-Dfuzz=true, see scripts/fuzz.sh) whose examples
and test helpers are built.  Nothing here is committed: the repository holds
no binaries, so every seed is derived from programs the build compiles and
from cores of them taken with gdb's gcore.

Writes, under BUILD_DIR:
  fuzz-data/cores/NAME.core      full cores of held programs (kept between runs)
  fuzz-data/heap/                the cores fuzz_heap builds its targets from,
                                 and `list` (core, root variable per line)
  fuzz-data/elf-debug/           debug files the stripped ELF seeds link to
  fuzz-corpus/FUZZER/seeds/      the seeds, remade on every run

Seeds, per fuzzer:
  fuzz_core        each core made compact (notes moved first; every PT_LOAD
                   keeps its first page or two, the rest reads as "not
                   saved"), once with and once without segment data
  fuzz_elf(_reader) the small examples and type-test programs as built,
                   stripped copies with a .gnu_debuglink, and for the large
                   C++ and Rust programs a debug file cut down to the type
                   sections (.debug_info, .debug_abbrev, string sections)
  fuzz_snapshot    `memprof snapshot save` of the small cores
  fuzz_heap        written by fuzz_heap itself (MEMPROF_FUZZ_WRITE_SEEDS):
                   the allocator windows of each reference core as they are
"""
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

MAX_SEED = {
    "fuzz_core": 131072,
    "fuzz_elf": 262144,
    "fuzz_snapshot": 65536,
    "fuzz_text": 65536,
    "fuzz_hints": 16384,
}

# name -> (program relative to BUILD_DIR, arguments, root variables for the
# logical walks of fuzz_heap, or None when the core is not a heap reference)
CORES = {
    "instance_c": ("examples/instance_c", ["--hold"], "instance"),
    "leak_cycle": ("examples/leak_cycle", ["--hold"], None),
    "leak_handlers": ("examples/leak_handlers", ["--hold"], "app_events"),
    "instance_cpp": ("examples/instance_cpp", ["--hold"], None),
    "instance_rs": ("examples/instance_rs", ["--hold"], None),
    "heapshape": ("tests/heapshape", ["mixed"], "keep"),
    "heapshape_corrupt": ("tests/heapshape", ["corrupt-size"], None),
    "leakshapes": ("tests/leakshapes", ["--hold"], "held_by_global"),
    # Every rule of the logical walk on a small heap (40 list nodes).
    "logical_shapes": ("tests/logical_shapes", ["40"], ",".join([
        "list_head", "graph_root", "shared", "unions", "garbage", "lens", "generic",
        "nolen", "opaque", "tree_root", "bits", "matrix", "flex", "counted"])),
}

# ELF seeds used as built (when small enough) and stripped with a debuglink.
ELF_PROGRAMS = [
    "examples/instance_c", "examples/leak_cycle", "examples/leak_handlers",
    "examples/leak_cache", "examples/leak_buffer", "examples/leak_tls",
    "tests/types/layouts", "tests/types/layouts_dwarf4", "tests/types/libopaque.so",
    "tests/types/uses_lib", "tests/types/classes", "tests/types/classes_tu",
    "tests/logical_shapes", "tests/polymorph",
]
# Programs too large to use whole: only their type sections are kept.
ELF_TYPE_SECTIONS_ONLY = [
    "tests/types/classes", "tests/types/classes_tu", "examples/zoo_cpp",
    "examples/instance_cpp", "tests/types/layouts_rs", "examples/instance_rs",
]
# A Rust library small enough to be a seed (no std: its DWARF is only these
# types): enums with tagged, niche and dataful variants (DW_TAG_variant_part).
RUST_SEED = r"""
#![no_std]
use core::num::NonZeroU32;
pub enum Shape { Empty, Circle(f64), Rect { w: u32, h: u32 }, Named(&'static str) }
pub struct Holder {
    pub shapes: [Shape; 4],
    pub tag: Option<u8>,
    pub nz: Option<NonZeroU32>,
    pub r: Result<u16, i8>,
    pub next: Option<&'static Holder>,
}
#[no_mangle]
pub static mut HOLDER: Holder = Holder {
    shapes: [Shape::Empty, Shape::Circle(1.0), Shape::Rect { w: 1, h: 2 }, Shape::Named("x")],
    tag: Some(1), nz: NonZeroU32::new(5), r: Ok(3), next: None,
};
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
"""
TYPE_SECTIONS = {".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str",
                 ".debug_str_offsets", ".debug_addr", ".debug_types", ".shstrtab",
                 ".note.gnu.build-id", ".strtab", ".symtab"}


def note(text):
    print("make_corpus: " + text, file=sys.stderr)


def gcore(argv, out):
    """Runs argv until it prints its "ready PID" line, writes its core with
    gdb's gcore, then closes its stdin so that it exits normally."""
    held = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        words = held.stdout.readline().split()
        if len(words) < 2 or words[0] != b"ready":
            raise RuntimeError("%s did not print its ready line" % argv[0])
        partial = out + ".partial"
        subprocess.run(["gdb", "-nx", "-batch", "-q", "-iex", "set debuginfod enabled off",
                        "-iex", "set pagination off", "-p", words[1].decode(),
                        "-ex", "gcore " + partial],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=600)
        held.stdin.close()
        if held.wait(timeout=120) != 0:
            raise RuntimeError("%s exited with status %d" % (argv[0], held.returncode))
        os.replace(partial, out)
    finally:
        if held.poll() is None:
            held.kill()
            held.wait()


def make_cores(build, data):
    """{name: core path} for every program that was built."""
    folder = os.path.join(data, "cores")
    os.makedirs(folder, exist_ok=True)
    cores = {}
    for name, (program, args, _root) in CORES.items():
        exe = os.path.join(build, program)
        if not os.path.exists(exe):
            note("%s not built: no %s core" % (program, name))
            continue
        core = os.path.join(folder, name + ".core")
        if not os.path.exists(core) or os.path.getmtime(core) < os.path.getmtime(exe):
            note("core of %s" % program)
            gcore([exe, *args], core)
        cores[name] = core
    return cores


def compact_core(blob, keep):
    """The core with its notes right after the program headers and at most
    `keep` bytes of each PT_LOAD: what opening a core reads, small enough
    for the fuzzer to spend its mutations on headers and notes."""
    ehdr = bytearray(blob[:64])
    phoff, = struct.unpack_from("<Q", ehdr, 32)
    phnum, = struct.unpack_from("<H", ehdr, 56)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", blob, phoff + 56 * i)) for i in range(phnum)]
    out = bytearray(64 + 56 * phnum)
    struct.pack_into("<Q", ehdr, 32, 64)
    struct.pack_into("<Q", ehdr, 40, 0)     # no section headers
    struct.pack_into("<HHH", ehdr, 58, 64, 0, 0)
    out[:64] = ehdr
    # type, flags, offset, vaddr, paddr, filesz, memsz, align
    for p in sorted(phdrs, key=lambda p: p[0] != 4):   # PT_NOTE first
        data = blob[p[2]:p[2] + p[5]]
        if p[0] == 1:
            data = data[:keep]
            p[5] = len(data)
        while len(out) % 8:
            out.append(0)
        p[2] = len(out)
        out += data
    for i, p in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", out, 64 + 56 * i, *p)
    return bytes(out)


def write(folder, name, blob):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(blob)


def core_seeds(cores, seeds):
    for name, core in cores.items():
        blob = open(core, "rb").read()
        for keep, suffix in ((0, "notes"), (4096, "page"), (8192, "2pages")):
            small = compact_core(blob, keep)
            if len(small) <= MAX_SEED["fuzz_core"]:
                write(seeds, "%s-%s.core" % (name, suffix), small)


def objcopy(*args):
    subprocess.run(["objcopy", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def section_names(path):
    out = subprocess.run(["readelf", "-SW", path], check=True, capture_output=True,
                         text=True).stdout
    names = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("[") and "]" in line:
            fields = line.split("]", 1)[1].split()
            if fields and fields[0].startswith("."):
                names.append(fields[0])
    return names


def elf_seeds(build, data, seeds, scratch):
    debug_folder = os.path.join(data, "elf-debug")
    shutil.rmtree(debug_folder, ignore_errors=True)
    os.makedirs(debug_folder)
    debug_names = []
    limit = MAX_SEED["fuzz_elf"]
    for program in ELF_PROGRAMS:
        path = os.path.join(build, program)
        if not os.path.exists(path):
            continue
        base = program.replace("/", "_")
        if os.path.getsize(path) <= limit:
            shutil.copy(path, os.path.join(seeds, base))
        # Stripped, with a .gnu_debuglink to a debug file memprof will find
        # next to the input (fuzz_elf installs it there).
        debug = os.path.join(debug_folder, base + ".debug")
        stripped = os.path.join(scratch, base + ".stripped")
        objcopy("--only-keep-debug", path, debug)
        objcopy("--strip-debug", "--add-gnu-debuglink=" + debug, path, stripped)
        if os.path.getsize(stripped) <= limit and os.path.getsize(debug) <= 8 << 20:
            shutil.copy(stripped, os.path.join(seeds, base + ".stripped"))
            debug_names.append(base + ".debug")
        else:
            os.unlink(debug)
    for program in ELF_TYPE_SECTIONS_ONLY:
        path = os.path.join(build, program)
        if not os.path.exists(path):
            continue
        base = program.replace("/", "_")
        cut = os.path.join(scratch, base + ".types")
        objcopy("--only-keep-debug", path, cut)
        drop = [n for n in section_names(cut) if n not in TYPE_SECTIONS]
        args = []
        for n in drop:
            args += ["--remove-section", n]
        objcopy(*args, cut)
        if os.path.getsize(cut) <= limit:
            shutil.copy(cut, os.path.join(seeds, base + ".types"))
        else:
            note("%s: type sections are %d bytes, more than %d: not a seed"
                 % (program, os.path.getsize(cut), limit))
    with open(os.path.join(debug_folder, "list"), "w") as f:
        f.write("".join(n + "\n" for n in debug_names))
    rustc = shutil.which("rustc") or shutil.which(os.path.expanduser("~/.cargo/bin/rustc"))
    if rustc:
        source = os.path.join(scratch, "shapes.rs")
        with open(source, "w") as f:
            f.write(RUST_SEED)
        out = os.path.join(seeds, "rust_shapes.so")
        subprocess.run([rustc, "-g", "-C", "opt-level=0", "-C", "panic=abort",
                        "--crate-type=cdylib", "--crate-name=shapes", source, "-o", out],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        note("no rustc: no Rust seed")


def snapshot_seeds(build, cores, seeds, scratch):
    memprof = os.path.join(build, "cli", "memprof")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    for name, core in cores.items():
        out = os.path.join(scratch, name + ".snapshot")
        result = subprocess.run([memprof, "snapshot", "save", out, "--core", core],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env)
        if result.returncode != 0:
            note("snapshot of %s: %s" % (name, result.stderr.decode().strip()))
            continue
        if os.path.getsize(out) <= MAX_SEED["fuzz_snapshot"]:
            shutil.copy(out, os.path.join(seeds, name + ".snapshot"))


SUPPRESSIONS = b"""# perl frees nothing at exit: not ours.
name: perl-at-exit
program: perl

name: parser-interned
kind: definite,indirect
type: char\\[\\] (string)
size: 16-64
program: */parser_test
preview: tok:*

root: cache_*
owner: struct node
size: 1K-
"""


def text_seeds(build, cores, seeds):
    """fuzz_text: byte 0 picks the reader (suppressions, a folded pair, a
    JSON report, the diff verb on a pair); pairs are split by a NUL."""
    memprof = os.path.join(build, "cli", "memprof")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")

    def output(*args):
        result = subprocess.run([memprof, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)
        return result.stdout if result.returncode in (0, 3) else b""

    def seed(name, data):
        if 0 < len(data) <= MAX_SEED["fuzz_text"]:
            with open(os.path.join(seeds, name), "wb") as f:
                f.write(data)

    seed("suppressions", b"\x00" + SUPPRESSIONS)
    for name, core in sorted(cores.items()):
        root = CORES[name][2]
        if root and "," not in root:
            folded = output("logical", root, "--core", core, "--format", "folded")
            seed("folded-" + name, b"\x01" + folded + b"\x00" + folded[: len(folded) // 2])
            seed("diff-folded-" + name, b"\x03" + folded + b"\x00" + folded + b"\x01")
        for verb in ("heap", "leaks"):
            report = output(verb, "--core", core, "--format", "json")
            seed("json-%s-%s" % (verb, name), b"\x02" + report)
            seed("diff-%s-%s" % (verb, name), b"\x03" + report + b"\x00" + report + b"\x00")


def heap_data(build, data, cores, seeds):
    folder = os.path.join(data, "heap")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    lines = []
    for name, (_program, _args, root) in CORES.items():
        if root and name in cores:
            os.symlink(os.path.abspath(cores[name]), os.path.join(folder, name + ".core"))
            lines.append("%s.core %s\n" % (name, root))
    with open(os.path.join(folder, "list"), "w") as f:
        f.write("".join(lines))
    fuzzer = os.path.join(build, "fuzz", "fuzz_heap")
    env = dict(os.environ, MEMPROF_FUZZ_DATA=data, MEMPROF_FUZZ_WRITE_SEEDS=seeds,
               ASAN_OPTIONS="detect_leaks=0")
    subprocess.run([fuzzer, "-runs=0"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hints_seeds(seeds):
    """fuzz_hints: the hint files of the tree (the example's, the shipped
    ones), as they are."""
    for path in [os.path.join(SOURCE, "examples", "hints.memprof-hints")] + sorted(
            glob.glob(os.path.join(SOURCE, "hints", "*.hints"))):
        shutil.copy(path, os.path.join(seeds, os.path.basename(path)))


FUZZERS = ("fuzz_core", "fuzz_elf", "fuzz_elf_reader", "fuzz_snapshot", "fuzz_heap", "fuzz_text",
           "fuzz_hints")


def main():
    if len(sys.argv) < 2 or not set(sys.argv[2:]) <= set(FUZZERS):
        print("usage: make_corpus.py BUILD_DIR [FUZZER...]", file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    wanted = set(sys.argv[2:]) or set(FUZZERS)
    data = os.path.join(build, "fuzz-data")
    corpus = os.path.join(build, "fuzz-corpus")
    cores = make_cores(build, data)
    scratch = tempfile.mkdtemp(prefix="memprof-corpus-")
    try:
        seeds = {}
        for fuzzer in sorted(wanted):
            seeds[fuzzer] = os.path.join(corpus, fuzzer, "seeds")
            shutil.rmtree(seeds[fuzzer], ignore_errors=True)
            os.makedirs(seeds[fuzzer])
        if "fuzz_core" in wanted:
            core_seeds(cores, seeds["fuzz_core"])
        if wanted & {"fuzz_elf", "fuzz_elf_reader"}:
            elf_folder = os.path.join(scratch, "elf")
            os.makedirs(elf_folder)
            elf_seeds(build, data, elf_folder, scratch)
            for fuzzer in wanted & {"fuzz_elf", "fuzz_elf_reader"}:
                for name in os.listdir(elf_folder):
                    shutil.copy(os.path.join(elf_folder, name), seeds[fuzzer])
        if "fuzz_snapshot" in wanted:
            snapshot_seeds(build, cores, seeds["fuzz_snapshot"], scratch)
        if "fuzz_heap" in wanted:
            heap_data(build, data, cores, seeds["fuzz_heap"])
        if "fuzz_text" in wanted:
            text_seeds(build, cores, seeds["fuzz_text"])
        if "fuzz_hints" in wanted:
            hints_seeds(seeds["fuzz_hints"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for fuzzer, folder in sorted(seeds.items()):
        names = os.listdir(folder)
        size = sum(os.path.getsize(os.path.join(folder, n)) for n in names)
        note("%-16s %3d seeds, %d bytes" % (fuzzer, len(names), size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
