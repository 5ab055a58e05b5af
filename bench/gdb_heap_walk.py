# The peer for heap enumeration: a chunk walk in GDB's Python, the way
# gef/pwndbg-style `heap chunks` commands work (one read_memory per chunk
# header), over the main arena from mp_.sbrk_base to the top chunk.
# Usage: gdb -batch -nx -x bench/gdb_heap_walk.py EXE CORE
import struct

import gdb

inferior = gdb.selected_inferior()
start = int(gdb.parse_and_eval("(unsigned long) mp_.sbrk_base"))
top = int(gdb.parse_and_eval("(unsigned long) main_arena.top"))
p = start
chunks = in_use = 0
while p < top:
    size = struct.unpack("<Q", bytes(inferior.read_memory(p + 8, 8)))[0] & ~7
    if size < 32:
        break
    nxt = struct.unpack("<Q", bytes(inferior.read_memory(p + size + 8, 8)))[0]
    chunks += 1
    in_use += nxt & 1
    p += size
print("chunks %d in use %d" % (chunks, in_use))
