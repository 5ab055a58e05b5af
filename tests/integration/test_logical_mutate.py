"""memprof on damaged data never crashes: cores of the C, C++ and Rust
instance examples with words of their writable memory (heap, data)
overwritten by garbage (pointers shifted into other blocks or their
middles, wild values, huge lengths, all ones), and chunk headers and the
free-list links after them overwritten with zero, all ones, a pointer to
themselves or a huge size; 40 seeded mutations each (the seed is printed;
MEMPROF_TEST_SEED replays it).  `logical` runs on every mutant, `heap`,
`leaks` and `patterns` on every fourth.  Every run must end with status 0
(valid JSON) or 1 (one error line) within its time limit, with no
sanitizer report (the ASan+UBSan build runs this too); results may be
partial and must say so, never abort."""
import json
import os
import shutil
import struct
import subprocess
import tempfile

from mptest import MEMPROF, check, example, finish, gcore, Held, seeded_random

MUTATIONS = 40
WORDS = 300


def writable_segments(path):
    """[(file_offset, size)] of the core's writable PT_LOAD segments with bytes."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1 and p_flags & 2 and p_filesz >= 4096:
            out.append((p_offset, p_filesz))
    return out


def pointer_like(data):
    words = struct.unpack_from("<%dQ" % (len(data) // 8), data)
    return [w for w in words if 0x10000 < w < 0x0000800000000000 and w % 8 == 0]


def mutate(src, dst, rng, segments, pointers, loads):
    shutil.copyfile(src, dst)
    total = sum(size for _, size in segments)
    with open(dst, "r+b") as f:
        for _ in range(WORDS):
            k = rng.randrange(total // 8) * 8
            for offset, size in segments:
                if k < size:
                    break
                k -= size
            choice = rng.random()
            if choice < 0.5 and pointers:
                value = rng.choice(pointers) + rng.choice([0, 0, 8, 16, -16, rng.randrange(-4096, 4096) & ~7])
            elif choice < 0.7:
                value = rng.randrange(1 << 40)
            elif choice < 0.8:
                value = (1 << 64) - 1
            elif choice < 0.9:
                value = rng.randrange(64)
            else:
                value = rng.randrange(1 << 64)
            f.seek(offset + k)
            f.write(struct.pack("<Q", value & ((1 << 64) - 1)))
        # Chunk headers (the word before a block's first byte) and the
        # free-list links of free chunks (the block's first words).
        for _ in range(WORDS // 10):
            block = rng.choice(pointers) if pointers else 0
            where = file_offset(loads, block - 8 + 8 * rng.choice([0, 0, 1, 2]))
            if where is None:
                continue
            value = rng.choice([0, (1 << 64) - 1, block - 8, 1 << 40, 0x10, block + 0x1000000])
            f.seek(where)
            f.write(struct.pack("<Q", value & ((1 << 64) - 1)))


def loads_of(path):
    """[(vaddr, file_offset, size)] of the core's writable PT_LOAD segments."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1 and p_flags & 2:
            out.append((p_vaddr, p_offset, p_filesz))
    return out


def file_offset(loads, address):
    for vaddr, offset, size in loads:
        if vaddr <= address < vaddr + size - 8:
            return offset + address - vaddr
    return None


def run_checked(name, i, argv, want_json):
    try:
        proc = subprocess.run([MEMPROF, *argv], capture_output=True, text=True, errors="replace",
                              timeout=120)
    except subprocess.TimeoutExpired:
        check(False, "%s mutation %d: memprof %s did not finish in 120 s" % (name, i, argv[0]))
        return None
    check(proc.returncode in (0, 1),
          "%s mutation %d %s: status %d\n%s" % (name, i, argv[0], proc.returncode, proc.stderr[-1500:]))
    check("Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr,
          "%s mutation %d %s: sanitizer report\n%s" % (name, i, argv[0], proc.stderr[-3000:]))
    if proc.returncode == 1:
        check(proc.stderr.startswith("memprof: "),
              "%s mutation %d %s: an error without a message: %r" % (name, i, argv[0], proc.stderr[:200]))
    elif want_json and proc.returncode == 0:
        try:
            json.loads(proc.stdout)
        except ValueError:
            check(False, "%s mutation %d %s: invalid JSON" % (name, i, argv[0]))
    return proc


tmp = tempfile.mkdtemp(prefix="memprof-logical-mutate-")
try:
    for name, root in (("instance_c", "instance"), ("instance_cpp", "instance"),
                       ("instance_rs", "instance::INSTANCE")):
        if not os.path.exists(os.path.join(os.environ.get("EXAMPLES_DIR", ""), name)):
            print("skipping %s: not built" % name)
            continue
        core = os.path.join(tmp, name + ".core")
        held = Held([example(name), "--hold"])
        try:
            gcore(held.pid, core)
        finally:
            check(held.release() == 0, "%s --hold did not exit 0" % name)
        segments = writable_segments(core)
        with open(core, "rb") as f:
            blob = b"".join((f.seek(o), f.read(s))[1] for o, s in segments)
        pointers = pointer_like(blob)
        check(segments and pointers, "%s: no writable segments or pointers found" % name)
        rng = seeded_random("%s mutations" % name)
        loads = loads_of(core)
        bad = os.path.join(tmp, name + ".bad.core")
        partial = 0
        for i in range(MUTATIONS):
            mutate(core, bad, rng, segments, pointers, loads)
            formats = [("--format", "json")] + ([("--format", "svg")] if i % 5 == 0 else [])
            for fmt in formats:
                try:
                    proc = subprocess.run([MEMPROF, "logical", "--core", bad, root, *fmt],
                                          capture_output=True, text=True, errors="replace",
                                          timeout=120)
                except subprocess.TimeoutExpired:
                    check(False, "%s mutation %d: memprof logical did not finish in 120 s" % (name, i))
                    continue
                check(proc.returncode in (0, 1),
                      "%s mutation %d %s: status %d\n%s" % (name, i, fmt[1], proc.returncode, proc.stderr[-1500:]))
                check("Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr,
                      "%s mutation %d: sanitizer report\n%s" % (name, i, proc.stderr[-3000:]))
                if proc.returncode == 1:
                    check(proc.stderr.startswith("memprof: "),
                          "%s mutation %d: an error without a message: %r" % (name, i, proc.stderr[:200]))
                if fmt[1] == "json" and proc.returncode == 0 and '"partial": true' in proc.stdout:
                    partial += 1
            if i % 4 == 0:
                for verb in ("heap", "leaks", "patterns"):
                    run_checked(name, i, [verb, "--core", bad, "--format", "json"], True)
        print("%s: %d mutations, %d partial results" % (name, MUTATIONS, partial))
        os.unlink(bad)
        os.unlink(core)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
