"""libmemprof.so exports exactly its public API: every function its public
headers (memprof.h, check.h) declare, nothing else (it is loaded into GDB
and LLDB, whose own names its internals must not meet).  Symbols the
compiler or a sanitizer generates (`__` prefixes, `_init`, `_fini`, a
target_clones function's `.resolver`) are not the library's own names."""
import os
import re
import subprocess

from mptest import check, finish

library = os.environ["LIBMEMPROF"]
include_dir = os.path.join(os.path.dirname(__file__), "..", "..", "include", "memprof")
# Every public header: memprof.h and check.h (the in-process test API).
text = "".join(open(os.path.join(include_dir, name)).read()
               for name in sorted(os.listdir(include_dir)) if name.endswith(".h"))
text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
declared = set(re.findall(r"\b((?:mp|memprof)_[a-z0-9_]+)\s*\(", text))
# Function-pointer members (`bool (*interrupted)(...)`) are not functions.
declared -= set(re.findall(r"\(\s*\*\s*((?:mp|memprof)_[a-z0-9_]+)\s*\)", text))

nm = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True,
                    timeout=60)
check(nm.returncode == 0, "nm reads %s: %s" % (library, nm.stderr))
exported = set()
for line in nm.stdout.splitlines():
    fields = line.split()
    # T, D, B, R, W: functions and data; i: an indirect function (a
    # function built for several CPUs with target_clones).
    if len(fields) == 3 and fields[1] in "TDBRWi":
        name = fields[2].split("@")[0]
        if not name.startswith("__") and "." not in name and \
                name not in ("_init", "_fini", "_edata", "_end"):
            exported.add(name)

extra = sorted(exported - declared)
missing = sorted(declared - exported)
print("exported %d symbols, the public headers declare %d functions" % (len(exported), len(declared)))
check(not extra, "exported but in no public header: %s" % extra[:40])
check(not missing, "declared in a public header but not exported: %s" % missing)
finish()
