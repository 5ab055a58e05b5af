"""Bad input gets one clear error line and the right exit status (1 runtime,
2 usage), never a crash; a truncated core still yields what it holds."""
import json
import os
import shutil
import tempfile

from mptest import Held, check, example, finish, gcore, held_core, helper, memprof, seeded_random


def expect_error(args, status, *words):
    code, out, err = memprof(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    shown = " ".join(args)
    check(code == status, "memprof %s: status %d, want %d (stderr: %s)" % (shown, code, status, err.strip()))
    check(len(lines) == 1 and lines[0].startswith("memprof: "),
          "memprof %s: one error line, got %r" % (shown, lines))
    for word in words:
        check(word in err, "memprof %s: %r not in %r" % (shown, word, err.strip()))
    check(out == "", "memprof %s: nothing on stdout on error" % shown)


tmp = tempfile.mkdtemp(prefix="memprof-bad-")
try:
    # Usage errors: exit 2.
    code, out, err = memprof()
    check(code == 2 and "usage: memprof VERB" in err and out == "", "no verb: usage on stderr, status 2")
    expect_error(["frobnicate"], 2, "unknown verb 'frobnicate'")
    expect_error(["info"], 2, "no target")
    expect_error(["info", "--core"], 2, "needs a value")
    expect_error(["info", "--bogus"], 2, "unknown option '--bogus'")
    expect_error(["info", "--pid", "abc"], 2, "positive process id")
    expect_error(["info", "--core", "x", "--pid", "1"], 2, "not both")
    expect_error(["info", "--pid", "1", "--exe", "x"], 2, "--exe")
    expect_error(["info", "--core", "x", "--format", "yaml"], 2, "unknown format 'yaml'")
    expect_error(["info", "--core", "x", "--format", "folded"], 2, "cannot write --format folded")
    expect_error(["info", "--core", "x", "extra"], 2, "unexpected argument 'extra'")
    code, out, _ = memprof("info", "--help")
    check(code == 0 and "--core FILE" in out, "info --help")
    code, out, _ = memprof("--help")
    check(code == 0 and "info" in out, "--help lists verbs")

    # Files that are not cores: exit 1.
    missing = os.path.join(tmp, "missing.core")
    expect_error(["info", "--core", missing], 1, missing, "No such file")
    random_path = os.path.join(tmp, "random.bin")
    with open(random_path, "wb") as f:
        f.write(os.urandom(65536))
    expect_error(["info", "--core", random_path], 1, "not an ELF file")
    empty = os.path.join(tmp, "empty")
    open(empty, "w").close()
    expect_error(["info", "--core", empty], 1, "empty file")
    expect_error(["info", "--core", example("instance_c")], 1, "not a core file")
    expect_error(["info", "--core", tmp], 1, "not a regular file")

    with held_core([example("instance_c")], "instance.core") as core:
        data = open(core, "rb").read()

        def variant(name, blob):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(blob)
            return path

        expect_error(["info", "--core", variant("c32", data[:4] + b"\x01" + data[5:])], 1, "32-bit")
        expect_error(["info", "--core", variant("be", data[:5] + b"\x02" + data[6:])], 1, "big-endian")
        aarch64 = data[:18] + (183).to_bytes(2, "little") + data[20:]
        expect_error(["info", "--core", variant("arm", aarch64)], 1, "aarch64")
        expect_error(["info", "--core", variant("head", data[:40])], 1, "truncated ELF header")
        expect_error(["info", "--core", variant("nophdr", data[:64])], 1, "truncated")

        # Cut in the middle: what is left is reported, with what is missing.
        cut = variant("cut", data[: len(data) * 3 // 4])
        code, out, err = memprof("info", "--core", cut, "--format", "json")
        check(code == 0, "truncated core still opens (status %d: %s)" % (code, err))
        if code == 0:
            info = json.loads(out)
            check(info["partial"] is True, "truncated core marked partial")
            check(any("truncated" in w and "missing" in w for w in info["warnings"]),
                  "warning says how much is missing: %s" % info["warnings"])
            check("truncated" in err, "truncation said on stderr")

        # Corrupt headers and notes: every mutant gets a clear answer (a
        # result or one error line), never a crash or a sanitizer report.
        # Random bytes anywhere in the headers and notes, plus field-level
        # mutations of every program header and NT_FILE entry (0, all ones,
        # the top of the address space, huge sizes), so what is covered does
        # not depend on what this kernel put in the core (vsyscall, vDSO).
        import struct
        rng = seeded_random("core header mutations")
        phoff, = struct.unpack_from("<Q", data, 32)
        phnum, = struct.unpack_from("<H", data, 56)
        regions = [(0, 64), (phoff, phoff + 56 * phnum)]
        fields = []  # (offset, width) of header and note fields worth breaking
        for i in range(phnum):
            at = phoff + 56 * i
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, at)
            fields += [(at + 8, 8), (at + 16, 8), (at + 32, 8), (at + 40, 8)]
            if p_type == 4:  # PT_NOTE
                regions.append((p_offset, p_offset + p_filesz))
                pos = p_offset
                while pos + 12 <= p_offset + p_filesz:
                    namesz, descsz, n_type = struct.unpack_from("<III", data, pos)
                    desc = pos + 12 + ((namesz + 3) & ~3)
                    if n_type == 0x46494c45 and desc + 16 <= len(data):  # NT_FILE
                        count, = struct.unpack_from("<Q", data, desc)
                        fields += [(desc, 8), (desc + 8, 8)]
                        for k in range(min(count, 4096)):
                            fields += [(desc + 16 + 24 * k, 8), (desc + 24 + 24 * k, 8),
                                       (desc + 32 + 24 * k, 8)]
                    pos = desc + ((descsz + 3) & ~3)
        wild = [0, (1 << 64) - 1, 0xffffffffff600000, 0xffffffffffffe000, 1 << 63,
                1 << 47, 0x1000]
        mutant_path = os.path.join(tmp, "mutant")
        outcomes = {0: 0, 1: 0}
        for round_ in range(300):
            blob = bytearray(data)
            if round_ % 2:
                lo, hi = rng.choice(regions)
                for _ in range(rng.randint(1, 8)):
                    at = rng.randrange(lo, hi)
                    blob[at] = rng.choice([0, 0xff, rng.randrange(256)])
            else:
                for _ in range(rng.randint(1, 3)):
                    at, width = rng.choice(fields)
                    old, = struct.unpack_from("<Q", blob, at)
                    value = rng.choice(wild + [old + rng.choice([-1, 1]) * rng.randrange(1, 1 << 40),
                                               old ^ (1 << rng.randrange(64))]) % (1 << 64)
                    struct.pack_into("<Q", blob, at, value)
            with open(mutant_path, "wb") as f:
                f.write(blob)
            code, out, err = memprof("info", "--core", mutant_path, "--format", "json")
            bad = "runtime error" in err or "Sanitizer" in err
            if not check(code in (0, 1) and not bad,
                         "mutant %d: status %d, stderr %s" % (round_, code, err[-1500:])):
                break
            outcomes[code] += 1
            if code == 0:
                try:
                    json.loads(out)
                except ValueError:
                    check(False, "mutant %d: invalid JSON" % round_)
            else:
                check(len(err.strip().splitlines()) == 1, "mutant %d: one error line: %s" % (round_, err))
        print("mutants: %d opened, %d refused with an error" % (outcomes[0], outcomes[1]))

        # Executables that do not belong to the core.
        expect_error(["info", "--core", core, "--exe", os.path.join(tmp, "nope")], 1, "nope", "No such file")
        expect_error(["info", "--core", core, "--exe", example("leak_cycle")], 1,
                     "does not match", "build id")

    # Processes that cannot be inspected.
    expect_error(["info", "--pid", "999999999"], 1, "no process with pid 999999999")
    held = Held([helper("tracer")])
    try:
        expect_error(["info", "--pid", str(held.pid)], 1, "already traced by pid")
    finally:
        check(held.release() == 0, "tracer helper exits normally")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# A truncated core as the kernel writes one (notes first), cut inside the
# threads' stacks: every verb's text report ends with the warnings that
# made it partial, the first 10 and how many more.
def notes_first(data, last):
    """The core's segments rewritten notes first, then the loads, those
    holding an address in last at the end of the file; and the offset
    where those begin."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    headers = []
    for i in range(phnum):
        at = phoff + 56 * i
        p_type, _, p_offset, vaddr, _, filesz, memsz = struct.unpack_from("<IIQQQQQ", data, at)
        late = p_type == 1 and any(vaddr <= a < vaddr + memsz for a in last)
        headers.append(((p_type != 4, late, p_offset), at, p_offset, filesz))
    out = bytearray(data[:phoff + 56 * phnum])
    late_start = None
    for (_, late, _), at, p_offset, filesz in sorted(headers):
        if late and late_start is None:
            late_start = len(out)
        if filesz:
            out += b"\0" * (-len(out) % 4096)
            struct.pack_into("<Q", out, at + 8, len(out))
            out += data[p_offset:p_offset + filesz]
    return bytes(out), late_start


import struct
tmp = tempfile.mkdtemp(prefix="memprof-cut-")
busy = Held([helper("busy"), "--threads", "1", "--sleepers", "14", "--blocks", "2000"])
try:
    core = gcore(busy.pid, os.path.join(tmp, "busy.core"))
finally:
    busy.kill()
try:
    info = json.loads(memprof("info", "--core", core, "--format", "json")[1])
    stacks = [int(t["registers"]["rsp"], 16) for t in info["threads"]]
    laid, late_start = notes_first(open(core, "rb").read(), stacks)
    whole = os.path.join(tmp, "whole.core")
    open(whole, "wb").write(laid)
    # The stacks are the file's last segments: cut in the first of them.
    cut = os.path.join(tmp, "cut.core")
    status, out, err = memprof("info", "--core", whole, "--format", "json")
    check(status == 0 and json.loads(out)["partial"] is False, "the rewritten core is whole: %s" % err)
    open(cut, "wb").write(laid[:late_start + (len(laid) - late_start) // 8])
    groups = json.loads(memprof("leaks", "--core", cut, "--format", "json",
                                "--show-reachable")[1])["groups"]
    address = min(groups, key=lambda g: g["size"])["example"]
    verbs = [["info"], ["heap"], ["leaks"], ["logical", "registry", "--format", "text"], ["patterns"],
             ["recommend"], ["refs", address]]
    for argv in verbs:
        status, out, err = memprof(*argv, "--core", cut)
        tail = out[out.rfind("\nwarnings ("):] if "\nwarnings (" in out else ""
        lines = tail.strip().splitlines()
        shown = [l for l in lines[1:] if not l.startswith("  ... and ")]
        check(status == 0 and lines and lines[0].startswith("warnings (")
              and lines[0].endswith("): results are partial"),
              "%s on a cut core: the report ends with its warnings: %d %s %s"
              % (argv[0], status, out[-600:], err[-300:]))
        check(any("the core file is truncated" in l for l in shown),
              "%s: the truncation is among them: %s" % (argv[0], lines[:3]))
        total = int(lines[0].split("(")[1].split(")")[0]) if lines else 0
        check(len(shown) == min(total, 10) and
              (total <= 10 or lines[-1] == "  ... and %d more (--format json lists those of the analysis)" % (total - 10)),
              "%s: %d warnings, at most 10 shown, then how many more: %s" % (argv[0], total, lines))
        if argv[0] == "leaks":
            check(total > 10 and any("stack of thread" in l for l in shown),
                  "leaks: the cut stacks are warned about, more than 10 warnings: %d" % total)
            check("see the warnings" not in out, "leaks prints its warnings instead of pointing at them")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
