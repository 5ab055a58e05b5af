# Loads memprof into GDB:
#     (gdb) source /path/to/memprof.py      (or: gdb -x /path/to/memprof.py)
# or, once for every session, one line in ~/.gdbinit:
#     source /usr/local/share/memprof/gdb/memprof.py
# It puts the `memprof` package next to this file on sys.path and imports it;
# importing registers the `memprof` command with every verb of libmemprof, and
# `python import memprof` then gives the Python API (memprof.info(), ...).
import os as _os
import sys as _sys

_dir = _os.path.dirname(_os.path.abspath(__file__))
if _dir not in _sys.path:
    _sys.path.insert(0, _dir)
try:
    import memprof as _memprof  # noqa: F401
except KeyboardInterrupt:  # Ctrl-C while loading: one line, not a traceback
    import gdb as _gdb
    raise _gdb.GdbError("memprof: loading interrupted") from None
except Exception as _e:  # one line in GDB, not a traceback
    import gdb as _gdb
    raise _gdb.GdbError("memprof: cannot load: %s" % _e) from None
del _os, _sys, _dir
