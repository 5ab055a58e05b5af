#!/usr/bin/env bash
# bench/mimalloc_heap.sh BUILD_DIR [BLOCKS]
#
# Heap enumeration of a mimalloc heap (Debian's libmimalloc 2.0.9):
# bench/allocator_heap.sh with -lmimalloc, 10 million blocks by default.
# Target: `memprof heap --core` in at most 1 s.
set -euo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
exec "$here/allocator_heap.sh" "${1:?usage: bench/mimalloc_heap.sh BUILD_DIR [BLOCKS]}" \
	mimalloc "${2:-10000000}"
