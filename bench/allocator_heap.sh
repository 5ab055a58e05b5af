#!/usr/bin/env bash
# bench/allocator_heap.sh BUILD_DIR LIBRARY [BLOCKS]
#
# Heap enumeration of another allocator's heap: bench/allocator_blocks.c
# linked with -lLIBRARY (tcmalloc_minimal, jemalloc, mimalloc: the Debian
# package's library; glibc: no library) makes BLOCKS blocks (default 10
# million), gdb's gcore writes its core, then `memprof heap --core` is
# timed (hyperfine when installed, else five runs of `time`).  Target: at
# most 1 s.  Needs the library's -dev package and gdb.  Scratch files in
# BUILD_DIR/bench-data (the core is kept and reused).  With CORE_ONLY=1 it
# only makes the core and prints its path (bench/allocators.sh).
set -euo pipefail
build=${1:?usage: bench/allocator_heap.sh BUILD_DIR LIBRARY [BLOCKS]}
library=${2:?usage: bench/allocator_heap.sh BUILD_DIR LIBRARY [BLOCKS]}
blocks=${3:-10000000}
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
memprof=${MEMPROF:-$build/cli/memprof}
data=$build/bench-data
mkdir -p "$data"
exe=$data/blocks-$library
core=$data/$library-$blocks.core
link=(-Wl,--no-as-needed -l"$library")
[ "$library" = glibc ] && link=()
gcc -O2 -Wall -Wextra "$here/allocator_blocks.c" -o "$exe" "${link[@]}"
if [ ! -s "$core" ]; then
	fifo=$data/$library.fifo
	rm -f "$fifo"
	mkfifo "$fifo"
	"$exe" "$blocks" <"$fifo" >"$data/$library.out" &
	exec 3>"$fifo"              # holds the program's stdin open
	until grep -q ready "$data/$library.out" 2>/dev/null; do sleep 0.2; done
	pid=$(awk '/ready/ {print $2}' "$data/$library.out")
	gdb -batch -nx -p "$pid" -ex "gcore $core.part" >/dev/null 2>&1
	mv "$core.part" "$core"
	exec 3>&-
	wait
	rm -f "$fifo"
fi
if [ "${CORE_ONLY:-0}" = 1 ]; then
	echo "$core"
	exit 0
fi
"$memprof" heap --core "$core" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("%s: blocks in use %d, bytes %d, partial %s" % (d["backend"], d["totals"]["in_use"]["chunks"], d["totals"]["in_use"]["bytes"], d["partial"]))'
if command -v hyperfine >/dev/null; then
	hyperfine --warmup 1 --runs 5 "$memprof heap --core $core --format json"
else
	for _ in 1 2 3 4 5; do /usr/bin/time -f "%e s %M KB" "$memprof" heap --core "$core" --format json >/dev/null; done
fi
