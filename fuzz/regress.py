#!/usr/bin/env python3
"""Turns the text regression inputs of the fuzzers into the bytes they feed.

    fuzz/regress.py BUILD_DIR OUT_DIR

Every crash a fuzzer found and that was fixed is kept as a text file,
fuzz/regressions/FUZZER/NAME.txt (the repository holds no binaries), and
replayed by scripts/fuzz.sh before each fuzzing run.  This script writes
OUT_DIR/FUZZER/NAME for each of them.  The format, one directive a line:

  # ...                  what was found and how it was fixed
  base SEED              start from a seed made by fuzz/make_corpus.py
                         (BUILD_DIR/fuzz-corpus/FUZZER/seeds/SEED)
  hex HEX...             append bytes (spaces allowed)
  size N                 cut the input to N bytes, or extend it with zeros
  at OFFSET HEX...       overwrite bytes from OFFSET (decimal or 0x..)
  at WINDOW+OFFSET HEX.. fuzz_heap: overwrite bytes inside one of the
                         allocator windows of the base seed's reference core
                         (arena0, heapinfo1, mp0, heap0, mmapped2, top0 ...;
                         fuzz_heap lists them in fuzz-data/heap/CORE.windows)
  at WINDOW+OFFSET addr WINDOW2+OFFSET2
                         fuzz_heap: write the 8-byte address, in the target,
                         of a byte of a window (a pointer into the allocator's
                         own data: a list that loops, a bin pointing at itself)

Seeds hold addresses of a particular run, so regressions say where bytes go
(an offset into a header, a named window) rather than copy whole inputs.
"""
import os
import re
import sys


def number(text):
    return int(text, 0)


def windows_of(build, base):
    """{name: (input offset, length)} of a fuzz_heap seed's reference core."""
    match = re.match(r"heap-(.+?\.core)-", base or "")
    if not match:
        raise ValueError("WINDOW+OFFSET needs a fuzz_heap seed as base")
    table = {}
    path = os.path.join(build, "fuzz-data", "heap", match.group(1) + ".windows")
    with open(path) as f:
        for line in f:
            name, at, length, address = line.split()
            table[name] = (int(at), int(length), int(address, 16))
    return table


def window_address(build, base, where):
    name, offset = where.split("+", 1)
    return windows_of(build, base)[name][2] + number(offset)


def decode(build, fuzzer, path):
    data = bytearray()
    base = None
    with open(path) as f:
        lines = f.read().splitlines()
    for number_, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        try:
            if word == "base":
                base = rest.strip()
                with open(os.path.join(build, "fuzz-corpus", fuzzer, "seeds", base), "rb") as seed:
                    data = bytearray(seed.read())
            elif word == "hex":
                data += bytes.fromhex(rest)
            elif word == "size":
                n = number(rest.strip())
                data = data[:n] + bytes(max(0, n - len(data)))
            elif word == "at":
                where, _, payload = rest.strip().partition(" ")
                if payload.startswith("addr "):
                    target = window_address(build, base, payload[5:].strip())
                    payload = target.to_bytes(8, "little")
                else:
                    payload = bytes.fromhex(payload)
                if "+" in where:
                    name, offset = where.split("+", 1)
                    start, length, _ = windows_of(build, base)[name]
                    offset = number(offset)
                    if offset + len(payload) > length:
                        raise ValueError("%s is %d bytes" % (name, length))
                    at = start + offset
                else:
                    at = number(where)
                if at + len(payload) > len(data):
                    data += bytes(at + len(payload) - len(data))
                data[at:at + len(payload)] = payload
            else:
                raise ValueError("unknown directive %r" % word)
        except (OSError, KeyError, ValueError) as e:
            raise SystemExit("%s:%d: %s" % (path, number_, e))
    return bytes(data)


def main():
    if len(sys.argv) != 3:
        print("usage: regress.py BUILD_DIR OUT_DIR", file=sys.stderr)
        return 2
    build, out = sys.argv[1], sys.argv[2]
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regressions")
    count = 0
    for fuzzer in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        os.makedirs(os.path.join(out, fuzzer), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(folder, fuzzer))):
            if not name.endswith(".txt"):
                continue
            data = decode(build, fuzzer, os.path.join(folder, fuzzer, name))
            with open(os.path.join(out, fuzzer, name[:-4]), "wb") as f:
                f.write(data)
            count += 1
    print("regress.py: %d regression inputs in %s" % (count, out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
