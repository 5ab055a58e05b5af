"""Corrupt DWARF never crashes memprof type: 40 seeded random mutations of
a program's .debug_info (1 to 8 bytes each), four commands per mutation
(a struct in text and JSON, --list, --variable).  Each exits 0 or 1; an
error about corrupt DWARF names the module and a .debug_info offset.  Run
under the sanitizer build this also checks memory safety."""
import os
import random
import re
import shutil
import subprocess
import tempfile

from mptest import check, finish, memprof

TYPES = os.environ.get("TYPES_DIR", "")
exe = os.path.join(TYPES, "layouts")
sections = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True).stdout
m = re.search(r"\.debug_info\s+PROGBITS\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", sections)
start, size = int(m.group(1), 16), int(m.group(2), 16)
original = open(exe, "rb").read()
rng = random.Random(20210528)
tmp = tempfile.mkdtemp(prefix="memprof-corrupt-")
statuses = {}
try:
    mutant = os.path.join(tmp, "mutant")
    for i in range(40):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[start + rng.randrange(size)] = rng.randrange(256)
        with open(mutant, "wb") as f:
            f.write(data)
        for args in (["holes"], ["struct nested", "--format", "json"], ["--list"],
                     ["--variable", "instance"]):
            code, out, err = memprof("type", *args, "--exe", mutant, timeout=60)
            statuses[code] = statuses.get(code, 0) + 1
            if not check(code in (0, 1), "mutation %d, type %s: status %d\n%s"
                         % (i, " ".join(args), code, err[-1500:])):
                break
            if "corrupt DWARF" in err:
                check(mutant in err and re.search(r"offset 0x[0-9a-f]+", err),
                      "mutation %d: the error names module and offset: %s" % (i, err.strip()))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("statuses:", statuses)
finish()
