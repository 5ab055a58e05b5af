#!/usr/bin/env bash
# bench/jemalloc_heap.sh BUILD_DIR [BLOCKS]
#
# Heap enumeration of a jemalloc heap (Debian's libjemalloc2 5.3.0):
# 10 million blocks by default, `memprof heap --core` timed; target at most
# 1 s.  See bench/allocator_heap.sh.
set -euo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
exec "$here/allocator_heap.sh" "${1:?usage: bench/jemalloc_heap.sh BUILD_DIR [BLOCKS]}" \
	jemalloc "${2:-10000000}"
