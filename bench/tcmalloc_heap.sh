#!/usr/bin/env bash
# bench/tcmalloc_heap.sh BUILD_DIR [BLOCKS]
#
# Heap enumeration of a tcmalloc heap (Debian's libtcmalloc_minimal):
# 10 million blocks by default, `memprof heap --core` timed; target at most
# 1 s.  See bench/allocator_heap.sh.
set -euo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
exec "$here/allocator_heap.sh" "${1:?usage: bench/tcmalloc_heap.sh BUILD_DIR [BLOCKS]}" \
	tcmalloc_minimal "${2:-10000000}"
